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
#include <utility>
#include <vector>

namespace sluice {

// The admission rules without any waiting: tickets in, decisions out.
// Deterministic and not thread-safe; Bulkhead below adds the lock and the
// deadline.
class BulkheadCore {
 public:
  enum class Decision { kGranted, kQueued, kQueueFull };
  BulkheadCore(size_t limit, size_t max_queue) : limit_(limit), max_queue_(max_queue) {}

  Decision TryAcquire(uint64_t ticket);
  // A lookup finished; returns the queued tickets granted in its place.
  std::vector<uint64_t> Release();
  // A queued ticket gave up (deadline). False if it was granted meanwhile.
  bool Abandon(uint64_t ticket);
  // A new limit (fixed change, adaptive, or the fleet's block); returns
  // tickets granted by it. 0 is a limit: everything waits (a fleet node
  // whose block is 0 while the others hold the budget).
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

class Bulkhead;

// One slot of a bulkhead, held while it lives: it gives the slot back
// exactly once, when released or destroyed, on any path out. Move-only.
// The bulkhead must outlive it.
class Permit {
 public:
  enum class Refusal { kNone, kQueueFull, kTimedOut };
  Permit() = default;
  Permit(Permit&& o) noexcept : b_(std::exchange(o.b_, nullptr)), refusal_(o.refusal_) {}
  Permit& operator=(Permit&& o) noexcept;
  ~Permit() { Release(); }
  Permit(const Permit&) = delete;

  explicit operator bool() const { return b_ != nullptr; }
  Refusal refusal() const { return refusal_; }  // why there is no slot
  void Release();

 private:
  friend class Bulkhead;
  explicit Permit(Bulkhead* b) : b_(b) {}
  explicit Permit(Refusal r) : refusal_(r) {}
  Bulkhead* b_ = nullptr;
  Refusal refusal_ = Refusal::kNone;
};

class Bulkhead {
 public:
  Bulkhead(size_t limit, size_t max_queue, std::chrono::milliseconds wait)
      : core_(limit, max_queue), wait_(wait) {}

  // A slot now, or after waiting (on the caller's executor, never blocking
  // it) at most the wait deadline; an empty Permit says why not.
  boost::asio::awaitable<Permit> Acquire();
  void SetLimit(size_t limit);

  struct Snapshot {
    size_t in_flight, queued, limit;
  };
  Snapshot snapshot();

 private:
  friend class Permit;
  struct Waiter;
  void Release();  // by a Permit; thread-safe, from any thread
  void Wake(const std::vector<uint64_t>& granted);  // REQUIRES: mu_ held

  std::mutex mu_;
  BulkheadCore core_;
  std::chrono::milliseconds wait_;
  uint64_t next_ticket_ = 1;
  std::unordered_map<uint64_t, std::shared_ptr<Waiter>> waiters_;
};

}  // namespace sluice
