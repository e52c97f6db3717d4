// The daemon's configuration: typed options with defaults in the structs
// (doc/design.md, convention 9), filled from TOML and validated once. Components keep a
// const snapshot.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/log.h"
#include "common/status.h"
#include "delivery/delivery.h"
#include "directory/directory.h"
#include "admin/admin.h"
#include "cluster/fleet.h"
#include "cluster/shadow.h"
#include "queue/queue.h"
#include "server/server.h"
#include "smtp/session.h"
#include "spool/spool.h"

namespace sluice::control {

struct LogConfig {
  log::Level level = log::Level::kInfo;
  log::Format format = log::Format::kText;
  bool operator==(const LogConfig&) const = default;
};

// [flight]: how a flight is staged and judged. Gates compare the flight's
// tenants with the others over the current stage; one that fails rolls the
// flight back.
struct FlightOptions {
  std::vector<size_t> shares{10, 50, 100};  // in percent; the last must be 100
  std::chrono::seconds interval{5};         // how often the gates judge
  size_t min_lookups = 50;                  // per group, before lookups are judged
  size_t min_deliveries = 20;               // in the flight, before deliveries are judged
  double max_deferral_increase = 0.05;      // flight's 4xx share of lookups minus control's
  double max_latency_ratio = 2.0;           // flight's mean lookup time over control's …
  std::chrono::milliseconds latency_slack{5};  // … once it is this much above it
  double max_failure_increase = 0.10;       // flight's failed delivery share minus control's
  bool operator==(const FlightOptions&) const = default;
};

// [placement]: tenant = "forest". Applied over the catalog at start and on
// reload (the directory keeps it), and flown tenant by tenant by a flight.
struct Placement {
  std::string tenant, forest;
  int line = 0;
  bool operator==(const Placement& o) const { return tenant == o.tenant && forest == o.forest; }
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
  admin::AdminOptions admin;
  LogConfig log;
  FlightOptions flight;
  std::vector<Placement> placement;
  cluster::ClusterOptions cluster;  // [cluster]; enabled only when present
  cluster::ShadowOptions shadow;    // [shadow]; enabled only when present
  bool operator==(const Config&) const = default;  // a flight's candidate may differ only in its limits
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
  // What runs but is probably a mistake in production (a localhost
  // hostname, the example's admin token, an admin API off loopback in the
  // clear): check-config prints them, serve logs them. Only when no errors.
  std::vector<ConfigError> warnings;
  bool ok() const { return errors.empty(); }
};
LoadResult LoadConfig(const std::string& path);
// The same for text already read (a fuzzer, a test); `path` names it in
// errors and anchors nothing else. Checks that touch files (certificates,
// CA files) still read them.
LoadResult LoadConfigText(std::string_view text, const std::string& path);

// Reads the directory seed file (examples/directory.toml).
struct SeedResult {
  directory::SeedData seed;
  std::vector<ConfigError> errors;
};
SeedResult LoadSeed(const std::string& path, const Config& config);  // checks references into config

}  // namespace sluice::control
