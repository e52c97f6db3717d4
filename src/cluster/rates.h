// The edge's rate limits shared by the fleet: one GCRA table in Redis, the
// arrival times kept on Redis's own clock by a Lua script, so a client or
// a tenant gets N messages a minute from the whole fleet, not N from each
// node.
//
// Each take is one EVALSHA. Takes from every session of the node go to one
// thread that sends all waiting ones in one pipelined round trip, so the
// cost is one round trip per batch, not per message. A session waits at
// most two Redis timeouts; past that, or while Redis is not answering, the
// node answers from its own table on its share of the limit (limit ÷ live
// nodes, at least 1) and asks Redis again a second later.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "cluster/redis.h"
#include "common/awaited.h"
#include "common/rate_limit.h"

namespace sluice::cluster {

class SharedRates : public RateLimiter {
 public:
  // `live`: how many nodes the fleet has now (from the budgets' renewals);
  // called on any thread.
  SharedRates(RedisOptions redis, std::function<size_t()> live);
  ~SharedRates() override;  // Stop()
  // Takes that wait are answered locally; later ones never ask Redis.
  void Stop();

  boost::asio::awaitable<RateVerdict> Take(std::string key, RateLimit limit) override;

  struct Stats {
    uint64_t shared = 0, local = 0;  // takes answered by Redis, and by this node alone
    bool local_mode = false;         // Redis did not answer the last time it was asked
  };
  Stats stats();

  // Redis's keys, for tests and operators: "sluice:{rate:KEY}" (one hash
  // slot per key, as the fleet's other keys).
  static std::string KeyFor(const std::string& key) { return "sluice:{rate:" + key + "}"; }

 private:
  using Answer = std::optional<RateVerdict>;  // none: Redis failed, answer locally
  struct Request {
    std::string key;
    RateLimit limit;
    std::shared_ptr<Awaited<Answer>> answer;
  };
  void Run();  // the Redis thread
  RateVerdict Locally(const std::string& key, const RateLimit& limit);

  const std::chrono::milliseconds timeout_;
  std::function<size_t()> live_;
  Redis redis_;  // the Redis thread's own
  size_t script_;
  LocalRateLimiter local_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Request> waiting_;                      // GUARDED_BY(mu_)
  bool stopped_ = false;                             // GUARDED_BY(mu_)
  std::chrono::steady_clock::time_point local_until_;  // GUARDED_BY(mu_)
  Stats stats_;                                      // GUARDED_BY(mu_)
  std::thread thread_;                               // last
};

}  // namespace sluice::cluster
