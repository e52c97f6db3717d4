#include "control/reload.h"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include "common/descriptors.h"
#include "common/log.h"
#include "control/descriptors.h"
#include "mail/clock.h"
#include "server/server.h"
#include "spool/spool.h"

namespace sluice::control {
namespace {

const char* kVersionMeta = "config";  // "<version> <hash>" of the last config run

int64_t NowUnix() { return mail::Clock::System().NowUnix(); }

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : "; ") + s;
  return out;
}

std::string ListenerNames(const std::vector<server::ListenerOptions>& ls) {
  std::string out;
  for (const auto& l : ls) out += fmt::format("{}{}={}:{}", out.empty() ? "" : ",", l.name, l.address, l.port);
  return out;
}

// One reload being applied: the config in force, the one that runs after
// (the file's, with restart-only parts as they were), and where each
// section reports what it changed.
struct Change {
  const Config& running;
  const Config& next;
  LiveStages& stages;
  int64_t version;
  std::vector<std::string>& applied;
};

// A section of the config and what a reload does with it. Every member of
// Config has a row (source excepted); the row says what of it may change
// while mail flows (`live`) and how that reaches the stages (`apply`).
struct Section {
  const char* name;     // as the operator knows it (a flight's refusal names it)
  const char* restart;  // what restart_needed says when the rest of it changed
  void (*copy)(const Config& from, Config& to);
  bool (*same)(const Config& a, const Config& b);
  // Copies the live part of `wanted` into `to` (a copy of the running
  // config). Null: all of the section waits for a restart.
  void (*live)(const Config& wanted, Config& to);
  // Hands the live part to the stages. Null: nothing to hand (the section
  // is read where it is used, or is restart-only). Runs in table order; an
  // error refuses the reload, so only the first row may fail.
  Status (*apply)(Change&);
};

template <auto M>
constexpr void CopyPart(const Config& from, Config& to) { to.*M = from.*M; }
template <auto M>
constexpr bool SamePart(const Config& a, const Config& b) { return a.*M == b.*M; }

template <auto M>
constexpr Section Part(const char* name, const char* restart, void (*live)(const Config&, Config&) = nullptr,
                       Status (*apply)(Change&) = nullptr) {
  return {name, restart, &CopyPart<M>, &SamePart<M>, live, apply};
}

// Listeners and session settings reach new sessions through the server,
// which refuses the whole reload if a port is taken or a certificate does
// not load. Workers are event loops: a restart.
void ServerLive(const Config& wanted, Config& to) {
  const size_t workers = to.server.workers;
  to.server = wanted.server;
  to.server.workers = workers;
}

Status ServerApply(Change& c) {
  server::ServerOptions so = c.next.server;
  so.config_version = c.version;
  so.session_cap = PlanDescriptors(c.next, CurrentDescriptorLimit().soft).sessions;
  auto session = std::make_shared<const smtp::SessionOptions>(c.next.session);
  if (Status s = c.stages.server.Reconfigure(so, session); !s.ok()) return s;
  if (ListenerNames(c.next.server.listeners) != ListenerNames(c.running.server.listeners)) {
    c.applied.push_back(fmt::format("listeners: {}", ListenerNames(c.next.server.listeners)));
  }
  server::ServerOptions a = c.next.server, b = c.running.server;
  a.listeners.clear();
  b.listeners.clear();
  a.config_version = b.config_version;
  a.session_cap = b.session_cap;  // from the descriptor limit, not the file
  if (!(a == b) || !(c.next.session == c.running.session)) c.applied.push_back("smtp settings (new sessions)");
  return Status::Ok();
}

// The session carries the hostname, which is restart-only (DSNs and alerts
// are signed with it too).
void SessionLive(const Config& wanted, Config& to) {
  const std::string hostname = to.session.hostname;
  to.session = wanted.session;
  to.session.hostname = hostname;
}

// Concurrency ceilings of the destinations that exist in both.
void DestinationsLive(const Config& wanted, Config& to) {
  for (auto& d : to.destinations) {
    for (const auto& w : wanted.destinations) {
      if (w.name == d.name) d.max_concurrency = w.max_concurrency;
    }
  }
}

