// Scheduling and delivery attempts. Spool I/O runs on the blocking pool and
// delivery on the destinations' own coroutines; every outcome is synced to
// the spool before the queue acts on it (doc/design.md, rule 1).
#include <fmt/format.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <future>

#include "common/offload.h"
#include "common/log.h"
#include "mail/clock.h"
#include "queue/spool_queue.h"
#include "mail/reply_line.h"

namespace sluice::queue {

namespace asio = boost::asio;

int64_t NowUnix() { return mail::Clock::System().NowUnix(); }

namespace {

const char* KindName(delivery::Outcome::Kind k) {
  switch (k) {
    case delivery::Outcome::Kind::kDelivered: return "delivered";
    case delivery::Outcome::Kind::kDeferred: return "deferred";
    case delivery::Outcome::Kind::kFailed: return "failed";
  }
  return "?";
}

// The basic code of a reply for metrics, or "none" when there was no reply.
std::string CodeOf(const std::string& reply) {
  return mail::ParseReplyLine(reply).code != 0 ? reply.substr(0, 3) : "none";
}

}  // namespace

SpoolQueue::SpoolQueue(QueueOptions o, spool::Spool& spool, delivery::Delivery& delivery,
                       asio::thread_pool& blocking, NotifyRouter router, TenantGroups* groups)
    : o_(std::move(o)), spool_(spool), delivery_(delivery), blocking_(blocking),
      router_(std::move(router)), groups_(groups), wake_(io_), work_(io_.get_executor()) {}

SpoolQueue::~SpoolQueue() { Stop(std::chrono::seconds(0)); }

Status SpoolQueue::Start() {
  auto saved = spool_.GetMeta("holds");
  if (saved.ok()) {
    holds_ = ParseHolds(saved.value());
  } else if (saved.status().code() != Status::Code::kNotFound) {
    return saved.status();
  }
  std::vector<spool::StoredMessage> found;
  Status s = spool_.Recover([&](spool::StoredMessage m) { found.push_back(std::move(m)); });
  if (!s.ok()) return s;
  for (auto& m : found) Add(std::move(m), /*recovered=*/true);
  log::Event("queue recovered")
      .With("messages", static_cast<int64_t>(entries_.size()))
      .With("hold_policies", static_cast<int64_t>(holds_.size()))
      .Info();
  thread_ = std::thread([this] { io_.run(); });
  asio::post(io_, [this] { Pump(); });
  return Status::Ok();
}

void SpoolQueue::Submit(spool::StoredMessage m) {
  asio::post(io_, [this, m = std::move(m)]() mutable {
    Add(std::move(m), false);
    Pump();
  });
}

void SpoolQueue::Stop(std::chrono::seconds grace) {
  if (!thread_.joinable()) return;
  asio::post(io_, [this] { stopping_ = true; });
  auto until = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < until && Stats().in_flight > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // Outbound connections live on this loop: free them while it exists.
  std::promise<void> closed;
  asio::post(io_, [&] {
    delivery_.CloseIdle();
    closed.set_value();
  });
  closed.get_future().wait_for(std::chrono::seconds(5));
  io_.stop();
  thread_.join();
}

void SpoolQueue::Add(spool::StoredMessage m, bool recovered) {
  if (entries_.count(m.id)) return;
  bool open = false;
  for (const auto& r : m.recipients) {
    open = open || r.state == RecipientState::kPending || r.state == RecipientState::kHeld;
  }
  if (!open) {  // everything was done before a crash; finish the removal
    spool_.Remove(m.id);
    return;
  }
  Entry e{std::make_shared<const Envelope>(std::move(m.envelope)), std::move(m.recipients),
          recovered, false, {}};
  auto [it, fresh] = entries_.emplace(m.id, std::move(e));
  Schedule(it->first, it->second);
}

bool SpoolQueue::PolicyHeld(const RecipientRoute& r) const {
  for (const auto& h : holds_) {
    if ((h.kind == "tenant" && h.name == r.tenant) || (h.kind == "destination" && h.name == r.destination)) {
      return true;
    }
  }
  return false;
}

bool SpoolQueue::Attemptable(const Entry& e, size_t i) const {
  return e.recipients[i].state == RecipientState::kPending && !PolicyHeld(e.envelope->routes[i]);
}

int64_t SpoolQueue::Due(const Entry& e) const {
  int64_t due = -1;
  for (size_t i = 0; i < e.recipients.size(); ++i) {
    if (!Attemptable(e, i)) continue;
    int64_t t = std::max<int64_t>(0, e.recipients[i].next_attempt_unix);
    due = due < 0 ? t : std::min(due, t);
  }
  return due;
}

void SpoolQueue::Schedule(const std::string& id, const Entry& e) {
  int64_t due = Due(e);
  if (due < 0) return;  // held, or nothing left
  if (due <= NowUnix()) {
    ready_.push_back(id);
  } else {
    deferred_.emplace(due, id);
  }
}

void SpoolQueue::Pump() {
  if (stopping_) return;
  const int64_t now = NowUnix();
  while (!deferred_.empty() && deferred_.begin()->first <= now) {
    ready_.push_back(deferred_.begin()->second);
    deferred_.erase(deferred_.begin());
  }
  while (in_flight_ < o_.max_deliveries && !ready_.empty()) {
    std::string id = std::move(ready_.front());
    ready_.pop_front();
    auto it = entries_.find(id);
    if (it == entries_.end() || it->second.in_flight) continue;
    int64_t due = Due(it->second);
    if (due < 0 || due > now) continue;  // a stale item: held, retried or rescheduled since
    it->second.in_flight = true;
    ++in_flight_;
    asio::co_spawn(io_, Attempt(id), asio::detached);
  }
  if (!deferred_.empty()) {
    auto wait = std::chrono::seconds(std::max<int64_t>(0, deferred_.begin()->first - now));
    wake_.expires_after(wait);
    wake_.async_wait([this](boost::system::error_code ec) {
      if (!ec) Pump();
    });
  }
}

asio::awaitable<void> SpoolQueue::Attempt(std::string id) {
  Entry& entry = entries_.at(id);  // stable: only this coroutine erases it
  auto content = co_await Offload(blocking_, [this, &id] { return spool_.ReadContent(id); });
  if (!content.ok()) {
    log::Event("spool read failed").With("queue_id", id).With("error", content.status().ToString()).Error();
    for (size_t i = 0; i < entry.recipients.size(); ++i) {
      if (Attemptable(entry, i)) entry.recipients[i].next_attempt_unix = NowUnix() + o_.retry_initial.count();
    }
    Finish(id, entry, /*forget=*/false);
    co_return;
  }
  auto body = std::make_shared<const std::string>(std::move(content).value());

  // One job per destination, in the order recipients were given.
  std::map<std::string, delivery::Job> jobs;
  const int64_t now = NowUnix();
  for (size_t i = 0; i < entry.recipients.size(); ++i) {
    const RecipientStatus& st = entry.recipients[i];
    if (!Attemptable(entry, i) || st.next_attempt_unix > now) continue;
    delivery::Job& job = jobs[entry.envelope->routes[i].destination];
    job.queue_id = id;
    job.envelope = entry.envelope;
    job.content = body;
    job.retry = job.retry || entry.recovered || st.attempts > 0;
    job.recipients.push_back(i);
  }
  bool changed = false;
  std::vector<DsnRecipient> failed, delayed, succeeded;
  for (auto& [destination, job] : jobs) {
    auto t0 = std::chrono::steady_clock::now();
    std::vector<delivery::Outcome> outcomes = co_await delivery_.Deliver(job);
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    for (size_t k = 0; k < job.recipients.size(); ++k) {
      size_t i = job.recipients[k];
      delivery::Outcome& o = outcomes[k];
      RecipientStatus& st = entry.recipients[i];
      if (o.retry_after.count() == 0) ++st.attempts;
      st.last_reply = o.reply;
      ++deliveries_[{KindName(o.kind), CodeOf(o.reply)}];
      const int64_t age = now - entry.envelope->received_unix;
      if (o.kind == delivery::Outcome::Kind::kDeferred && age >= o_.max_lifetime.count()) {
        o.kind = delivery::Outcome::Kind::kFailed;
        st.last_reply = fmt::format("{} (message expired after {}s in the queue)", o.reply, age);
      }
      DsnRecipient report{i, DsnAction::kFailed, st.last_reply, o.remote, now};
      switch (o.kind) {
        case delivery::Outcome::Kind::kDelivered:
          st.state = RecipientState::kDelivered;
          report.action = o.handover == delivery::Outcome::Handover::kRelayed ? DsnAction::kRelayed
                                                                              : DsnAction::kDelivered;
          if (o.handover != delivery::Outcome::Handover::kPassedOn &&
              WantsDsn(*entry.envelope, i, report.action, false)) {
            succeeded.push_back(report);
          }
          break;
        case delivery::Outcome::Kind::kFailed:
          st.state = RecipientState::kFailed;
          if (WantsDsn(*entry.envelope, i, DsnAction::kFailed, false)) failed.push_back(report);
          break;
        case delivery::Outcome::Kind::kDeferred:
          if (o.retry_after.count() > 0) {
            // Spread the wake-ups over a second so a reopened destination
            // is not hit by every waiting message at once.
            st.next_attempt_unix = now + 1 + o.retry_after.count() / 1000 + (unit_(rng_) < 0.5 ? 0 : 1);
          } else {
            st.next_attempt_unix = now + Backoff(o_, st.attempts, unit_(rng_)).count();
          }
          if (o_.delay_warning.count() > 0 && !st.delay_warned && age >= o_.delay_warning.count() &&
              WantsDsn(*entry.envelope, i, DsnAction::kDelayed, true)) {
            st.delay_warned = true;
            report.action = DsnAction::kDelayed;
            delayed.push_back(report);
          }
          break;
      }
      changed = true;
      const RecipientRoute& route = entry.envelope->routes[i];
      const bool flight = groups_ && groups_->InFlight(route.tenant);
      if (groups_ && groups_->share() > 0) groups_->CountDelivery(flight, o.kind != delivery::Outcome::Kind::kDelivered);
      log::Event event("delivery");
      if (flight) event.With("flight", "yes");
      event.With("queue_id", id)
          .With("rcpt", route.address)
          .With("tenant", route.tenant)
          .With("forest", route.forest)
          .With("destination", destination)
          .With("result", KindName(o.kind))
          .With("reply", st.last_reply)
          .With("remote", o.remote)
          .With("tls", o.tls.empty() ? "none" : o.tls)
          .With("attempt", static_cast<int64_t>(st.attempts))
          .With("duration_ms", ms)
          .Info();
    }
  }
  // Reports are queued before the states that caused them are written: a
  // crash in between repeats a report rather than losing it.
  for (auto* group : {&failed, &delayed, &succeeded}) {
    if (group->empty()) continue;
    auto notify = Notify(id, entry, *group, body);
    bool stored = co_await std::move(notify);
    if (stored) continue;
    // The report could not be stored: a failure stays pending so that it is
    // reported later (a success cannot be undone; its report is logged lost).
    for (const auto& r : *group) {
      RecipientStatus& st = entry.recipients[r.index];
      if (r.action == DsnAction::kFailed) {
        st.state = RecipientState::kPending;
        st.next_attempt_unix = now + o_.retry_initial.count();
      } else if (r.action == DsnAction::kDelayed) {
        st.delay_warned = false;
      }
    }
  }
  co_await Persist(id, entry, changed);
}

// Makes the attempt's outcome durable, then reschedules or forgets the message.
asio::awaitable<void> SpoolQueue::Persist(const std::string& id, Entry& entry, bool changed) {
  bool done = true;
  for (const auto& st : entry.recipients) {
    done = done && st.state != RecipientState::kPending && st.state != RecipientState::kHeld;
  }
  Status s;
  if (done) {
    s = co_await Offload(blocking_, [this, &id] { return spool_.Remove(id); });
  } else if (changed) {
    auto op = Offload(blocking_, [this, &id, copy = entry.recipients] {
      return spool_.UpdateRecipients(id, copy);
    });  // built outside co_await: see Offload on temporaries
    s = co_await std::move(op);
  }
  if (!s.ok()) {
    log::Event("spool update failed").With("queue_id", id).With("error", s.ToString()).Error();
  }
  Finish(id, entry, done && s.ok());
}

void SpoolQueue::Finish(const std::string& id, Entry& entry, bool forget) {
  --in_flight_;
  if (forget) {
    entries_.erase(id);
  } else {
    entry.in_flight = false;
    Schedule(id, entry);
    // Operator actions that arrived during the attempt.
    for (Action a : std::exchange(entry.after, {})) {
      auto op = ApplyTo(a, id);
      asio::co_spawn(io_, std::move(op), asio::detached);
    }
  }
  Pump();
}

std::chrono::seconds Backoff(const QueueOptions& o, uint32_t attempts, double unit_random) {
  double base = static_cast<double>(o.retry_initial.count());
  for (uint32_t i = 1; i < attempts && base < o.retry_max.count(); ++i) base *= 2;
  base = std::min(base, static_cast<double>(o.retry_max.count()));
  double jittered = base * (0.8 + 0.4 * unit_random);
  return std::chrono::seconds(std::max<int64_t>(1, static_cast<int64_t>(jittered)));
}

std::unique_ptr<Queue> MakeQueue(QueueOptions options, spool::Spool& spool,
                                 delivery::Delivery& delivery, asio::thread_pool& blocking,
                                 NotifyRouter notify_router, TenantGroups* groups) {
  return std::make_unique<SpoolQueue>(std::move(options), spool, delivery, blocking,
                                      std::move(notify_router), groups);
}

}  // namespace sluice::queue
