// sluice-storm: replays an overload (EX1331830 and others) against a real
// Sluice it starts itself, with a fleet of relays in front, a mailbox store
// behind (LMTP sink), and the scenario's events in between; then proves
// what became of every message.
//   sluice-storm run SCENARIO.toml [--sluice BIN] [--scale X] [--out DIR]
//   sluice-storm sink --port N [--smtp]
//   sluice-storm pace --port N --rcpt ADDR [--rate R] [--sessions N] [--messages N] [--size B]
#include <fcntl.h>
#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <algorithm>
#include <csignal>
#include <cstring>
#include <sched.h>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "app/admin_client.h"
#include "daemon.h"
#include "engines.h"
#include "http.h"
#include "sleep.h"
#include "load.h"
#include "milter.h"
#include "report.h"
#include "sink.h"

extern char** environ;

namespace storm {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using nlohmann::json;

std::vector<uint16_t> SmtpPorts(const std::vector<Daemon>& nodes) {
  std::vector<uint16_t> out;
  for (const auto& d : nodes) out.push_back(d.smtp_port);
  return out;
}

class Run {
 public:
  // `engines`: Redis and etcd of a fleet; null for one node alone.
  Run(const Scenario& s, std::vector<Daemon>& nodes, Engines* engines, asio::io_context& io, Ledger& l, Sink& sink)
      : s_(s), nodes_(nodes), engines_(engines), io_(io), l_(l), sink_(sink),
        load_(io, s, l, SmtpPorts(nodes), [this](int t) { return forest_[t]; }) {
    for (const auto& t : s.tenants) forest_.push_back(t.forest);
    for (size_t i = 0; i < nodes.size(); ++i) l_.nodes[i].name = nodes.size() > 1 ? nodes[i].name : "sluice";
  }

  void Start() {
    load_.Start();
    asio::co_spawn(io_, Timeline(), asio::detached);
    asio::co_spawn(io_, Poll(), asio::detached);
    asio::co_spawn(io_, Conduct(), asio::detached);
  }
  bool daemon_failed = false;
  Milter* milter = nullptr;  // the storm's content filter, when the scenario routes tenants through one

 private:
  // An operator's call to one node (in a fleet, the control plane carries
  // it to the others).
  asio::awaitable<HttpReply> Admin(std::string path, json body, size_t node = 0) {
    auto call = HttpCall(nodes_[node].admin_port, "POST", path, body.dump(), kToken);
    HttpReply r = co_await std::move(call);
    if (r.status != 200) l_.Event(fmt::format("admin call {} answered {}: {}", path, r.status, r.body));
    co_return r;
  }

  size_t NodeIndex(const std::string& name) const {
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (nodes_[i].name == name) return i;
    }
    return 0;
  }

