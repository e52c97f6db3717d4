// This node as one of a fleet ([cluster]): the forests' budgets, the
// destinations' concurrency and backoff windows, and the edge's rate
// limits shared in Redis, with the fall-back to local shares when Redis
// does not answer.
// Without [cluster] nothing here runs and every forest is alone.
#pragma once

#include <chrono>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cluster/backoff.h"
#include "cluster/budget.h"
#include "cluster/control_plane.h"
#include "cluster/rates.h"
#include "cluster/redis.h"
#include "common/periodic.h"
#include "directory/adaptive_limit.h"
#include "delivery/delivery.h"
#include "directory/directory.h"

namespace sluice::cluster {

struct ClusterOptions {
  bool enabled = false;
  std::string node;  // this node's id; default: the host name
  std::string failure_domain;  // a rack, zone or site: shadow copies prefer a peer in another
  RedisOptions redis;
  std::chrono::milliseconds renew_interval{100};  // how often blocks are renewed and rebalanced
  std::chrono::milliseconds lease_ttl{2000};      // a silent node's blocks return after this
  ControlOptions control;                         // etcd; none: placement, limits and holds stay local
  bool shared_budgets() const { return !redis.address.empty() || !redis.sentinels.empty(); }
  bool operator==(const ClusterOptions&) const = default;
};

// One budget (a forest's, or a destination's) as this node last saw it.
struct BudgetView {
  std::string name;  // the forest, or the destination (an mx next hop: "mx/host[address]")
  size_t share = 0, limit = 0, live = 1, fleet_in_use = 0;
  bool controller = false;
  std::vector<std::pair<std::string, size_t>> holders;  // node → block
};

struct FleetStatus {
  std::string node;
  std::string mode = "shared";  // shared, or local (Redis did not answer)
  std::string redis;            // the server in use
  std::string reason;           // why local
  int64_t mode_since_unix = 0;
  uint64_t renewals = 0, renew_failures = 0;
  size_t live = 1;  // nodes holding blocks at the last renewal that answered
  SharedRates::Stats rates;
  std::vector<BudgetView> forests;
  std::vector<BudgetView> destinations;  // their max_concurrency as one budget
};

class Fleet {
 public:
  // Starts the renewal thread. The stages outlive this.
  Fleet(ClusterOptions o, directory::Directory& directory, delivery::Delivery& delivery);
  ~Fleet();  // Stop()
  // Gives the blocks back and leaves every forest alone. Idempotent.
  void Stop();
  FleetStatus View();
  // The edge's rate limits, shared by the fleet (cluster/rates.h).
  RateLimiter& rates() { return rates_; }

 private:
  struct ForestState;
  struct DestinationState;
  std::vector<Demand> ForestDemands();
  std::vector<Demand> DestinationDemands(const std::vector<delivery::DestinationStats>& stats);
  void RenewOnce();
  void GoLocal(const std::string& why);

  ClusterOptions o_;
  directory::Directory& directory_;
  delivery::Delivery& delivery_;
  Redis redis_;
  SharedBudget budget_;
  SharedBackoff backoff_;
  std::atomic<size_t> live_{1};  // for the rate limits' local share
  SharedRates rates_;
  std::map<std::string, std::unique_ptr<ForestState>> forests_;  // the renewal thread's own
  std::map<std::string, DestinationState> destinations_;         // the same
  std::mutex mu_;
  bool stopped_ = false;  // GUARDED_BY(mu_)
  FleetStatus status_;    // GUARDED_BY(mu_)
  Periodic renewals_;     // last: it stops first
};

}  // namespace sluice::cluster
