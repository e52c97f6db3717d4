// The queue: the scheduler over the spool. Every recipient is pending
// (ready, or deferred until its next attempt), held by an operator, or done:
// delivered (2xx) or failed (5xx, or it outlived max_lifetime). Failures and,
// when asked for, delays and successes are reported to the sender by a DSN
// (RFC 3464) that is itself queued durably.
//
// Only the messages due now are in memory with their envelopes (the
// active window, at most active_limit); the rest cost a few dozen bytes
// each — id, due time, state — and are read from the spool when due, as
// Postfix's qmgr keeps only its active queue in memory.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
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
  size_t max_deliveries = 64;                    // messages being attempted at once
  size_t active_limit = 20'000;                  // messages in memory with their envelopes
  size_t bounce_size_limit = 50'000;             // larger originals go back as headers only
  std::string hostname = "localhost";            // the Reporting-MTA of DSNs
  std::string notify_destination;                // DSNs to senders outside the directory
  bool operator==(const QueueOptions&) const = default;  // a reload applies what changed
};

// A message's state for operators: being delivered (active), due (ready),
// waiting for its next attempt (deferred), or with every open recipient
// held (by an operator, or a hold policy).
enum class MessageState : uint8_t { kReady, kDeferred, kHold, kActive };
const char* ToString(MessageState s);
std::optional<MessageState> ParseMessageState(std::string_view name);

// A recipient's, as `sluicectl queue show` prints it.
enum class RecipientView : uint8_t { kReady, kDeferred, kHold, kDelivered, kFailed };
const char* ToString(RecipientView s);

// Queue depth by state, counted per message.
struct QueueStats {
  size_t messages = 0;
  size_t ready = 0;
  size_t deferred = 0;
  size_t hold = 0;
  size_t in_flight = 0;
  size_t active = 0;        // in memory with their envelopes (≤ active_limit)
  int64_t oldest_unix = 0;  // arrival of the oldest queued message; 0 when empty
  // Delivery attempts per recipient by result and reply code ("delivered", "250").
  std::map<std::pair<std::string, std::string>, uint64_t> deliveries;
  uint64_t dsn_sent = 0;    // reports queued to senders
};

// Which messages an operator means. Empty fields match everything.
struct Filter {
  std::vector<std::string> ids;
  std::optional<MessageState> state;
  std::string tenant, destination;
  std::string sender, rcpt; // case-insensitive substrings
  std::chrono::seconds min_age{0};
  size_t limit = 10'000;    // List: at most this many messages (Apply acts on all)
  bool quarantined = false;  // only mail the content filters quarantined (Envelope::quarantine)
  std::string category;      // only quarantined mail of this category ("malware", "spam")
};

// The category (the reason's first word) of mail held for a scan its
// filters could not give (on_error = "hold"): sent on once they do, kept
// apart from what they quarantined, and never expired by its retention.
inline constexpr char kPendingScan[] = "pending";
inline bool IsPendingScan(const std::string& reason) {
  return reason.size() > sizeof kPendingScan - 1 && reason.compare(0, sizeof kPendingScan - 1, kPendingScan) == 0 &&
         reason[sizeof kPendingScan - 1] == ':';
}

struct RecipientInfo {
  std::string address, tenant, forest, destination;
  RecipientView state = RecipientView::kReady;
  uint32_t attempts = 0;
  int64_t next_attempt_unix = 0;
  std::string last_reply;
};

struct MessageInfo {
  std::string id, sender;
  int64_t received_unix = 0;
  MessageState state = MessageState::kReady;
  std::vector<RecipientInfo> recipients;
  std::string quarantine;  // why the content filters quarantined it, or empty
};

// What a scan of mail held for its filters decided (server/held_scans.h):
// the message as it now goes on, and where.
struct Rescanned {
  spool::Content content;  // trace header, verdict header, the filters' edits
  std::string quarantine;  // empty: released to delivery; else kept in quarantine for this reason
};

