#include "delivery/throttle.h"

#include <gtest/gtest.h>

namespace sluice::delivery {
namespace {

using std::chrono::milliseconds;

TEST(Throttle, AnotherNodesWindowPausesHalvesOnceAndNeverShortens) {
  Throttle t(ThrottleOptions{16, milliseconds(1000), milliseconds(8000)});
  auto t0 = Throttle::Clock::now();
  t.PauseUntil(t0 + milliseconds(3000), t0, "fleet n1: 421 busy");
  EXPECT_EQ(t.limit(), 8u);
  EXPECT_TRUE(t.Paused(t0 + milliseconds(2999)));
  EXPECT_FALSE(t.Paused(t0 + milliseconds(3001)));
  EXPECT_EQ(t.snapshot(t0).last_trouble, "fleet n1: 421 busy");
  // The same window read again, or a longer one: no second halving.
  t.PauseUntil(t0 + milliseconds(3000), t0 + milliseconds(100), "fleet n1: 421 busy");
  t.PauseUntil(t0 + milliseconds(4000), t0 + milliseconds(200), "fleet n2: 421 busy");
  EXPECT_EQ(t.limit(), 8u);
  EXPECT_TRUE(t.Paused(t0 + milliseconds(3999)));
  // A shorter one changes nothing.
  t.PauseUntil(t0 + milliseconds(500), t0 + milliseconds(300), "fleet n3: x");
  EXPECT_TRUE(t.Paused(t0 + milliseconds(3999)));
  EXPECT_EQ(t.snapshot(t0).last_trouble, "fleet n2: 421 busy");
  // Deliveries that were in flight when the window came count as the same trouble.
  t.OnTrouble(t0 + milliseconds(150), t0 + milliseconds(400), "421 busy");
  EXPECT_EQ(t.limit(), 8u);
}

TEST(Throttle, TroubleHalvesAndPausesSuccessGrowsBack) {
  Throttle t(ThrottleOptions{16, milliseconds(1000), milliseconds(8000)});
  auto t0 = Throttle::Clock::now();
  EXPECT_EQ(t.limit(), 16u);
  t.OnTrouble(t0, t0, "421 4.3.2 busy");
  EXPECT_EQ(t.limit(), 8u);
  EXPECT_TRUE(t.Paused(t0 + milliseconds(999)));
  EXPECT_FALSE(t.Paused(t0 + milliseconds(1001)));
  EXPECT_EQ(t.snapshot(t0).state, "open");
  EXPECT_EQ(t.snapshot(t0 + milliseconds(1001)).state, "half-open");
  // Consecutive trouble — each attempt started after the last reaction: the
  // window doubles up to its cap, the limit floors at 1.
  for (int i = 0; i < 6; ++i) t.OnTrouble(t0, t0, "connection refused");
  EXPECT_EQ(t.limit(), 1u);
  EXPECT_TRUE(t.Paused(t0 + milliseconds(7999)));
  EXPECT_FALSE(t.Paused(t0 + milliseconds(8001)));
  EXPECT_EQ(t.snapshot(t0).last_trouble, "connection refused");
  // Clean deliveries close the breaker and add 1/limit each.
  t.OnSuccess();
  EXPECT_EQ(t.snapshot(t0 + milliseconds(9000)).state, "closed");
  for (int i = 0; i < 100; ++i) t.OnSuccess();
  EXPECT_GE(t.limit(), 12u);
  for (int i = 0; i < 1000; ++i) t.OnSuccess();
  EXPECT_EQ(t.limit(), 16u);
}

TEST(Throttle, ManyFailuresOfOneBlipCountOnce) {
  Throttle t(ThrottleOptions{16, milliseconds(1000), milliseconds(60'000)});
  auto t0 = Throttle::Clock::now();
  // 14 deliveries in flight since t0; the next hop answers 421 for a moment
  // and each of them fails, one after another.
  for (int i = 0; i < 14; ++i) t.OnTrouble(t0, t0 + milliseconds(100 + i * 10), "421 4.3.2 busy");
  EXPECT_EQ(t.limit(), 8u);                              // halved once
  EXPECT_FALSE(t.Paused(t0 + milliseconds(1101)));       // one backoff_min, not 2^13 of them
  EXPECT_EQ(t.snapshot(t0).last_trouble, "421 4.3.2 busy");
  // One that finishes after the window, but began before the reaction: still the same blip.
  t.OnTrouble(t0, t0 + milliseconds(1500), "connection lost");
  EXPECT_FALSE(t.Paused(t0 + milliseconds(1501)));
  EXPECT_EQ(t.limit(), 8u);
  // The first probe after the window fails: that is a new trouble, and it doubles.
  t.OnTrouble(t0 + milliseconds(1600), t0 + milliseconds(1700), "421 still busy");
  EXPECT_EQ(t.limit(), 4u);
  EXPECT_TRUE(t.Paused(t0 + milliseconds(3699)));
  EXPECT_FALSE(t.Paused(t0 + milliseconds(3701)));
}

TEST(Throttle, CeilingChangesLive) {
  Throttle t(ThrottleOptions{16, std::chrono::milliseconds(1000), std::chrono::milliseconds(8000)});
  t.SetMaxConcurrency(4);  // lowering bites at once
  EXPECT_EQ(t.limit(), 4u);
  t.SetMaxConcurrency(30);  // a healthy destination may use the new room at once
  EXPECT_EQ(t.limit(), 30u);
  t.OnTrouble(Throttle::Clock::now(), Throttle::Clock::now(), "421");
  EXPECT_EQ(t.limit(), 15u);
  t.SetMaxConcurrency(40);  // a troubled one grows back as AIMD says
  EXPECT_EQ(t.limit(), 15u);
  for (int i = 0; i < 10000; ++i) t.OnSuccess();
  EXPECT_EQ(t.limit(), 40u);
}

}  // namespace
}  // namespace sluice::delivery
