// Mail held for its scan (doc/protection.md, "on_error = hold"): when a
// filter routed with on_error = "hold" gives no verdict, the edge commits
// the message with every recipient held and the reason "pending: ..."
// (queue::kPendingScan), answers 250, and hands the id here. Each pass
// scans what is held again, oldest first; only a verdict lets a message
// go on — released to delivery with the verdict header and the filters'
// edits, quarantined, or discarded. Until then it waits, however long.
//
// A pass scans one message alone first and goes on only if its filters
// answered, then at most kWorkers at once: a filter still down costs one
// scan per pass (the probe its breaker lets through) and never crowds
// live transactions out of its bulkhead.
//
// Thread-safe. Passes run on a thread of their own, their scans on a
// private event loop; spool and queue calls block that thread only.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "common/envelope.h"
#include "common/periodic.h"
#include "filter/filter.h"
#include "server/protection.h"

namespace sluice::spool {
class Spool;
}
namespace sluice::queue {
class Queue;
}

namespace sluice::server {

// What a scan's outcome makes of a held message.
struct HeldVerdict {
  enum class Kind : uint8_t { kWait, kRelease, kQuarantine, kDiscard };
  Kind kind = Kind::kWait;
  std::string quarantine;                      // kQuarantine: the reason
  std::shared_ptr<const std::string> content;  // kRelease, kQuarantine: the message as it goes on
};
const char* ToString(HeldVerdict::Kind k);

// Where Sluice's own Received: field ends in a stored message (folded
// lines and all): what follows is the message as it was received, which
// is what the filters see again.
size_t TraceEnd(const std::string& stored);

// The sender had its 250, so nothing can be refused any more: a reject is
// kept in quarantine (its filter's kind is the category; an operator may
// release a false positive), a quarantine or a score at the tenant's
// threshold is one, a discard is one; a tempfail, the filter's own or for
// want of a verdict, waits. What goes on carries the verdict header after
// the trace field, and the filters' edits.
HeldVerdict JudgeHeld(const ProtectionOptions& p, const Envelope& e, const std::string& stored,
                      filter::ScanOutcome outcome);

struct HeldStats {
  size_t held = 0;           // waiting for a scan now
  int64_t oldest_unix = 0;   // arrival of the oldest of them; 0 when none
  uint64_t released = 0, quarantined = 0, discarded = 0;  // since start
  uint64_t scans = 0, waits = 0;  // rescans, and those that gave no verdict
};

class HeldScans {
 public:
  static constexpr size_t kWorkers = 4;

  struct Parts {
    spool::Spool& spool;
    queue::Queue& queue;
    filter::FilterSet& filters;
    std::string hostname;  // macro `j`, as the edge tells the filters
  };
  explicit HeldScans(Parts parts);
  ~HeldScans();

  // Runs a pass every `interval` with the running config's `protection`;
  // at start and once a minute lists the spool for held mail it was not
  // handed (from before a restart, or a promoted shadow copy).
  void Start(std::chrono::milliseconds interval, std::function<ProtectionOptions()> protection);
  // Ends the pass in progress after the scans running now; joins.
  void Stop();
  // The edge committed `id` held for its scan. Cheap.
  void Add(const std::string& id);
  // One pass with `p`, on the caller's thread; returns how many left the
  // held state.
  size_t Pass(const ProtectionOptions& p);
  HeldStats Stats() const;

 private:
  enum class Step : uint8_t { kNext, kFilterDown };
  struct PassState;
  boost::asio::awaitable<Step> One(std::string id, std::shared_ptr<PassState> pass);
  boost::asio::awaitable<void> Run(std::shared_ptr<PassState> pass);
  boost::asio::awaitable<void> Worker(std::shared_ptr<PassState> pass);
  void Forget(const std::string& id);

  Parts parts_;
  mutable std::mutex mu_;
  std::set<std::string> ids_;  // GUARDED_BY(mu_); queue ids sort by arrival
  HeldStats stats_;            // GUARDED_BY(mu_); held and oldest_unix are computed
  std::atomic<bool> stopping_{false};
  Periodic periodic_;
};

}  // namespace sluice::server
