// A storm scenario: steady load from a fleet of sending relays over tenants
// in forests, and a timeline of events (faults, the operator's remedies, a
// downstream answering 421, a connection flood, SIGKILL) — read from TOML.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace storm {

struct TenantSpec {
  std::string name, forest;
  double weight = 1;      // share of the load
  int recipients = 50;    // user0..userN-1@NAME.storm
  std::string address;    // instead: every message to this one address
};

struct EventSpec {
  double at = 0;          // seconds from the start
  // fault, clear_fault, limit, move, downstream, flood, kill; in a fleet
  // also redis_stop (SIGSTOP for `for`), redis_kill (SIGKILL, started again
  // after restart_after) and etcd_quorum (two of three members stopped for `for`);
  // with a [filter], filter_stall (the storm's filter stops answering for `for`).
  std::string action;
  std::string node;       // kill: which node ("n1".."nN"; default n1)
  std::string forest, tenant;
  int latency_ms = 0;     // fault
  double error_rate = 0;  // fault
  bool hang = false;      // fault
  int limit = 0;          // limit
  std::string reply = "421 4.3.2 storm sink: try again later";  // downstream
  double lasts = 0;       // downstream, flood: seconds
  int connections = 0;    // flood
  double restart_after = 1;  // kill: seconds until Sluice is started again
  std::string Describe() const;
};

// Tenants routed through the storm's own content filter (tools/storm/milter.h),
// with the filter's settings as Sluice's [filters.storm] gets them.
struct FilterSpec {
  std::vector<std::string> tenants;  // empty: no filter
  std::string on_error = "tempfail";
  double content_timeout = 3, breaker_cooldown = 2;
  int breaker_failures = 3;
};

struct Scenario {
  std::string name, description;
  int nodes = 1;                // Sluice nodes; more than one: a fleet on Redis and etcd the storm starts
  double duration = 60;         // seconds of load
  double drain = 60;            // then at most this long for the queue to empty
  double rate = 100;            // messages per second; 0: as fast as the sessions go
  int sessions = 20;            // concurrent relay sessions
  int messages_per_session = 50;
  double bucket = 5;            // seconds per latency row in the report
  double sink_delay = 0;        // seconds the mailbox store takes per message
  std::vector<std::pair<size_t, double>> sizes{{4096, 1.0}};  // bytes, weight
  std::vector<std::string> forests;
  std::vector<TenantSpec> tenants;
  std::vector<EventSpec> events;  // by time
  FilterSpec filter;
  std::string sluice_config;    // TOML appended to the generated config
};

// Reads `path`; times (not rates, not the drain) are multiplied by `scale`, so a short
// run keeps the scenario's shape. Returns "" or the error, naming the key.
std::string LoadScenario(const std::string& path, double scale, Scenario* out);

}  // namespace storm
