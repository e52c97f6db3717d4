// The dedup window shared by the fleet (delivery/dedup.h) in Redis: one
// key per recipient of a message delivered to a mailbox store, expiring
// after the window, so a copy delivered by a peer after a takeover finds
// the primary's delivery. Asks and records from every delivery of the
// node go to one thread, in one pipelined round trip per batch. A node
// always keeps its own window too; while Redis does not answer it is the
// only one asked (a duplicate across nodes is then possible, never a loss).
#pragma once

#include <condition_variable>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <thread>

#include "cluster/redis.h"
#include "common/awaited.h"
#include "delivery/dedup.h"

namespace sluice::cluster {

class SharedDedup : public delivery::DedupWindow {
 public:
  SharedDedup(RedisOptions redis, std::chrono::seconds window);
  ~SharedDedup() override;  // stops the thread

  boost::asio::awaitable<std::vector<bool>> Seen(std::vector<std::string> keys) override;
  void Record(const std::vector<std::string>& keys) override;
  void Forget(const std::vector<std::string>& keys) override;

  // Redis's key for a dedup key.
  static std::string KeyFor(const std::string& key) { return "sluice:{dedup}:" + key; }

 private:
  struct Request {
    enum class Kind { kSeen, kRecord, kForget } kind;
    std::vector<std::string> keys;
    std::shared_ptr<Awaited<std::vector<bool>>> seen;  // kSeen
    std::shared_ptr<std::promise<void>> done;          // kForget
  };
  void Run();

  std::chrono::seconds window_;
  std::chrono::milliseconds timeout_;
  delivery::LocalDedup local_;
  Redis redis_;  // the thread's own
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Request> waiting_;  // GUARDED_BY(mu_)
  bool stopped_ = false;         // GUARDED_BY(mu_)
  std::thread thread_;           // last
};

}  // namespace sluice::cluster
