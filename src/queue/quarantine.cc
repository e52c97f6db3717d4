#include "queue/quarantine.h"

#include <algorithm>

#include "common/log.h"
#include "mail/clock.h"

namespace sluice::queue {

std::vector<std::string> ExpiredQuarantine(const std::vector<MessageInfo>& quarantined, const RetentionOf& retention,
                                           int64_t now_unix) {
  std::vector<std::string> out;
  for (const auto& m : quarantined) {
    std::chrono::seconds keep{0};
    for (const auto& r : m.recipients) keep = std::max(keep, retention(r.tenant));
    if (m.recipients.empty()) keep = retention("");
    if (now_unix - m.received_unix >= keep.count()) out.push_back(m.id);
  }
  return out;
}

size_t SweepQuarantine(Queue& queue, const RetentionOf& retention, bool short_of_space, size_t prune) {
  Filter f;
  f.quarantined = true;
  f.state = MessageState::kHold;
  f.limit = SIZE_MAX;
  std::vector<MessageInfo> held = queue.List(f);
  if (held.empty()) return 0;
  const int64_t now = mail::Clock::System().NowUnix();
  std::vector<std::string> expired = ExpiredQuarantine(held, retention, now);
  const size_t n_expired = expired.size();
  if (short_of_space) {
    std::sort(held.begin(), held.end(), [](const MessageInfo& a, const MessageInfo& b) {
      return a.received_unix < b.received_unix;
    });
    size_t added = 0;
    for (const auto& m : held) {
      if (added == prune) break;
      if (std::find(expired.begin(), expired.end(), m.id) != expired.end()) continue;
      expired.push_back(m.id);
      ++added;
    }
  }
  if (expired.empty()) return 0;
  Filter del;
  del.ids = expired;
  del.quarantined = true;
  auto n = queue.Apply(OperatorAction::kDelete, del);
  for (size_t i = 0; i < expired.size(); ++i) {
    auto m = std::find_if(held.begin(), held.end(), [&](const MessageInfo& x) { return x.id == expired[i]; });
    log::Event("quarantine delete").With("id", expired[i]).With("by", i < n_expired ? "retention" : "short of space")
        .With("reason", m != held.end() ? m->quarantine : std::string()).Info();
  }
  if (!n.ok()) {
    log::Event("quarantine sweep failed").With("error", n.status().ToString()).Warn();
    return 0;
  }
  return n.value();
}

}  // namespace sluice::queue
