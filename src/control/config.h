// The daemon's configuration: typed options with defaults in the structs
// (STYLE.md §9), filled from TOML and validated once. Components keep a
// const snapshot.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "delivery/delivery.h"
#include "directory/directory.h"
#include "observe/admin.h"
#include "queue/queue.h"
#include "server/server.h"
#include "smtp/session.h"
#include "spool/spool.h"

namespace sluice::control {

struct LogConfig {
  std::string level = "info";
  std::string format = "text";  // "text" for a terminal, "json" for collectors
  bool operator==(const LogConfig&) const = default;
};

struct Config {
  std::string source;  // the file it came from
  std::string hostname = "localhost";
  server::ServerOptions server;
  size_t blocking_threads = 8;  // spool commits and Maildir writes run here
  smtp::SessionOptions session;
  spool::SpoolOptions spool;
  directory::DirectoryOptions directory;
  delivery::DnsOptions dns;  // [dns]: the resolver of mx destinations
  std::vector<delivery::DestinationOptions> destinations;
  queue::QueueOptions queue;
  observe::AdminOptions admin;
  LogConfig log;
};

// One problem in a config file, located for the operator.
struct ConfigError {
  std::string file;
  int line = 0;       // 0 when not known
  std::string key;    // dotted path, e.g. "queue.retry_initial"
  std::string what;
  std::string ToString() const;  // "file:line: key: what"
};

// Reads and validates. On failure returns every error found, not just the first.
struct LoadResult {
  Config config;
  std::vector<ConfigError> errors;
  bool ok() const { return errors.empty(); }
};
LoadResult LoadConfig(const std::string& path);

// Reads the directory seed file (examples/directory.toml).
struct SeedResult {
  directory::SeedData seed;
  std::vector<ConfigError> errors;
};
SeedResult LoadSeed(const std::string& path, const Config& config);  // checks references into config

}  // namespace sluice::control
