// DSNs to senders: built by dsn.cc, committed to the spool like any other
// message (null sender, so a failing report is never reported on), and
// handed to the queue.
#include <fmt/format.h>

#include "common/offload.h"
#include "common/log.h"
#include "queue/spool_queue.h"

namespace sluice::queue {

namespace asio = boost::asio;

asio::awaitable<bool> SpoolQueue::Notify(const std::string& id, const Entry& entry,
                                         std::vector<DsnRecipient> recipients,
                                         std::shared_ptr<const std::string> content) {
  const Envelope& original = *entry.envelope;
  if (original.sender.empty() || recipients.empty()) co_return true;
  const int64_t now = NowUnix();
  DsnInput in;
  in.reporting_mta = o_.hostname;
  in.queue_id = id;
  in.envelope = &original;
  in.content = *content;
  in.recipients = std::move(recipients);
  in.now_unix = now;
  in.retry_until_unix = original.received_unix + o_.max_lifetime.count();
  in.full_content_limit = o_.bounce_size_limit;
  std::string report = MakeDsn(in);

  RecipientRoute route{original.sender, "", "", o_.notify_destination, ""};
  if (router_) {
    auto resolve = router_(original.sender);
    route = co_await std::move(resolve);
  }
  if (route.destination.empty()) {
    // Neither our own sender nor a notify_destination to reach others by:
    // a report that could only sit in the queue until it expired.
    log::Event("dsn not sent: no route to the sender (set [queue] notify_destination)")
        .With("queue_id", id)
        .With("to", original.sender)
        .Warn();
    co_return true;
  }
  Envelope e;
  e.rcpt_to = {original.sender};
  e.routes = {route};
  e.dsn.resize(1);
  e.helo = o_.hostname;
  e.client_address = "local";
  e.esmtp = true;
  e.body_8bit = original.body_8bit || original.smtputf8;
  e.smtputf8 = original.smtputf8;
  e.received_unix = now;
  spool::StoredMessage m{spool::NewQueueId(), e, {RecipientStatus{}}};
  auto commit = Offload(blocking_, [this, &m, &report] { return spool_.Commit(m.id, m.envelope, "", report); });
  Status s = co_await std::move(commit);
  const char* kind = in.recipients.front().action == DsnAction::kFailed    ? "failure"
                     : in.recipients.front().action == DsnAction::kDelayed ? "delay"
                                                                           : "success";
  log::Event event("dsn");
  event.With("queue_id", id)
      .With("dsn_id", s.ok() ? m.id : std::string("-"))
      .With("kind", kind)
      .With("to", original.sender)
      .With("destination", route.destination)
      .With("recipients", static_cast<int64_t>(in.recipients.size()));
  if (!s.ok()) {
    event.With("error", s.ToString()).Error();
    co_return false;
  }
  event.Info();
  ++dsn_sent_;
  Add(std::move(m), false);
  co_return true;
}

}  // namespace sluice::queue
