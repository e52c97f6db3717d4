// What the storm saw: every message it made, by id, and per second of the
// run the replies, latencies, deliveries and queue depth. One thread (the
// storm's event loop) writes it; the report reads it at the end.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace storm {

using Clock = std::chrono::steady_clock;

struct Ledger {
  struct Message {
    int tenant = 0, rcpt = 0;
    size_t size = 0;
    int attempts = 0;
    bool accepted = false;  // Sluice answered 250 to its DATA
    int delivered = 0;      // times the sink received it
    bool rejected = false;  // a 5xx: the storm gives up on it
  };
  struct Second {
    uint64_t r2 = 0, r4 = 0, r5 = 0;  // replies to RCPT and DATA by class
    uint64_t accepted = 0, delivered = 0, dropped = 0;
    double queue_messages = -1, queue_deferred = -1;  // from the admin API; -1: no sample
    // Sluice's own lookup-latency histogram per forest (/api/v1/forests),
    // cumulative since it started; empty: no sample this second.
    std::map<std::string, std::vector<uint64_t>> sluice_lookup_buckets;
    std::map<std::string, std::vector<float>> rcpt_ms, data_ms;  // by forest
    std::map<std::string, uint64_t> accepted_by_forest, rcpt_4xx_by_forest, data_4xx_by_forest;
  };

  Clock::time_point t0 = Clock::now();
  std::vector<Message> messages;  // the id is the index
  uint64_t transactions = 0, dropped = 0, retries = 0, unknown_deliveries = 0;
  std::map<std::string, uint64_t> deferred_by_code;  // "451 4.3.2" → count
  std::map<std::string, uint64_t> rejected_by_code;
  std::vector<Second> seconds;
  std::vector<std::pair<double, std::string>> timeline;  // events as they happened
  double fault_start = -1, fault_end = -1;  // the first fault and the end of the last one
  std::set<std::string> faults_on;          // forests (and "downstream") in a fault now
  double first_alert = -1;                  // first firing webhook after the fault
  double deferred_empty = -1;               // deferred queue empty again after fault_end
  double load_end = 0, drain_end = 0;
  uint64_t flood_accepted = 0, flood_refused = 0;
  uint64_t milter_scans = 0, milter_stalled = 0;  // the storm's filter: verdicts given, replies held by a stall
  std::map<std::string, uint64_t> sink_refused;  // a busy downstream's 421s by where: greeting, mail, rcpt, dot
  std::vector<double> lookup_bounds_ms;  // of sluice_lookup_buckets, then +Inf
  std::string cpus;                      // "storm 0, sluice 1" with --cpus
  // Per Sluice node of a fleet (one entry alone): what the relays saw
  // there, and what the node said of itself.
  struct Node {
    std::string name;
    uint64_t transactions = 0, accepted = 0, deferred = 0, dropped = 0;
    double seconds_local = 0;           // polled in the fleet's local mode (Redis did not answer)
    double seconds_control_lost = 0;    // polled with the control plane unreachable
    double seconds_down = 0;            // its admin API did not answer (killed)
    uint64_t renew_failures = 0;
    std::string mode, control;          // as last polled: shared/local, ok/unreachable
    int64_t revision = 0;               // the newest control change it applied (etcd mod revision), last polled
  };
  std::vector<Node> nodes;

  double Now() const { return std::chrono::duration<double>(Clock::now() - t0).count(); }
  Second& At(double t) {
    size_t i = t < 0 ? 0 : static_cast<size_t>(t);
    if (seconds.size() <= i) seconds.resize(i + 1);
    return seconds[i];
  }
  Second& Current() { return At(Now()); }
  void Event(std::string what) { timeline.emplace_back(Now(), std::move(what)); }
  // A fault begins or ends on `what`. The fault window ends only when the
  // last fault has cleared; a fault that begins again reopens it, so
  // "deferred queue empty after the fault ended" is measured from the end
  // of the last one and is never negative.
  void FaultOn(const std::string& what) {
    if (fault_start < 0) fault_start = Now();
    faults_on.insert(what);
    fault_end = deferred_empty = -1;
  }
  void FaultOff(const std::string& what) {
    faults_on.erase(what);
    if (faults_on.empty() && fault_start >= 0) {
      fault_end = Now();
      deferred_empty = -1;
    }
  }
};

// "451 4.3.2 text" → "451 4.3.2"; "421 text" → "421".
std::string CodeOf(const std::string& reply);

}  // namespace storm
