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
#include "http.h"
#include "sleep.h"
#include "load.h"
#include "report.h"
#include "sink.h"

extern char** environ;

namespace storm {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using nlohmann::json;

class Run {
 public:
  Run(const Scenario& s, Daemon& d, asio::io_context& io, Ledger& l, Sink& sink)
      : s_(s), d_(d), io_(io), l_(l), sink_(sink),
        load_(io, s, l, d.smtp_port, [this](int t) { return forest_[t]; }) {
    for (const auto& t : s.tenants) forest_.push_back(t.forest);
  }

  void Start() {
    load_.Start();
    asio::co_spawn(io_, Timeline(), asio::detached);
    asio::co_spawn(io_, Poll(), asio::detached);
    asio::co_spawn(io_, Conduct(), asio::detached);
  }
  bool daemon_failed = false;

 private:
  asio::awaitable<HttpReply> Admin(std::string path, json body) {
    auto call = HttpCall(d_.admin_port, "POST", path, body.dump(), kToken);
    HttpReply r = co_await std::move(call);
    if (r.status != 200) l_.Event(fmt::format("admin call {} answered {}: {}", path, r.status, r.body));
    co_return r;
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
        auto call = Admin("/api/v1/forests/" + e.forest + "/fault", body);
        co_await std::move(call);
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
      } else if (e.action == "flood") {
        asio::co_spawn(io_, load_.Flood(e.connections, e.lasts), asio::detached);
      } else if (e.action == "kill") {
        d_.Kill(SIGKILL);
        auto wait = Sleep(e.restart_after);
        co_await std::move(wait);
        if (!d_.Spawn()) daemon_failed = true;
        auto ready = d_.Ready();
        bool ok = co_await std::move(ready);
        l_.Event(ok ? "Sluice restarted" : "Sluice did not come back");
        daemon_failed = daemon_failed || !ok;
      }
    }
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
      auto call = HttpCall(d_.admin_port, "GET", "/api/v1/status", "", kToken);
      HttpReply r = co_await std::move(call);
      const double now = l_.Now();
      if (r.status == 200) {
        json j = json::parse(r.body, nullptr, false);
        if (!j.is_discarded() && j.contains("queue")) {
          auto& sec = l_.At(now);
          sec.queue_messages = j["queue"].value("messages", 0.0);
          sec.queue_deferred = j["queue"].value("deferred", 0.0);
          if (l_.fault_end >= 0 && l_.deferred_empty < 0 && sec.queue_deferred == 0) l_.deferred_empty = now;
        }
      }
      auto forests = HttpCall(d_.admin_port, "GET", "/api/v1/forests", "", kToken);
      HttpReply fr = co_await std::move(forests);
      if (fr.status == 200) {
        json j = json::parse(fr.body, nullptr, false);
        for (const auto& f : j.is_array() ? j : json::array()) {
          if (!f.contains("latency_buckets") || !f["latency_buckets"].is_array()) continue;
          l_.At(now).sluice_lookup_buckets[f.value("name", "")] = f["latency_buckets"].get<std::vector<uint64_t>>();
          if (l_.lookup_bounds_ms.empty()) l_.lookup_bounds_ms = f["latency_bucket_bounds_ms"].get<std::vector<double>>();
        }
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
  Daemon& d_;
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
  Daemon daemon(sluice, fs::path(out) / "run");
  daemon.Write(s, sink_port, webhook_port);
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
    daemon.cpus = theirs;
    ledger.cpus = fmt::format("storm {}, sluice {}", cpus.substr(0, colon), cpus.substr(colon + 1));
  }
  if (!daemon.Spawn()) {
    std::cerr << "sluice-storm: cannot start " << sluice << "\n";
    return 1;
  }
  bool ready = false;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    auto op = daemon.Ready();
    ready = co_await std::move(op);
    io.stop();  // the sink and webhook acceptors keep the loop busy
  }, asio::detached);
  io.run();
  io.restart();
  if (!ready) {
    std::cerr << "sluice-storm: Sluice did not start; see " << (fs::path(out) / "run" / "sluice.log").string() << "\n";
    daemon.Kill(SIGKILL);
    return 1;
  }
  std::cerr << fmt::format("sluice-storm: {} — Sluice pid {} on 127.0.0.1:{}, admin :{}, sink :{}\n", s.name,
                           daemon.pid, daemon.smtp_port, daemon.admin_port, sink_port);
  ledger.t0 = Clock::now();
  Run run(s, daemon, io, ledger, sink);
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
    auto call = HttpCall(daemon.admin_port, "GET", "/api/v1/status", "", kToken);
    HttpReply r = co_await std::move(call);
    json j = json::parse(r.body, nullptr, false);
    if (!j.is_discarded() && j.contains("queue")) queued_at_end = j["queue"].value("messages", 0.0);
    io.stop();
  }, asio::detached);
  io.restart();
  io.run_for(std::chrono::seconds(12));
  daemon.Kill(SIGTERM);
  json report = Summarize(s, ledger);
  report["sluice_queue_at_end"] = queued_at_end;
  const uint64_t undelivered = report["lost"];
  report["undelivered_at_end"] = undelivered;
  report["lost"] = undelivered > queued_at_end ? undelivered - static_cast<uint64_t>(queued_at_end) : 0;
  report["sluice_failed"] = run.daemon_failed;
  std::cout << Table(report);
  std::ofstream(fs::path(out) / "report.json") << report.dump(1) << "\n";
  std::ofstream(fs::path(out) / "report.html") << Html(report);
  std::cout << fmt::format("\n  report: {}/report.json, plots: {}/report.html, Sluice's log: {}/run/sluice.log\n", out,
                           out, out);
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
  Load load(io, s, ledger, port, [](int) { return std::string("-"); });
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
