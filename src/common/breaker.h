// A circuit breaker for one replica of a forest or one content filter: after `failures` failures
// in a row it opens and the replica (or filter) gets no work for `cooldown`; then one
// probe is let through (half-open), and its outcome closes or reopens it.
// Pure, with the clock passed in; not thread-safe (the forest locks).
#pragma once

#include <chrono>
#include <cstddef>

namespace sluice {

struct BreakerOptions {
  size_t failures = 5;
  std::chrono::milliseconds cooldown{5000};
  bool operator==(const BreakerOptions&) const = default;  // a reload applies what changed
};

class Breaker {
 public:
  using Clock = std::chrono::steady_clock;
  enum class State { kClosed, kOpen, kHalfOpen };

  explicit Breaker(BreakerOptions o) : o_(o) {}

  // May a lookup go to this replica now? In half-open, only one at a time.
  bool Allow(Clock::time_point now);
  void OnSuccess();
  void OnFailure(Clock::time_point now);
  State state(Clock::time_point now) const;

 private:
  BreakerOptions o_;
  size_t consecutive_ = 0;
  bool open_ = false;
  bool probing_ = false;
  Clock::time_point opened_at_{};
};

const char* ToString(Breaker::State s);

}  // namespace sluice
