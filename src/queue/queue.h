// The queue: the scheduler over the spool. Every recipient is pending
// (ready or deferred until its next attempt) until a destination answers
// 2xx (delivered) or 5xx (failed), or the message outlives max_lifetime.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "common/status.h"
#include "spool/spool.h"

namespace boost::asio {
class thread_pool;
}

namespace sluice::delivery {
class Delivery;
}

namespace sluice::queue {

struct QueueOptions {
  std::chrono::seconds retry_initial{300};       // first retry after ~5 minutes
  std::chrono::seconds retry_max{4000};          // backoff cap (Postfix's maximal_backoff_time)
  std::chrono::seconds max_lifetime{5 * 86400};  // then the recipient fails
  size_t max_deliveries = 64;                    // delivery attempts in flight
};

struct QueueStats {
  size_t messages = 0;
  size_t ready = 0;
  size_t deferred = 0;
  size_t in_flight = 0;
};

// Delay before attempt number `attempts` + 1: exponential from retry_initial,
// capped at retry_max, with ±20 % jitter so retries of a burst spread out.
// `unit_random` is in [0, 1).
std::chrono::seconds Backoff(const QueueOptions& o, uint32_t attempts, double unit_random);

class Queue {
 public:
  virtual ~Queue() = default;
  // Loads every undelivered message from the spool and starts delivering.
  virtual Status Start() = 0;
  // Hands over a message that was just committed. Thread-safe, cheap.
  virtual void Submit(spool::StoredMessage message) = 0;
  // Stops starting attempts, waits up to `grace` for those in flight, stops.
  virtual void Stop(std::chrono::seconds grace) = 0;
  // A snapshot; thread-safe.
  virtual QueueStats Stats() = 0;
};

// The queue runs on a thread of its own; `blocking` runs spool I/O.
std::unique_ptr<Queue> MakeQueue(QueueOptions options, spool::Spool& spool,
                                 delivery::Delivery& delivery, boost::asio::thread_pool& blocking);

}  // namespace sluice::queue
