#include "common/rate_limit.h"

#include <gtest/gtest.h>

namespace sluice {
namespace {

using namespace std::chrono_literals;

TEST(Gcra, BurstThenOneEveryInterval) {
  Gcra g;
  const RateLimit limit{60, 3};  // one a second, three at once
  const auto t0 = Gcra::Clock::time_point{} + 1000s;
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(g.Take("a", limit, t0).allowed) << i;
  RateVerdict refused = g.Take("a", limit, t0);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after, 1000ms);
  // Half a second on, still a half to wait; after it, exactly one more.
  EXPECT_EQ(g.Take("a", limit, t0 + 500ms).retry_after, 500ms);
  EXPECT_TRUE(g.Take("a", limit, t0 + 1s).allowed);
  EXPECT_FALSE(g.Take("a", limit, t0 + 1s).allowed);
}

TEST(Gcra, KeysAreIndependentAndOffIsAlwaysAllowed) {
  Gcra g;
  const RateLimit limit{6, 1};
  const auto t0 = Gcra::Clock::time_point{} + 10s;
  EXPECT_TRUE(g.Take("a", limit, t0).allowed);
  EXPECT_FALSE(g.Take("a", limit, t0).allowed);
  EXPECT_TRUE(g.Take("b", limit, t0).allowed);
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(g.Take("a", RateLimit{}, t0).allowed);
}

TEST(Gcra, IdleKeysArePrunedAndComeBackFresh) {
  Gcra g;
  const RateLimit limit{60, 2};
  const auto t0 = Gcra::Clock::time_point{} + 10s;
  g.Take("a", limit, t0);
  g.Take("b", limit, t0);
  g.Take("b", limit, t0);
  g.Prune(t0 + 1500ms);  // a's TAT (t0+1s) is past, b's (t0+2s) is not
  EXPECT_EQ(g.size(), 1u);
  EXPECT_TRUE(g.Take("a", limit, t0 + 1500ms).allowed);
}

TEST(RateLimit, DefaultBurstAndShares) {
  EXPECT_EQ((RateLimit{600, 0}).Burst(), 60u);
  EXPECT_EQ((RateLimit{5, 0}).Burst(), 1u);
  EXPECT_EQ((RateLimit{600, 0}).Interval(), 100ms);
  EXPECT_EQ((RateLimit{600, 30}).Share(3), (RateLimit{200, 10}));
  EXPECT_EQ((RateLimit{2, 1}).Share(3), (RateLimit{1, 1}));  // never below one
  EXPECT_EQ((RateLimit{600, 30}).Share(1), (RateLimit{600, 30}));
}

TEST(RateLimits, ATenantsOwnLimitWinsOverTheDefault) {
  RateLimits r;
  r.tenant = {100, 0};
  r.tenants["acme"] = {10, 2};
  EXPECT_EQ(r.ForTenant("acme"), (RateLimit{10, 2}));
  EXPECT_EQ(r.ForTenant("globex"), (RateLimit{100, 0}));
}

}  // namespace
}  // namespace sluice
