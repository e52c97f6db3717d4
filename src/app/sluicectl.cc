// sluicectl: the operator's command line over the admin API.
//   sluicectl [--config FILE | --admin URL] [--token T] forest status [--json]
//   sluicectl ... forest move TENANT FOREST
//   sluicectl ... forest limit FOREST N
//   sluicectl ... forest fault FOREST [--latency-ms N] [--error-rate R] [--hang]
//   sluicectl ... fleet [--json]
//   sluicectl ... queue list|show|hold|release|retry|delete|bounce ... (see ctl_queue.cc)
//   sluicectl ... quarantine list|show|release|delete ... (see ctl_quarantine.cc)
//   sluicectl ... flight start FILE --share 10% | promote | rollback | status (see ctl_flight.cc)
//   sluicectl ... node drain|undrain NODE, node status, shadow, safetynet resubmit (see ctl_shadow.cc)
// A bad invocation prints one line and exits 2; a refused call exits 1.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>

#include "app/admin_client.h"
#include "app/ctl_flight.h"
#include "app/ctl_shadow.h"
#include "app/ctl_queue.h"
#include "app/ctl_quarantine.h"
#include "control/config.h"

namespace {

using nlohmann::json;
using sluice::app::Call;
using sluice::app::Done;
using sluice::app::Target;
using sluice::HttpResponse;

void PrintForests(const json& forests) {
  std::cout << fmt::format("{:<10} {:<22} {:>9} {:>6} {:>6} {:>6} {:>9} {:>9} {:>8} {:>7} {:>6}  {}\n",
                           "FOREST", "TENANTS", "IN_FLIGHT", "LIMIT", "QUEUE", "SAT%", "LOOKUPS",
                           "SATURATED", "TIMEOUTS", "UNAVAIL", "STALE", "REPLICAS");
  for (const auto& f : forests) {
    std::string tenants, replicas;
    for (const auto& t : f["tenants"]) tenants += (tenants.empty() ? "" : ",") + t.get<std::string>();
    for (const auto& r : f["replicas"]) {
      replicas += (replicas.empty() ? "" : " ") + r["name"].get<std::string>() + "[" + r["breaker"].get<std::string>() + "]";
    }
    std::cout << fmt::format("{:<10} {:<22} {:>9} {:>6} {:>6} {:>6.0f} {:>9} {:>9} {:>8} {:>7} {:>6}  {}\n",
                             f["name"].get<std::string>(), tenants, f["in_flight"].get<uint64_t>(),
                             f["limit"].get<uint64_t>(), f["queued"].get<uint64_t>(),
                             f["saturation"].get<double>() * 100, f["lookups"].get<uint64_t>(),
                             f["deferred"]["saturated"].get<uint64_t>(), f["deferred"]["timeout"].get<uint64_t>(),
                             f["deferred"]["unavailable"].get<uint64_t>(), f["stale_serves"].get<uint64_t>(),
                             replicas);
  }
}

// The fleet: this node's budget mode and each forest's holders, then the
// control plane and its members.
void PrintFleet(const json& f) {
  if (f.contains("mode")) {
    std::cout << fmt::format("node {}: budgets {}{}{}\n", f.value("node", ""), f.value("mode", ""),
                             f.value("redis", "").empty() ? "" : " via redis " + f.value("redis", ""),
                             f.value("reason", "").empty() ? "" : " (" + f.value("reason", "") + ")");
    std::cout << fmt::format("{:<10} {:>6} {:>6} {:>6} {:>10}  {}\n", "FOREST", "LIMIT", "SHARE", "NODES", "IN_FLIGHT",
                             "HOLDERS");
    for (const auto& b : f["forests"]) {
      std::string holders;
      for (const auto& [node, block] : b["holders"].items()) {
        holders += (holders.empty() ? "" : " ") + node + "=" + std::to_string(block.get<int64_t>());
      }
      std::cout << fmt::format("{:<10} {:>6} {:>6} {:>6} {:>10}  {}{}\n", b["forest"].get<std::string>(),
                               b["limit"].get<int64_t>(), b["share"].get<int64_t>(), b["live_nodes"].get<int64_t>(),
                               b["fleet_in_flight"].get<int64_t>(), holders,
                               b["controller"].get<bool>() ? " (controller here)" : "");
    }
  }
  if (f.contains("control")) {
    const json& c = f["control"];
    std::cout << fmt::format("control plane {} at revision {}{}\n", c.value("state", ""), c.value("revision", int64_t{0}),
                             c.value("reason", "").empty() ? "" : " (" + c.value("reason", "") + ")");
    for (const auto& m : c["members"]) {
      std::cout << fmt::format("  {:<12} smtp {:<22} admin {:<22} v{} config {}\n", m.value("node", ""),
                               m.value("smtp", ""), m.value("admin", ""), m.value("version", ""),
                               m.value("config_version", ""));
    }
  }
}

}  // namespace