// What `sluicectl queue hold|release|retry|delete|bounce` asks for.
enum class OperatorAction : uint8_t { kHold, kRelease, kRetry, kDelete, kBounce };
const char* ToString(OperatorAction a);
std::optional<OperatorAction> ParseOperatorAction(std::string_view name);

// "Everything for this tenant (or destination) waits": the store-and-forward
// role in front of a provider that is down. Persisted; covers mail that
// arrives later too.
enum class HoldKind : uint8_t { kTenant, kDestination };
const char* ToString(HoldKind k);
std::optional<HoldKind> ParseHoldKind(std::string_view name);

struct HoldPolicy {
  HoldKind kind = HoldKind::kTenant;
  std::string name;
  std::string reason;
  int64_t since_unix = 0;
  bool Covers(const RecipientRoute& r) const {
    return (kind == HoldKind::kTenant ? r.tenant : r.destination) == name;
  }
};
// The "holds" spool record: one policy per line, tab-separated (queue/names.cc).
std::vector<HoldPolicy> ParseHolds(const std::string& record);
std::string FormatHolds(const std::vector<HoldPolicy>& holds);

// Where a DSN to `address` goes: the directory for our own domains,
// QueueOptions::notify_destination for the rest.
using NotifyRouter = std::function<boost::asio::awaitable<RecipientRoute>(std::string address)>;

// Delay before attempt number `attempts` + 1: exponential from retry_initial,
// capped at retry_max, with ±20 % jitter so retries of a burst spread out.
// `unit_random` is in [0, 1).
std::chrono::seconds Backoff(const QueueOptions& o, uint32_t attempts, double unit_random);

// Whether a message matches, apart from its state (which only the queue
// knows).
bool Matches(const Filter& f, const std::string& id, const Envelope& e, int64_t now_unix);

class Queue {
 public:
  virtual ~Queue() = default;
  // Reads every undelivered message's state and the hold policies from the
  // spool and starts delivering.
  virtual Status Start() = 0;
  // Hands over a message that was just committed (every recipient
  // pending, or held when `held`: a quarantine), with its content (kept
  // for the first attempt while memory allows). Thread-safe, cheap.
  virtual void Submit(std::string id, std::shared_ptr<const Envelope> envelope, spool::Content content,
                      bool held = false) = 0;
  // Stops starting attempts, waits up to `grace` for those in flight, stops.
  virtual void Stop(std::chrono::seconds grace) = 0;

  // Operator calls; thread-safe, they wait for the queue's thread (and
  // List and Apply with a filter read the spool: seconds for a million).
  virtual QueueStats Stats() = 0;
  virtual std::vector<MessageInfo> List(const Filter& filter) = 0;
  // The stored message (trace header + body), for `sluicectl queue show`.
  virtual Result<spool::Content> Content(const std::string& id) = 0;
  // Applies an action to the matching messages; returns how many it touched.
  // An action on a message being delivered applies when that attempt ends.
  virtual Result<size_t> Apply(OperatorAction action, const Filter& filter) = 0;
  // Replaces a held message's content and quarantine reason in one synced
  // write, if it is still held for `expected` (an operator may have acted
  // meanwhile); with an empty reason its held recipients become due.
  // NotFound: gone, or no longer held for that; Unavailable: busy now, ask
  // again later. Thread-safe; waits for the queue's thread.
  virtual Status Resolve(const std::string& id, const std::string& expected, Rescanned r) = 0;
  virtual std::vector<HoldPolicy> Holds() = 0;
  // Adds (on) or removes a hold policy; removing one makes its mail ready.
  virtual Status SetHold(const HoldPolicy& policy, bool on) = 0;
};

// The queue runs on a thread of its own; `reads` runs spool reads. With
// `groups`, each delivery attempt is counted for its tenant's flight group.
std::unique_ptr<Queue> MakeQueue(QueueOptions options, spool::Spool& spool, delivery::Delivery& delivery,
                                 boost::asio::thread_pool& reads, NotifyRouter notify_router = nullptr,
                                 TenantGroups* groups = nullptr);

}  // namespace sluice::queue