  asio::awaitable<void> Timeline() {
    for (const auto& e : s_.events) {
      auto wait = Sleep(e.at - l_.Now());
      co_await std::move(wait);
      l_.Event(e.Describe());
      if (e.action == "fault" || e.action == "clear_fault") {
        const bool on = e.action == "fault";
        json body = {{"latency_ms", on ? e.latency_ms : 0}, {"error_rate", on ? e.error_rate : 0.0}, {"hang", on && e.hang}};
        if (on) {
          l_.FaultOn(e.forest);
        } else {
          l_.FaultOff(e.forest);
        }
        // Fault injection is each node's own: the forest is slow for all.
        for (size_t i = 0; i < nodes_.size(); ++i) {
          auto call = Admin("/api/v1/forests/" + e.forest + "/fault", body, i);
          co_await std::move(call);
        }
      } else if (e.action == "limit") {
        auto call = Admin("/api/v1/forests/" + e.forest + "/limit", json{{"limit", e.limit}});
        co_await std::move(call);
      } else if (e.action == "move") {
        auto call = Admin("/api/v1/tenants/" + e.tenant + "/move", json{{"forest", e.forest}});
        HttpReply r = co_await std::move(call);
        for (size_t i = 0; i < s_.tenants.size() && r.status == 200; ++i) {
          if (s_.tenants[i].name == e.tenant) forest_[i] = e.forest;
        }
      } else if (e.action == "downstream") {
        l_.FaultOn("downstream");
        sink_.SetBusy(e.reply);
        asio::co_spawn(io_, EndDownstream(e.lasts), asio::detached);
      } else if (e.action == "filter_stall" && milter) {
        l_.FaultOn("filter");
        milter->SetStalled(true);
        asio::co_spawn(io_, Later(e.lasts, [this] {
          milter->SetStalled(false);
          l_.FaultOff("filter");
          l_.Event("the content filter answers again");
        }), asio::detached);
      } else if (e.action == "flood") {
        asio::co_spawn(io_, load_.Flood(e.connections, e.lasts), asio::detached);
      } else if (e.action == "kill") {
        asio::co_spawn(io_, KillNode(NodeIndex(e.node), e.restart_after), asio::detached);
      } else if (e.action == "redis_stop") {
        Stop(engines_->redis, SIGSTOP);
        asio::co_spawn(io_, Later(e.lasts, [this] {
          Stop(engines_->redis, SIGCONT);
          l_.Event("Redis continues");
        }), asio::detached);
      } else if (e.action == "redis_kill") {
        Stop(engines_->redis, SIGKILL);
        asio::co_spawn(io_, Later(e.restart_after, [this] {
          const bool ok = engines_->StartRedis();
          l_.Event(ok ? "Redis started again (empty)" : "Redis did not start again");
        }), asio::detached);
      } else if (e.action == "etcd_quorum") {
        for (size_t i = 1; i < engines_->etcd.size(); ++i) Stop(engines_->etcd[i].pid, SIGSTOP);
        asio::co_spawn(io_, Later(e.lasts, [this] {
          for (size_t i = 1; i < engines_->etcd.size(); ++i) Stop(engines_->etcd[i].pid, SIGCONT);
          l_.Event("etcd quorum back");
        }), asio::detached);
      }
    }
  }

  asio::awaitable<void> KillNode(size_t i, double restart_after) {
    Daemon& d = nodes_[i];
    d.Kill(SIGKILL);
    auto wait = Sleep(restart_after);
    co_await std::move(wait);
    if (!d.Spawn()) daemon_failed = true;
    auto ready = d.Ready();
    bool ok = co_await std::move(ready);
    const std::string who = nodes_.size() > 1 ? " " + d.name : "";
    l_.Event(ok ? "Sluice" + who + " restarted" : "Sluice" + who + " did not come back");
    daemon_failed = daemon_failed || !ok;
  }

  template <class F>
  asio::awaitable<void> Later(double seconds, F f) {
    auto wait = Sleep(seconds);
    co_await std::move(wait);
    f();
  }

  asio::awaitable<void> EndDownstream(double after) {
    auto wait = Sleep(after);
    co_await std::move(wait);
    sink_.SetBusy("");
    l_.FaultOff("downstream");
    l_.Event("downstream answers again");
  }

