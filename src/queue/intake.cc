#include "queue/intake.h"

#include <boost/asio/this_coro.hpp>

#include "common/awaited.h"

#include "mail/clock.h"
#include "queue/queue.h"
#include "smtp/received.h"
#include "spool/await.h"

namespace sluice::queue {
namespace {

class SpoolIntake final : public Intake {
 public:
  SpoolIntake(spool::Spool& spool, Queue& queue, std::string hostname, Redundancy* redundancy)
      : spool_(spool), queue_(queue), hostname_(std::move(hostname)), redundancy_(redundancy) {}

  Status CheckRoom(uint64_t bytes) override {
    if (redundancy_ && redundancy_->draining()) return Status::Unavailable("this node is draining");
    return spool_.CheckRoom(bytes);
  }

  boost::asio::awaitable<Accepted> Accept(Envelope envelope, std::string body, ShadowMode mode,
                                          Disposition d) override {
    Accepted a;
    a.id = spool::NewQueueId();
    envelope.received_unix = mail::Clock::System().NowUnix();
    envelope.quarantine = std::move(d.quarantine);
    const bool held = !envelope.quarantine.empty();
    auto content = std::make_shared<std::string>(
        smtp::ReceivedHeader(envelope, hostname_, a.id, envelope.received_unix));
    content->reserve(content->size() + d.fields.size() + body.size());
    content->append(d.fields);
    content->append(body);
    body = std::string();  // the session's copy goes now, not after the sync
    auto shared = std::make_shared<const Envelope>(std::move(envelope));
    spool::Content stored = std::move(content);
    // The copy to a peer starts first and runs beside the local sync.
    std::shared_ptr<Awaited<std::pair<Status, std::string>>> copy;
    if (redundancy_ && mode != ShadowMode::kOff) {
      copy = std::make_shared<Awaited<std::pair<Status, std::string>>>(co_await boost::asio::this_coro::executor);
      redundancy_->Copy(a.id, shared, stored, [copy](Status s, std::string peer) { copy->Deliver({std::move(s), std::move(peer)}); });
    }
    std::vector<RecipientStatus> first;
    if (held) first.assign(shared->routes.size(), RecipientStatus{RecipientState::kHeld, 0, 0, "", false});
    auto write = spool::AsyncWrite(spool_, spool::Change::Commit(a.id, shared, stored, std::move(first)));
    a.status = co_await std::move(write);
    if (copy) {
      auto wait = copy->Wait(redundancy_->deadline());
      std::optional<std::pair<Status, std::string>> got = co_await std::move(wait);
      a.shadowed = got && got->first.ok();
      a.shadow_peer = !got ? "no answer within the deadline" : got->first.ok() ? got->second : got->first.message();
      if (a.status.ok() && !a.shadowed && mode == ShadowMode::kRequired) {
        // Not redundant: the sender keeps the message and tries again; the
        // local copy goes, and the queue never sees it. (A peer that synced
        // it after the deadline holds a stray copy until it is discarded.)
        auto remove = spool::AsyncWrite(spool_, spool::Change::Remove(a.id));
        Status removed = co_await std::move(remove);
        (void)removed;  // a failed removal leaves a message the next start delivers: never a loss
        a.not_redundant = true;
        a.status = Status::Unavailable("no shadow copy: " + a.shadow_peer);
        co_return a;
      }
    }
    if (a.status.ok()) queue_.Submit(a.id, std::move(shared), std::move(stored), held);
    co_return a;
  }

 private:
  spool::Spool& spool_;
  Queue& queue_;
  std::string hostname_;
  Redundancy* redundancy_;
};

}  // namespace

std::unique_ptr<Intake> MakeIntake(spool::Spool& spool, Queue& queue, std::string hostname, Redundancy* redundancy) {
  return std::make_unique<SpoolIntake>(spool, queue, std::move(hostname), redundancy);
}

}  // namespace sluice::queue
