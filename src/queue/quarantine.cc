#include "queue/quarantine.h"

#include <algorithm>
#include <map>

#include "common/log.h"
#include "mail/clock.h"

namespace sluice::queue {
std::vector<std::string> ExpiredQuarantine(const std::vector<MessageInfo>& quarantined, const RetentionOf& retention,
                                           int64_t now_unix) {
  std::vector<std::string> out;
  for (const auto& m : quarantined) {
    if (IsPendingScan(m.quarantine)) continue;  // accepted mail: not the quarantine's to expire
    std::chrono::seconds keep{0};
    for (const auto& r : m.recipients) keep = std::max(keep, retention(r.tenant));
    if (m.recipients.empty()) keep = retention("");
    if (now_unix - m.received_unix >= keep.count()) out.push_back(m.id);
  }
  return out;
}

std::vector<std::pair<std::string, const char*>> ChooseForSweep(std::vector<MessageInfo> held,
                                                                const RetentionOf& retention, int64_t now_unix,
                                                                bool short_of_space, size_t prune) {
  std::vector<std::pair<std::string, const char*>> gone;  // id, why
  for (auto& id : ExpiredQuarantine(held, retention, now_unix)) gone.emplace_back(std::move(id), "retention");
  if (!short_of_space) return gone;
  std::sort(held.begin(), held.end(), [](const MessageInfo& a, const MessageInfo& b) {
    return a.received_unix < b.received_unix;
  });
  size_t added = 0;
  for (const auto& m : held) {
    if (added == prune) break;
    if (IsPendingScan(m.quarantine)) continue;
    if (std::any_of(gone.begin(), gone.end(), [&](const auto& g) { return g.first == m.id; })) continue;
    gone.emplace_back(m.id, "short of space");
    ++added;
  }
  return gone;
}

size_t SweepQuarantine(Queue& queue, const RetentionOf& retention, bool short_of_space, size_t prune) {
  Filter f;
  f.quarantined = true;
  f.state = MessageState::kHold;
  f.limit = SIZE_MAX;
  std::vector<MessageInfo> held = queue.List(f);
  if (held.empty()) return 0;
  std::map<std::string, std::string> reasons;
  for (const auto& m : held) reasons[m.id] = m.quarantine;
  const auto gone = ChooseForSweep(std::move(held), retention, mail::Clock::System().NowUnix(), short_of_space, prune);
  if (gone.empty()) return 0;
  Filter del;
  del.quarantined = true;
  for (const auto& g : gone) del.ids.push_back(g.first);
  auto n = queue.Apply(OperatorAction::kDelete, del);
  for (const auto& [id, why] : gone) {
    log::Event("quarantine delete").With("id", id).With("by", why).With("reason", reasons[id]).Info();
  }
  if (!n.ok()) {
    log::Event("quarantine sweep failed").With("error", n.status().ToString()).Warn();
    return 0;
  }
  return n.value();
}

}  // namespace sluice::queue
