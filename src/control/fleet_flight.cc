#include "control/fleet_flight.h"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <numeric>

#include "common/log.h"
#include "control/flight.h"
#include "control/reload.h"
#include "mail/clock.h"

namespace sluice::control {
namespace {

using nlohmann::json;
constexpr const char* kKey = "flight";  // sluice/control/flight

int64_t NowUnix() { return mail::Clock::System().NowUnix(); }

uint64_t Fnv(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

json CountsJson(const TenantGroups::Counts& c) {
  return {{"lookups", c.lookups}, {"deferred", c.lookups_deferred}, {"latency_us", c.latency_us},
          {"deliveries", c.deliveries}, {"failures", c.delivery_failures}};
}

TenantGroups::Counts CountsFrom(const json& j) {
  TenantGroups::Counts c;
  c.lookups = j.value("lookups", uint64_t{0});
  c.lookups_deferred = j.value("deferred", uint64_t{0});
  c.latency_us = j.value("latency_us", uint64_t{0});
  c.deliveries = j.value("deliveries", uint64_t{0});
  c.delivery_failures = j.value("failures", uint64_t{0});
  return c;
}

void Add(TenantGroups::Counts& a, const TenantGroups::Counts& b) {
  a.lookups += b.lookups;
  a.lookups_deferred += b.lookups_deferred;
  a.latency_us += b.latency_us;
  a.deliveries += b.deliveries;
  a.delivery_failures += b.delivery_failures;
}

TenantGroups::Counts Minus(const TenantGroups::Counts& a, const TenantGroups::Counts& b) {
  auto d = [](uint64_t x, uint64_t y) { return x > y ? x - y : 0; };
  return {d(a.lookups, b.lookups), d(a.lookups_deferred, b.lookups_deferred), d(a.latency_us, b.latency_us),
          d(a.deliveries, b.deliveries), d(a.delivery_failures, b.delivery_failures)};
}

}  // namespace

std::vector<std::string> NodeCohort(std::vector<std::string> nodes, const std::string& flight_id, int share) {
  std::sort(nodes.begin(), nodes.end(), [&](const std::string& a, const std::string& b) {
    const uint64_t ha = Fnv(a + "/" + flight_id), hb = Fnv(b + "/" + flight_id);
    return ha != hb ? ha < hb : a < b;
  });
  // share × N rounded to the nearest node, at least one: 34 % of three
  // nodes is one node (⌈1.02⌉ would be two), 50 % of three is two.
  const size_t pct = static_cast<size_t>(std::clamp(share, 0, 100));
  const size_t take = pct == 0 ? 0 : std::max<size_t>(1, (nodes.size() * pct + 50) / 100);
  nodes.resize(std::min(take, nodes.size()));
  return nodes;
}

FleetFlight::FleetFlight(FlightOptions options, Reloader& reloader, directory::Directory& directory,
                         delivery::Delivery& delivery, cluster::ControlPlane& control, std::string node)
    : o_(std::move(options)), reloader_(reloader), directory_(directory), delivery_(delivery), control_(control),
      node_(std::move(node)) {
  control_.Watch(kKey, [this](const std::string& value) {
    json j = json::parse(value, nullptr, false);
    if (!j.is_object()) return;
    std::lock_guard lock(mu_);
    view_ = StoredFlightView(j);
    id_ = j.value("id", "");
    limits_ = j.value("limits", std::map<std::string, size_t>{});
    Evaluate();
  });
  ticks_.Start(o_.interval, [this] { Tick(); });
}

FleetFlight::~FleetFlight() { ticks_.Stop(); }

admin::FlightView FleetFlight::View() {
  std::lock_guard lock(mu_);
  admin::FlightView v = view_;
  if (paused_ && v.state == "running") v.reason = "paused: the control plane does not answer; each node keeps what it runs";
  return v;
}

static Status Paused() {
  return Status::Unavailable("the control plane does not answer: the fleet flight is paused until it does");
}

void FleetFlight::Tick() {
  std::lock_guard lock(mu_);
  const bool away = control_.View().state == "unreachable";
  if (away != paused_ && view_.state == "running") {
    log::Event(away ? "fleet flight paused: the control plane does not answer" : "fleet flight resumed")
        .With("flight", id_).Warn();
  }
  paused_ = away;
  if (paused_) {
    // The member list is stale and no verdict could be written. But a node
    // that started while etcd is away takes its part in the flight once,
    // from the snapshot's flight and members, as it had it before.
    if (!evaluated_) Evaluate();
    evaluated_ = true;
    return;
  }
  evaluated_ = true;
  Evaluate();           // members come and go: the cohort follows
  Publish();
  Judge();
}

TenantGroups::Counts FleetFlight::Totals() {
  TenantGroups::Counts c;
  for (const auto& f : directory_.Stats()) {
    c.lookups += f.lookups;
    c.lookups_deferred += f.deferred_saturated + f.deferred_timeout + f.deferred_unavailable;
    c.latency_us += static_cast<uint64_t>(f.latency_sum_ms * 1000);
  }
  for (const auto& d : delivery_.Stats()) {
    c.deliveries += d.delivered + d.deferred + d.failed;
    c.delivery_failures += d.deferred + d.failed;
  }
  return c;
}

// Runs the candidate's limits here while this node is in the cohort of a
// running (or completed) flight, and puts the limits back otherwise.
void FleetFlight::Evaluate() {
  std::vector<std::string> live;
  for (const auto& m : control_.View().members) live.push_back(m.node);
  view_.nodes = view_.state == "completed" ? live : view_.state == "running" ? NodeCohort(live, id_, view_.share)
                                                                               : std::vector<std::string>{};
  const bool in = std::find(view_.nodes.begin(), view_.nodes.end(), node_) != view_.nodes.end();
  if (in && applied_id_ != id_) {
    originals_.clear();
    for (const auto& f : directory_.Stats()) {
      if (limits_.count(f.name)) originals_[f.name] = f.configured_limit;
    }
    for (const auto& [forest, limit] : limits_) (void)directory_.SetForestLimit(forest, limit);
    applied_id_ = id_;
    base_ = Totals();
    log::Event("fleet flight applied here").With("flight", id_).With("share", static_cast<int64_t>(view_.share)).Info();
  } else if (!in && !applied_id_.empty()) {
    for (const auto& [forest, limit] : originals_) (void)directory_.SetForestLimit(forest, limit);
    log::Event("fleet flight reverted here").With("flight", applied_id_).With("state", view_.state).Info();
    applied_id_.clear();
    originals_.clear();
    base_ = Totals();
  }
}

// This node's figures since it joined (or stayed out of) the flight.
void FleetFlight::Publish() {
  if (view_.state != "running") {
    control_.SetMemberExtra("");
    return;
  }
  json j = CountsJson(Minus(Totals(), base_));
  j["flight"] = id_;
  j["cohort"] = applied_id_ == id_;
  control_.SetMemberExtra(j.dump());
}

// On the first live member by name: the cohort's figures beside the
// rest's, through the same gates as a tenant flight.
void FleetFlight::Judge() {
  if (view_.state != "running") return;
  const auto members = control_.View().members;
  if (members.empty()) return;
  const auto judge = std::min_element(members.begin(), members.end(),
                                      [](const auto& a, const auto& b) { return a.node < b.node; });
  if (judge->node != node_) return;
  TenantGroups::Counts flight, rest;
  for (const auto& m : members) {
    json x = json::parse(m.extra.empty() ? "{}" : m.extra, nullptr, false);
    if (!x.is_object() || x.value("flight", "") != id_) continue;
    Add(x.value("cohort", false) ? flight : rest, CountsFrom(x));
  }
  view_.flight = GroupFigures(flight);
  view_.control = GroupFigures(rest);
  view_.gates = JudgeGates(o_, flight, rest);
  for (const auto& g : view_.gates) {
    if (g.judged && !g.pass) {
      admin::FlightView v = view_;
      v.state = "rolled_back";
      v.reason = fmt::format("gate {} failed: cohort {:.3f} above {:.3f} (the other nodes {:.3f})", g.name, g.flight,
                             g.limit, g.control);
      (void)Write(v, "rolled back: " + v.reason);
      return;
    }
  }
}

Result<admin::FlightView> FleetFlight::Write(admin::FlightView v, const std::string& step) {
  v.history.emplace_back(NowUnix(), step);
  json j = StoredFlightJson(v);
  j["id"] = id_;
  j["limits"] = limits_;
  j["target"] = "nodes";
  auto put = control_.Put(kKey, j.dump());
  if (!put.ok()) return put.status();
  log::Event("fleet flight").With("flight", id_).With("step", step).Info();
  view_ = v;
  Evaluate();
  return view_;
}

Result<admin::FlightView> FleetFlight::Start(const std::string& candidate_path, int share) {
  std::lock_guard lock(mu_);
  if (paused_) return Paused();
  if (view_.state == "running") {
    return Status::InvalidArgument(fmt::format("a fleet flight of {} is running at {} % of nodes: promote or roll it "
                                               "back first", view_.candidate, view_.share));
  }
  if (share < 1 || share > 99) return Status::InvalidArgument("share must be from 1 to 99 % of nodes");
  const std::string hash = HashFile(candidate_path);
  if (hash.empty()) return Status::NotFound("cannot read " + candidate_path);
  LoadResult r = LoadConfig(candidate_path);
  if (!r.ok()) return Status::InvalidArgument(r.errors.front().ToString());
  FlightPlan plan;
  auto changes = FlightChanges(reloader_.Running(), r.config, &plan);
  if (!changes.ok()) return changes.status();
  if (!plan.moves.empty()) {
    return Status::InvalidArgument("a flight to a share of nodes carries forest limits only; placement flies by "
                                   "tenant share (sluicectl flight start)");
  }
  admin::FlightView v;
  v.state = "running";
  v.candidate = candidate_path;
  v.candidate_hash = hash;
  v.share = share;
  v.shares = {static_cast<size_t>(share)};
  for (size_t s : o_.shares) {
    if (s > static_cast<size_t>(share)) v.shares.push_back(s);
  }
  v.started_unix = v.share_started_unix = NowUnix();
  v.changes = changes.value();
  id_ = v.candidate_hash.substr(0, 12);  // the same candidate, the same cohort
  limits_ = plan.limits;
  return Write(v, fmt::format("started at {} % of nodes ({})", share, id_));
}

Result<admin::FlightView> FleetFlight::Promote() {
  std::lock_guard lock(mu_);
  if (paused_) return Paused();
  if (view_.state != "running") return Status::InvalidArgument("no fleet flight is running");
  admin::FlightView v = view_;
  auto next = std::find_if(v.shares.begin(), v.shares.end(), [&](size_t s) { return s > static_cast<size_t>(v.share); });
  if (next == v.shares.end() || *next >= 100) {
    v.state = "completed";
    v.share = 100;
    return Write(v, "completed: every node runs the candidate's limits; roll its config out to make them stay");
  }
  v.share = static_cast<int>(*next);
  v.share_started_unix = NowUnix();
  return Write(v, fmt::format("promoted to {} % of nodes", v.share));
}

Result<admin::FlightView> FleetFlight::Rollback() {
  std::lock_guard lock(mu_);
  if (paused_) return Paused();
  if (view_.state != "running") return Status::InvalidArgument("no fleet flight is running");
  admin::FlightView v = view_;
  v.state = "rolled_back";
  v.reason = "rolled back by the operator";
  return Write(v, "rolled back by the operator");
}

}  // namespace sluice::control