  asio::awaitable<void> Poll() {
    const bool tty = isatty(2);
    int n = 0;
    while (!done_) {
      // The fleet's queue is the sum of the nodes'; a node that does not
      // answer (killed) leaves the second without a queue sample.
      const double now = l_.Now();
      double messages = 0, deferred = 0;
      bool all_answered = true;
      std::map<std::string, std::vector<uint64_t>> buckets;
      for (size_t i = 0; i < nodes_.size(); ++i) {
        auto call = HttpCall(nodes_[i].admin_port, "GET", "/api/v1/status", "", kToken);
        HttpReply r = co_await std::move(call);
        json j = r.status == 200 ? json::parse(r.body, nullptr, false) : json();
        if (j.is_object() && j.contains("queue")) {
          messages += j["queue"].value("messages", 0.0);
          deferred += j["queue"].value("deferred", 0.0);
        } else {
          all_answered = false;
          l_.nodes[i].seconds_down += 1;
          continue;
        }
        auto forests = HttpCall(nodes_[i].admin_port, "GET", "/api/v1/forests", "", kToken);
        HttpReply fr = co_await std::move(forests);
        json fj = fr.status == 200 ? json::parse(fr.body, nullptr, false) : json();
        for (const auto& f : fj.is_array() ? fj : json::array()) {
          if (!f.contains("latency_buckets") || !f["latency_buckets"].is_array()) continue;
          auto got = f["latency_buckets"].get<std::vector<uint64_t>>();
          auto& sum = buckets[f.value("name", "")];
          if (sum.size() < got.size()) sum.resize(got.size());
          for (size_t k = 0; k < got.size(); ++k) sum[k] += got[k];
          if (l_.lookup_bounds_ms.empty()) l_.lookup_bounds_ms = f["latency_bucket_bounds_ms"].get<std::vector<double>>();
        }
        if (engines_) {
          auto fleet = HttpCall(nodes_[i].admin_port, "GET", "/api/v1/fleet", "", kToken);
          HttpReply fl = co_await std::move(fleet);
          json v = fl.status == 200 ? json::parse(fl.body, nullptr, false) : json();
          if (v.is_object()) {
            if (v.value("mode", "") == "local") l_.nodes[i].seconds_local += 1;
            if (v.contains("control") && v["control"].value("state", "ok") != "ok") l_.nodes[i].seconds_control_lost += 1;
            l_.nodes[i].renew_failures = v.value("renew_failures", uint64_t{0});
            l_.nodes[i].mode = v.value("mode", "");
            l_.nodes[i].control = v.contains("control") ? v["control"].value("state", "") : "";
            l_.nodes[i].revision = v.contains("control") ? v["control"].value("change_revision", int64_t{0}) : 0;
          }
        }
      }
      if (all_answered) {
        auto& sec = l_.At(now);
        sec.queue_messages = messages;
        sec.queue_deferred = deferred;
        // Only a sample begun after the fault ended says the queue drained
        // after it: the fault may end while this sample's calls are awaited.
        if (l_.fault_end >= 0 && now >= l_.fault_end && l_.deferred_empty < 0 && deferred == 0)
          l_.deferred_empty = now;
        // Cumulative per node: a restarted node starts again from zero,
        // which the report reads as no lookups, never as negative ones.
        l_.At(now).sluice_lookup_buckets = std::move(buckets);
      }
      uint64_t accepted = 0, delivered = 0;
      for (const auto& m : l_.messages) {
        accepted += m.accepted;
        delivered += m.delivered > 0;
      }
      const std::string line = fmt::format(
          "[{:6.1f}s] sent {} accepted {} delivered {} | retrying {} dropped {} | {}", now, l_.messages.size(),
          accepted, delivered, load_.waiting_retry(), l_.dropped, now < s_.duration ? "load" : "draining");
      if (tty) {
        std::cerr << "\r" << line << "   " << std::flush;
      } else if (++n % 5 == 0) {
        std::cerr << line << "\n";
      }
      auto wait = Sleep(1);
      co_await std::move(wait);
    }
    if (tty) std::cerr << "\n";
  }

  asio::awaitable<void> Conduct() {
    auto load = Sleep(s_.duration);
    co_await std::move(load);
    load_.StopNew();
    l_.load_end = l_.Now();
    l_.Event("load ends; draining");
    while (l_.Now() < l_.load_end + s_.drain && !daemon_failed) {
      size_t undelivered = 0;
      for (const auto& m : l_.messages) undelivered += m.accepted && m.delivered == 0;
      if (undelivered == 0 && load_.outstanding() == 0) break;
      auto wait = Sleep(0.2);
      co_await std::move(wait);
    }
    l_.drain_end = l_.Now();
    l_.Event("drained");
    load_.StopAll();
    done_ = true;
    auto grace = Sleep(1.5);  // sessions say QUIT
    co_await std::move(grace);
    io_.stop();
  }

  const Scenario& s_;
  std::vector<Daemon>& nodes_;
  Engines* engines_;
  asio::io_context& io_;
  Ledger& l_;
  Sink& sink_;
  std::vector<std::string> forest_;
  Load load_;
  bool done_ = false;
};

