// The queue: the scheduler over the spool. Every recipient is pending
// (ready, or deferred until its next attempt), held by an operator, or done:
// delivered (2xx) or failed (5xx, or it outlived max_lifetime). Failures and,
// when asked for, delays and successes are reported to the sender by a DSN
// (RFC 3464) that is itself queued durably.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "common/tenant_groups.h"
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
  std::chrono::seconds delay_warning{0};         // a delay DSN after this long; 0: none
  size_t max_deliveries = 64;                    // delivery attempts in flight
  size_t bounce_size_limit = 50'000;             // larger originals go back as headers only
  std::string hostname = "localhost";            // the Reporting-MTA of DSNs
  std::string notify_destination;                // DSNs to senders outside the directory
  bool operator==(const QueueOptions&) const = default;  // a reload applies what changed
};

// Queue depth by state, counted per message (a message is "hold" when all
// its pending recipients are held, "deferred" when none is due yet).
struct QueueStats {
  size_t messages = 0;
  size_t ready = 0;
  size_t deferred = 0;
  size_t hold = 0;
  size_t in_flight = 0;
  int64_t oldest_unix = 0;  // arrival of the oldest queued message; 0 when empty
  // Delivery attempts per recipient by result and reply code ("delivered", "250").
  std::map<std::pair<std::string, std::string>, uint64_t> deliveries;
  uint64_t dsn_sent = 0;    // reports queued to senders
};

// Which messages an operator means. Empty fields match everything.
struct Filter {
  std::vector<std::string> ids;
  std::string state;        // ready, deferred, hold, active
  std::string tenant, destination;
  std::string sender, rcpt; // case-insensitive substrings
  std::chrono::seconds min_age{0};
};

struct RecipientInfo {
  std::string address, tenant, forest, destination;
  std::string state;        // ready, deferred, hold, delivered, failed
  uint32_t attempts = 0;
  int64_t next_attempt_unix = 0;
  std::string last_reply;
};

struct MessageInfo {
  std::string id, sender;
  int64_t received_unix = 0;
  std::string state;        // ready, deferred, hold, active (being delivered)
  std::vector<RecipientInfo> recipients;
};

enum class Action { kHold, kRelease, kRetry, kDelete, kBounce };

// "Everything for this tenant (or destination) waits": the store-and-forward
// role in front of a provider that is down. Persisted; covers mail that
// arrives later too.
struct HoldPolicy {
  std::string kind;  // "tenant" or "destination"
  std::string name;
  std::string reason;
  int64_t since_unix = 0;
};

// Where a DSN to `address` goes: the directory for our own domains,
// QueueOptions::notify_destination for the rest.
using NotifyRouter = std::function<boost::asio::awaitable<RecipientRoute>(std::string address)>;

// Delay before attempt number `attempts` + 1: exponential from retry_initial,
// capped at retry_max, with ±20 % jitter so retries of a burst spread out.
// `unit_random` is in [0, 1).
std::chrono::seconds Backoff(const QueueOptions& o, uint32_t attempts, double unit_random);

// Whether a message matches; `state` is its state as in MessageInfo.
bool Matches(const Filter& f, const std::string& id, const Envelope& e, const std::string& state,
             int64_t now_unix);

class Queue {
 public:
  virtual ~Queue() = default;
  // Loads every undelivered message and the hold policies from the spool and
  // starts delivering.
  virtual Status Start() = 0;
  // Hands over a message that was just committed. Thread-safe, cheap.
  virtual void Submit(spool::StoredMessage message) = 0;
  // Stops starting attempts, waits up to `grace` for those in flight, stops.
  virtual void Stop(std::chrono::seconds grace) = 0;

  // Operator calls; thread-safe, they wait for the queue's thread.
  virtual QueueStats Stats() = 0;
  virtual std::vector<MessageInfo> List(const Filter& filter) = 0;
  // The stored message (trace header + body), for `sluicectl queue show`.
  virtual Result<std::string> Content(const std::string& id) = 0;
  // Applies an action to the matching messages; returns how many it touched.
  // An action on a message being delivered applies when that attempt ends.
  virtual Result<size_t> Apply(Action action, const Filter& filter) = 0;
  virtual std::vector<HoldPolicy> Holds() = 0;
  // Adds (on) or removes a hold policy; removing one makes its mail ready.
  virtual Status SetHold(const HoldPolicy& policy, bool on) = 0;
};

// The queue runs on a thread of its own; `blocking` runs spool I/O. With
// `groups`, each delivery attempt is counted for its tenant's flight group.
std::unique_ptr<Queue> MakeQueue(QueueOptions options, spool::Spool& spool,
                                 delivery::Delivery& delivery, boost::asio::thread_pool& blocking,
                                 NotifyRouter notify_router = nullptr, TenantGroups* groups = nullptr);

}  // namespace sluice::queue
