// A flight across the fleet that targets a share of nodes, as the provider
// in EX1331830 flighted its fix to about half of its infrastructure. The
// flight lives in etcd (sluice/control/flight), so it survives the loss of
// any node and every node sees one state. Its cohort is deterministic:
// live members sorted by a hash of (node id, flight id), the first
// share × N ÷ 100 rounded to the nearest (at least one); a node in it runs the candidate's forest limits, the
// others keep theirs. Each node publishes its figures since the flight
// started with its member record; one node judges the gates for the fleet
// (the first live member by name: there is one while the member list
// agrees, and a second judge would write the same verdict), cohort beside
// the rest, and a failing gate rolls the flight back everywhere. While
// etcd does not answer the flight pauses: each node keeps what it runs, no
// gate is judged, no step is taken. What a
// node flight carries is forest limits; placement flies by tenant share
// (control/flight.h).
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "admin/admin.h"
#include "cluster/control_plane.h"
#include "common/periodic.h"
#include "common/tenant_groups.h"
#include "control/config.h"

namespace sluice::control {

class Reloader;

// The first share × N ÷ 100 (rounded, at least one) of `nodes` ordered by FNV-1a of
// "node/flight": the same nodes for the same flight and members.
std::vector<std::string> NodeCohort(std::vector<std::string> nodes, const std::string& flight_id, int share);

class FleetFlight final : public admin::FlightControl {
 public:
  // Registers its watcher: construct before control.Start(). The stages
  // outlive this.
  FleetFlight(FlightOptions options, Reloader& reloader, directory::Directory& directory,
              delivery::Delivery& delivery, cluster::ControlPlane& control, std::string node);
  ~FleetFlight() override;

  admin::FlightView View() override;
  Result<admin::FlightView> Start(const std::string& candidate_path, int share) override;
  Result<admin::FlightView> Promote() override;
  Result<admin::FlightView> Rollback() override;

 private:
  void Tick();
  void Evaluate();  // REQUIRES: mu_; applies or reverts the candidate here
  void Publish();   // REQUIRES: mu_; this node's figures into its member record
  void Judge();     // REQUIRES: mu_; the gates, on the judging node
  TenantGroups::Counts Totals();
  Result<admin::FlightView> Write(admin::FlightView v, const std::string& step);  // REQUIRES: mu_

  const FlightOptions o_;
  Reloader& reloader_;
  directory::Directory& directory_;
  delivery::Delivery& delivery_;
  cluster::ControlPlane& control_;
  const std::string node_;

  std::mutex mu_;
  admin::FlightView view_;                      // as last read from etcd
  std::string id_;                              // the flight's id: its candidate's hash, cut
  std::map<std::string, size_t> limits_;        // the candidate's forest limits
  std::map<std::string, size_t> originals_;     // forest → limit before, while applied here
  std::string applied_id_;                      // the flight applied here, if any
  bool paused_ = false;                         // the control plane does not answer
  bool evaluated_ = false;                      // the cohort was drawn once (from the snapshot if need be)
  TenantGroups::Counts base_;                   // this node's totals when it joined the flight
  Periodic ticks_;                              // last: it stops first
};

}  // namespace sluice::control
