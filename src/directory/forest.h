// One forest (directory partition) as the edge sees it: its replicas behind
// a bulkhead, an adaptive limit, a cache and a circuit breaker per replica,
// on threads of its own. Everything a slow forest holds is its own
// (doc/design.md, rule 3).
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/bulkhead.h"
#include "directory/adaptive_limit.h"
#include "common/breaker.h"
#include "directory/cache.h"
#include "directory/lookup.h"

namespace sluice::directory {

class Backend;

// Injected faults, for tests and the storm tool; honoured only when the
// directory's fault_injection switch is on.
struct FaultOptions {
  std::chrono::milliseconds latency{0};  // added to every lookup
  double error_rate = 0;                 // share of lookups that fail
  bool hang = false;                     // lookups block until this is cleared
  bool operator==(const FaultOptions&) const = default;  // a reload applies what changed
};

struct ForestOptions {
  std::string name;
  // Where its records live: "sqlite" (the embedded database) or an LDAP
  // URL "ldap://host:port/base-dn"; several make replicas.
  std::vector<std::string> replicas{"sqlite"};
  size_t limit = 50;            // lookups in flight; the ceiling when adaptive
  bool adaptive = false;        // let latency move the limit within [min_limit, limit]
  size_t min_limit = 2;
  size_t queue = 100;           // lookups that may wait for a slot
  std::chrono::milliseconds wait_timeout{2000};    // then 451 4.3.2
  std::chrono::milliseconds lookup_timeout{5000};  // then 451 4.4.3
  bool close_on_saturation = false;  // the hosted service's 421 4.3.2 and close
  size_t threads = 4;           // the forest's own lookup threads
  CacheOptions cache;
  BreakerOptions breaker;
  FaultOptions fault;
  bool operator==(const ForestOptions&) const = default;  // a reload applies what changed
};

struct ReplicaStats {
  std::string name;
  std::string breaker;  // closed / open / half-open
  uint64_t lookups = 0;
  uint64_t failures = 0;
};

struct ForestStats {
  std::string name;
  size_t in_flight = 0, limit = 0, queued = 0;
  size_t configured_limit = 0, min_limit = 0;  // SetLimit's limit, and the adaptive floor
  bool adaptive = false;
  std::optional<size_t> fleet_share;  // the block the fleet's budget lends this node; none: alone
  size_t flight_in_flight = 0, flight_limit = 0, flight_queued = 0;  // the flight's lane, when split
  uint64_t lookups = 0, cache_hits = 0, stale_serves = 0;
  uint64_t deferred_saturated = 0, deferred_timeout = 0, deferred_unavailable = 0;
  std::vector<uint64_t> latency_buckets;  // counts per kLatencyBucketsMs bound, then +Inf
  double latency_sum_ms = 0;
  std::vector<ReplicaStats> replicas;
};
inline constexpr double kLatencyBucketsMs[] = {1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000};

class Forest {
 public:
  struct Replica {
    std::string name;
    std::unique_ptr<Backend> backend;
  };
  Forest(ForestOptions options, std::vector<Replica> replicas, bool fault_injection);
  ~Forest();

  // Never blocks the calling event loop; always answers within
  // wait_timeout + lookup_timeout. `tenant` owns the address's domain: only
  // its entries answer. `flight_lane`: the tenant is in a flight's group
  // and the forest's limit is split (SetLanes).
  boost::asio::awaitable<LookupResult> Lookup(std::string address, std::string tenant, bool flight_lane = false);

  // Live changes (control plane): limit, wait, faults.
  void SetLimit(size_t limit);
  // A flight splits the bulkhead in two lanes, so its tenants run under the
  // candidate limit (scaled to their share) while the rest keep theirs.
  // flight_limit 0 joins them again under SetLimit's limit.
  void SetLanes(size_t control_limit, size_t flight_limit);
  void SetFault(FaultOptions f);
  // In a fleet the forest's limit is one budget for all nodes (cluster/):
  // this node may run `share` lookups at once, and the fleet's one
  // adaptive limit replaces the local one. None: alone again.
  // With a flight on, the share is split between the lanes as the limit was.
  void SetFleetShare(std::optional<size_t> share);
  void DropTenant(const std::string& tenant) { cache_.DropTenant(tenant); }

  ForestStats Stats();
  const std::string& name() const { return o_.name; }
  size_t limit();  // the configured limit (SetLimit), whatever the lanes

 private:
  struct Impl;
  using Clock = std::chrono::steady_clock;
  LookupResult Degraded(const std::string& address, Reason why);
  size_t SplitShare();
  boost::asio::awaitable<std::optional<LookupResult>> RunOnReplica(Permit permit, std::shared_ptr<Bulkhead> lane,
                                                                   int replica, std::string address, std::string tenant);
  void Record(int replica, Bulkhead& lane, bool main_lane, const LookupResult& r, Clock::duration took);

  ForestOptions o_;
  RecipientCache cache_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::directory