int RunScenario(const std::string& path, std::string sluice, double scale, std::string out, const std::string& cpus) {
  Scenario s;
  if (std::string err = LoadScenario(path, scale, &s); !err.empty()) {
    std::cerr << "sluice-storm: " << err << "\n";
    return 2;
  }
  if (!fs::exists(sluice)) {
    std::cerr << "sluice-storm: no sluice binary at " << sluice << " (use --sluice)\n";
    return 2;
  }
  if (out.empty()) out = "storm-" + s.name;
  fs::remove_all(fs::path(out) / "run");
  fs::create_directories(fs::path(out) / "run");
  asio::io_context io;
  Ledger ledger;
  Sink sink(io, ledger, true);
  sink.SetDelay(s.sink_delay);
  const uint16_t sink_port = sink.Listen();
  WebhookReceiver webhooks(io, [&ledger](const std::string& body) {
    json j = json::parse(body, nullptr, false);
    if (j.is_discarded() || j.value("status", "") != "firing") return;
    ledger.Event("alert firing: " + j.value("alert", std::string("?")) + " " + j.value("summary", std::string()));
    if (ledger.fault_start >= 0 && ledger.first_alert < 0) ledger.first_alert = ledger.Now();
  });
  const uint16_t webhook_port = webhooks.Listen();
  // The scenario's tenants routed through the storm's own filter.
  Milter milter(io, ledger);
  std::string filter_config;
  if (!s.filter.tenants.empty()) {
    filter_config = fmt::format(
        "[filters.storm]\ntype = \"milter\"\naddress = \"127.0.0.1:{}\"\non_error = \"{}\"\n"
        "content_timeout = \"{}ms\"\nbreaker_failures = {}\nbreaker_cooldown = \"{}ms\"\n",
        milter.Listen(), s.filter.on_error, static_cast<int64_t>(s.filter.content_timeout * 1000),
        s.filter.breaker_failures, static_cast<int64_t>(s.filter.breaker_cooldown * 1000));
    for (const auto& t : s.filter.tenants) filter_config += fmt::format("[protection.tenants.{}]\nfilters = [\"storm\"]\n", t);
  }
  // A fleet: Redis and etcd first, then the nodes, each in a directory of
  // its own; one node alone keeps run/ as before.
  std::unique_ptr<Engines> engines;
  if (s.nodes > 1) {
    engines = std::make_unique<Engines>(fs::path(out) / "run");
    if (std::string err = engines->Start(); !err.empty()) {
      std::cerr << "sluice-storm: " << err << "\n";
      return 1;
    }
  }
  std::vector<Daemon> nodes;
  for (int i = 0; i < s.nodes; ++i) {
    const std::string name = s.nodes > 1 ? fmt::format("n{}", i + 1) : "";
    const fs::path dir = s.nodes > 1 ? fs::path(out) / "run" / name : fs::path(out) / "run";
    fs::create_directories(dir);
    nodes.emplace_back(sluice, dir, name);
    nodes.back().Write(s, sink_port, webhook_port, filter_config + (engines ? engines->ClusterConfig(name) : ""));
  }
  if (!cpus.empty()) {
    // "STORM:SLUICE": the load generator and Sluice on CPUs of their own, so
    // latency ratios measure Sluice and not a load generator starved of CPU.
    const size_t colon = cpus.find(':');
    cpu_set_t mine, theirs;
    if (colon == std::string::npos || !ParseCpuList(cpus.substr(0, colon), &mine) ||
        !ParseCpuList(cpus.substr(colon + 1), &theirs)) {
      std::cerr << "sluice-storm: --cpus \"" << cpus << "\": expected STORM:SLUICE CPU lists such as 0:1 or 0:1-3\n";
      return 2;
    }
    if (sched_setaffinity(0, sizeof mine, &mine) != 0) {
      std::cerr << "sluice-storm: --cpus: cannot pin this process: " << std::strerror(errno) << "\n";
      return 2;
    }
    for (auto& d : nodes) d.cpus = theirs;
    ledger.cpus = fmt::format("storm {}, sluice {}", cpus.substr(0, colon), cpus.substr(colon + 1));
  }
  for (auto& d : nodes) {
    if (!d.Spawn()) {
      std::cerr << "sluice-storm: cannot start " << sluice << "\n";
      for (auto& x : nodes) x.Kill(SIGKILL);
      return 1;
    }
  }
  bool ready = true;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    for (auto& d : nodes) {
      auto op = d.Ready();
      ready = co_await std::move(op) && ready;
    }
    io.stop();  // the sink and webhook acceptors keep the loop busy
  }, asio::detached);
  io.run();
  io.restart();
  if (!ready) {
    std::cerr << "sluice-storm: Sluice did not start; see " << (fs::path(out) / "run").string() << "/**/sluice.log\n";
    for (auto& d : nodes) d.Kill(SIGKILL);
    return 1;
  }
  for (const auto& d : nodes) {
    std::cerr << fmt::format("sluice-storm: {} — Sluice {}pid {} on 127.0.0.1:{}, admin :{}, sink :{}\n", s.name,
                             d.name.empty() ? "" : d.name + " ", d.pid, d.smtp_port, d.admin_port, sink_port);
  }
  if (engines) {
    std::cerr << fmt::format("sluice-storm: Redis :{}, etcd :{} :{} :{}\n", engines->redis_port, engines->etcd[0].client,
                             engines->etcd[1].client, engines->etcd[2].client);
  }
  ledger.t0 = Clock::now();
  ledger.nodes.resize(nodes.size());
  Run run(s, nodes, engines.get(), io, ledger, sink);
  run.milter = s.filter.tenants.empty() ? nullptr : &milter;
  // Interrupted: stop the Sluice we started and report what there is.
  asio::signal_set interrupt(io, SIGINT, SIGTERM);
  interrupt.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    ledger.Event("interrupted");
    io.stop();
  });
  run.Start();
  io.run();
  // Messages Sluice still holds are not lost; only more undelivered mail
  // than its queue holds would be.
  double queued_at_end = 0;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    for (const auto& d : nodes) {
      auto call = HttpCall(d.admin_port, "GET", "/api/v1/status", "", kToken);
      HttpReply r = co_await std::move(call);
      json j = json::parse(r.body, nullptr, false);
      if (!j.is_discarded() && j.contains("queue")) queued_at_end += j["queue"].value("messages", 0.0);
    }
    io.stop();
  }, asio::detached);
  io.restart();
  io.run_for(std::chrono::seconds(12));
  for (auto& d : nodes) d.Kill(SIGTERM);
  engines.reset();  // after the nodes: they give their blocks back on the way out
  json report = Summarize(s, ledger);
  report["sluice_queue_at_end"] = queued_at_end;
  const uint64_t undelivered = report["lost"];
  report["undelivered_at_end"] = undelivered;
  report["lost"] = undelivered > queued_at_end ? undelivered - static_cast<uint64_t>(queued_at_end) : 0;
  report["sluice_failed"] = run.daemon_failed;
  std::cout << Table(report);
  std::ofstream(fs::path(out) / "report.json") << report.dump(1) << "\n";
  std::ofstream(fs::path(out) / "report.html") << Html(report);
  std::cout << fmt::format("\n  report: {}/report.json, plots: {}/report.html, Sluice's log: {}/run/{}sluice.log\n", out,
                           out, out, s.nodes > 1 ? "n*/" : "");
  return run.daemon_failed ? 1 : 0;
}

