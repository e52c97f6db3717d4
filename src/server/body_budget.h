// The memory budget for message content at the edge: the bytes every
// session holds for the message it is receiving, summed across sessions
// ([limits] max_buffered_bytes). A session charges what it holds after
// each read; one that would go over the budget stops reading its socket
// (TCP backpressure) until others release, and after buffer_wait drops
// its message (452 4.3.1). So that a flood of large messages cannot leave
// every session holding a slice and none able to finish (all would give up
// together and nothing get through), the session that began holding first
// waits the whole buffer_wait and the others a quarter of it: the younger
// give up first and the oldest completes. Thread-safe; Charge and Over are
// one atomic operation each, Enter/Leave/Oldest take a short lock (twice a
// message).
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <set>

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

  // A session that starts holding content takes a ticket, and gives it
  // back when it holds none.
  uint64_t Enter() {
    std::lock_guard lock(mu_);
    const uint64_t t = ++next_ticket_;
    holders_.insert(t);
    return t;
  }
  void Leave(uint64_t ticket) {
    std::lock_guard lock(mu_);
    holders_.erase(ticket);
  }
  // True when `ticket` is the oldest still holding content.
  bool Oldest(uint64_t ticket) const {
    std::lock_guard lock(mu_);
    return !holders_.empty() && *holders_.begin() == ticket;
  }

  uint64_t used() const { return used_.load(std::memory_order_relaxed); }
  uint64_t peak() const { return peak_.load(std::memory_order_relaxed); }
  uint64_t limit() const { return limit_; }

 private:
  const uint64_t limit_;
  std::atomic<uint64_t> used_{0};
  std::atomic<uint64_t> peak_{0};
  mutable std::mutex mu_;
  uint64_t next_ticket_ = 0;
  std::set<uint64_t> holders_;
};

// An eighth of physical memory: the default budget.
uint64_t DefaultBodyBudget();

}  // namespace sluice::server
