// The queue's vocabulary, pure: the names of states, actions and hold
// kinds (API, CLI and the spool's hold record use them), filters and the
// hold record's format. No I/O, no threads; the fuzzers link it alone.
#include <algorithm>
#include <cstdlib>

#include "mail/ascii.h"
#include "queue/queue.h"

namespace sluice::queue {

namespace {

using mail::ContainsNoCase;

constexpr const char* kMessageStates[] = {"ready", "deferred", "hold", "active"};
constexpr const char* kRecipientViews[] = {"ready", "deferred", "hold", "delivered", "failed"};
constexpr const char* kActions[] = {"hold", "release", "retry", "delete", "bounce"};
constexpr const char* kHoldKinds[] = {"tenant", "destination"};

template <class E, size_t N>
std::optional<E> ParseName(const char* const (&names)[N], std::string_view name) {
  for (size_t i = 0; i < N; ++i) {
    if (name == names[i]) return static_cast<E>(i);
  }
  return std::nullopt;
}

}  // namespace

const char* ToString(MessageState s) { return kMessageStates[static_cast<size_t>(s)]; }
std::optional<MessageState> ParseMessageState(std::string_view name) {
  return ParseName<MessageState>(kMessageStates, name);
}
const char* ToString(RecipientView s) { return kRecipientViews[static_cast<size_t>(s)]; }
const char* ToString(OperatorAction a) { return kActions[static_cast<size_t>(a)]; }
std::optional<OperatorAction> ParseOperatorAction(std::string_view name) {
  return ParseName<OperatorAction>(kActions, name);
}
const char* ToString(HoldKind k) { return kHoldKinds[static_cast<size_t>(k)]; }
std::optional<HoldKind> ParseHoldKind(std::string_view name) { return ParseName<HoldKind>(kHoldKinds, name); }

bool Matches(const Filter& f, const std::string& id, const Envelope& e, int64_t now_unix) {
  if (!f.ids.empty() && std::find(f.ids.begin(), f.ids.end(), id) == f.ids.end()) return false;
  if (!f.sender.empty() && !ContainsNoCase(e.sender, f.sender)) return false;
  if (f.quarantined && e.quarantine.empty()) return false;
  if (!f.category.empty() && !e.quarantine.starts_with(f.category + ":")) return false;
  if (f.min_age.count() > 0 && now_unix - e.received_unix < f.min_age.count()) return false;
  auto any_route = [&](auto pred) { return std::any_of(e.routes.begin(), e.routes.end(), pred); };
  if (!f.tenant.empty() && !any_route([&](const RecipientRoute& r) { return r.tenant == f.tenant; })) return false;
  if (!f.destination.empty() &&
      !any_route([&](const RecipientRoute& r) { return r.destination == f.destination; })) {
    return false;
  }
  if (!f.rcpt.empty() && !any_route([&](const RecipientRoute& r) { return ContainsNoCase(r.address, f.rcpt); })) {
    return false;
  }
  return true;
}

std::vector<HoldPolicy> ParseHolds(const std::string& record) {
  std::vector<HoldPolicy> out;
  mail::EachPart(record, '\n', [&](std::string_view view) {
    const std::string line(view);
    size_t a = line.find('\t'), b = line.find('\t', a + 1), c = line.find('\t', b + 1);
    if (a == std::string::npos || b == std::string::npos || c == std::string::npos) return true;
    auto kind = ParseHoldKind(line.substr(0, a));
    if (!kind) return true;
    out.push_back({*kind, line.substr(a + 1, b - a - 1), line.substr(c + 1),
                   std::atoll(line.substr(b + 1, c - b - 1).c_str())});
    return true;
  });
  return out;
}

std::string FormatHolds(const std::vector<HoldPolicy>& holds) {
  std::string out;
  for (const auto& h : holds) {
    out += std::string(ToString(h.kind)) + '\t' + h.name + '\t' + std::to_string(h.since_unix) + '\t' + h.reason + '\n';
  }
  return out;
}


}  // namespace sluice::queue
