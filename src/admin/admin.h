// The admin HTTP API (Boost.Beast): JSON under /api/v1 and Prometheus text
// under /metrics. Loopback by default; every call that changes state needs
// the bearer token from the config.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/tls_policy.h"
#include "admin/alerts.h"

namespace sluice::directory {
class Directory;
}
namespace sluice::queue {
class Queue;
}
namespace sluice::delivery {
class Delivery;
class DedupWindow;
}
namespace sluice::server {
class EdgeMetrics;
class HeldScans;
}
namespace sluice::filter {
class FilterSet;
}
namespace sluice::spool {
class Spool;
}
namespace sluice::cluster {
class Fleet;
class Shadow;
class ControlPlane;
}

namespace sluice::admin {

class Monitor;

struct AdminOptions {
  std::string address = "127.0.0.1";  // loopback unless the operator says otherwise
  uint16_t port = 8025;
  // Every call but health, /metrics and the dashboard's static files needs
  // a bearer token: `token` for anything, `read_token` for reads only.
  // Without either, reads of mail data are refused (403) and so are changes.
  std::string token;
  std::string read_token;
  // The quarantine desk's: list, show, release and delete quarantined mail
  // (malware is released with `token` only), and nothing else.
  std::string quarantine_token;
  // Host header values accepted besides IP literals and localhost (the
  // DNS-rebinding defence): the names operators use for this listener.
  std::vector<std::string> hosts;
  // A second listener serving only /metrics and health, without a token
  // (for a Prometheus or a load balancer off loopback). Port 0: none.
  std::string metrics_address;
  uint16_t metrics_port = 0;
  bool enabled = true;
  std::string tls_cert, tls_key;  // PEM; when set the admin API speaks only HTTPS
  TlsPolicy tls_policy;            // [tls] ciphers and version, as the edge
  AlertOptions alerts;   // [alerts]: evaluated by the admin server's monitor
  std::string hostname;  // names this Sluice in alert notices
  bool operator==(const AdminOptions&) const = default;  // a reload applies what changed
};

// The loaded config as the admin API shows it.
struct ConfigInfo {
  int64_t version = 0;  // rises by one with every config of different content
  std::string hash;     // SHA-256 of the file
  std::string source;
  int64_t loaded_unix = 0;
};

// What a reload did: refused (errors), or applied with what changed and
// what waits for a restart.
struct ReloadReport {
  bool ok = false;
  bool changed = false;
  ConfigInfo config;
  std::vector<std::string> errors, applied, restart_needed;
};

// The control plane's side of the admin API (implemented in control/).
class ConfigControl {
 public:
  virtual ~ConfigControl() = default;
  virtual ConfigInfo Current() = 0;
  virtual ReloadReport Reload() = 0;  // re-reads the file it was loaded from
};

// A flight as the admin API shows it (implemented in control/flight.cc).
struct FlightGate {
  std::string name;            // deferral_rate, lookup_latency_ms, delivery_failure_rate
  double flight = 0, control = 0;
  double limit = 0;            // the most the flight may show
  bool judged = false;         // enough traffic in both groups to judge
  bool pass = true;
};
struct FlightGroupFigures {
  uint64_t lookups = 0, lookups_deferred = 0, deliveries = 0, delivery_failures = 0;
  double latency_mean_ms = 0;
};
struct FlightView {
  std::string state = "none";  // none, running, completed, rolled_back
  std::string candidate, candidate_hash, reason;
  int share = 0;               // percent of tenants in the flight
  std::vector<size_t> shares;  // the steps of the rollout, in percent
  int64_t started_unix = 0, share_started_unix = 0;
  std::vector<std::string> changes;  // "forests.na-1.limit 40 → 20"
  std::vector<std::string> nodes;    // a fleet flight's cohort: the nodes that run the candidate
  FlightGroupFigures flight, control;
  std::vector<FlightGate> gates;
  std::vector<std::pair<int64_t, std::string>> history;  // every step, oldest first
};

class FlightControl {
 public:
  virtual ~FlightControl() = default;
  virtual FlightView View() = 0;
  virtual Result<FlightView> Start(const std::string& candidate_path, int share) = 0;
  virtual Result<FlightView> Promote() = 0;  // the next share; at 100 % the candidate becomes the config
  virtual Result<FlightView> Rollback() = 0;
};

struct AdminStages {
  directory::Directory& directory;
  queue::Queue& queue;
  delivery::Delivery& delivery;
  server::EdgeMetrics& edge;
  spool::Spool* spool = nullptr;     // space and state; null in tests
  const Monitor* monitor = nullptr;  // alerts and history; set by the admin server
  ConfigControl* config = nullptr;   // versions and reload; null in tests
  FlightControl* flight = nullptr;   // staged rollout; null in tests
  FlightControl* fleet_flight = nullptr;  // a flight to a share of the fleet's nodes; null when alone
  cluster::Fleet* fleet = nullptr;   // the fleet's budgets; null when alone
  cluster::ControlPlane* control = nullptr;  // placement, limits, holds in etcd; null when alone
  cluster::Shadow* shadow = nullptr;          // shadow copies; null without [shadow]
  const filter::FilterSet* filters = nullptr; // content filters; null in tests
  delivery::DedupWindow* dedup = nullptr;     // the dedup window at local delivery; null when off
  const server::HeldScans* held = nullptr;    // mail held for its scan; null in tests
};

class AdminServer {
 public:
  virtual ~AdminServer() = default;
  virtual Status Start() = 0;  // binds (an error names the address) and serves
  virtual void Stop() = 0;
};

std::unique_ptr<AdminServer> MakeAdminServer(AdminOptions options, AdminStages stages);

}  // namespace sluice::admin
