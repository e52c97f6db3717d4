// A forest over fake back ends (unit tests may use fakes; the integration
// tests use SQLite and real slapd).
#include "directory/forest.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <thread>

#include "directory/directory.h"

namespace sluice::directory {
namespace {

using std::chrono::milliseconds;

class FakeBackend : public Backend {
 public:
  FakeBackend(milliseconds delay, bool fail) : delay_(delay), fail_(fail) {}
  LookupResult Lookup(const std::string& a, const std::string&) override {
    ++calls;
    std::this_thread::sleep_for(delay_);
    if (fail_) return LookupResult::TryLater(Reason::kBackendError, "");
    if (a.rfind("nobody@", 0) == 0) return LookupResult::No(Reason::kUnknownUser);
    return LookupResult::Yes(RecipientRoute{a, "t", "", "local", "", false});
  }
  std::atomic<int> calls{0};
  milliseconds delay_;
  bool fail_;
};

struct Rig {
  ForestOptions o;
  std::vector<FakeBackend*> fakes;
  std::unique_ptr<Forest> forest;
  void Make(std::vector<std::pair<milliseconds, bool>> replicas) {
    std::vector<Forest::Replica> r;
    for (auto [delay, fail] : replicas) {
      auto b = std::make_unique<FakeBackend>(delay, fail);
      fakes.push_back(b.get());
      r.push_back(Forest::Replica{"fake" + std::to_string(fakes.size()), std::move(b)});
    }
    o.name = "na-1";
    forest = std::make_unique<Forest>(o, std::move(r), true);
  }
};

// Runs `n` lookups at once on one event loop; returns their results.
// Addresses starting with "flight-" use the flight's lane.
std::vector<LookupResult> LookupAll(Forest& f, std::vector<std::string> addresses) {
  boost::asio::io_context io;
  std::vector<std::future<LookupResult>> futures;
  for (auto& a : addresses) {
    auto op = f.Lookup(a, "t", a.rfind("flight-", 0) == 0);
    futures.push_back(boost::asio::co_spawn(io, std::move(op), boost::asio::use_future));
  }
  io.run();
  std::vector<LookupResult> out;
  for (auto& fu : futures) out.push_back(fu.get());
  return out;
}

int CountYes(const std::vector<LookupResult>& r, size_t from, size_t to) {
  int yes = 0;
  for (size_t i = from; i < to; ++i) yes += r[i].found == Found::kYes;
  return yes;
}

TEST(Forest, FlightLaneHasItsOwnLimit) {
  Rig s;
  s.o.limit = 4;
  s.o.queue = 0;
  s.o.wait_timeout = milliseconds(20);
  s.Make({{milliseconds(200), false}});
  s.forest->SetLanes(3, 1);  // control 3, flight 1
  auto r = LookupAll(*s.forest, {"a@x", "b@x", "c@x", "d@x", "flight-a@x", "flight-b@x", "flight-c@x"});
  EXPECT_EQ(CountYes(r, 0, 4), 3);  // the control lane's 3
  EXPECT_EQ(CountYes(r, 4, 7), 1);  // the flight's 1, whatever the control lane had spare
  auto st = s.forest->Stats();
  EXPECT_EQ(st.limit, 3u);
  EXPECT_EQ(st.flight_limit, 1u);

  s.forest->SetLanes(0, 0);  // joined again under the forest's limit
  r = LookupAll(*s.forest, {"flight-x@x", "flight-y@x", "flight-z@x", "flight-w@x", "flight-v@x"});
  EXPECT_EQ(CountYes(r, 0, 5), 4);
  EXPECT_EQ(s.forest->Stats().flight_limit, 0u);
}

// In a fleet the node's block is split between the lanes as the limit
// was: the flight's lookups count against the fleet's budget, not on top.
TEST(Forest, AFleetShareIsSplitBetweenTheLanes) {
  Rig s;
  s.o.limit = 8;
  s.o.queue = 0;
  s.o.wait_timeout = milliseconds(20);
  s.Make({{milliseconds(200), false}});
  s.forest->SetLanes(6, 2);
  s.forest->SetFleetShare(4);  // 3 and 1
  auto st = s.forest->Stats();
  EXPECT_EQ(st.limit, 3u);
  EXPECT_EQ(st.flight_limit, 1u);
  auto r = LookupAll(*s.forest, {"a@x", "b@x", "c@x", "d@x", "flight-a@x", "flight-b@x"});
  EXPECT_EQ(CountYes(r, 0, 4) + CountYes(r, 4, 6), 4);  // the block, not 4 plus the flight's 2
  s.forest->SetLanes(6, 2);  // a flight step while in the fleet keeps to the block
  EXPECT_EQ(s.forest->Stats().limit + s.forest->Stats().flight_limit, 4u);
  s.forest->SetFleetShare(std::nullopt);  // alone again: the local split
  st = s.forest->Stats();
  EXPECT_EQ(st.flight_limit, 2u);
}

TEST(Forest, SaturationDefersOnlyWhatDoesNotFit) {
  Rig s;
  s.o.limit = 2;
  s.o.queue = 1;
  s.o.wait_timeout = milliseconds(50);
  s.Make({{milliseconds(300), false}});
  auto r = LookupAll(*s.forest, {"a@x", "b@x", "c@x", "d@x"});
  ASSERT_EQ(r.size(), 4u);
  int yes = 0, saturated = 0;
  for (auto& x : r) {
    if (x.found == Found::kYes) ++yes;
    if (x.found == Found::kTryLater && x.reason == Reason::kSaturated) ++saturated;
    EXPECT_EQ(x.forest, "na-1");
  }
  EXPECT_EQ(yes, 2);        // the limit
  EXPECT_EQ(saturated, 2);  // one queued past its deadline, one over the queue
  auto stats = s.forest->Stats();
  EXPECT_EQ(stats.deferred_saturated, 2u);
  EXPECT_EQ(stats.in_flight, 0u);
}

TEST(Forest, QueuedLookupRunsWhenASlotFrees) {
  Rig s;
  s.o.limit = 1;
  s.o.queue = 5;
  s.o.wait_timeout = milliseconds(2000);
  s.Make({{milliseconds(50), false}});
  auto r = LookupAll(*s.forest, {"a@x", "b@x", "c@x"});
  ASSERT_EQ(r.size(), 3u);  // a loop over nothing would pass
  for (auto& x : r) EXPECT_EQ(x.found, Found::kYes);
}

TEST(Forest, SlowLookupAnswersAtItsDeadline) {
  Rig s;
  s.o.lookup_timeout = milliseconds(100);
  s.Make({{milliseconds(800), false}});
  auto t0 = std::chrono::steady_clock::now();
  auto r = LookupAll(*s.forest, {"a@x"});
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(r[0].found, Found::kTryLater);
  EXPECT_EQ(r[0].reason, Reason::kTimedOut);
  EXPECT_LT(took, milliseconds(600));
  EXPECT_EQ(s.forest->Stats().deferred_timeout, 1u);
}

TEST(Forest, CacheAnswersAndServesStaleWhenFailing) {
  Rig s;
  s.o.cache.positive_ttl = std::chrono::seconds(0);  // expires at once
  s.o.cache.stale_for = std::chrono::seconds(60);
  s.o.breaker.failures = 100;
  s.Make({{milliseconds(0), false}});
  EXPECT_EQ(LookupAll(*s.forest, {"a@x"})[0].found, Found::kYes);
  s.forest->SetFault(FaultOptions{milliseconds(0), 1.0, false});  // every lookup fails now
  auto r = LookupAll(*s.forest, {"a@x", "never-seen@x"});
  EXPECT_EQ(r[0].found, Found::kYes);
  EXPECT_TRUE(r[0].stale);
  EXPECT_EQ(r[1].found, Found::kTryLater);
  EXPECT_EQ(r[1].reason, Reason::kBackendError);
  EXPECT_EQ(s.forest->Stats().stale_serves, 1u);
}

TEST(Forest, FreshCacheHitsSkipTheBackend) {
  Rig s;
  s.Make({{milliseconds(0), false}});
  LookupAll(*s.forest, {"a@x", "nobody@x"});
  LookupAll(*s.forest, {"a@x", "nobody@x"});
  EXPECT_EQ(s.fakes[0]->calls, 2);
  EXPECT_EQ(s.forest->Stats().cache_hits, 2u);
}

TEST(Forest, FailoverToHealthyReplica) {
  Rig s;
  s.o.breaker.failures = 2;
  s.o.breaker.cooldown = milliseconds(60'000);
  s.o.cache.max_entries = 0;
  s.Make({{milliseconds(0), true}, {milliseconds(0), false}});
  int ok = 0;
  for (int i = 0; i < 10; ++i) ok += LookupAll(*s.forest, {"a@x"})[0].found == Found::kYes;
  // Round robin sends the first lookups to the failing replica until its
  // breaker opens; then everything goes to the healthy one.
  EXPECT_GE(ok, 8);
  EXPECT_EQ(s.fakes[0]->calls, 2);
  auto st = s.forest->Stats();
  EXPECT_EQ(st.replicas[0].breaker, "open");
  EXPECT_EQ(st.replicas[1].breaker, "closed");
}

TEST(Forest, CloseOnSaturationIsFlagged) {
  Rig s;
  s.o.limit = 1;
  s.o.queue = 0;
  s.o.close_on_saturation = true;
  s.Make({{milliseconds(200), false}});
  auto r = LookupAll(*s.forest, {"a@x", "b@x"});
  EXPECT_FALSE(r[0].close_connection);
  EXPECT_TRUE(r[1].close_connection);
}

TEST(Forest, RaisingTheLimitLive) {
  Rig s;
  s.o.limit = 1;
  s.o.queue = 0;
  s.Make({{milliseconds(100), false}});
  auto before = LookupAll(*s.forest, {"a@x", "b@x", "c@x"});
  s.forest->SetLimit(3);
  auto after = LookupAll(*s.forest, {"d@x", "e@x", "f@x"});
  ASSERT_EQ(before.size(), 3u);
  ASSERT_EQ(after.size(), 3u);
  int ok_before = 0, ok_after = 0;
  for (auto& x : before) ok_before += x.found == Found::kYes;
  for (auto& x : after) ok_after += x.found == Found::kYes;
  EXPECT_EQ(ok_before, 1);
  EXPECT_EQ(ok_after, 3);
}

}  // namespace
}  // namespace sluice::directory
