// The operator's side of the queue: listing, hold/release/retry/delete/
// bounce, hold policies and statistics. Calls from other threads hop onto
// the queue's thread and wait there for the answer.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/offload.h"
#include "common/log.h"
#include "mail/ascii.h"
#include "queue/spool_queue.h"
#include "delivery/outcomes.h"

namespace sluice::queue {

namespace asio = boost::asio;

namespace {

using mail::ContainsNoCase;

const char* ActionName(Action a) {
  switch (a) {
    case Action::kHold: return "hold";
    case Action::kRelease: return "release";
    case Action::kRetry: return "retry";
    case Action::kDelete: return "delete";
    case Action::kBounce: return "bounce";
  }
  return "?";
}

}  // namespace

bool Matches(const Filter& f, const std::string& id, const Envelope& e, const std::string& state,
             int64_t now_unix) {
  if (!f.ids.empty() && std::find(f.ids.begin(), f.ids.end(), id) == f.ids.end()) return false;
  if (!f.state.empty() && f.state != state) return false;
  if (!f.sender.empty() && !ContainsNoCase(e.sender, f.sender)) return false;
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
  size_t start = 0;
  while (start < record.size()) {
    size_t nl = record.find('\n', start);
    if (nl == std::string::npos) nl = record.size();
    std::string line = record.substr(start, nl - start);
    start = nl + 1;
    size_t a = line.find('\t'), b = line.find('\t', a + 1), c = line.find('\t', b + 1);
    if (a == std::string::npos || b == std::string::npos || c == std::string::npos) continue;
    out.push_back({line.substr(0, a), line.substr(a + 1, b - a - 1), line.substr(c + 1),
                   std::atoll(line.substr(b + 1, c - b - 1).c_str())});
  }
  return out;
}

std::string FormatHolds(const std::vector<HoldPolicy>& holds) {
  std::string out;
  for (const auto& h : holds) out += h.kind + '\t' + h.name + '\t' + std::to_string(h.since_unix) + '\t' + h.reason + '\n';
  return out;
}

std::string SpoolQueue::StateOf(const Entry& e, int64_t now) const {
  if (e.in_flight) return "active";
  int64_t due = Due(e);
  if (due < 0) return "hold";  // open recipients, none attemptable
  return due <= now ? "ready" : "deferred";
}

std::string SpoolQueue::RecipientStateName(const Entry& e, size_t i, int64_t now) const {
  const RecipientStatus& st = e.recipients[i];
  switch (st.state) {
    case RecipientState::kDelivered: return "delivered";
    case RecipientState::kFailed: return "failed";
    case RecipientState::kHeld: return "hold";
    case RecipientState::kPending: break;
  }
  if (PolicyHeld(e.envelope->routes[i])) return "hold";
  return st.next_attempt_unix <= now ? "ready" : "deferred";
}

QueueStats SpoolQueue::Stats() {
  return RunOnQueue<QueueStats>([this] {
    QueueStats s;
    const int64_t now = NowUnix();
    s.messages = entries_.size();
    s.in_flight = in_flight_;
    for (const auto& [id, e] : entries_) {
      if (!e.in_flight) {
        std::string state = StateOf(e, now);
        ++(state == "hold" ? s.hold : state == "ready" ? s.ready : s.deferred);
      }
      if (s.oldest_unix == 0 || e.envelope->received_unix < s.oldest_unix) s.oldest_unix = e.envelope->received_unix;
    }
    s.deliveries = deliveries_;
    s.dsn_sent = dsn_sent_;
    return s;
  }, QueueStats{});
}

std::vector<MessageInfo> SpoolQueue::List(const Filter& filter) {
  // The filter is copied: after RunOnQueue gives up waiting, the posted work
  // may still run, and must not read the caller's.
  return RunOnQueue<std::vector<MessageInfo>>([this, filter] {
    std::vector<MessageInfo> out;
    const int64_t now = NowUnix();
    for (const auto& [id, e] : entries_) {
      std::string state = StateOf(e, now);
      if (!Matches(filter, id, *e.envelope, state, now)) continue;
      MessageInfo m{id, e.envelope->sender, e.envelope->received_unix, state, {}};
      for (size_t i = 0; i < e.recipients.size(); ++i) {
        const RecipientRoute& r = e.envelope->routes[i];
        const RecipientStatus& st = e.recipients[i];
        m.recipients.push_back({r.address, r.tenant, r.forest, r.destination, RecipientStateName(e, i, now),
                                st.attempts, st.next_attempt_unix, st.last_reply});
      }
      out.push_back(std::move(m));
    }
    std::sort(out.begin(), out.end(), [](const MessageInfo& a, const MessageInfo& b) { return a.id < b.id; });
    return out;
  }, std::vector<MessageInfo>{});
}

Result<size_t> SpoolQueue::Apply(Action action, const Filter& filter) {
  if (!thread_.joinable() || io_.stopped()) return Status::Unavailable("the queue is not running");
  auto p = std::make_shared<std::promise<size_t>>();
  auto f = p->get_future();
  auto op = ApplyNow(action, filter);
  asio::co_spawn(io_, std::move(op), [p](std::exception_ptr, size_t n) { p->set_value(n); });
  if (f.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
    return Status::Unavailable("the queue did not finish the action within 60s");
  }
  return f.get();
}

asio::awaitable<size_t> SpoolQueue::ApplyNow(Action action, Filter filter) {
  const int64_t now = NowUnix();
  std::vector<std::string> ids;
  for (const auto& [id, e] : entries_) {
    if (Matches(filter, id, *e.envelope, StateOf(e, now), now)) ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  size_t n = 0;
  for (const auto& id : ids) {
    auto op = ApplyTo(action, id);
    bool touched = co_await std::move(op);
    n += touched ? 1 : 0;
  }
  log::Event("queue action")
      .With("action", ActionName(action))
      .With("messages", static_cast<int64_t>(n))
      .Info();
  Pump();
  co_return n;
}

asio::awaitable<bool> SpoolQueue::ApplyTo(Action action, std::string id) {
  auto it = entries_.find(id);
  if (it == entries_.end()) co_return false;
  Entry& entry = it->second;
  if (entry.in_flight) {  // applied when the attempt in progress ends
    entry.after.push_back(action);
    co_return true;
  }
  entry.in_flight = true;  // no attempt starts while the spool is being changed
  ++in_flight_;
  const int64_t now = NowUnix();
  bool changed = false;
  if (action == Action::kDelete) {
    auto op = Offload(blocking_, [this, &id] { return spool_.Remove(id); });
    Status s = co_await std::move(op);
    log::Event("message deleted by operator").With("queue_id", id).With("result", s.ok() ? "ok" : s.ToString()).Warn();
    Finish(id, entry, s.ok());
    co_return true;
  }
  std::vector<DsnRecipient> bounced;
  for (size_t i = 0; i < entry.recipients.size(); ++i) {
    RecipientStatus& st = entry.recipients[i];
    const bool open = st.state == RecipientState::kPending || st.state == RecipientState::kHeld;
    switch (action) {
      case Action::kHold:
        if (st.state == RecipientState::kPending) {
          st.state = RecipientState::kHeld;
          changed = true;
        }
        break;
      case Action::kRelease:
        if (st.state == RecipientState::kHeld) {
          st.state = RecipientState::kPending;
          changed = true;
        }
        if (open) st.next_attempt_unix = now;
        break;
      case Action::kRetry:
        if (st.state == RecipientState::kPending) st.next_attempt_unix = now;
        break;
      case Action::kBounce:
        if (!open) break;
        st.state = RecipientState::kFailed;
        st.last_reply = delivery::Say(delivery::Condition::kReturned, "returned to sender by the mail system administrator");
        changed = true;
        if (WantsDsn(*entry.envelope, i, DsnAction::kFailed, false)) {
          bounced.push_back({i, DsnAction::kFailed, st.last_reply, "", now});
        }
        break;
      case Action::kDelete: break;
    }
  }
  if (!bounced.empty()) {
    auto read = Offload(blocking_, [this, &id] { return spool_.ReadContent(id); });
    auto content = co_await std::move(read);
    auto body = std::make_shared<const std::string>(content.ok() ? std::move(content).value() : std::string());
    auto notify = Notify(id, entry, bounced, body);
    bool stored = co_await std::move(notify);
    if (!stored) {  // not returned after all: the recipients stay queued
      for (const auto& r : bounced) entry.recipients[r.index].state = RecipientState::kPending;
    }
  }
  co_await Persist(id, entry, changed);
  co_return true;
}

std::vector<HoldPolicy> SpoolQueue::Holds() {
  return RunOnQueue<std::vector<HoldPolicy>>([this] { return holds_; }, std::vector<HoldPolicy>{});
}

Status SpoolQueue::SetHold(const HoldPolicy& policy, bool on) {
  if (policy.kind != "tenant" && policy.kind != "destination") {
    return Status::InvalidArgument("a hold policy is for a \"tenant\" or a \"destination\", not \"" + policy.kind + "\"");
  }
  if (policy.name.empty()) return Status::InvalidArgument("a hold policy needs a name");
  return RunOnQueue<Status>([this, policy, on] {
    auto same = [&](const HoldPolicy& h) { return h.kind == policy.kind && h.name == policy.name; };
    auto it = std::find_if(holds_.begin(), holds_.end(), same);
    if (on == (it != holds_.end())) return Status::Ok();  // already so
    std::vector<HoldPolicy> before = holds_;
    if (on) {
      HoldPolicy h = policy;
      h.since_unix = NowUnix();
      holds_.push_back(std::move(h));
    } else {
      holds_.erase(it);
    }
    // A small synced write on the queue's thread: rare, and the new policy
    // must be durable before it is acted on.
    if (Status s = spool_.PutMeta("holds", FormatHolds(holds_)); !s.ok()) {
      holds_ = std::move(before);
      return s;
    }
    log::Event(on ? "hold policy added" : "hold policy removed")
        .With("kind", policy.kind)
        .With("name", policy.name)
        .With("reason", policy.reason)
        .Warn();
    if (!on) {  // what it held is due now
      const int64_t now = NowUnix();
      for (auto& [id, e] : entries_) {
        bool released = false;
        for (size_t i = 0; i < e.recipients.size(); ++i) {
          const RecipientRoute& r = e.envelope->routes[i];
          if ((policy.kind == "tenant" ? r.tenant : r.destination) == policy.name &&
              e.recipients[i].state == RecipientState::kPending) {
            e.recipients[i].next_attempt_unix = std::min(e.recipients[i].next_attempt_unix, now);
            released = true;
          }
        }
        if (released && !e.in_flight) Schedule(id, e);
      }
      Pump();
    }
    return Status::Ok();
  }, Status::Unavailable("the queue is not running"));
}

}  // namespace sluice::queue
