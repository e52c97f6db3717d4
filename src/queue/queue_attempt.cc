// One delivery attempt of a message: its due recipients grouped by
// destination, each group delivered at once and on its own (a slow
// tenant's store does not hold back another tenant's copy), and each
// group's outcome classified, reported and persisted as it comes in.
#include <fmt/format.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "common/log.h"
#include "common/offload.h"
#include "mail/reply_line.h"
#include "queue/spool_queue.h"

namespace sluice::queue {

namespace asio = boost::asio;
using Kind = delivery::Outcome::Kind;

namespace {

const char* KindName(Kind k) {
  switch (k) {
    case Kind::kDelivered: return "delivered";
    case Kind::kDeferred: return "deferred";
    case Kind::kFailed: return "failed";
  }
  return "?";
}

// The basic code of a reply for metrics, or "none" when there was no reply.
std::string CodeOf(const std::string& reply) {
  return mail::ParseReplyLine(reply).code != 0 ? reply.substr(0, 3) : "none";
}

}  // namespace

asio::awaitable<void> SpoolQueue::Attempt(std::string id) {
  Entry& e = window_.at(id);  // stable: a busy entry is erased only by Finish
  if (!e.content) {
    auto read = Offload(reads_, [this, id] { return spool_.ReadContent(id); });
    Result<spool::Content> content = co_await std::move(read);
    if (!content.ok()) {
      log::Event("spool read failed").With("queue_id", id).With("error", content.status().ToString()).Error();
      const int64_t later = Now() + o_.retry_initial.count();
      for (size_t i = 0; i < e.recipients.size(); ++i) {
        if (Attemptable(e, i)) e.recipients[i].next_attempt_unix = later;
      }
      auto persist = Persist(id, spool::Change::Update(id, e.recipients));
      Status s = co_await std::move(persist);
      Finish(id, false, s);
      co_return;
    }
    e.content = std::move(content).value();  // for this attempt only: not counted in the budget
  }
  // One job per destination, in the order recipients were given.
  std::map<std::string, delivery::Job> jobs;
  const int64_t now = Now();
  for (size_t i = 0; i < e.recipients.size(); ++i) {
    const RecipientStatus& st = e.recipients[i];
    if (!Attemptable(e, i) || st.next_attempt_unix > now) continue;
    delivery::Job& job = jobs[e.envelope->routes[i].destination];
    job.queue_id = id;
    job.envelope = e.envelope;
    job.content = e.content;
    job.retry = job.retry || e.recovered || st.attempts > 0;
    job.recipients.push_back(i);
  }
  if (jobs.empty()) {  // nothing due after all (a hold came in meanwhile)
    Finish(id, false, Status::Ok());
    co_return;
  }
  e.jobs = jobs.size();
  for (auto& [destination, job] : jobs) {
    auto op = RunJob(id, std::move(job));
    asio::co_spawn(io_, std::move(op), asio::detached);
  }
}

asio::awaitable<void> SpoolQueue::RunJob(std::string id, delivery::Job job) {
  const auto t0 = clock_.Steady();
  auto deliver = delivery_.Deliver(job);
  std::vector<delivery::Outcome> outcomes = co_await std::move(deliver);
  const double ms = std::chrono::duration<double, std::milli>(clock_.Steady() - t0).count();
  Entry& e = window_.at(id);
  const int64_t now = Now();
  // Classify, apply, report, persist — in that order (attempt.h).
  std::vector<Verdict> verdicts =
      Classify(o_, *e.envelope, e.recipients, job.recipients, outcomes, now, [this] { return unit_(rng_); });
  Record(id, e, outcomes, verdicts, ms);
  std::vector<DsnRecipient> failed, delayed, succeeded;
  for (const Verdict& v : verdicts) {
    if (!v.report) continue;
    (v.report->action == DsnAction::kFailed    ? failed
     : v.report->action == DsnAction::kDelayed ? delayed
                                               : succeeded)
        .push_back(*v.report);
  }
  for (auto* group : {&failed, &delayed, &succeeded}) {
    if (group->empty()) continue;
    auto notify = Notify(id, e.envelope, *group, job.content);
    const bool stored = co_await std::move(notify);
    if (stored) continue;
    for (const auto& r : *group) Unreport(o_, r.action, now, e.recipients[r.index]);
  }
  const bool last = --e.jobs == 0;
  const bool done = last && AllDone(e.recipients);
  auto persist = Persist(id, done ? spool::Change::Remove(id) : spool::Change::Update(id, e.recipients));
  Status s = co_await std::move(persist);
  if (last) Finish(id, done, s);
}

void SpoolQueue::Record(const std::string& id, Entry& e, const std::vector<delivery::Outcome>& outcomes, const std::vector<Verdict>& verdicts,
                        double ms) {
  for (size_t k = 0; k < verdicts.size(); ++k) {
    const Verdict& v = verdicts[k];
    const delivery::Outcome& o = outcomes[k];
    e.recipients[v.index] = v.after;
    ++deliveries_[{KindName(o.kind), CodeOf(o.reply)}];
    const RecipientRoute& route = e.envelope->routes[v.index];
    const bool flight = groups_ && groups_->InFlight(route.tenant);
    if (groups_ && groups_->share() > 0) groups_->CountDelivery(flight, v.kind != Kind::kDelivered);
    log::Event event("delivery");
    if (flight) event.With("flight", "yes");
    event.With("queue_id", id)
        .With("rcpt", route.address)
        .With("tenant", route.tenant)
        .With("forest", route.forest)
        .With("destination", route.destination)
        .With("result", KindName(v.kind))
        .With("reply", v.after.last_reply)
        .With("remote", o.remote)
        .With("tls", o.tls.empty() ? "none" : o.tls)
        .With("attempt", static_cast<int64_t>(v.after.attempts))
        .With("duration_ms", ms)
        .Info();
  }
}

void SpoolQueue::Finish(const std::string& id, bool done, const Status& last_write) {
  --in_flight_;
  Settle(id, done, last_write);
}

}  // namespace sluice::queue
