// The operator's side of the queue: listing, hold/release/retry/delete/
// bounce, hold policies and statistics. Calls from other threads read the
// spool on their own thread, then hop onto the queue's loop for what only
// it knows (states, the window) and wait there for the answer.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "common/log.h"
#include "common/offload.h"
#include "delivery/outcomes.h"
#include "mail/ascii.h"
#include "queue/spool_queue.h"

namespace sluice::queue {

namespace asio = boost::asio;

MessageState SpoolQueue::StateOf(const Entry& e, int64_t now) const {
  if (e.busy) return MessageState::kActive;
  const int64_t due = Due(e);
  if (due < 0) return MessageState::kHold;  // open recipients, none attemptable
  return due <= now ? MessageState::kReady : MessageState::kDeferred;
}

std::optional<MessageState> SpoolQueue::StateOf(const std::string& id, int64_t now) const {
  if (auto it = window_.find(id); it != window_.end()) return StateOf(it->second, now);
  if (loading_.count(id)) return MessageState::kReady;
  auto slot = backlog_.Find(id);
  if (!slot) return std::nullopt;
  if (slot->wait != Backlog::Wait::kDue) return MessageState::kHold;
  return slot->due <= now ? MessageState::kReady : MessageState::kDeferred;
}

RecipientView SpoolQueue::ViewOf(const Entry& e, size_t i, int64_t now) const {
  const RecipientStatus& st = e.recipients[i];
  switch (st.state) {
    case RecipientState::kDelivered: return RecipientView::kDelivered;
    case RecipientState::kFailed: return RecipientView::kFailed;
    case RecipientState::kHeld: return RecipientView::kHold;
    case RecipientState::kPending: break;
  }
  if (PolicyHeld(e.envelope->routes[i])) return RecipientView::kHold;
  return st.next_attempt_unix <= now ? RecipientView::kReady : RecipientView::kDeferred;
}

QueueStats SpoolQueue::StatsNow() {
  QueueStats s;
  const int64_t now = Now();
  const Backlog::Counts c = backlog_.Count(now);
  s.messages = backlog_.size() + loading_.size() + window_.size();
  s.ready = c.ready + loading_.size();
  s.deferred = c.deferred;
  s.hold = c.hold;
  s.in_flight = in_flight_;
  s.active = window_.size();
  std::optional<std::string> oldest = backlog_.Oldest();
  auto older = [&](const std::string& id) {
    if (!oldest || id < *oldest) oldest = id;
  };
  for (const auto& [id, e] : window_) {
    older(id);
    if (e.busy) continue;  // counted as in flight
    switch (StateOf(e, now)) {
      case MessageState::kReady: ++s.ready; break;
      case MessageState::kDeferred: ++s.deferred; break;
      case MessageState::kHold: ++s.hold; break;
      case MessageState::kActive: break;
    }
  }
  for (const auto& [id, asked] : loading_) older(id);
  s.oldest_unix = oldest ? spool::QueueIdTime(*oldest) : 0;
  s.deliveries = deliveries_;
  s.dsn_sent = dsn_sent_;
  return s;
}

QueueStats SpoolQueue::Stats() {
  return RunOnQueue<QueueStats>([this] { return StatsNow(); }, QueueStats{});
}

std::vector<std::string> SpoolQueue::KnownIds(std::optional<MessageState> state, size_t limit) {
  return RunOnQueue<std::vector<std::string>>([this, state, limit] {
    std::vector<std::string> found;
    const int64_t t = Now();
    auto add = [&](const std::string& id) {
      if (found.size() < limit && (!state || StateOf(id, t) == state)) found.push_back(id);
    };
    backlog_.ForEach([&](const std::string& id, const Backlog::Slot&) { add(id); });
    for (const auto& [id, e] : window_) add(id);
    for (const auto& [id, a] : loading_) add(id);
    return found;
  }, std::vector<std::string>{});
}

Result<std::vector<spool::StoredMessage>> SpoolQueue::Candidates(const Filter& filter, size_t limit, bool envelopes) {
  const int64_t now = Now();
  std::vector<spool::StoredMessage> out;
  auto keep = [&](spool::StoredMessage m) {
    if (!Matches(filter, m.id, m.envelope, now)) return;
    if (!envelopes) m.envelope = Envelope{};
    out.push_back(std::move(m));
  };
  if (!filter.ids.empty()) {
    for (const auto& id : filter.ids) {
      auto m = spool_.Load(id);
      if (m.ok()) keep(std::move(m).value());
    }
    return out;
  }
  // Without envelope criteria the queue's own knowledge names the messages:
  // no need to read a million envelopes to retry them all.
  const bool by_envelope = !filter.tenant.empty() || !filter.destination.empty() || !filter.sender.empty() ||
                           !filter.rcpt.empty() || filter.min_age.count() > 0;
  if (!envelopes && !by_envelope) {
    for (auto& id : KnownIds(filter.state, limit)) out.push_back(spool::StoredMessage{std::move(id), {}, {}});
    return out;
  }
  // With a state asked for, the ids in that state first (the queue's
  // knowledge), so that the limit counts only messages that qualify.
  std::vector<PackedId> in_state;
  const bool by_state = filter.state.has_value();
  if (by_state) {
    for (const auto& id : KnownIds(filter.state, SIZE_MAX)) in_state.push_back(*PackedId::Pack(id));
    std::sort(in_state.begin(), in_state.end());
  }
  Status s = spool_.Scan([&](spool::StoredMessage m) {
    if (by_state) {
      auto p = PackedId::Pack(m.id);
      if (!p || !std::binary_search(in_state.begin(), in_state.end(), *p)) return true;
    }
    keep(std::move(m));
    return out.size() < limit;
  });
  if (!s.ok()) return s;
  return out;
}

std::vector<MessageInfo> SpoolQueue::List(const Filter& filter) {
  auto found = Candidates(filter, filter.limit, true);
  if (!found.ok()) {
    log::Event("queue listing failed").With("error", found.status().ToString()).Warn();
    return {};
  }
  // Owned by the posted work: it may run after RunOnQueue gave up waiting.
  return RunOnQueue<std::vector<MessageInfo>>([this, state = filter.state, found = std::move(found).value()] {
    std::vector<MessageInfo> out;
    const int64_t now = Now();
    for (const auto& m : found) {
      const std::optional<MessageState> st = StateOf(m.id, now);
      if (!st || (state && *state != *st)) continue;  // gone, or no longer in that state
      // The window's copy is newer than the spool's while an attempt runs.
      auto it = window_.find(m.id);
      Entry view;
      if (it != window_.end()) {
        view = it->second;
      } else {
        view.envelope = std::make_shared<const Envelope>(m.envelope);
        view.recipients = m.recipients;
      }
      MessageInfo info{m.id, view.envelope->sender, view.envelope->received_unix, *st, {}, view.envelope->quarantine};
      for (size_t i = 0; i < view.recipients.size(); ++i) {
        const RecipientRoute& r = view.envelope->routes[i];
        const RecipientStatus& rs = view.recipients[i];
        info.recipients.push_back({r.address, r.tenant, r.forest, r.destination, ViewOf(view, i, now), rs.attempts,
                                   rs.next_attempt_unix, rs.last_reply});
      }
      out.push_back(std::move(info));
    }
    std::sort(out.begin(), out.end(), [](const MessageInfo& a, const MessageInfo& b) { return a.id < b.id; });
    return out;
  }, std::vector<MessageInfo>{});
}

Result<size_t> SpoolQueue::Apply(OperatorAction action, const Filter& filter) {
  if (!started_ || io_.stopped()) return Status::Unavailable("the queue is not running");
  auto found = Candidates(filter, SIZE_MAX, false);
  if (!found.ok()) return found.status();
  std::vector<std::string> ids;
  for (auto& m : found.value()) ids.push_back(std::move(m.id));
  std::optional<size_t> n = AwaitOnQueue(ApplyNow(action, std::move(ids), filter.state));
  if (!n) return Status::Unavailable("the queue did not finish the action within 60s");
  return *n;
}

asio::awaitable<size_t> SpoolQueue::ApplyNow(OperatorAction action, std::vector<std::string> ids,
                                             std::optional<MessageState> state) {
  size_t n = 0;
  for (const auto& id : ids) {
    if (state && StateOf(id, Now()) != state) continue;
    auto op = ApplyTo(action, id);
    const bool touched = co_await std::move(op);
    n += touched ? 1 : 0;
  }
  log::Event("queue action").With("action", ToString(action)).With("messages", static_cast<int64_t>(n)).Info();
  Pump();
  co_return n;
}

asio::awaitable<bool> SpoolQueue::ApplyTo(OperatorAction action, std::string id) {
  if (auto l = loading_.find(id); l != loading_.end()) {  // applied once it is read
    l->second.push_back(action);
    co_return true;
  }
  if (!window_.count(id)) {
    if (action == OperatorAction::kRetry) {
      // No need to read it: a retry changes only when it is due, and that
      // is not stored (the backlog keeps it; Load makes the recipients due).
      auto slot = backlog_.Find(id);
      if (!slot) co_return false;
      if (slot->wait == Backlog::Wait::kDue) {
        slot->due = std::min(slot->due, Now());
        slot->retry = true;
        backlog_.Put(id, *slot);
      }
      co_return true;
    }
    auto load = LoadForChange(id);
    if (!co_await std::move(load)) co_return false;
  }
  Entry& e = window_.at(id);
  if (e.busy) {  // applied when the attempt in progress ends
    e.after.push_back(action);
    co_return true;
  }
  e.busy = true;  // no attempt starts while the spool is being changed
  const int64_t now = Now();
  if (action == OperatorAction::kDelete) {
    auto persist = Persist(id, spool::Change::Remove(id));
    Status s = co_await std::move(persist);
    log::Event("message deleted by operator").With("queue_id", id).With("result", s.ok() ? "ok" : s.ToString()).Warn();
    Settle(id, s.ok(), s);
    co_return true;
  }
  bool changed = false;
  std::vector<DsnRecipient> bounced;
  for (size_t i = 0; i < e.recipients.size(); ++i) {
    RecipientStatus& st = e.recipients[i];
    switch (action) {
      case OperatorAction::kHold:
        if (st.state == RecipientState::kPending) {
          st.state = RecipientState::kHeld;
          changed = true;
        }
        break;
      case OperatorAction::kRelease:
        if (st.state == RecipientState::kHeld) {
          st.state = RecipientState::kPending;
          changed = true;
        }
        if (Open(st)) st.next_attempt_unix = now;
        break;
      case OperatorAction::kRetry:
        if (st.state == RecipientState::kPending) st.next_attempt_unix = now;
        break;
      case OperatorAction::kBounce:
        if (!Open(st)) break;
        st.state = RecipientState::kFailed;
        st.last_reply = delivery::Say(delivery::Condition::kReturned, "returned to sender by the mail system administrator");
        changed = true;
        if (WantsDsn(*e.envelope, i, DsnAction::kFailed, false)) {
          bounced.push_back({i, DsnAction::kFailed, st.last_reply, "", now});
        }
        break;
      case OperatorAction::kDelete: break;
    }
  }
  if (!bounced.empty()) {
    auto read = Offload(reads_, [this, id] { return spool_.ReadContent(id); });
    Result<spool::Content> content = co_await std::move(read);
    auto body = content.ok() ? content.value() : std::make_shared<const std::string>();
    auto notify = Notify(id, e.envelope, bounced, body);
    const bool stored = co_await std::move(notify);
    if (!stored) {  // not returned after all: the recipients stay queued
      for (const auto& r : bounced) e.recipients[r.index].state = RecipientState::kPending;
    }
  }
  const bool done = AllDone(e.recipients);
  Status s;
  if (done || changed) {
    auto persist = Persist(id, done ? spool::Change::Remove(id) : spool::Change::Update(id, e.recipients));
    s = co_await std::move(persist);
  }
  Settle(id, done, s);
  co_return true;
}

asio::awaitable<bool> SpoolQueue::LoadForChange(std::string id) {
  auto slot = backlog_.Take(id);
  if (!slot) co_return false;
  loading_.try_emplace(id);
  auto read = Offload(reads_, [this, id] { return spool_.Load(id); });
  Result<spool::StoredMessage> m = co_await std::move(read);
  std::vector<OperatorAction> asked = std::move(loading_[id]);
  loading_.erase(id);
  if (!m.ok()) {
    if (m.status().code() != Status::Code::kNotFound) backlog_.Put(id, *slot);
    co_return false;
  }
  Entry& loaded = window_[id];
  loaded.envelope = std::make_shared<const Envelope>(std::move(m.value().envelope));
  loaded.recipients = std::move(m.value().recipients);
  loaded.recovered = slot->recovered;
  loaded.after = std::move(asked);
  co_return true;
}

Status SpoolQueue::Resolve(const std::string& id, const std::string& expected, Rescanned r) {
  if (!started_ || io_.stopped()) return Status::Unavailable("the queue is not running");
  std::optional<Status> s = AwaitOnQueue(ResolveNow(id, expected, std::move(r)));
  if (!s) return Status::Unavailable("the queue did not finish within 60s");
  return *s;
}

asio::awaitable<Status> SpoolQueue::ResolveNow(std::string id, std::string expected, Rescanned r) {
  if (loading_.count(id)) co_return Status::Unavailable("being read");
  if (!window_.count(id)) {
    auto load = LoadForChange(id);
    if (!co_await std::move(load)) co_return Status::NotFound("no message " + id);
  }
  Entry& e = window_.at(id);
  if (e.busy) co_return Status::Unavailable("an attempt or a change runs");
  if (e.envelope->quarantine != expected ||
      std::none_of(e.recipients.begin(), e.recipients.end(),
                   [](const RecipientStatus& st) { return st.state == RecipientState::kHeld; })) {
    Settle(id, false, Status::Ok());  // where it was
    co_return Status::NotFound("no longer held for \"" + expected + "\"");
  }
  e.busy = true;
  auto envelope = std::make_shared<Envelope>(*e.envelope);
  envelope->quarantine = r.quarantine;
  std::vector<RecipientStatus> states = e.recipients;
  if (r.quarantine.empty()) {
    for (auto& st : states) {
      if (st.state == RecipientState::kHeld) st = RecipientStatus{RecipientState::kPending, 0, Now(), "", false};
    }
  }
  // A commit over the same id replaces envelope, content and states in one
  // batch: the old form or the new, never a mix.
  auto persist = Persist(id, spool::Change::Commit(id, envelope, r.content, states));
  Status s = co_await std::move(persist);
  if (s.ok()) {
    e.envelope = std::move(envelope);
    e.recipients = std::move(states);
  }
  Settle(id, false, s);
  co_return s;
}

asio::awaitable<void> SpoolQueue::ApplyAfter(std::string id) {
  auto it = window_.find(id);
  if (it == window_.end()) co_return;
  std::vector<OperatorAction> actions = std::exchange(it->second.after, {});
  for (OperatorAction a : actions) {
    auto op = ApplyTo(a, id);
    co_await std::move(op);
  }
  // Placed by the last change's Settle; if none ran, place it now.
  it = window_.find(id);
  if (it != window_.end() && !it->second.busy && !it->second.queued && it->second.after.empty()) {
    Settle(id, false, Status::Ok());
  }
}

std::vector<HoldPolicy> SpoolQueue::Holds() {
  return RunOnQueue<std::vector<HoldPolicy>>([this] { return holds_; }, std::vector<HoldPolicy>{});
}

Status SpoolQueue::SetHold(const HoldPolicy& policy, bool on) {
  if (policy.name.empty()) return Status::InvalidArgument("a hold policy needs a name");
  return RunOnQueue<Status>([this, policy, on] {
    auto same = [&](const HoldPolicy& h) { return h.kind == policy.kind && h.name == policy.name; };
    auto it = std::find_if(holds_.begin(), holds_.end(), same);
    if (on == (it != holds_.end())) return Status::Ok();  // already so
    std::vector<HoldPolicy> before = holds_;
    if (on) {
      HoldPolicy h = policy;
      h.since_unix = Now();
      holds_.push_back(std::move(h));
    } else {
      holds_.erase(it);
    }
    // A small synced write on the queue's loop: rare, and the new policy
    // must be durable before it is acted on.
    if (Status s = spool_.PutMeta("holds", FormatHolds(holds_)); !s.ok()) {
      holds_ = std::move(before);
      return s;
    }
    log::Event(on ? "hold policy added" : "hold policy removed")
        .With("kind", ToString(policy.kind))
        .With("name", policy.name)
        .With("reason", policy.reason)
        .Warn();
    if (!on) {  // what it parked is due now (what another policy holds parks again when read)
      backlog_.Unpark(Now());
      Pump();
    }
    return Status::Ok();
  }, Status::Unavailable("the queue is not running"));
}

}  // namespace sluice::queue