// Paced load against any SMTP server (Sluice or Postfix): the DATA reply
// latency at a given rate, for bench/run. Prints one JSON line.
int RunPace(uint16_t port, double rate, int sessions, int messages, size_t size, const std::string& rcpt) {
  Scenario s;
  s.name = "pace";
  s.rate = rate;
  s.sessions = sessions;
  s.messages_per_session = 1'000'000;
  s.duration = messages / rate;
  s.sizes = {{size, 1.0}};
  s.forests = {"-"};
  TenantSpec t;
  t.name = "pace";
  t.forest = "-";
  t.address = rcpt;
  s.tenants = {t};
  asio::io_context io;
  Ledger ledger;
  Load load(io, s, ledger, {port}, [](int) { return std::string("-"); });
  load.Start();
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    auto run = Sleep(s.duration);
    co_await std::move(run);
    load.StopNew();
    for (int i = 0; i < 300 && load.outstanding() > 0; ++i) {  // the replies still due
      auto wait = Sleep(0.1);
      co_await std::move(wait);
    }
    load.StopAll();
    auto grace = Sleep(0.5);
    co_await std::move(grace);
    io.stop();
  }, asio::detached);
  io.run();
  std::vector<float> data;
  uint64_t accepted = 0;
  for (const auto& sec : ledger.seconds) {
    for (const auto& [f, v] : sec.data_ms) data.insert(data.end(), v.begin(), v.end());
    accepted += sec.accepted;
  }
  std::sort(data.begin(), data.end());
  auto pct = [&](double p) { return data.empty() ? 0.0 : data[std::min(data.size() - 1, static_cast<size_t>(p * data.size()))]; };
  std::cout << json{{"rate", rate}, {"sent", ledger.messages.size()}, {"accepted", accepted},
                    {"p50_ms", pct(0.5)}, {"p99_ms", pct(0.99)}}.dump() << "\n";
  return accepted > 0 ? 0 : 1;
}

