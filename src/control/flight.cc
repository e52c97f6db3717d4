#include "control/flight.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "control/reload.h"
#include "common/log.h"
#include "spool/spool.h"
#include "mail/clock.h"

namespace sluice::control {
namespace {

using nlohmann::json;
const char* kFlightMeta = "flight";
constexpr size_t kHistory = 100;  // steps kept; older ones are in the log

int64_t NowUnix() { return mail::Clock::System().NowUnix(); }

// Every forest either config names, with its effective options.
std::map<std::string, directory::ForestOptions> Forests(const Config& c, const std::set<std::string>& names) {
  std::map<std::string, directory::ForestOptions> out;
  for (const auto& name : names) {
    directory::ForestOptions f = c.directory.defaults;
    f.name = name;
    for (const auto& x : c.directory.forests) {
      if (x.name == name) f = x;
    }
    out[name] = f;
  }
  return out;
}

double Rate(uint64_t part, uint64_t whole) { return whole ? static_cast<double>(part) / whole : 0.0; }
double MeanMs(const TenantGroups::Counts& c) { return c.lookups ? c.latency_us / 1000.0 / c.lookups : 0.0; }

// Replaces `path` by `content` so that a crash leaves the old or the new
// file, never half of one.
Status WriteFileAtomically(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".flight-tmp";
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) return Status::IoError("cannot write " + tmp);
  bool ok = std::fwrite(content.data(), 1, content.size(), f) == content.size();
  ok = std::fflush(f) == 0 && ok;
  ok = ::fsync(fileno(f)) == 0 && ok;
  ok = std::fclose(f) == 0 && ok;
  std::error_code ec;
  if (ok) std::filesystem::rename(tmp, path, ec);
  if (!ok || ec) {
    std::filesystem::remove(tmp, ec);
    return Status::IoError("cannot replace " + path);
  }
  return Status::Ok();
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

admin::FlightGroupFigures GroupFigures(const TenantGroups::Counts& c) {
  return {c.lookups, c.lookups_deferred, c.deliveries, c.delivery_failures, MeanMs(c)};
}

json StoredFlightJson(const admin::FlightView& v) {
  json history = json::array();
  for (const auto& [t, what] : v.history) history.push_back({t, what});
  return {{"state", v.state},   {"candidate", v.candidate}, {"candidate_hash", v.candidate_hash},
          {"reason", v.reason}, {"share", v.share},         {"shares", v.shares},
          {"started_unix", v.started_unix}, {"share_started_unix", v.share_started_unix},
          {"changes", v.changes}, {"history", history}};
}

admin::FlightView StoredFlightView(const json& j) {
  admin::FlightView v;
  v.state = j.value("state", "none");
  v.candidate = j.value("candidate", "");
  v.candidate_hash = j.value("candidate_hash", "");
  v.reason = j.value("reason", "");
  v.share = j.value("share", 0);
  // Flights saved before the rename say "stages".
  v.shares = j.value("shares", j.value("stages", std::vector<size_t>{}));
  v.started_unix = j.value("started_unix", int64_t{0});
  v.share_started_unix = j.value("share_started_unix", j.value("stage_started_unix", int64_t{0}));
  v.changes = j.value("changes", std::vector<std::string>{});
  for (const auto& h : j.value("history", json::array())) {
    if (h.is_array() && h.size() == 2) v.history.emplace_back(h[0].get<int64_t>(), h[1].get<std::string>());
  }
  return v;
}

Result<std::vector<std::string>> FlightChanges(const Config& running, const Config& candidate, FlightPlan* plan) {
  std::map<std::string, size_t>* limits = &plan->limits;
  std::set<std::string> names;
  for (const auto* c : {&running, &candidate}) {
    for (const auto& f : c->directory.forests) names.insert(f.name);
  }
  auto now = Forests(running, names), next = Forests(candidate, names);
  std::vector<std::string> changes;
  limits->clear();
  Config same = candidate;  // the candidate with the running values where a flight may differ
  same.source = running.source;
  same.server.config_version = running.server.config_version;
  same.directory.forests = running.directory.forests;
  same.placement = running.placement;
  plan->moves.clear();
  for (const auto& p : candidate.placement) {
    std::string from = "its catalog forest";
    for (const auto& q : running.placement) {
      if (q.tenant == p.tenant) from = q.forest;
    }
    if (from == p.forest) continue;
    changes.push_back(fmt::format("placement.{} {} → {}", p.tenant, from, p.forest));
    plan->moves[p.tenant] = p.forest;
  }
  for (const auto& name : names) {
    directory::ForestOptions a = now[name], b = next[name];
    if (a.limit != b.limit) {
      changes.push_back(fmt::format("forests.{}.limit {} → {}", name, a.limit, b.limit));
      (*limits)[name] = b.limit;
    }
    b.limit = a.limit;
    if (!(a == b)) return Status::InvalidArgument(fmt::format("forests.{} changes more than its limit", name));
  }
  const std::vector<std::string> other = ChangedSections(same, running);
  if (!other.empty()) {
    std::string list;
    for (const auto& o : other) list += (list.empty() ? "" : ", ") + o;
    return Status::InvalidArgument("a flight carries forest limits and placement only; the candidate also changes " +
                                   list + " (apply those with a reload)");
  }
  if (changes.empty()) return Status::InvalidArgument("the candidate changes no forest limit or placement: nothing to fly");
  return changes;
}

std::vector<admin::FlightGate> JudgeGates(const FlightOptions& o, const TenantGroups::Counts& f,
                                            const TenantGroups::Counts& c) {
  std::vector<admin::FlightGate> gates;
  const bool lookups = f.lookups >= o.min_lookups && c.lookups >= o.min_lookups;
  admin::FlightGate deferral{"deferral_rate", Rate(f.lookups_deferred, f.lookups),
                               Rate(c.lookups_deferred, c.lookups), 0, lookups, true};
  deferral.limit = deferral.control + o.max_deferral_increase;
  admin::FlightGate latency{"lookup_latency_ms", MeanMs(f), MeanMs(c), 0, lookups, true};
  latency.limit = std::max(latency.control * o.max_latency_ratio,
                           latency.control + static_cast<double>(o.latency_slack.count()));
  const bool deliveries = f.deliveries >= o.min_deliveries;
  admin::FlightGate failures{"delivery_failure_rate", Rate(f.delivery_failures, f.deliveries),
                               Rate(c.delivery_failures, c.deliveries), 0, deliveries, true};
  failures.limit = failures.control + o.max_failure_increase;
  for (auto* g : {&deferral, &latency, &failures}) {
    g->pass = !g->judged || g->flight <= g->limit;
    gates.push_back(*g);
  }
  return gates;
}

Flight::Flight(FlightOptions options, Reloader& reloader, directory::Directory& directory, spool::Spool& spool,
               TenantGroups& groups)
    : o_(std::move(options)), reloader_(reloader), directory_(directory), spool_(spool), groups_(groups) {}

Flight::~Flight() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (judge_.joinable()) judge_.join();
}

void Flight::Resume() {
  {
    std::lock_guard lock(mu_);
    auto stored = spool_.GetMeta(kFlightMeta);
    if (stored.ok()) {
      json j = json::parse(stored.value(), nullptr, false);
      if (!j.is_discarded()) {
        view_ = StoredFlightView(j);
        origins_ = j.value("origins", std::map<std::string, std::string>{});
      }
    }
    if (view_.state == "running") {
      if (Status s = Load(view_.candidate, view_.candidate_hash); s.ok()) {
        Apply();
        Step(fmt::format("resumed after a restart at {} %", view_.share));
      } else {
        End("rolled_back", "could not resume after a restart: " + s.message());
      }
    }
  }
  judge_ = std::thread([this] { JudgeLoop(); });
}

// Reads and checks the candidate into plan_ and view_.changes.
Status Flight::Load(const std::string& path, const std::string& expect_hash) {
  const std::string hash = HashFile(path);
  if (hash.empty()) return Status::NotFound("cannot read " + path);
  if (!expect_hash.empty() && hash != expect_hash) return Status::InvalidArgument(path + " changed since the flight started");
  LoadResult r = LoadConfig(path);
  if (!r.ok()) {
    std::string all;
    for (const auto& e : r.errors) all += (all.empty() ? "" : "; ") + e.ToString();
    return Status::InvalidArgument(all);
  }
  if (!r.config.placement.empty() && !r.config.directory.seed.empty()) {
    SeedResult seed = LoadSeed(r.config.directory.seed, r.config);
    if (!seed.errors.empty()) return Status::InvalidArgument(seed.errors.front().ToString());
  }
  auto changes = FlightChanges(reloader_.Running(), r.config, &plan_);
  if (!changes.ok()) return changes.status();
  view_.changes = changes.value();
  view_.candidate = path;
  view_.candidate_hash = hash;
  return Status::Ok();
}

void Flight::Apply(bool revert_moves) {
  const bool on = view_.state == "running";
  Status s = directory_.SetFlightLanes(on ? plan_.limits : std::map<std::string, size_t>{}, on ? view_.share : 0);
  if (!s.ok()) log::Event("flight lanes not set").With("error", s.ToString()).Warn();
  // Placement: a tenant in the flight's group where the candidate puts it,
  // every other one where it was before the flight.
  const directory::Catalog live = directory_.catalog();
  for (const auto& [tenant, forest] : plan_.moves) {
    auto now = live.tenant_forest.find(tenant);
    if (now == live.tenant_forest.end()) continue;
    origins_.emplace(tenant, now->second);
    if (!on && !revert_moves) continue;
    const std::string& want = on && TenantBucket(tenant) < view_.share ? forest : origins_[tenant];
    if (now->second == want) continue;
    if (Status m = directory_.MoveTenant(tenant, want); !m.ok()) {
      log::Event("flight move failed").With("tenant", tenant).With("error", m.ToString()).Warn();
    }
  }
  groups_.Reset();
  groups_.SetShare(on ? view_.share : 0);
}

void Flight::Step(const std::string& what, bool warn) {
  view_.history.emplace_back(NowUnix(), what);
  if (view_.history.size() > kHistory) view_.history.erase(view_.history.begin());
  log::Event e("flight");
  e.With("step", what).With("state", view_.state).With("share", static_cast<int64_t>(view_.share))
      .With("candidate", view_.candidate);
  warn ? e.Warn() : e.Info();
  json state = StoredFlightJson(view_);
  state["origins"] = origins_;
  if (Status s = spool_.PutMeta(kFlightMeta, state.dump(-1, ' ', false, json::error_handler_t::replace)); !s.ok()) {
    log::Event("flight state not persisted").With("error", s.ToString()).Error();
  }
}

void Flight::End(const std::string& state, const std::string& reason) {
  view_.state = state;
  view_.reason = reason;
  view_.share = 0;
  Apply(state != "completed");  // completed: the reloaded config placed everyone
  Step(state == "completed" ? reason : "rolled back: " + reason, state != "completed");
}

admin::FlightView Flight::View() {
  std::lock_guard lock(mu_);
  Figures();
  return view_;
}

void Flight::Figures() {
  if (view_.state != "running") return;
  auto f = groups_.Get(TenantGroups::kFlight), c = groups_.Get(TenantGroups::kControl);
  view_.flight = GroupFigures(f);
  view_.control = GroupFigures(c);
  view_.gates = JudgeGates(o_, f, c);
}

Result<admin::FlightView> Flight::Start(const std::string& candidate_path, int share) {
  std::lock_guard lock(mu_);
  if (view_.state == "running") {
    return Status::InvalidArgument(fmt::format("a flight of {} is running at {} %: promote or roll it back first",
                                               view_.candidate, view_.share));
  }
  if (share < 1 || share > 99) return Status::InvalidArgument("share must be from 1 to 99 % (100 % is a reload)");
  admin::FlightView next;
  std::swap(next, view_);  // Load fills view_; put the old one back if it fails
  if (Status s = Load(candidate_path, ""); !s.ok()) {
    std::swap(next, view_);
    log::Event("flight refused").With("candidate", candidate_path).With("error", s.message()).Warn();
    return s;
  }
  view_.history = std::move(next.history);
  origins_.clear();
  view_.state = "running";
  view_.share = share;
  view_.shares = {static_cast<size_t>(share)};
  for (size_t st : o_.shares) {
    if (st > static_cast<size_t>(share)) view_.shares.push_back(st);
  }
  view_.started_unix = view_.share_started_unix = NowUnix();
  Apply();
  std::string changes;
  for (const auto& c : view_.changes) changes += (changes.empty() ? "" : "; ") + c;
  Step(fmt::format("started at {} % ({}): {}", share, view_.candidate_hash.substr(0, 12), changes));
  return view_;
}

Result<admin::FlightView> Flight::Promote() {
  std::lock_guard lock(mu_);
  if (view_.state != "running") return Status::InvalidArgument("no flight is running");
  size_t next = 100;
  for (size_t st : view_.shares) {
    if (st > static_cast<size_t>(view_.share)) {
      next = st;
      break;
    }
  }
  if (next >= 100) {
    if (Status s = Complete(); !s.ok()) return s;
    return view_;
  }
  Figures();
  const int from = view_.share;
  view_.share = static_cast<int>(next);
  view_.share_started_unix = NowUnix();
  Apply();
  Step(fmt::format("promoted from {} % to {} %", from, view_.share));
  return view_;
}

// The last share (100 %): the candidate becomes the config file (the old one kept
// beside it) and is reloaded, so it is what a restart runs too.
Status Flight::Complete() {
  const admin::ConfigInfo running = reloader_.Current();
  if (HashFile(running.source) != running.hash) {
    return Status::InvalidArgument(running.source + " changed on disk since it was loaded: reload or restore it first");
  }
  if (HashFile(view_.candidate) != view_.candidate_hash) {
    return Status::InvalidArgument(view_.candidate + " changed since the flight started: roll back and start again");
  }
  const std::string backup = running.source + ".before-flight";
  const std::string old_content = ReadFile(running.source);
  if (Status s = WriteFileAtomically(backup, old_content); !s.ok()) return s;
  if (Status s = WriteFileAtomically(running.source, ReadFile(view_.candidate)); !s.ok()) return s;
  admin::ReloadReport report = reloader_.Reload();
  if (!report.ok) {
    WriteFileAtomically(running.source, old_content);
    return Status::InvalidArgument("the candidate did not reload: " + (report.errors.empty() ? "" : report.errors[0]));
  }
  End("completed", fmt::format("promoted to 100 %: {} is now {} (config version {}; the old one is {})",
                               view_.candidate, running.source, report.config.version, backup));
  return Status::Ok();
}

Result<admin::FlightView> Flight::Rollback() {
  std::lock_guard lock(mu_);
  if (view_.state != "running") return Status::InvalidArgument("no flight is running");
  Figures();
  End("rolled_back", "by the operator");
  return view_;
}

void Flight::JudgeLoop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, o_.interval, [this] { return stopping_; });
    if (stopping_ || view_.state != "running") continue;
    Figures();
    for (const auto& g : view_.gates) {
      if (g.pass) continue;
      End("rolled_back", fmt::format("gate {} failed at {} %: flight {:.3f} vs control {:.3f} (limit {:.3f})",
                                     g.name, view_.share, g.flight, g.control, g.limit));
      break;
    }
  }
}

}  // namespace sluice::control
