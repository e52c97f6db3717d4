#include "control/reload.h"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include "common/log.h"
#include "server/server.h"
#include "spool/spool.h"
#include "common/descriptors.h"
#include "control/descriptors.h"
#include "mail/clock.h"

namespace sluice::control {
namespace {

const char* kVersionMeta = "config";  // "<version> <hash>" of the last config run

int64_t NowUnix() { return mail::Clock::System().NowUnix(); }

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : "; ") + s;
  return out;
}

// A forest's settings other than its limit, which a reload can change.
bool SameExceptLimit(directory::ForestOptions a, const directory::ForestOptions& b) {
  a.limit = b.limit;
  a.min_limit = b.min_limit;
  return a == b;
}

const directory::ForestOptions* FindForest(const Config& c, const std::string& name) {
  for (const auto& f : c.directory.forests) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

std::string ListenerNames(const std::vector<server::ListenerOptions>& ls) {
  std::string out;
  for (const auto& l : ls) out += fmt::format("{}{}={}:{}", out.empty() ? "" : ",", l.name, l.address, l.port);
  return out;
}

}  // namespace

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
  const directory::Placement live = directory.placement();
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
  Config& n = r.config;
  Config next = n;  // what runs after this reload: restart-only parts stay as they are
  auto keep = [&](bool same, const char* what, auto restore) {
    if (same) return;
    report.restart_needed.push_back(what);
    restore();
  };
  keep(n.spool == config_.spool, "spool", [&] { next.spool = config_.spool; });
  keep(n.dns == config_.dns, "dns", [&] { next.dns = config_.dns; });
  // Destinations: concurrency ceilings change live; anything else waits.
  auto ceilings = [](std::vector<delivery::DestinationOptions> v) {
    for (auto& d : v) d.max_concurrency = 0;
    return v;
  };
  keep(ceilings(n.destinations) == ceilings(config_.destinations), "destinations (other than max_concurrency)", [&] {
    auto wanted = n.destinations;
    next.destinations = config_.destinations;
    for (auto& d : next.destinations) {
      for (const auto& w : wanted) {
        if (w.name == d.name) d.max_concurrency = w.max_concurrency;
      }
    }
  });
  keep(n.queue == config_.queue, "queue", [&] { next.queue = config_.queue; });
  keep(n.flight == config_.flight, "flight", [&] { next.flight = config_.flight; });
  keep(n.admin == config_.admin, "admin and alerts", [&] { next.admin = config_.admin; });
  keep(n.log.format == config_.log.format, "log.format", [&] { next.log.format = config_.log.format; });
  keep(n.blocking_threads == config_.blocking_threads, "server.blocking_threads",
       [&] { next.blocking_threads = config_.blocking_threads; });
  // Forests: limits change live; anything else about a forest, or a forest
  // added or removed, waits for a restart.
  bool forests_same = n.directory.forests.size() == config_.directory.forests.size();
  for (const auto& f : n.directory.forests) {
    const auto* old = FindForest(config_, f.name);
    forests_same = forests_same && old && SameExceptLimit(f, *old);
  }
  directory::DirectoryOptions d_new = n.directory, d_old = config_.directory;
  d_new.forests.clear();
  d_old.forests.clear();
  keep(forests_same && d_new == d_old, "directory and forests (other than limits)", [&] {
    auto limits = n.directory.forests;
    next.directory = config_.directory;
    for (auto& f : next.directory.forests) {
      for (const auto& x : limits) {
        if (x.name == f.name) f.limit = x.limit;
      }
    }
  });

  const int64_t version = info_.version + 1;
  server::ServerOptions so = next.server;
  so.config_version = version;
  so.session_cap = PlanDescriptors(next, CurrentDescriptorLimit().soft).sessions;
  if (so.workers != config_.server.workers) next.server.workers = config_.server.workers;
  std::vector<std::string> server_restart;
  auto session = std::make_shared<const smtp::SessionOptions>(next.session);
  if (Status s = st_.server.Reconfigure(so, session, &server_restart); !s.ok()) {
    report.ok = false;
    return refuse({s.ToString()});
  }
  report.restart_needed.insert(report.restart_needed.end(), server_restart.begin(), server_restart.end());
  if (ListenerNames(n.server.listeners) != ListenerNames(config_.server.listeners)) {
    report.applied.push_back(fmt::format("listeners: {}", ListenerNames(n.server.listeners)));
  }
  server::ServerOptions a = n.server, b = config_.server;
  a.listeners.clear();
  b.listeners.clear();
  a.workers = b.workers;
  a.config_version = b.config_version;
  a.session_cap = b.session_cap;  // from the descriptor limit, not the file
  if (!(a == b) || !(n.session == config_.session)) report.applied.push_back("smtp settings (new sessions)");
  for (const auto& f : next.directory.forests) {
    const auto* old = FindForest(config_, f.name);
    if (old && old->limit != f.limit) {
      if (Status s = st_.directory.SetForestLimit(f.name, f.limit); s.ok()) {
        report.applied.push_back(fmt::format("forests.{}.limit {} → {}", f.name, old->limit, f.limit));
      }
    }
  }
  for (const auto& d : next.destinations) {
    for (const auto& old : config_.destinations) {
      if (old.name != d.name || old.max_concurrency == d.max_concurrency) continue;
      if (Status s = st_.delivery.SetConcurrency(d.name, d.max_concurrency); s.ok()) {
        report.applied.push_back(fmt::format("destinations.{}.max_concurrency {} → {}", d.name, old.max_concurrency,
                                             d.max_concurrency));
      }
    }
  }
  for (auto& line : ApplyPlacement(st_.directory, next.placement)) report.applied.push_back(std::move(line));
  if (n.log.level != config_.log.level) {
    log::SetLevel(n.log.level);
    report.applied.push_back(std::string("log.level ") + log::ToString(n.log.level));
  }
  next.server.config_version = version;
  config_ = std::move(next);
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