Status DestinationsApply(Change& c) {
  for (const auto& d : c.next.destinations) {
    for (const auto& old : c.running.destinations) {
      if (old.name != d.name || old.max_concurrency == d.max_concurrency) continue;
      if (Status s = c.stages.delivery.SetConcurrency(d.name, d.max_concurrency); s.ok()) {
        c.applied.push_back(
            fmt::format("destinations.{}.max_concurrency {} → {}", d.name, old.max_concurrency, d.max_concurrency));
      }
    }
  }
  return Status::Ok();
}

// Forest limits; a forest added, removed or otherwise changed waits.
void DirectoryLive(const Config& wanted, Config& to) {
  for (auto& f : to.directory.forests) {
    for (const auto& w : wanted.directory.forests) {
      if (w.name == f.name) f.limit = w.limit;
    }
  }
}

Status DirectoryApply(Change& c) {
  for (const auto& f : c.next.directory.forests) {
    for (const auto& old : c.running.directory.forests) {
      if (old.name != f.name || old.limit == f.limit) continue;
      if (Status s = c.stages.directory.SetForestLimit(f.name, f.limit); s.ok()) {
        c.applied.push_back(fmt::format("forests.{}.limit {} → {}", f.name, old.limit, f.limit));
      }
    }
  }
  return Status::Ok();
}

void PlacementLive(const Config& wanted, Config& to) { to.placement = wanted.placement; }

Status PlacementApply(Change& c) {
  for (auto& line : ApplyPlacement(c.stages.directory, c.next.placement)) c.applied.push_back(std::move(line));
  return Status::Ok();
}

void LogLive(const Config& wanted, Config& to) { to.log.level = wanted.log.level; }

Status LogApply(Change& c) {
  if (c.next.log.level == c.running.log.level) return Status::Ok();
  log::SetLevel(c.next.log.level);
  c.applied.push_back(std::string("log.level ") + log::ToString(c.next.log.level));
  return Status::Ok();
}

// The server first: it is the one apply that can refuse.
constexpr Section kSections[] = {
    Part<&Config::server>("server", "server.workers", ServerLive, ServerApply),
    Part<&Config::session>("smtp session", "hostname", SessionLive),
    Part<&Config::hostname>("hostname", "hostname"),
    Part<&Config::blocking_threads>("server.blocking_threads", "server.blocking_threads"),
    Part<&Config::spool>("spool", "spool"),
    Part<&Config::dns>("dns", "dns"),
    Part<&Config::destinations>("destinations", "destinations (other than max_concurrency)", DestinationsLive,
                                DestinationsApply),
    Part<&Config::directory>("directory", "directory and forests (other than limits)", DirectoryLive, DirectoryApply),
    Part<&Config::placement>("placement", "placement", PlacementLive, PlacementApply),
    Part<&Config::queue>("queue", "queue"),
    Part<&Config::admin>("admin", "admin and alerts"),
    Part<&Config::log>("log", "log.format", LogLive, LogApply),
    Part<&Config::flight>("flight", "flight"),
    Part<&Config::cluster>("cluster", "cluster"),
    Part<&Config::shadow>("shadow", "shadow"),
};

void AddOnce(std::vector<std::string>& v, const char* what) {
  if (std::find(v.begin(), v.end(), what) == v.end()) v.push_back(what);
}

}  // namespace

std::vector<std::string> ChangedSections(const Config& a, const Config& b) {
  std::vector<std::string> out;
  for (const Section& s : kSections) {
    if (!s.same(a, b)) out.push_back(s.name);
  }
  return out;
}

ReloadPlan PlanReload(const Config& running, const Config& wanted) {
  ReloadPlan plan{wanted, {}};
  plan.next.source = running.source;
  for (const Section& s : kSections) {
    Config merged = running;
    if (s.live) s.live(wanted, merged);
    if (s.same(merged, wanted)) continue;
    AddOnce(plan.restart_needed, s.restart);
    s.copy(merged, plan.next);
  }
  return plan;
}

