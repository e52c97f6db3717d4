// Flights: a candidate config tried on a share of tenants before everyone
// gets it. What a flight carries is what can be split by tenant — forest
// limits: the forest's bulkhead gets a lane for the flight's tenants sized
// candidate × share beside one of current × (100 − share), so the groups
// compare fairly; and placement: a tenant the candidate places elsewhere
// moves when it joins the flight's group, and back on a rollback. Gates judge the flight against the control group each
// interval over the current share; a failing gate rolls the flight back by
// itself. Promotion walks the shares (10 → 50 → 100 %); at 100 % the
// candidate becomes the config file and is reloaded. Every step is logged
// and kept in the spool, so a restart resumes the flight where it was.
#pragma once

#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/tenant_groups.h"
#include "control/config.h"
#include "admin/admin.h"

namespace sluice::control {

class Reloader;

// What a flight carries: forest limits (split into lanes) and tenant
// placement (a tenant moves when it joins the flight's group).
struct FlightPlan {
  std::map<std::string, size_t> limits;       // forest → candidate limit
  std::map<std::string, std::string> moves;   // tenant → candidate forest
};

// What a candidate changes relative to the running config, a line per
// change. Anything else that differs is an error naming it: such changes
// go through a reload.
Result<std::vector<std::string>> FlightChanges(const Config& running, const Config& candidate, FlightPlan* plan);

// A flight's view as it is stored (the spool's record, the fleet's etcd
// key) and back: state, candidate, shares, changes and steps.
nlohmann::json StoredFlightJson(const admin::FlightView& v);
admin::FlightView StoredFlightView(const nlohmann::json& j);

// One group's counts as the flight's view shows them.
admin::FlightGroupFigures GroupFigures(const TenantGroups::Counts& c);

// The gates over one share's counts. A gate that has too little traffic to
// judge passes, marked not judged.
std::vector<admin::FlightGate> JudgeGates(const FlightOptions& o, const TenantGroups::Counts& flight,
                                            const TenantGroups::Counts& control);

class Flight final : public admin::FlightControl {
 public:
  Flight(FlightOptions options, Reloader& reloader, directory::Directory& directory, spool::Spool& spool,
         TenantGroups& groups);
  ~Flight() override;

  // Picks up a flight the last run left running, then starts judging.
  void Resume();

  admin::FlightView View() override;
  Result<admin::FlightView> Start(const std::string& candidate_path, int share) override;
  Result<admin::FlightView> Promote() override;
  Result<admin::FlightView> Rollback() override;

 private:
  Status Load(const std::string& path, const std::string& expect_hash);  // REQUIRES: mu_
  void Apply(bool revert_moves = true);           // REQUIRES: mu_; lanes, share and moves from view_
  void Step(const std::string& what, bool warn = false);  // REQUIRES: mu_; log, history, spool
  void End(const std::string& state, const std::string& reason);  // REQUIRES: mu_
  Status Complete();                               // REQUIRES: mu_
  void Figures();                                  // REQUIRES: mu_
  void JudgeLoop();

  const FlightOptions o_;
  Reloader& reloader_;
  directory::Directory& directory_;
  spool::Spool& spool_;
  TenantGroups& groups_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  admin::FlightView view_;
  FlightPlan plan_;
  std::map<std::string, std::string> origins_;  // where moved tenants were before the flight
  std::thread judge_;
};

}  // namespace sluice::control
