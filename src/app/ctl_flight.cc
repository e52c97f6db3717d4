#include "app/ctl_flight.h"

#include <fmt/format.h>

#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

namespace sluice::app {
namespace {

using nlohmann::json;

// "10%", "10 %" or "10" → 10; -1 when it is none of them.
int ParseShare(std::string s) {
  while (!s.empty() && (s.back() == '%' || s.back() == ' ')) s.pop_back();
  if (s.empty() || s.size() > 3 || s.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::stoi(s);
}

void PrintFlight(const json& f) {
  const std::string state = f["state"].get<std::string>();
  if (state == "none") {
    std::cout << "no flight has run\n";
    return;
  }
  std::string shares;
  for (const auto& s : f["shares"]) {
    const int st = s.get<int>();
    shares += fmt::format("{}{}{}%{}", shares.empty() ? "" : " → ", st == f["share"].get<int>() ? "[" : "", st,
                          st == f["share"].get<int>() ? "]" : "");
  }
  std::cout << fmt::format("flight   {}{}\n", state, state == "running" ? fmt::format(" at {} %", f["share"].get<int>()) : "");
  std::cout << fmt::format("candidate {} ({})\n", f["candidate"].get<std::string>(),
                           f["candidate_hash"].get<std::string>().substr(0, 12));
  std::cout << "shares   " << shares << "\n";
  if (f.contains("nodes") && !f["nodes"].empty()) {
    std::string nodes;
    for (const auto& n : f["nodes"]) nodes += (nodes.empty() ? "" : " ") + n.get<std::string>();
    std::cout << "nodes    " << nodes << "\n";
  }
  for (const auto& c : f["changes"]) std::cout << "change   " << c.get<std::string>() << "\n";
  if (!f["reason"].get<std::string>().empty()) std::cout << "reason   " << f["reason"].get<std::string>() << "\n";
  const auto& g = f["groups"];
  std::cout << fmt::format("\n{:<24} {:>12} {:>12} {:>12}  {}\n", "GATE", "FLIGHT", "CONTROL", "LIMIT", "");
  for (const auto& gate : f["gates"]) {
    std::cout << fmt::format("{:<24} {:>12.4f} {:>12.4f} {:>12.4f}  {}\n", gate["name"].get<std::string>(),
                             gate["flight"].get<double>(), gate["control"].get<double>(), gate["limit"].get<double>(),
                             !gate["judged"].get<bool>() ? "too little traffic" : gate["pass"].get<bool>() ? "pass" : "FAIL");
  }
  std::cout << fmt::format("{:<24} {:>12} {:>12}\n", "lookups", g["flight"]["lookups"].get<uint64_t>(),
                           g["control"]["lookups"].get<uint64_t>());
  std::cout << fmt::format("{:<24} {:>12} {:>12}\n", "deliveries", g["flight"]["deliveries"].get<uint64_t>(),
                           g["control"]["deliveries"].get<uint64_t>());
  std::cout << "\n";
  for (const auto& h : f["history"]) std::cout << h["unix"].get<int64_t>() << "  " << h["step"].get<std::string>() << "\n";
}

}  // namespace

struct FlightCommands::Args {
  CLI::App* flight = nullptr;
  CLI::App *start = nullptr, *promote = nullptr, *rollback = nullptr, *status = nullptr;
  std::string candidate, share = "10%";
  bool json = false;
  bool nodes = false;  // the fleet's flight to a share of nodes
};

FlightCommands::FlightCommands(CLI::App& parent) : a_(std::make_unique<Args>()) {
  a_->flight = parent.add_subcommand("flight", "try a candidate config on a share of tenants, with gates");
  a_->flight->require_subcommand(1);
  a_->start = a_->flight->add_subcommand("start", "start a flight of a candidate config file");
  a_->start->add_option("file", a_->candidate, "the candidate config (TOML)")->required();
  a_->start->add_option("--share", a_->share, "tenants in the flight, e.g. 10%");
  a_->promote = a_->flight->add_subcommand("promote", "move the flight to its next share (at 100 % it becomes the config)");
  a_->rollback = a_->flight->add_subcommand("rollback", "end the flight; every tenant back on the running config");
  a_->status = a_->flight->add_subcommand("status", "shares and the gates, flight beside control");
  for (auto* c : {a_->start, a_->promote, a_->rollback, a_->status}) {
    c->add_flag("--json", a_->json, "print the API's JSON");
    c->add_flag("--nodes", a_->nodes, "the fleet's flight: --share is of nodes, not tenants ([cluster] etcd)");
  }
}

FlightCommands::~FlightCommands() = default;

bool FlightCommands::chosen() const { return a_->flight->parsed(); }

int FlightCommands::Run(const Target& t) {
  HttpResponse r;
  const std::string base = a_->nodes ? "/api/v1/fleet/flight" : "/api/v1/flight";
  if (*a_->start) {
    const int share = ParseShare(a_->share);
    if (share < 1 || share > 99) {
      std::cerr << "sluicectl: --share must be a percentage from 1 to 99, e.g. 10%\n";
      return 2;
    }
    std::error_code ec;
    auto path = std::filesystem::absolute(a_->candidate, ec);  // the daemon may run elsewhere
    if (ec || !std::filesystem::is_regular_file(path)) {
      std::cerr << "sluicectl: cannot read " << a_->candidate << "\n";
      return 2;
    }
    r = Call(t, true, base + "/start", json{{"candidate", path.string()}, {"share", share}}.dump());
  } else if (*a_->promote) {
    r = Call(t, true, base + "/promote", "{}");
  } else if (*a_->rollback) {
    r = Call(t, true, base + "/rollback", "{}");
  } else {
    r = Call(t, false, base);
  }
  if (r.status != 200) return Done(r);
  if (a_->json) {
    std::cout << r.body << "\n";
  } else {
    PrintFlight(json::parse(r.body));
  }
  return 0;
}

}  // namespace sluice::app
