#include "directory/forest.h"

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <mutex>

#include "common/awaited.h"
#include "common/bulkhead.h"
#include "directory/directory.h"
#include "common/log.h"
#include "directory/faulty_backend.h"

namespace sluice::directory {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

struct Forest::Impl {
  Impl(const ForestOptions& o, std::vector<Replica> r, bool faults)
      : pool(o.threads),
        bulkhead(std::make_shared<Bulkhead>(o.limit, o.queue, o.wait_timeout)),
        adaptive(AdaptiveLimitOptions{o.limit, o.min_limit, o.limit, 2.0, 0.2}),
        replicas(std::move(r)) {
    if (faults) {
      fault = std::make_shared<FaultSwitch>();
      fault->Set(o.fault);
      for (auto& rep : replicas) rep.backend = WithFaults(std::move(rep.backend), fault);
    }
    for (const auto& rep : replicas) {
      breakers.emplace_back(o.breaker);
      replica_stats.push_back(ReplicaStats{rep.name, "closed", 0, 0});
    }
    buckets.resize(std::size(kLatencyBucketsMs) + 1);
  }

  // The next replica whose breaker lets a lookup through, round robin, so
  // lookups spread over the healthy ones. -1: none.
  int PickReplica(Clock::time_point now) {
    std::lock_guard lock(mu);
    for (size_t k = 0; k < replicas.size(); ++k) {
      size_t i = (next_replica + k) % replicas.size();
      if (breakers[i].Allow(now)) {
        next_replica = i + 1;
        return static_cast<int>(i);
      }
    }
    return -1;
  }

  asio::thread_pool pool;
  const std::shared_ptr<Bulkhead> bulkhead;
  std::mutex mu;  // guards everything below
  std::shared_ptr<Bulkhead> flight_lane;  // set while a flight splits the limit
  size_t control_limit = 0, flight_limit = 0;  // the split SetLanes asked for
  AdaptiveLimit adaptive;
  std::vector<Replica> replicas;
  std::vector<Breaker> breakers;
  std::vector<ReplicaStats> replica_stats;
  size_t next_replica = 0;
  std::optional<size_t> fleet_share;  // see SetFleetShare
  std::shared_ptr<FaultSwitch> fault;  // null unless fault injection is on
  std::vector<uint64_t> buckets;
  double latency_sum_ms = 0;
  uint64_t lookups = 0, cache_hits = 0, stale_serves = 0;
  uint64_t deferred_saturated = 0, deferred_timeout = 0, deferred_unavailable = 0;
};

namespace {

}  // namespace

Forest::Forest(ForestOptions options, std::vector<Replica> replicas, bool fault_injection)
    : o_(std::move(options)), cache_(o_.cache),
      impl_(std::make_unique<Impl>(o_, std::move(replicas), fault_injection)) {}

Forest::~Forest() {
  SetFault(FaultOptions{});  // release hung lookups so the pool can join
  impl_->pool.join();
  impl_->replicas.clear();  // asynchronous back ends stop while what they report to lives
}

void Forest::SetLimit(size_t limit) {
  {
    std::lock_guard lock(impl_->mu);
    o_.limit = limit;
    if (impl_->flight_lane || impl_->fleet_share) return;  // the flight or the fleet decides
    impl_->adaptive = AdaptiveLimit(AdaptiveLimitOptions{limit, o_.min_limit, limit, 2.0, 0.2});
  }
  impl_->bulkhead->SetLimit(limit);
}

size_t Forest::limit() {
  std::lock_guard lock(impl_->mu);
  return o_.limit;
}

// In a fleet with a flight on, the node's block is split between the lanes
// as SetLanes split the limit, so the flight's lookups count against the
// fleet's budget too. REQUIRES: mu held, fleet_share and flight_lane set.
// Returns the main lane's part; sets the flight lane's.
size_t Forest::SplitShare() {
  Impl& im = *impl_;
  const size_t share = *im.fleet_share, total = im.control_limit + im.flight_limit;
  const size_t flight = total == 0 ? 0 : (share * im.flight_limit + total - 1) / total;
  im.flight_lane->SetLimit(std::min(flight, share));
  return share - std::min(flight, share);
}

void Forest::SetLanes(size_t control_limit, size_t flight_limit) {
  size_t main_limit;
  {
    std::lock_guard lock(impl_->mu);
    impl_->control_limit = control_limit;
    impl_->flight_limit = flight_limit;
    if (flight_limit == 0) {
      impl_->flight_lane.reset();  // lookups in it finish there
      main_limit = o_.limit;
    } else {
      main_limit = control_limit;
      const size_t queue = std::max<size_t>(1, o_.queue * flight_limit / (control_limit + flight_limit));
      if (!impl_->flight_lane) impl_->flight_lane = std::make_shared<Bulkhead>(flight_limit, queue, o_.wait_timeout);
      impl_->flight_lane->SetLimit(flight_limit);
    }
    impl_->adaptive = AdaptiveLimit(AdaptiveLimitOptions{main_limit, o_.min_limit, main_limit, 2.0, 0.2});
    if (impl_->fleet_share) main_limit = impl_->flight_lane ? SplitShare() : *impl_->fleet_share;
  }
  impl_->bulkhead->SetLimit(main_limit);
}

void Forest::SetFleetShare(std::optional<size_t> share) {
  size_t limit;
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->fleet_share == share) return;
    impl_->fleet_share = share;
    if (share && impl_->flight_lane) {
      limit = SplitShare();
    } else if (share) {
      limit = *share;
    } else if (impl_->flight_lane) {
      impl_->flight_lane->SetLimit(impl_->flight_limit);  // the split of the local limit again
      limit = impl_->adaptive.limit();
    } else {
      limit = o_.limit;
    }
  }
  impl_->bulkhead->SetLimit(limit);
}