std::string HashFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string data = ss.str();
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), digest, &n, EVP_sha256(), nullptr);
  std::string hex;
  for (unsigned int i = 0; i < n; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}

std::vector<std::string> ApplyPlacement(directory::Directory& directory, const std::vector<Placement>& placement) {
  std::vector<std::string> moved;
  const directory::Catalog live = directory.catalog();
  for (const auto& p : placement) {
    auto now = live.tenant_forest.find(p.tenant);
    if (now == live.tenant_forest.end() || now->second == p.forest) continue;
    if (Status s = directory.MoveTenant(p.tenant, p.forest); s.ok()) {
      moved.push_back(fmt::format("placement.{} {} → {}", p.tenant, now->second, p.forest));
    } else {
      log::Event("placement not applied").With("tenant", p.tenant).With("error", s.ToString()).Warn();
    }
  }
  return moved;
}

Result<admin::ConfigInfo> NumberConfig(spool::Spool& spool, const std::string& path) {
  admin::ConfigInfo info;
  info.source = path;
  info.hash = HashFile(path);
  info.loaded_unix = NowUnix();
  int64_t last = 0;
  std::string last_hash;
  if (auto stored = spool.GetMeta(kVersionMeta); stored.ok()) {
    std::istringstream in(stored.value());
    in >> last >> last_hash;
  }
  info.version = last_hash == info.hash && last > 0 ? last : last + 1;
  if (info.version != last) {
    if (Status s = spool.PutMeta(kVersionMeta, fmt::format("{} {}", info.version, info.hash)); !s.ok()) return s;
  }
  return info;
}

Reloader::Reloader(Config config, LiveStages stages, admin::ConfigInfo info)
    : config_(std::move(config)), st_(stages), info_(std::move(info)) {}

admin::ConfigInfo Reloader::Current() {
  std::lock_guard lock(mu_);
  return info_;
}

Config Reloader::Running() {
  std::lock_guard lock(mu_);
  return config_;
}

admin::ReloadReport Reloader::Reload() {
  std::lock_guard lock(mu_);
  admin::ReloadReport report;
  report.config = info_;
  auto refuse = [&](std::vector<std::string> errors) {
    report.ok = false;
    report.errors = std::move(errors);
    log::Event("config reload refused").With("file", config_.source).With("errors", Join(report.errors)).Warn();
    return report;
  };
  LoadResult r = LoadConfig(config_.source);
  if (r.ok() && !r.config.directory.seed.empty()) {
    SeedResult seed = LoadSeed(r.config.directory.seed, r.config);
    r.errors.insert(r.errors.end(), seed.errors.begin(), seed.errors.end());
  }
  if (!r.ok()) {
    std::vector<std::string> errors;
    for (const auto& e : r.errors) errors.push_back(e.ToString());
    return refuse(errors);
  }
  const std::string hash = HashFile(config_.source);
  report.ok = true;
  if (hash == info_.hash) {
    log::Event("config reload: unchanged").With("hash", hash.substr(0, 12)).Info();
    return report;
  }
  ReloadPlan plan = PlanReload(config_, r.config);
  report.restart_needed = plan.restart_needed;
  const int64_t version = info_.version + 1;
  Change change{config_, plan.next, st_, version, report.applied};
  for (const Section& s : kSections) {
    if (!s.apply) continue;
    if (Status st = s.apply(change); !st.ok()) return refuse({st.ToString()});
  }
  plan.next.server.config_version = version;
  config_ = std::move(plan.next);
  info_ = {version, hash, config_.source, NowUnix()};
  if (Status s = st_.spool.PutMeta(kVersionMeta, fmt::format("{} {}", version, hash)); !s.ok()) {
    log::Event("config version not persisted").With("error", s.ToString()).Warn();
  }
  log::SetConfigVersion(version);
  report.changed = true;
  report.config = info_;
  log::Event("config reloaded")
      .With("config", version)
      .With("hash", hash.substr(0, 12))
      .With("applied", Join(report.applied))
      .With("restart_needed", Join(report.restart_needed))
      .Info();
  return report;
}

}  // namespace sluice::control
