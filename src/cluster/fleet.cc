#include "cluster/fleet.h"

#include <algorithm>
#include <numeric>
#include <optional>

#include "common/log.h"
#include "mail/clock.h"

namespace sluice::cluster {

// Counters of the forest at the last renewal (the samples are the
// difference), the last grant (before the first: the configured limit,
// this node alone), and the fleet's adaptive limit while this node
// controls it.
struct Fleet::ForestState {
  uint64_t completed = 0, drops = 0;
  double latency_sum_ms = 0;
  std::optional<directory::AdaptiveLimit> controller;
  Grant last;
};

// A destination's budget: the last grant, and when it last had work (an
// mx next hop is renewed only while it is in use, and a little after).
struct Fleet::DestinationState {
  Grant last;
  std::chrono::steady_clock::time_point used{};
};

namespace {
constexpr const char* kDestPrefix = "dest:";  // a destination's budget name
// At most this many mx next hops are renewed per round, the busiest first;
// the rest run on their own throttles (doc/cluster.md).
constexpr size_t kMaxHops = 256;
}  // namespace

Fleet::Fleet(ClusterOptions o, directory::Directory& directory, delivery::Delivery& delivery)
    : o_(std::move(o)), directory_(directory), delivery_(delivery), redis_(o_.redis),
      budget_(redis_, o_.node, o_.lease_ttl), backoff_(redis_, o_.node),
      rates_(o_.redis, [this] { return live_.load(std::memory_order_relaxed); }) {
  status_.node = o_.node;
  status_.mode_since_unix = mail::Clock::System().NowUnix();
  RenewOnce();  // bounded by the Redis timeouts
  renewals_.Start(o_.renew_interval, [this] { RenewOnce(); });
}

Fleet::~Fleet() { Stop(); }

void Fleet::Stop() {
  {
    std::lock_guard lock(mu_);
    if (std::exchange(stopped_, true)) return;
  }
  renewals_.Stop();
  rates_.Stop();
  std::vector<std::string> names;
  for (const auto& [name, st] : forests_) {
    names.push_back(name);
    directory_.SetFleetShare(name, std::nullopt);
  }
  for (const auto& [name, st] : destinations_) {
    if (st.last.limit == 0) continue;
    names.push_back(kDestPrefix + name);
    (void)delivery_.SetFleetShare(name, std::nullopt);
  }
  budget_.Release(names);
}

FleetStatus Fleet::View() {
  SharedRates::Stats rates = rates_.stats();
  std::lock_guard lock(mu_);
  FleetStatus s = status_;
  s.rates = rates;
  return s;
}

// Each forest's demand; for the controller, the fleet's next limit.
std::vector<Demand> Fleet::ForestDemands() {
  std::vector<Demand> demands;
  for (const auto& fs : directory_.Stats()) {
    auto& st = forests_[fs.name];
    if (!st) {
      st = std::make_unique<ForestState>();
      st->last.limit = fs.configured_limit;
    }
    Demand d;
    d.name = fs.name;
    d.max_limit = fs.configured_limit;
    d.min_limit = fs.adaptive ? fs.min_limit : fs.configured_limit;
    d.in_use = fs.in_flight + fs.flight_in_flight;  // a flight's lane counts against the budget too
    d.held = fs.fleet_share.value_or(0);  // admitted against until the answer is applied
    d.want = WantFor(d.in_use + fs.queued + fs.flight_queued, std::max<size_t>(1, st->last.limit));
    const uint64_t completed = std::accumulate(fs.latency_buckets.begin(), fs.latency_buckets.end(), uint64_t{0});
    const uint64_t drops = fs.deferred_timeout + fs.deferred_unavailable;
    d.samples = completed - std::min(completed, st->completed);
    d.latency_sum_us = static_cast<uint64_t>(std::max(0.0, fs.latency_sum_ms - st->latency_sum_ms) * 1000);
    d.drops = drops - std::min(drops, st->drops);
    st->completed = completed;
    st->drops = drops;
    st->latency_sum_ms = fs.latency_sum_ms;
    // The controller turns the fleet's samples of the last round into the
    // next limit; a fixed forest keeps its configured one.
    if (!fs.adaptive) {
      d.proposed_limit = static_cast<long>(fs.configured_limit);
    } else if (st->last.controller) {
      if (!st->controller) {
        st->controller.emplace(directory::AdaptiveLimitOptions{st->last.limit, fs.min_limit, fs.configured_limit, 2.0, 0.2});
      }
      // As many steps as the fleet had lookups (a bounded number), each at
      // their mean: the limit moves as fast as one node's would at the
      // fleet's rate.
      for (uint64_t k = 0; k < std::min<uint64_t>(st->last.samples, 256); ++k) {
        st->controller->OnSample(std::chrono::microseconds(st->last.latency_sum_us / st->last.samples),
                                 st->last.fleet_in_use);
      }
      if (st->last.drops > 0) st->controller->OnDrop();
      d.proposed_limit = static_cast<long>(st->controller->limit());
    } else {
      st->controller.reset();
    }
    demands.push_back(std::move(d));
  }
  return demands;
}

// Each throttled destination's demand: its max_concurrency is one budget
// for the fleet. Named destinations are always renewed; an mx next hop
// while it has work and for a lease TTL after, so a busy host keeps its
// block and an idle one gives it back by expiry.
std::vector<Demand> Fleet::DestinationDemands(const std::vector<delivery::DestinationStats>& stats) {
  const auto now = std::chrono::steady_clock::now();
  std::vector<const delivery::DestinationStats*> chosen, hops;
  for (const auto& d : stats) {
    if (d.max_concurrency == 0) continue;  // no throttle: Maildir
    auto& st = destinations_[d.name];
    if (d.in_flight + d.queued > 0) st.used = now;
    if (d.name.find('/') == std::string::npos) {
      chosen.push_back(&d);
    } else if (now - st.used < o_.lease_ttl) {
      hops.push_back(&d);
    } else if (d.fleet_share) {
      (void)delivery_.SetFleetShare(d.name, std::nullopt);  // idle: its own throttle again
    }
  }
  auto busier = [](const auto* a, const auto* b) { return a->in_flight + a->queued > b->in_flight + b->queued; };
  std::sort(hops.begin(), hops.end(), busier);
  for (size_t i = 0; i < hops.size(); ++i) {
    if (i < kMaxHops) {
      chosen.push_back(hops[i]);
    } else if (hops[i]->fleet_share) {
      (void)delivery_.SetFleetShare(hops[i]->name, std::nullopt);
    }
  }
  std::erase_if(destinations_, [&](const auto& kv) { return now - kv.second.used > 10 * o_.lease_ttl &&
                                                             kv.first.find('/') != std::string::npos; });
  std::vector<Demand> demands;
  for (const auto* d : chosen) {
    Demand x;
    x.name = kDestPrefix + d->name;
    x.max_limit = x.min_limit = d->max_concurrency;
    x.proposed_limit = static_cast<long>(d->max_concurrency);
    x.in_use = d->in_flight;
    x.held = d->fleet_share.value_or(0);
    x.want = WantFor(d->in_flight + d->queued, d->max_concurrency);
    demands.push_back(std::move(x));
  }
  return demands;
}

// One round trip for every forest and destination: this node's demand
// out, its blocks (and, for the controller, the fleet's samples) back,
// with the backoff windows in the same round trip.
void Fleet::RenewOnce() {
  std::vector<Demand> demands = ForestDemands();
  const size_t forest_count = demands.size();
  const auto stats = delivery_.Stats();
  for (auto& d : DestinationDemands(stats)) demands.push_back(std::move(d));
  // This node's open backoff windows out, the fleet's back.
  std::vector<BackoffWindow> windows;
  for (const auto& d : stats) {
    BackoffWindow w{d.name, std::chrono::milliseconds(0), o_.node, d.last_trouble};
    if (d.breaker == "open" && !IsFleetReason(d.last_trouble)) {
      w.left = std::chrono::milliseconds(static_cast<int64_t>(d.backoff_ms));
    }
    windows.push_back(std::move(w));
  }
  auto cmds = budget_.Commands(demands);
  for (auto& c : backoff_.Commands(windows)) cmds.push_back(std::move(c));
  auto replies = redis_.Run(cmds);
  auto grants = replies.ok() ? budget_.Parse(demands, replies.value().data()) : replies.status();
  if (!grants.ok()) {
    GoLocal(grants.status().message());
    return;
  }
  for (const auto& w : backoff_.Parse(windows, replies.value().data() + demands.size())) {
    if (w.left.count() <= 0 || w.node == o_.node) continue;
    (void)delivery_.PauseDestination(w.destination, w.left, FleetReason(w.node, w.why));  // maildir: no throttle
  }
  std::vector<BudgetView> view, dest_view;
  size_t live = 1;
  for (size_t i = 0; i < grants.value().size(); ++i) {
    Grant& g = grants.value()[i];
    live = std::max(live, g.live);
    if (i < forest_count) {
      directory_.SetFleetShare(g.name, g.share);
      view.push_back(BudgetView{g.name, g.share, g.limit, g.live, g.fleet_in_use, g.controller, g.holders});
      forests_[g.name]->last = std::move(g);
    } else {
      const std::string name = g.name.substr(std::string_view(kDestPrefix).size());
      (void)delivery_.SetFleetShare(name, g.share);
      dest_view.push_back(BudgetView{name, g.share, g.limit, g.live, g.fleet_in_use, false, g.holders});
      destinations_[name].last = std::move(g);
    }
  }
  std::lock_guard lock(mu_);
  if (status_.mode != "shared") {
    log::Event("fleet budget shared again").With("redis", redis_.where()).Info();
    status_.mode = "shared";
    status_.reason.clear();
    status_.mode_since_unix = mail::Clock::System().NowUnix();
  }
  status_.redis = redis_.where();
  status_.forests = std::move(view);
  status_.destinations = std::move(dest_view);
  status_.live = live;
  live_.store(live, std::memory_order_relaxed);
  ++status_.renewals;
}

// Redis did not answer in time: every forest and destination runs on its
// share of the last limit it knew, ⌈limit ÷ live nodes⌉, until Redis
// answers again.
void Fleet::GoLocal(const std::string& why) {
  auto local_share = [](const Grant& g) {
    const size_t live = std::max<size_t>(1, g.live);
    return std::max<size_t>(1, (g.limit + live - 1) / live);
  };
  std::vector<BudgetView> view, dest_view;
  for (auto& [name, st] : forests_) {
    const size_t share = local_share(st->last);
    directory_.SetFleetShare(name, share);
    st->last.controller = false;
    st->controller.reset();
    view.push_back(BudgetView{name, share, st->last.limit, std::max<size_t>(1, st->last.live), 0, false, {{o_.node, share}}});
  }
  for (auto& [name, st] : destinations_) {
    if (st.last.limit == 0) continue;  // never granted: its own throttle
    const size_t share = local_share(st.last);
    (void)delivery_.SetFleetShare(name, share);
    dest_view.push_back(BudgetView{name, share, st.last.limit, std::max<size_t>(1, st.last.live), 0, false, {{o_.node, share}}});
  }
  std::lock_guard lock(mu_);
  if (status_.mode != "local") {
    log::Event("fleet budget local").With("reason", why).Warn();
    status_.mode = "local";
    status_.mode_since_unix = mail::Clock::System().NowUnix();
  }
  status_.reason = why;
  status_.redis.clear();
  status_.forests = std::move(view);
  status_.destinations = std::move(dest_view);
  ++status_.renew_failures;
}

}  // namespace sluice::cluster
