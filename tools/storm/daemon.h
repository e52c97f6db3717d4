// The Sluice under test: the config and directory seed sluice-storm writes
// for a scenario, and the process it starts, kills and starts again.
#pragma once

#include <sys/types.h>

#include <boost/asio/awaitable.hpp>
#include <filesystem>
#include <string>

#include "scenario.h"

namespace storm {

inline constexpr const char* kToken = "storm-admin-token";  // the admin API's, in the written config

class Daemon {
 public:
  Daemon(std::string bin, std::filesystem::path dir) : bin_(std::move(bin)), dir_(std::move(dir)) {}

  // sluice.toml and seed.toml in the directory: the scenario's tenants as
  // NAME.storm domains, delivery to the sink, alerts to the webhook.
  void Write(const Scenario& s, uint16_t sink_port, uint16_t webhook_port);
  bool Spawn();  // Sluice's output goes to sluice.log beside its config
  // Until the admin API answers; false if the daemon died first.
  boost::asio::awaitable<bool> Ready();
  void Kill(int sig);  // and reaps it (SIGKILL after 30 s)

  pid_t pid = -1;
  uint16_t smtp_port = 0, admin_port = 0;

 private:
  std::string bin_;
  std::filesystem::path dir_;
};

}  // namespace storm