// Prints what a reload did, or why it was refused (exit 1).
int Reloaded(const HttpResponse& r) {
  json j;
  try {
    j = json::parse(r.body);
  } catch (const json::exception&) {
    return Done(r);
  }
  if (r.status != 200 || !j.value("ok", false)) {
    if (!j.contains("errors") || j["errors"].empty()) return Done(r);
    for (const auto& e : j["errors"]) std::cerr << "sluicectl: reload refused: " << e.get<std::string>() << "\n";
    return 1;
  }
  const auto& c = j["config"];
  std::cout << fmt::format("config v{} ({}){}\n", c["version"].get<int64_t>(), c["hash"].get<std::string>().substr(0, 12),
                           j["changed"].get<bool>() ? "" : ": unchanged");
  for (const auto& a : j["applied"]) std::cout << "applied: " << a.get<std::string>() << "\n";
  for (const auto& a : j["restart_needed"]) std::cout << "needs a restart: " << a.get<std::string>() << "\n";
  return 0;
}

int main(int argc, char** argv) {
  CLI::App app{"sluicectl: operate a running Sluice through its admin API"};
  std::string config_path, admin_url, token;
  app.add_option("--config,-c", config_path, "read the admin address and token from this config");
  app.add_option("--admin", admin_url, "admin address, [https://]host:port (default 127.0.0.1:8025)");
  std::string ca_file;
  app.add_option("--ca-file", ca_file, "trust anchor for an https admin API (default: the system's)");
  app.add_option("--token", token, "bearer token (default: $SLUICE_ADMIN_TOKEN or the config's)");
  app.set_version_flag("--version", "sluicectl " SLUICE_VERSION_STRING);
  app.require_subcommand(1);
  auto* forest = app.add_subcommand("forest", "directory forests");
  forest->require_subcommand(1);
  bool as_json = false;
  auto* status = forest->add_subcommand("status", "saturation, latency and replicas of every forest");
  status->add_flag("--json", as_json, "print the API's JSON");
  std::string tenant, name;
  size_t limit = 0;
  auto* move = forest->add_subcommand("move", "move a tenant to another forest, live");
  move->add_option("tenant", tenant)->required();
  move->add_option("forest", name)->required();
  auto* set_limit = forest->add_subcommand("limit", "set a forest's bulkhead limit, live");
  set_limit->add_option("forest", name)->required();
  set_limit->add_option("limit", limit)->required()->check(CLI::PositiveNumber);
  int latency_ms = 0;
  double error_rate = 0;
  bool hang = false;
  auto* fault = forest->add_subcommand("fault", "inject faults (needs [directory] fault_injection)");
  fault->add_option("forest", name)->required();
  fault->add_option("--latency-ms", latency_ms)->check(CLI::NonNegativeNumber);
  fault->add_option("--error-rate", error_rate)->check(CLI::Range(0.0, 1.0));
  fault->add_flag("--hang", hang);
  auto* destination = app.add_subcommand("destination", "delivery destinations");
  destination->require_subcommand(1);
  auto* dest_limit = destination->add_subcommand("limit", "set a destination's concurrency ceiling, live");
  dest_limit->add_option("destination", name)->required();
  dest_limit->add_option("limit", limit)->required()->check(CLI::Range(1, 100000));
  auto* reload = app.add_subcommand("reload", "re-read the daemon's config file and apply it live");
  auto* show_config = app.add_subcommand("config", "the running config's version and hash");
  auto* fleet = app.add_subcommand("fleet", "the fleet as this node sees it: members, budgets, mode");
  bool fleet_json = false;
  fleet->add_flag("--json", fleet_json, "the admin API's JSON");
  sluice::app::QueueCommands queue(app);
  sluice::app::QuarantineCommands quarantine(app);
  sluice::app::FlightCommands flight(app);
  sluice::app::ShadowCommands shadow(app);
  if (auto exit = sluice::app::ParseCommandLine(app, argc, argv, "sluicectl")) return *exit;

  Target t;
  if (!config_path.empty()) {
    auto r = sluice::control::LoadConfig(config_path);
    if (!r.ok()) {
      std::cerr << "sluicectl: " << r.errors.front().ToString() << "\n";
      return 2;
    }
    t.host = r.config.admin.address;
    t.port = std::to_string(r.config.admin.port);
    t.token = r.config.admin.token;
    t.tls = !r.config.admin.tls_cert.empty();
    t.ca_file = r.config.admin.tls_cert;  // the server's own certificate, pinned
  }
  if (!admin_url.empty()) {
    if (admin_url.rfind("https://", 0) == 0) {
      t.tls = true;
      admin_url = admin_url.substr(8);
    } else if (admin_url.rfind("http://", 0) == 0) {
      t.tls = false;
      admin_url = admin_url.substr(7);
    }
    size_t colon = admin_url.rfind(':');
    if (colon == std::string::npos) {
      std::cerr << "sluicectl: --admin must be [https://]host:port\n";
      return 2;
    }
    t.host = admin_url.substr(0, colon);
    t.port = admin_url.substr(colon + 1);
  }
  if (!ca_file.empty()) t.ca_file = ca_file;
  if (const char* env = std::getenv("SLUICE_ADMIN_TOKEN")) t.token = env;
  if (!token.empty()) t.token = token;

  try {
    if (queue.chosen()) return queue.Run(t);
    if (quarantine.chosen()) return quarantine.Run(t);
    if (flight.chosen()) return flight.Run(t);
    if (shadow.chosen()) return shadow.Run(t);
    if (*dest_limit) {
      return Done(Call(t, true, "/api/v1/destinations/" + name + "/limit", json{{"limit", limit}}.dump()));
    }
    if (*reload) return Reloaded(Call(t, true, "/api/v1/config/reload", "{}"));
    if (*show_config) {
      HttpResponse r = Call(t, false, "/api/v1/config");
      if (r.status != 200) return Done(r);
      auto c = json::parse(r.body);
      std::cout << fmt::format("config v{} {} ({})\n", c["version"].get<int64_t>(), c["hash"].get<std::string>(),
                               c["source"].get<std::string>());
      return 0;
    }
    if (*fleet) {
      HttpResponse r = Call(t, false, "/api/v1/fleet");
      if (r.status != 200) return Done(r);
      if (fleet_json) {
        std::cout << r.body;
      } else {
        PrintFleet(json::parse(r.body));
      }
      return 0;
    }
    if (*status) {
      HttpResponse r = Call(t, false, "/api/v1/forests");
      if (r.status != 200) return Done(r);
      if (as_json) {
        std::cout << r.body;
      } else {
        PrintForests(json::parse(r.body));
      }
      return 0;
    }
    if (*move) return Done(Call(t, true, "/api/v1/tenants/" + tenant + "/move", json{{"forest", name}}.dump()));
    if (*set_limit) return Done(Call(t, true, "/api/v1/forests/" + name + "/limit", json{{"limit", limit}}.dump()));
    if (*fault) {
      return Done(Call(t, true, "/api/v1/forests/" + name + "/fault",
                       json{{"latency_ms", latency_ms}, {"error_rate", error_rate}, {"hang", hang}}.dump()));
    }
  } catch (const std::exception& e) {
    std::cerr << fmt::format("sluicectl: cannot reach the admin API at {}:{}: {}\n", t.host, t.port, e.what());
    return 1;
  }
  return 2;
}
