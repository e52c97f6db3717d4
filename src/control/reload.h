// Live reload: re-reads the config file, validates all of it, and applies
// what can change while mail flows — listeners and session settings (new
// sessions only), forest limits, destination ceilings, placement, the log
// level. What needs a restart is reported and keeps its running value, not
// half-applied. Which is which is one table, a row per section
// (reload.cc). Each config of new content gets the next version number,
// kept in the spool so it survives restarts.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "control/config.h"
#include "admin/admin.h"

namespace sluice::server {
class Server;
}

namespace sluice::control {

// SHA-256 of the file, hex; empty if it cannot be read.
std::string HashFile(const std::string& path);

struct LiveStages {
  server::Server& server;
  directory::Directory& directory;
  spool::Spool& spool;
  delivery::Delivery& delivery;
};

// The version of the config file at `path`: the last one run (kept in the
// spool) if the content is the same, else the next number.
Result<admin::ConfigInfo> NumberConfig(spool::Spool& spool, const std::string& path);

// Moves every tenant that [placement] puts in another forest than the one
// it is in; returns a "placement.T A → B" line per move.
std::vector<std::string> ApplyPlacement(directory::Directory& directory, const std::vector<Placement>& placement);

// What a reload of `wanted` over `running` would run: `next` is `wanted`
// with every restart-only part put back as running; `restart_needed` says
// which parts those were. Pure: touches no stage.
struct ReloadPlan {
  Config next;
  std::vector<std::string> restart_needed;
};
ReloadPlan PlanReload(const Config& running, const Config& wanted);

// The sections (as the operator names them: "spool", "directory", ...)
// in which two configs differ at all.
std::vector<std::string> ChangedSections(const Config& a, const Config& b);

class Reloader final : public admin::ConfigControl {
 public:
  // `config` is what the daemon started with, numbered by NumberConfig.
  Reloader(Config config, LiveStages stages, admin::ConfigInfo info);

  admin::ConfigInfo Current() override;
  Config Running();  // the config in force (restart-only parts as started)
  admin::ReloadReport Reload() override;

 private:
  std::mutex mu_;  // one reload at a time (SIGHUP, API)
  Config config_;
  LiveStages st_;
  admin::ConfigInfo info_;
};

}  // namespace sluice::control
