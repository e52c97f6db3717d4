// The forest's parts on their own: bulkhead admission, adaptive limit,
// cache and breaker, with the clock in the test's hands.
#include <gtest/gtest.h>

#include "directory/adaptive_limit.h"
#include "common/breaker.h"
#include "common/bulkhead.h"
#include "directory/cache.h"

namespace sluice::directory {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

TEST(BulkheadCore, LimitQueueAndOrder) {
  BulkheadCore b(2, 2);
  EXPECT_EQ(b.TryAcquire(1), BulkheadCore::Decision::kGranted);
  EXPECT_EQ(b.TryAcquire(2), BulkheadCore::Decision::kGranted);
  EXPECT_EQ(b.TryAcquire(3), BulkheadCore::Decision::kQueued);
  EXPECT_EQ(b.TryAcquire(4), BulkheadCore::Decision::kQueued);
  EXPECT_EQ(b.TryAcquire(5), BulkheadCore::Decision::kQueueFull);  // saturated
  EXPECT_EQ(b.in_flight(), 2u);
  EXPECT_EQ(b.Release(), std::vector<uint64_t>{3});  // first come, first served
  EXPECT_TRUE(b.Abandon(4));   // its deadline passed while queued
  EXPECT_FALSE(b.Abandon(3));  // already granted
  EXPECT_TRUE(b.Release().empty());
  EXPECT_EQ(b.in_flight(), 1u);
}

TEST(BulkheadCore, RaisingTheLimitGrantsWaiters) {
  BulkheadCore b(1, 10);
  b.TryAcquire(1);
  b.TryAcquire(2);
  b.TryAcquire(3);
  EXPECT_EQ(b.SetLimit(3), (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(b.in_flight(), 3u);
  EXPECT_TRUE(b.SetLimit(1).empty());  // lowering never revokes a slot
  EXPECT_TRUE(b.Release().empty());
  EXPECT_EQ(b.TryAcquire(4), BulkheadCore::Decision::kQueued);  // 2 in flight > limit 1
}

// A fleet node whose block is 0 admits nothing until it gets one: a limit
// of 0 is not rounded up to 1 (that was one lookup over the fleet's budget
// per such node).
TEST(BulkheadCore, ZeroAdmitsNothingUntilRaised) {
  BulkheadCore b(2, 10);
  b.SetLimit(0);
  EXPECT_EQ(b.TryAcquire(1), BulkheadCore::Decision::kQueued);
  EXPECT_EQ(b.in_flight(), 0u);
  EXPECT_EQ(b.SetLimit(1), std::vector<uint64_t>{1});
}

TEST(AdaptiveLimit, ShrinksWhenSlowGrowsBackWhenFast) {
  AdaptiveLimit l(AdaptiveLimitOptions{50, 2, 100, 2.0, 0.2});
  for (int i = 0; i < 200; ++i) l.OnSample(std::chrono::microseconds(1000), 40);
  size_t healthy = l.limit();
  EXPECT_GE(healthy, 50u);
  for (int i = 0; i < 200; ++i) l.OnSample(std::chrono::microseconds(50'000), 40);  // 50× slower
  size_t slow = l.limit();
  EXPECT_LT(slow, healthy / 4);
  EXPECT_GE(slow, 2u);
  for (int i = 0; i < 400; ++i) l.OnSample(std::chrono::microseconds(1000), l.limit());  // under load
  EXPECT_GT(l.limit(), slow * 4);
  EXPECT_LE(l.limit(), 100u);
}

TEST(AdaptiveLimit, DropsShrinkAndIdleDoesNotGrow) {
  AdaptiveLimit l(AdaptiveLimitOptions{20, 2, 100, 2.0, 0.2});
  for (int i = 0; i < 100; ++i) l.OnSample(std::chrono::microseconds(1000), 1);  // mostly idle
  EXPECT_LE(l.limit(), 20u);
  for (int i = 0; i < 50; ++i) l.OnDrop();
  EXPECT_EQ(l.limit(), 2u);
}

TEST(RecipientCache, TtlsNegativeStaleAndBound) {
  RecipientCache c(CacheOptions{2, seconds(10), seconds(5), seconds(60)});
  auto t0 = Clock::now();
  RecipientRoute route{"a@x", "t", "f", "local", ""};
  c.Put("a@x", LookupResult::Yes(route), t0);
  c.Put("n@x", LookupResult::No(Reason::kUnknownUser, "f"), t0);
  c.Put("t@x", LookupResult::TryLater(Reason::kTimedOut, "f"), t0);  // never cached
  EXPECT_TRUE(c.Fresh("a@x", t0 + seconds(9)));
  EXPECT_TRUE(c.Fresh("n@x", t0 + seconds(4)));
  EXPECT_FALSE(c.Fresh("n@x", t0 + seconds(6)));
  EXPECT_FALSE(c.Fresh("t@x", t0));
  EXPECT_FALSE(c.Fresh("a@x", t0 + seconds(11)));
  EXPECT_TRUE(c.Stale("a@x", t0 + seconds(11)));   // expired, but stale allowed
  EXPECT_FALSE(c.Stale("a@x", t0 + seconds(71)));  // past stale_for
  EXPECT_FALSE(c.Stale("n@x", t0 + seconds(6)));   // negatives are never stale-served
  c.Put("b@x", LookupResult::Yes(route), t0);
  c.Put("c@x", LookupResult::Yes(route), t0);      // evicts the least recently used positive
  EXPECT_EQ(c.size(), 3u);                         // b, c and the negative n
  EXPECT_FALSE(c.Fresh("a@x", t0));
  c.DropTenant("t");
  EXPECT_FALSE(c.Fresh("b@x", t0));
}

// Found in review: a flood of unknown recipients evicted known ones, and
// serve-stale had nothing left to serve while the forest was down.
TEST(RecipientCache, AFloodOfUnknownUsersLeavesKnownRecipients) {
  CacheOptions o{100, seconds(10), seconds(5), seconds(3600)};
  o.max_negative_entries = 50;
  RecipientCache c(o);
  auto t0 = Clock::now();
  RecipientRoute route{"known@x", "t", "f", "local", ""};
  for (int i = 0; i < 100; ++i) c.Put("known" + std::to_string(i) + "@x", LookupResult::Yes(route), t0);
  for (int i = 0; i < 100'000; ++i) c.Put("nobody" + std::to_string(i) + "@x", LookupResult::No(Reason::kUnknownUser, "f"), t0);
  EXPECT_EQ(c.size(), 150u);
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(c.Stale("known" + std::to_string(i) + "@x", t0 + seconds(60))) << i;
  EXPECT_TRUE(c.Fresh("nobody99999@x", t0));   // the newest negatives are kept
  EXPECT_FALSE(c.Fresh("nobody0@x", t0));
  // An address that becomes known moves out of the negative LRU (and the
  // positive one, full, gives up its least recently used).
  c.Put("nobody99999@x", LookupResult::Yes(route), t0);
  EXPECT_EQ(c.size(), 149u);
  EXPECT_EQ(c.Fresh("nobody99999@x", t0)->found, Found::kYes);
}

TEST(Breaker, OpensAfterFailuresProbesAndCloses) {
  Breaker b(BreakerOptions{3, milliseconds(1000)});
  auto t0 = Clock::now();
  for (int i = 0; i < 2; ++i) b.OnFailure(t0);
  EXPECT_TRUE(b.Allow(t0));
  b.OnFailure(t0);
  EXPECT_EQ(b.state(t0), Breaker::State::kOpen);
  EXPECT_FALSE(b.Allow(t0 + milliseconds(500)));
  EXPECT_TRUE(b.Allow(t0 + milliseconds(1001)));   // the probe
  EXPECT_FALSE(b.Allow(t0 + milliseconds(1002)));  // one probe at a time
  b.OnFailure(t0 + milliseconds(1003));            // probe failed: open again
  EXPECT_FALSE(b.Allow(t0 + milliseconds(1500)));
  EXPECT_TRUE(b.Allow(t0 + milliseconds(2004)));
  b.OnSuccess();
  EXPECT_EQ(b.state(t0 + milliseconds(2005)), Breaker::State::kClosed);
  EXPECT_TRUE(b.Allow(t0 + milliseconds(2005)));
}

}  // namespace
}  // namespace sluice::directory
