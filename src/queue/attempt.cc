#include "queue/attempt.h"

#include <fmt/format.h>

namespace sluice::queue {

using Kind = delivery::Outcome::Kind;
using Handover = delivery::Outcome::Handover;

std::vector<Verdict> Classify(const QueueOptions& o, const Envelope& e, const std::vector<RecipientStatus>& before,
                              const std::vector<size_t>& recipients,
                              const std::vector<delivery::Outcome>& outcomes, int64_t now,
                              const std::function<double()>& unit_random) {
  std::vector<Verdict> out;
  out.reserve(recipients.size());
  const int64_t age = now - e.received_unix;
  for (size_t k = 0; k < recipients.size(); ++k) {
    const size_t i = recipients[k];
    const delivery::Outcome& oc = outcomes[k];
    Verdict v{i, before[i], oc.kind, std::nullopt};
    RecipientStatus& st = v.after;
    // A destination that was backing off was not tried: no attempt counts.
    if (oc.retry_after.count() == 0) ++st.attempts;
    st.last_reply = oc.reply;
    if (v.kind == Kind::kDeferred && age >= o.max_lifetime.count()) {
      v.kind = Kind::kFailed;
      st.last_reply = fmt::format("{} (message expired after {}s in the queue)", oc.reply, age);
    }
    DsnRecipient report{i, DsnAction::kFailed, st.last_reply, oc.remote, now};
    switch (v.kind) {
      case Kind::kDelivered:
        st.state = RecipientState::kDelivered;
        report.action = oc.handover == Handover::kRelayed ? DsnAction::kRelayed : DsnAction::kDelivered;
        // A next hop that took the DSN request reports success itself.
        if (oc.handover != Handover::kPassedOn && WantsDsn(e, i, report.action, false)) v.report = report;
        break;
      case Kind::kFailed:
        st.state = RecipientState::kFailed;
        if (WantsDsn(e, i, DsnAction::kFailed, false)) v.report = report;
        break;
      case Kind::kDeferred:
        if (oc.retry_after.count() > 0) {
          // Spread the wake-ups over a second so a reopened destination is
          // not hit by every waiting message at once.
          st.next_attempt_unix = now + 1 + oc.retry_after.count() / 1000 + (unit_random() < 0.5 ? 0 : 1);
        } else {
          st.next_attempt_unix = now + Backoff(o, st.attempts, unit_random()).count();
        }
        if (o.delay_warning.count() > 0 && !st.delay_warned && age >= o.delay_warning.count() &&
            WantsDsn(e, i, DsnAction::kDelayed, true)) {
          st.delay_warned = true;
          report.action = DsnAction::kDelayed;
          v.report = report;
        }
        break;
    }
    out.push_back(std::move(v));
  }
  return out;
}

void Unreport(const QueueOptions& o, DsnAction action, int64_t now, RecipientStatus& st) {
  if (action == DsnAction::kFailed) {
    st.state = RecipientState::kPending;
    st.next_attempt_unix = now + o.retry_initial.count();
  } else if (action == DsnAction::kDelayed) {
    st.delay_warned = false;
  }
}

std::chrono::seconds Backoff(const QueueOptions& o, uint32_t attempts, double unit_random) {
  double base = static_cast<double>(o.retry_initial.count());
  for (uint32_t i = 1; i < attempts && base < o.retry_max.count(); ++i) base *= 2;
  base = std::min(base, static_cast<double>(o.retry_max.count()));
  double jittered = base * (0.8 + 0.4 * unit_random);
  return std::chrono::seconds(std::max<int64_t>(1, static_cast<int64_t>(jittered)));
}

}  // namespace sluice::queue
