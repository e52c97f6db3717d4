#include "app/ctl_shadow.h"

#include <fmt/format.h>

#include <chrono>
#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

namespace sluice::app {
namespace {

using nlohmann::json;

void PrintDrain(const json& d) {
  std::cout << fmt::format("drain    {}\nhanded   {}\nleft     {}\nfailed   {}\n", d["state"].get<std::string>(),
                           d["handed"].get<uint64_t>(), d["left"].get<uint64_t>(), d["failed"].get<uint64_t>());
  if (!d["last_error"].get<std::string>().empty()) std::cout << "note     " << d["last_error"].get<std::string>() << "\n";
}

void PrintShadow(const json& s) {
  std::cout << fmt::format("held for others  {}\nsafety net       {}\ndiscards pending {}\n", s["held"].get<uint64_t>(),
                           s["safety_net"].get<uint64_t>(), s["discards_pending"].get<uint64_t>());
  std::cout << fmt::format("copies sent      {} (failed {})\npromoted         {} (takeovers {})\n",
                           s["sent"].get<uint64_t>(), s["failed"].get<uint64_t>(), s["promoted"].get<uint64_t>(),
                           s["takeovers"].get<uint64_t>());
  std::cout << fmt::format("\n{:<28} {}\n", "PEER", "STATE");
  for (const auto& p : s["peers"]) {
    std::cout << fmt::format("{:<28} {}\n", p["address"].get<std::string>(), p["state"].get<std::string>());
  }
}

}  // namespace

std::optional<int64_t> ParseWhen(const std::string& s, int64_t now_unix) {
  if (s.empty()) return std::nullopt;
  if (s.find_first_not_of("0123456789") == std::string::npos) {
    if (s.size() > 12) return std::nullopt;
    return std::stoll(s);
  }
  if (auto age = ParseAge(s)) return now_unix - *age;
  std::tm tm{};
  const char* end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (!end || *end != '\0') return std::nullopt;
  return static_cast<int64_t>(timegm(&tm));
}

struct ShadowCommands::Args {
  CLI::App *node = nullptr, *drain = nullptr, *undrain = nullptr, *node_status = nullptr;
  CLI::App *shadow = nullptr, *safetynet = nullptr, *resubmit = nullptr;
  std::string name, destination, since, until;
  bool wait = false, json = false;
  int wait_seconds = 600;
};

ShadowCommands::ShadowCommands(CLI::App& parent) : a_(std::make_unique<Args>()) {
  a_->node = parent.add_subcommand("node", "this node: drain it to its shadow peers, or take mail again");
  a_->node->require_subcommand(1);
  a_->drain = a_->node->add_subcommand("drain", "refuse new mail (not ready first) and hand every queued message to a peer");
  a_->undrain = a_->node->add_subcommand("undrain", "take mail again after a drain");
  for (auto* c : {a_->drain, a_->undrain}) c->add_option("node", a_->name, "the node's name (as the daemon knows itself)")->required();
  a_->drain->add_flag("--wait", a_->wait, "return once the node is empty");
  a_->drain->add_option("--timeout", a_->wait_seconds, "with --wait: give up after this many seconds (exit 1)");
  a_->node_status = a_->node->add_subcommand("status", "the drain's progress");
  a_->shadow = parent.add_subcommand("shadow", "shadow copies held here, sent to peers, and the peers' state");
  a_->shadow->add_flag("--json", a_->json, "the admin API's JSON");
  a_->safetynet = parent.add_subcommand("safetynet", "delivered mail kept on the shadows");
  a_->safetynet->require_subcommand(1);
  a_->resubmit = a_->safetynet->add_subcommand(
      "resubmit", "deliver again, to one destination and without DSNs, what the safety net holds (a store restored from backup)");
  a_->resubmit->add_option("--destination", a_->destination, "the destination (a name from the config)")->required();
  a_->resubmit->add_option("--since", a_->since, "delivered at or after: unix seconds, 2026-12-01T10:00:00Z, or an age (6h)")
      ->required();
  a_->resubmit->add_option("--until", a_->until, "delivered at or before (default: now)");
}

ShadowCommands::~ShadowCommands() = default;

bool ShadowCommands::chosen() const { return a_->node->parsed() || a_->shadow->parsed() || a_->safetynet->parsed(); }

int ShadowCommands::Run(const Target& t) {
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  if (*a_->resubmit) {
    auto since = ParseWhen(a_->since, now);
    auto until = a_->until.empty() ? std::optional<int64_t>(now) : ParseWhen(a_->until, now);
    if (!since || !until) {
      std::cerr << "sluicectl: --since and --until take unix seconds, 2026-12-01T10:00:00Z or an age such as 6h\n";
      return 2;
    }
    HttpResponse r = Call(t, true, "/api/v1/safetynet/resubmit",
                          json{{"destination", a_->destination}, {"since", *since}, {"until", *until}}.dump());
    if (r.status != 200) return Done(r);
    std::cout << json::parse(r.body)["resubmitted"].get<uint64_t>() << " messages queued again for " << a_->destination << "\n";
    return 0;
  }
  if (*a_->shadow) {
    HttpResponse r = Call(t, false, "/api/v1/shadow");
    if (r.status != 200) return Done(r);
    if (a_->json) {
      std::cout << r.body << "\n";
    } else {
      PrintShadow(json::parse(r.body));
    }
    return 0;
  }
  if (*a_->node_status) {
    HttpResponse r = Call(t, false, "/api/v1/node/drain");
    if (r.status != 200) return Done(r);
    PrintDrain(json::parse(r.body));
    return 0;
  }
  const bool drain = a_->drain->parsed();
  HttpResponse r = Call(t, true, drain ? "/api/v1/node/drain" : "/api/v1/node/undrain", json{{"node", a_->name}}.dump());
  if (r.status != 200) return Done(r);
  if (!drain || !a_->wait) {
    PrintDrain(json::parse(r.body));
    return 0;
  }
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(a_->wait_seconds);
  for (;;) {
    r = Call(t, false, "/api/v1/node/drain");
    if (r.status != 200) return Done(r);
    json d = json::parse(r.body);
    if (d["state"] == "drained") {
      PrintDrain(d);
      return 0;
    }
    if (std::chrono::steady_clock::now() >= give_up) {
      PrintDrain(d);
      std::cerr << "sluicectl: the node is not empty after " << a_->wait_seconds << " s\n";
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

}  // namespace sluice::app
