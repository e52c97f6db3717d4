// Rate limits as GCRA (the generic cell rate algorithm): one number per key,
// the theoretical arrival time (TAT) of its next message. A limit of N per
// minute with a burst of B lets B messages through at once and then one
// every 60/N seconds; a refusal says how long until the next one would pass.
//
// The edge asks a RateLimiter; alone, the node's own table answers
// (LocalRateLimiter); in a fleet, a script on Redis's clock does
// (cluster/rates.h), with this table on a share of the limit while Redis
// does not answer.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>

namespace sluice {

struct RateLimit {
  uint32_t per_minute = 0;  // 0: no limit
  uint32_t burst = 0;       // 0: the default, a tenth of a minute's worth (at least 1)
  bool on() const { return per_minute > 0; }
  uint32_t Burst() const;
  // One message's share of the minute, and how far ahead of now the TAT
  // may run before a message is refused.
  std::chrono::microseconds Interval() const;
  std::chrono::microseconds Tolerance() const;
  // This limit split over `nodes` (at least 1 each): a node's part while
  // the fleet's shared table cannot be reached.
  RateLimit Share(size_t nodes) const;
  bool operator==(const RateLimit&) const = default;
};

// The edge's rate limits ([rate_limits]): per client address at MAIL, per
// tenant at its first recipient of a transaction.
struct RateLimits {
  RateLimit client;                         // messages per client IP address
  RateLimit client_connections;             // connections per client IP address (421 4.7.0)
  RateLimit client_recipients;              // RCPT commands per client IP address
  RateLimit tenant;                         // inbound messages per tenant, for every tenant …
  std::map<std::string, RateLimit> tenants;  // … unless it has its own
  const RateLimit& ForTenant(const std::string& name) const {
    auto t = tenants.find(name);
    return t == tenants.end() ? tenant : t->second;
  }
  bool operator==(const RateLimits&) const = default;
};

struct RateVerdict {
  bool allowed = true;
  std::chrono::milliseconds retry_after{0};  // when refused: until one would pass
};

// The algorithm over a table of keys, on a caller's clock. Not thread-safe.
class Gcra {
 public:
  using Clock = std::chrono::steady_clock;
  RateVerdict Take(const std::string& key, const RateLimit& limit, Clock::time_point now);
  // Forgets keys whose TAT is past: they are as good as new. Cost: O(keys).
  void Prune(Clock::time_point now);
  size_t size() const { return tat_.size(); }

 private:
  std::unordered_map<std::string, Clock::time_point> tat_;
};

class RateLimiter {
 public:
  virtual ~RateLimiter() = default;
  // Takes one message from `key`'s allowance. Contract: never blocks the
  // calling event loop and completes within the engine's deadline; a
  // limit that is off is always allowed without asking anyone.
  virtual boost::asio::awaitable<RateVerdict> Take(std::string key, RateLimit limit) = 0;
};

// This node's own table, behind a mutex (the edge's event loops share it).
class LocalRateLimiter : public RateLimiter {
 public:
  boost::asio::awaitable<RateVerdict> Take(std::string key, RateLimit limit) override;
  RateVerdict TakeNow(const std::string& key, const RateLimit& limit);

 private:
  std::mutex mu_;
  Gcra table_;             // GUARDED_BY(mu_)
  uint64_t since_prune_ = 0;  // GUARDED_BY(mu_)
};

}  // namespace sluice
