// DSNs to senders: built by dsn.cc, committed to the spool like any other
// message (null sender, so a failing report is never reported on), and
// taken into the queue.
#include <fmt/format.h>

#include "common/log.h"
#include "queue/spool_queue.h"
#include "spool/await.h"

namespace sluice::queue {

namespace asio = boost::asio;

asio::awaitable<bool> SpoolQueue::Notify(std::string id, std::shared_ptr<const Envelope> original,
                                         std::vector<DsnRecipient> recipients, spool::Content content) {
  if (original->sender.empty() || recipients.empty()) co_return true;
  const int64_t now = Now();
  DsnInput in;
  in.reporting_mta = o_.hostname;
  in.queue_id = id;
  in.envelope = original.get();
  in.content = content ? std::string_view(*content) : std::string_view();
  in.recipients = std::move(recipients);
  in.now_unix = now;
  in.retry_until_unix = original->received_unix + o_.max_lifetime.count();
  in.full_content_limit = o_.bounce_size_limit;
  auto report = std::make_shared<const std::string>(MakeDsn(in));

  RecipientRoute route{original->sender, "", "", o_.notify_destination, ""};
  if (router_) {
    auto resolve = router_(original->sender);
    route = co_await std::move(resolve);
  }
  if (route.destination.empty()) {
    // Neither our own sender nor a notify_destination to reach others by:
    // a report that could only sit in the queue until it expired.
    log::Event("dsn not sent: no route to the sender (set [queue] notify_destination)")
        .With("queue_id", id)
        .With("to", original->sender)
        .Warn();
    co_return true;
  }
  auto e = std::make_shared<Envelope>();
  e->rcpt_to = {original->sender};
  e->routes = {route};
  e->dsn.resize(1);
  e->helo = o_.hostname;
  e->client_address = "local";
  e->esmtp = true;
  e->body_8bit = original->body_8bit || original->smtputf8;
  e->smtputf8 = original->smtputf8;
  e->received_unix = now;
  const std::string dsn_id = spool::NewQueueId();
  auto commit = spool::AsyncWrite(spool_, spool::Change::Commit(dsn_id, e, report));
  Status s = co_await std::move(commit);
  const char* kind = in.recipients.front().action == DsnAction::kFailed    ? "failure"
                     : in.recipients.front().action == DsnAction::kDelayed ? "delay"
                                                                           : "success";
  log::Event event("dsn");
  event.With("queue_id", id)
      .With("dsn_id", s.ok() ? dsn_id : std::string("-"))
      .With("kind", kind)
      .With("to", original->sender)
      .With("destination", route.destination)
      .With("recipients", static_cast<int64_t>(in.recipients.size()));
  if (!s.ok()) {
    event.With("error", s.ToString()).Error();
    co_return false;
  }
  event.Info();
  ++dsn_sent_;
  Admit(dsn_id, std::move(e), {RecipientStatus{}}, std::move(report), false);
  co_return true;
}

}  // namespace sluice::queue