void Forest::SetFault(FaultOptions f) {
  if (impl_->fault) impl_->fault->Set(f);
}

// A lookup in four steps: the cache; a slot of the lane's bulkhead; the
// back end on a thread of the forest's own, within lookup_timeout; and the
// record of what happened (stats, breaker, adaptive limit, cache).
asio::awaitable<LookupResult> Forest::Lookup(std::string address, std::string tenant, bool flight_lane) {
  Impl& im = *impl_;
  const auto now = Clock::now();
  std::shared_ptr<Bulkhead> lane = im.bulkhead;
  {
    std::lock_guard lock(im.mu);
    ++im.lookups;
    if (flight_lane && im.flight_lane) lane = im.flight_lane;
  }
  if (auto hit = cache_.Fresh(address, now)) {
    std::lock_guard lock(im.mu);
    ++im.cache_hits;
    co_return *hit;
  }
  auto admit = lane->Acquire();  // see common/offload.h on temporaries
  Permit permit = co_await std::move(admit);
  if (!permit) co_return Degraded(address, Reason::kSaturated);
  const int replica = im.PickReplica(now);
  if (replica < 0) co_return Degraded(address, Reason::kBackendError);  // the permit goes back here
  auto run = RunOnReplica(std::move(permit), std::move(lane), replica, address, std::move(tenant));
  std::optional<LookupResult> result = co_await std::move(run);
  if (!result) co_return Degraded(address, Reason::kTimedOut);
  if (result->found == Found::kTryLater) co_return Degraded(address, result->reason);
  co_return *result;
}

// When the forest cannot answer: a stale positive answer if there is one
// (known recipients keep flowing), else a 4xx with its reason.
LookupResult Forest::Degraded(const std::string& address, Reason why) {
  Impl& im = *impl_;
  std::lock_guard lock(im.mu);
  if (auto stale = cache_.Stale(address, Clock::now())) {
    ++im.stale_serves;
    stale->stale = true;
    log::Event("directory stale answer").With("forest", o_.name).With("rcpt", address)
        .With("reason", why == Reason::kSaturated ? "saturated" : why == Reason::kTimedOut ? "timeout" : "unavailable")
        .Warn();
    return *stale;
  }
  if (why == Reason::kSaturated) {
    ++im.deferred_saturated;
  } else if (why == Reason::kTimedOut) {
    ++im.deferred_timeout;
  } else {
    ++im.deferred_unavailable;
  }
  LookupResult r = LookupResult::TryLater(why, o_.name);
  r.close_connection = why == Reason::kSaturated && o_.close_on_saturation;
  return r;
}