int RunSink(uint16_t port, bool smtp) {
  asio::io_context io;
  Ledger ledger;
  Sink sink(io, ledger, !smtp);
  std::cerr << "sluice-storm: sink on 127.0.0.1:" << sink.Listen(port) << " (" << (smtp ? "SMTP" : "LMTP") << ")\n";
  asio::signal_set stop(io, SIGINT, SIGTERM);
  stop.async_wait([&](auto, int) { io.stop(); });
  io.run();
  std::cerr << "received " << ledger.unknown_deliveries << " messages\n";
  return 0;
}

}  // namespace
}  // namespace storm

int main(int argc, char** argv) {
  CLI::App app{"sluice-storm: replay an overload against Sluice and prove what happened to every message"};
  app.require_subcommand(1);
  std::string scenario, out, sluice = (std::filesystem::path(argv[0]).parent_path() / "sluice").string();
  double scale = 1.0;
  auto* run = app.add_subcommand("run", "run a scenario against a Sluice started for it");
  run->add_option("scenario", scenario, "scenario file (tools/storm/scenarios/*.toml)")->required()->check(CLI::ExistingFile);
  run->add_option("--sluice", sluice, "the sluice binary (default: beside this one)");
  run->add_option("--scale", scale, "multiply the scenario's times by this (0.15: a short storm)")->check(CLI::Range(0.01, 10.0));
  run->add_option("--out", out, "directory for the report, plots and Sluice's files (default storm-NAME)");
  std::string cpus;
  run->add_option("--cpus", cpus, "STORM:SLUICE: pin the storm and Sluice to these CPUs, e.g. 0:1 (printed in the report)");
  uint16_t port = 0;
  bool smtp = false;
  auto* sink = app.add_subcommand("sink", "only the sink: receive and count mail");
  sink->add_option("--port", port, "(a free port is chosen)");
  sink->add_flag("--smtp", smtp, "speak SMTP instead of LMTP");
  double rate = 1000;
  int sessions = 32, messages = 3000;
  size_t size = 4096;
  std::string rcpt;
  auto* pace = app.add_subcommand("pace", "paced messages to any SMTP server; prints DATA reply p50/p99 as JSON");
  pace->add_option("--port", port, "SMTP port on 127.0.0.1")->required();
  pace->add_option("--rate", rate, "messages per second")->check(CLI::PositiveNumber);
  pace->add_option("--sessions", sessions)->check(CLI::Range(1, 10000));
  pace->add_option("--messages", messages)->check(CLI::Range(1, 10'000'000));
  pace->add_option("--size", size, "bytes per message");
  pace->add_option("--rcpt", rcpt, "the recipient of every message")->required();
  if (auto exit = sluice::app::ParseCommandLine(app, argc, argv, "sluice-storm")) return *exit;
  std::signal(SIGPIPE, SIG_IGN);
  if (*run) return storm::RunScenario(scenario, sluice, scale, out, cpus);
  if (*pace) return storm::RunPace(port, rate, sessions, messages, size, rcpt);
  return storm::RunSink(port, smtp);
}
