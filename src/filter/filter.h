// Content filters (doc/protection.md, "Content filters"): each named filter
// is a milter server behind its own bulkhead — a concurrency limit with a
// bounded wait, connect / command / content deadlines and a circuit breaker
// with a probe — so a slow or dead filter costs only the transactions that
// go through it, and those only their own deadline (or nothing at all once
// its breaker is open). A chain runs the filters a transaction is routed
// through, in order, and says what the edge does with the message.
//
// Thread-safe: one Filter serves every worker; Scan runs on the caller's
// executor.
#pragma once

#include <array>
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/breaker.h"
#include "common/bulkhead.h"
#include "filter/milter_client.h"

namespace sluice::filter {

// What a transaction gets when its filter cannot give a verdict.
enum class OnError : uint8_t {
  kTempFail,  // 451 4.7.1 for this transaction; the session stays open
  kAccept,    // deliver, with "not scanned" in the verdict header
  kHold,      // 250 after the commit; held until the filter gives a verdict
};
const char* ToString(OnError e);

// Spam filters are skipped for a client on an allow list; malware filters
// never are.
enum class FilterKind : uint8_t { kSpam, kMalware };

struct FilterOptions {
  std::string name;
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  FilterKind kind = FilterKind::kSpam;
  size_t max_concurrency = 32;                  // scans in flight
  size_t max_queue = 64;                        // scans waiting for a slot
  std::chrono::milliseconds queue_wait{1000};   // how long one waits
  MilterTimeouts timeouts;
  BreakerOptions breaker{5, std::chrono::milliseconds(10'000)};
  OnError on_error = OnError::kTempFail;
  bool operator==(const FilterOptions&) const = default;
};

// Why a filter gave no verdict, as counted.
enum class FilterError : uint8_t { kNone, kBusy, kBreakerOpen, kConnect, kTimeout, kProtocol, kClosed };
const char* ToString(FilterError e);

struct FilterResult {
  FilterError error = FilterError::kNone;
  std::string detail;
  Verdict verdict;  // when error is kNone
  double ms = 0;
};

// Counters for /metrics and the admin API. Latency buckets in ms.
inline constexpr std::array<double, 11> kFilterBuckets{5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000};
struct FilterStats {
  std::string name;
  std::array<uint64_t, 5> verdicts{};  // by Verdict::Action
  std::array<uint64_t, 7> errors{};    // by FilterError (0 unused)
  std::array<uint64_t, kFilterBuckets.size() + 1> latency{};  // cumulative is the renderer's job
  double latency_sum_ms = 0;
  uint64_t scans = 0;
  size_t in_flight = 0, queued = 0, limit = 0;
  std::string breaker;  // closed / open / half-open
};

class Filter {
 public:
  explicit Filter(FilterOptions options);
  const FilterOptions& options() const { return options_; }

  // One scan. Never throws, never waits past queue_wait + content timeout.
  boost::asio::awaitable<FilterResult> Scan(std::shared_ptr<const ScanInput> input);
  FilterStats Stats();

 private:
  void Count(const FilterResult& r);

  const FilterOptions options_;
  Bulkhead bulkhead_;
  std::mutex mu_;  // guards breaker_ and the counters below
  Breaker breaker_;
  FilterStats stats_;
};

// The filters by name, as configured. Reconfigure keeps a filter whose
// options did not change (its breaker and counters with it).
class FilterSet {
 public:
  void Reconfigure(const std::vector<FilterOptions>& filters);
  std::shared_ptr<Filter> Get(const std::string& name) const;
  std::vector<FilterStats> Stats() const;
  bool empty() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Filter>> filters_;
};

// What the edge does with a message after its chain.
struct ScanOutcome {
  enum class Action : uint8_t { kAccept, kReject, kTempFail, kDiscard, kQuarantine, kHold };
  Action action = Action::kAccept;
  std::string reply;    // kReject / kTempFail: the filter's own reply, or "" for the default
  std::string reason;   // kQuarantine / kHold: why, for the log and the operator
  std::string filter;   // which filter decided (or failed)
  std::string category; // "spam" or "malware": the deciding filter's kind
  std::shared_ptr<const std::string> content;  // after every filter's edits; null: unchanged
  std::string report;   // the verdict header's value: "name=verdict; ..."
  bool not_scanned = false;  // a filter erred and on_error was accept
  bool failed = false;       // kTempFail / kHold because a filter gave no verdict (not its own tempfail)
  std::optional<double> score;  // the highest spam score a spam filter wrote (filter/message.h)
};
const char* ToString(ScanOutcome::Action a);

// One link of a chain: the filter and the on_error in force for this
// transaction (the tenant's, else the filter's).
struct ChainLink {
  std::shared_ptr<Filter> filter;
  OnError on_error = OnError::kTempFail;
};

// Runs the links in order on `input`; each sees the previous one's edits.
// Stops at the first reject, tempfail, discard, quarantine or hold.
// `skip_spam`: the client is on an allow list.
boost::asio::awaitable<ScanOutcome> ScanChain(std::vector<ChainLink> chain, std::shared_ptr<ScanInput> input,
                                              bool skip_spam);

}  // namespace sluice::filter