// The lookup starts on a forest thread and the back end answers there (or,
// if asynchronous, on its own); the caller waits at most lookup_timeout. A late answer keeps its slot until it returns
// (the permit travels with the job) and still fills the cache.
asio::awaitable<std::optional<LookupResult>> Forest::RunOnReplica(Permit permit, std::shared_ptr<Bulkhead> lane,
                                                                  int replica, std::string address,
                                                                  std::string tenant) {
  Impl& im = *impl_;
  const bool main_lane = lane == im.bulkhead;  // the adaptive limit steers only this one
  auto ex = co_await asio::this_coro::executor;
  auto pending = std::make_shared<Awaited<LookupResult>>(ex);
  // The permit travels with the lookup (shared: a Done is copyable).
  auto held = std::make_shared<Permit>(std::move(permit));
  auto job = [this, &im, pending, address, tenant, replica, lane, main_lane, held] {
    const auto t0 = Clock::now();
    im.replicas[replica].backend->Start(address, tenant, [=, this, &im](LookupResult r) {
      r.forest = o_.name;
      if (r.found == Found::kYes) r.route.forest = o_.name;
      const auto done = Clock::now();
      Record(replica, *lane, main_lane, r, done - t0);
      held->Release();
      if (r.found != Found::kTryLater) cache_.Put(address, r, done);
      pending->Deliver(std::move(r));  // dropped if the caller answered at its deadline
    });
  };
  asio::post(im.pool, std::move(job));
  auto wait = pending->Wait(o_.lookup_timeout);
  std::optional<LookupResult> r = co_await std::move(wait);
  co_return r;
}

// On the forest thread that ran the lookup.
void Forest::Record(int replica, Bulkhead& lane, bool main_lane, const LookupResult& r, Clock::duration took) {
  Impl& im = *impl_;
  const double ms = std::chrono::duration<double, std::milli>(took).count();
  {
    std::lock_guard lock(im.mu);
    ReplicaStats& rs = im.replica_stats[replica];
    ++rs.lookups;
    if (r.found == Found::kTryLater) {
      ++rs.failures;
      im.breakers[replica].OnFailure(Clock::now());
      if (o_.adaptive && main_lane) im.adaptive.OnDrop();
    } else {
      im.breakers[replica].OnSuccess();
      if (o_.adaptive && main_lane) {
        im.adaptive.OnSample(std::chrono::duration_cast<std::chrono::microseconds>(took), lane.snapshot().in_flight);
      }
    }
    size_t b = 0;
    while (b < std::size(kLatencyBucketsMs) && ms > kLatencyBucketsMs[b]) ++b;
    ++im.buckets[b];
    im.latency_sum_ms += ms;
  }
  if (o_.adaptive && main_lane && !im.fleet_share) lane.SetLimit(im.adaptive.limit());
}

ForestStats Forest::Stats() {
  ForestStats s;
  s.name = o_.name;
  auto b = impl_->bulkhead->snapshot();
  s.in_flight = b.in_flight;
  s.limit = b.limit;
  s.queued = b.queued;
  std::lock_guard lock(impl_->mu);
  Impl& im = *impl_;
  if (im.flight_lane) {
    auto f = im.flight_lane->snapshot();
    s.flight_in_flight = f.in_flight;
    s.flight_limit = f.limit;
    s.flight_queued = f.queued;
  }
  s.configured_limit = o_.limit;
  s.min_limit = o_.min_limit;
  s.adaptive = o_.adaptive;
  s.fleet_share = im.fleet_share;
  s.lookups = im.lookups;
  s.cache_hits = im.cache_hits;
  s.stale_serves = im.stale_serves;
  s.deferred_saturated = im.deferred_saturated;
  s.deferred_timeout = im.deferred_timeout;
  s.deferred_unavailable = im.deferred_unavailable;
  s.latency_buckets = im.buckets;
  s.latency_sum_ms = im.latency_sum_ms;
  s.replicas = im.replica_stats;
  auto now = Clock::now();
  for (size_t i = 0; i < s.replicas.size(); ++i) s.replicas[i].breaker = ToString(im.breakers[i].state(now));
  return s;
}

}  // namespace sluice::directory
