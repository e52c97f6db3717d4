// Live reload: re-reads the config file, validates all of it, and applies
// what can change while mail flows — listeners and session settings (new
// sessions only), forest limits, the log level — atomically per stage.
// What needs a restart is reported, not half-applied. Each config of new
// content gets the next version number, kept in the spool so it survives
// restarts.
#pragma once

#include <memory>
#include <mutex>
#include <string>

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
