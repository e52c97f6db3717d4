// A bulkhead: at most `limit` operations in flight, a bounded wait queue and
// a wait deadline (doc/design.md, rule 3). Each forest has one for its lookups
// and each destination one for its deliveries; a saturated one turns away
// its own work and nobody else's.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace sluice {

// The admission rules without any waiting: tickets in, decisions out.
// Deterministic and not thread-safe; Bulkhead below adds the lock and the
// deadline.
class BulkheadCore {
 public:
  enum class Admit { kGranted, kQueued, kQueueFull };
  BulkheadCore(size_t limit, size_t max_queue) : limit_(limit), max_queue_(max_queue) {}

  Admit TryAcquire(uint64_t ticket);
  // A lookup finished; returns the queued tickets granted in its place.
  std::vector<uint64_t> Release();
  // A queued ticket gave up (deadline). False if it was granted meanwhile.
  bool Abandon(uint64_t ticket);
  // A new limit (fixed change or adaptive); returns tickets granted by it.
  std::vector<uint64_t> SetLimit(size_t limit);

  size_t in_flight() const { return in_flight_; }
  size_t queued() const { return queue_.size(); }
  size_t limit() const { return limit_; }

 private:
  std::vector<uint64_t> Dispatch();
  size_t limit_;
  size_t max_queue_;
  size_t in_flight_ = 0;
  std::deque<uint64_t> queue_;
};

class Bulkhead {
 public:
  enum class Admit { kGranted, kQueueFull, kTimedOut };
  Bulkhead(size_t limit, size_t max_queue, std::chrono::milliseconds wait)
      : core_(limit, max_queue), wait_(wait) {}

  // Waits on the caller's executor, never blocking it. A kGranted caller
  // must call Release() exactly once.
  boost::asio::awaitable<Admit> Acquire();
  void Release();  // thread-safe, from any thread
  void SetLimit(size_t limit);
  void SetWait(std::chrono::milliseconds wait);

  struct Snapshot {
    size_t in_flight, queued, limit;
  };
  Snapshot snapshot();

 private:
  struct Waiter;
  void Wake(const std::vector<uint64_t>& granted);  // REQUIRES: mu_ held

  std::mutex mu_;
  BulkheadCore core_;
  std::chrono::milliseconds wait_;
  uint64_t next_ticket_ = 1;
  std::unordered_map<uint64_t, std::shared_ptr<Waiter>> waiters_;
};

}  // namespace sluice
