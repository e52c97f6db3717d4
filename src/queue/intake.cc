#include "queue/intake.h"

#include "mail/clock.h"
#include "queue/queue.h"
#include "smtp/received.h"
#include "spool/await.h"

namespace sluice::queue {
namespace {

class SpoolIntake final : public Intake {
 public:
  SpoolIntake(spool::Spool& spool, Queue& queue, std::string hostname)
      : spool_(spool), queue_(queue), hostname_(std::move(hostname)) {}

  Status CheckRoom(uint64_t bytes) override { return spool_.CheckRoom(bytes); }

  boost::asio::awaitable<Accepted> Accept(Envelope envelope, std::string body) override {
    Accepted a{Status::Ok(), spool::NewQueueId()};
    envelope.received_unix = mail::Clock::System().NowUnix();
    auto content = std::make_shared<std::string>(
        smtp::ReceivedHeader(envelope, hostname_, a.id, envelope.received_unix));
    content->append(body);
    body = std::string();  // the session's copy goes now, not after the sync
    auto shared = std::make_shared<const Envelope>(std::move(envelope));
    spool::Content stored = std::move(content);
    auto write = spool::AsyncWrite(spool_, spool::Change::Commit(a.id, shared, stored));
    a.status = co_await std::move(write);
    if (a.status.ok()) queue_.Submit(a.id, std::move(shared), std::move(stored));
    co_return a;
  }

 private:
  spool::Spool& spool_;
  Queue& queue_;
  std::string hostname_;
};

}  // namespace

std::unique_ptr<Intake> MakeIntake(spool::Spool& spool, Queue& queue, std::string hostname) {
  return std::make_unique<SpoolIntake>(spool, queue, std::move(hostname));
}

}  // namespace sluice::queue
