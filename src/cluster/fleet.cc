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
  budget_.Release(names);
}

FleetStatus Fleet::View() {
  SharedRates::Stats rates = rates_.stats();
  std::lock_guard lock(mu_);
  FleetStatus s = status_;
  s.rates = rates;
  return s;
}

// One round trip for every forest: this node's demand out, its blocks
// (and, for the controller, the fleet's samples) back.
void Fleet::RenewOnce() {
  std::vector<Demand> demands;
  for (const auto& fs : directory_.Stats()) {
    auto& st = forests_[fs.name];
    if (!st) {
      st = std::make_unique<ForestState>();
      st->last.limit = fs.configured_limit;
    }
    Demand d;
    d.forest = fs.name;
    d.max_limit = fs.configured_limit;
    d.min_limit = fs.adaptive ? fs.min_limit : fs.configured_limit;
    d.in_use = fs.in_flight;
    d.held = fs.fleet_share.value_or(0);  // admitted against until the answer is applied
    d.want = WantFor(fs.in_flight + fs.queued, std::max<size_t>(1, st->last.limit));
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
  // This node's open backoff windows out, the fleet's back.
  std::vector<BackoffWindow> windows;
  for (const auto& d : delivery_.Stats()) {
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
  std::vector<ForestBudget> view;
  size_t live = 1;
  for (auto& g : grants.value()) {
    live = std::max(live, g.live);
    auto& st = *forests_[g.forest];
    directory_.SetFleetShare(g.forest, g.share);
    view.push_back(ForestBudget{g.forest, g.share, g.limit, g.live, g.fleet_in_use, g.controller, g.holders});
    st.last = std::move(g);
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
  status_.live = live;
  live_.store(live, std::memory_order_relaxed);
  ++status_.renewals;
}

// Redis did not answer in time: every forest runs on its share of the last
// limit it knew, ⌈limit ÷ live nodes⌉, until Redis answers again.
void Fleet::GoLocal(const std::string& why) {
  std::vector<ForestBudget> view;
  for (auto& [name, st] : forests_) {
    const size_t live = std::max<size_t>(1, st->last.live);
    const size_t share = std::max<size_t>(1, (st->last.limit + live - 1) / live);
    directory_.SetFleetShare(name, share);
    st->last.controller = false;
    st->controller.reset();
    view.push_back(ForestBudget{name, share, st->last.limit, live, 0, false, {{o_.node, share}}});
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
  ++status_.renew_failures;
}

}  // namespace sluice::cluster
