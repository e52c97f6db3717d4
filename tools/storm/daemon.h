// The Sluice under test: the config and directory seed sluice-storm writes
// for a scenario, and the process it starts, kills and starts again.
#pragma once

#include <sched.h>
#include <sys/types.h>

#include <boost/asio/awaitable.hpp>
#include <filesystem>
#include <optional>
#include <string>

#include "scenario.h"

namespace storm {

inline constexpr const char* kToken = "storm-admin-token";  // the admin API's, in the written config

// "0", "0,2", "1-3": a set of CPUs; false (and nothing set) when malformed
// or naming a CPU this machine does not have.
bool ParseCpuList(const std::string& list, cpu_set_t* out);

class Daemon {
 public:
  // `name`: the node's id in a fleet ("n1"), empty alone.
  Daemon(std::string bin, std::filesystem::path dir, std::string node = "")
      : name(std::move(node)), bin_(std::move(bin)), dir_(std::move(dir)) {}

  // sluice.toml and seed.toml in the directory: the scenario's tenants as
  // NAME.storm domains, delivery to the sink, alerts to the webhook, and in
  // a fleet the `[cluster]` lines.
  void Write(const Scenario& s, uint16_t sink_port, uint16_t webhook_port, const std::string& cluster = "");
  bool Spawn();  // Sluice's output goes to sluice.log beside its config
  // Until the admin API answers; false if the daemon died first.
  boost::asio::awaitable<bool> Ready();
  void Kill(int sig);  // and reaps it (SIGKILL after 30 s)

  std::string name;
  pid_t pid = -1;
  uint16_t smtp_port = 0, admin_port = 0;
  std::optional<cpu_set_t> cpus;  // Spawn pins Sluice (all its threads) to these

 private:
  std::string bin_;
  std::filesystem::path dir_;
};

}  // namespace storm
