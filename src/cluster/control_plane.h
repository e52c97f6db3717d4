// The fleet's control plane in etcd: tenant placement, live forest limits
// and holds, written by any node's admin API as compare-and-put on the
// key's revision (no lost update) and applied by every node from the
// revision it applied last; membership under a keep-alive lease. What was
// applied is kept as a last-known-good snapshot on local disk, applied at
// start before etcd answers, so a node without etcd runs on it.
//
// Keys: sluice/control/placement/<tenant> = forest,
//       sluice/control/limit/<forest> = "N",
//       sluice/control/hold/<tenant|destination>/<name> = {"on":..,"reason":..},
//       sluice/members/<node> = {"node":..,"admin":..,"version":..,...} (leased).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "cluster/etcd.h"
#include "common/periodic.h"
#include "common/status.h"
#include "directory/directory.h"
#include "queue/queue.h"

namespace sluice::cluster {

struct ControlOptions {
  std::vector<std::string> etcd;  // http://host:port of each member
  std::chrono::milliseconds timeout{500};
  std::chrono::milliseconds poll_interval{200};  // how often changes are read
  std::chrono::seconds member_ttl{5};            // a silent node leaves the member list after this
  std::string snapshot;                          // the last-known-good file
  bool operator==(const ControlOptions&) const = default;
};

// What this node says about itself under sluice/members/<node>.
struct MemberInfo {
  std::string node, smtp, admin, version, config_version;
  std::string shadow;          // its shadow listener as peers reach it ([shadow] advertise); "" without
  std::string failure_domain;  // [cluster] failure_domain; "" when not given
};

struct Member {
  std::string node, smtp, admin, version, config_version;
  int64_t seen_unix = 0;
  std::string extra;  // what the node's upper layers publish (SetMemberExtra), JSON
  std::string shadow, failure_domain;
};

struct ControlStatus {
  std::string state = "starting";  // ok, or unreachable (running on the snapshot)
  std::string endpoint, reason;
  int64_t revision = 0;  // the store's revision at the last read: every change up to it is applied
  // The newest control change applied (its key's mod revision): one number
  // for the state itself, the same on every node that has caught up
  // (`revision` also moves with membership writes).
  int64_t change_revision = 0;
  int64_t state_since_unix = 0;
  std::vector<Member> members;  // as etcd last listed them
};

class ControlPlane {
 public:
  // Applies the snapshot; Start() starts the thread. The stages outlive this.
  ControlPlane(ControlOptions o, MemberInfo self, directory::Directory& directory, queue::Queue& queue);
  ~ControlPlane();
  void Stop();

  // From the admin API, any node: checked against this node's catalog and
  // written to etcd; every node applies it (this one too) within a poll.
  // Returns the revision of the write.
  Result<int64_t> MoveTenant(const std::string& tenant, const std::string& forest);
  Result<int64_t> SetForestLimit(const std::string& forest, size_t limit);
  Result<int64_t> SetHold(const queue::HoldPolicy& hold, bool on);

  // For layers above (the fleet's flight): `fn` runs on the control
  // plane's thread with every new value of sluice/control/<name> (and the
  // snapshot's at once); Put writes one as compare-and-put. Call Watch
  // before Start.
  using Watcher = std::function<void(const std::string& value)>;
  void Watch(const std::string& name, Watcher fn);
  Result<int64_t> Put(const std::string& name, const std::string& value);
  // The current value of sluice/control/<name> as this node applied it.
  std::string Applied(const std::string& name);
  // JSON published with this node's member record from its next refresh.
  void SetMemberExtra(std::string json);
  // Starts polling (the constructor applied the snapshot). Once.
  void Start();

  ControlStatus View();

 private:
  void Poll();
  void KeepMember();
  void Apply(const EtcdKv& kv);
  void Save();
  void Load();
  Result<int64_t> Write(const std::string& key, const std::string& value);

  ControlOptions o_;
  MemberInfo self_;
  directory::Directory& directory_;
  queue::Queue& queue_;
  Etcd reader_;  // the thread's
  std::mutex write_mu_;
  Etcd writer_;  // GUARDED_BY(write_mu_); the admin API's
  int64_t lease_ = 0;
  std::chrono::steady_clock::time_point next_keepalive_{};
  std::map<std::string, std::string> applied_;  // GUARDED_BY(mu_) key → value, the snapshot's content
  std::map<std::string, Watcher> watchers_;     // by full key; fixed once started
  std::string member_extra_;                    // GUARDED_BY(mu_)
  std::mutex mu_;
  ControlStatus status_;   // GUARDED_BY(mu_)
  Periodic polls_;         // last: it stops first
};

}  // namespace sluice::cluster
