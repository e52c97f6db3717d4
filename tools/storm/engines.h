// The engines a fleet storm runs on, started by the storm itself: a real
// redis-server and a three-member etcd cluster on loopback, each with its
// data in the run directory, so a scenario can stop, kill and restart them.
#pragma once

#include <sys/types.h>

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace storm {

// Starts `file` with `args`, output appended to `log`; -1 on failure.
pid_t SpawnLogged(const std::string& file, const std::vector<std::string>& args, const std::string& log);
// Signals `pid` and, for a signal that ends it, reaps it (SIGKILL after 30 s).
void Stop(pid_t& pid, int sig);
uint16_t FreePort();

class Engines {
 public:
  explicit Engines(std::filesystem::path dir) : dir_(std::move(dir)) {}
  ~Engines();  // stops whatever still runs
  Engines(const Engines&) = delete;

  // Starts Redis and etcd and waits until both answer (at most 30 s).
  // Returns "" or what failed.
  std::string Start();
  bool StartRedis();

  // "[cluster]" lines for node `name`: Redis, etcd endpoints and short timeouts.
  std::string ClusterConfig(const std::string& name) const;

  pid_t redis = -1;
  struct Member {
    std::string name;
    uint16_t client = 0, peer = 0;
    pid_t pid = -1;
  };
  std::vector<Member> etcd;
  uint16_t redis_port = 0;

 private:
  bool StartMember(size_t i);
  std::filesystem::path dir_;
  std::string initial_;
};

}  // namespace storm
