// The memory budget for message content at the edge: the bytes every
// session holds for the message it is receiving, summed across sessions
// ([limits] max_buffered_bytes). A session charges what it holds after
// each read; one that would go over the budget stops reading its socket
// (TCP backpressure) until others release, and after buffer_wait drops
// its message (452 4.3.1). Thread-safe; each call is one atomic operation.
#pragma once

#include <atomic>
#include <cstdint>

namespace sluice::server {

class BodyBudget {
 public:
  explicit BodyBudget(uint64_t limit) : limit_(limit) {}

  // A session's holding changed by `delta` bytes (it already holds them).
  void Charge(int64_t delta) {
    const uint64_t now = used_.fetch_add(static_cast<uint64_t>(delta), std::memory_order_relaxed) + delta;
    uint64_t peak = peak_.load(std::memory_order_relaxed);
    while (now > peak && now < (uint64_t{1} << 62) &&
           !peak_.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
    }
  }
  // Would `more` bytes take the edge over the budget?
  bool Over(uint64_t more) const { return used_.load(std::memory_order_relaxed) + more > limit_; }

  uint64_t used() const { return used_.load(std::memory_order_relaxed); }
  uint64_t peak() const { return peak_.load(std::memory_order_relaxed); }
  uint64_t limit() const { return limit_; }

 private:
  const uint64_t limit_;
  std::atomic<uint64_t> used_{0};
  std::atomic<uint64_t> peak_{0};
};

// An eighth of physical memory: the default budget.
uint64_t DefaultBodyBudget();

}  // namespace sluice::server
