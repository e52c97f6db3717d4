#include "server/deadlines.h"

#include <gtest/gtest.h>

namespace sluice::server {
namespace {

using namespace std::chrono_literals;
using Clock = Deadlines::Clock;

DeadlineOptions Options() {
  DeadlineOptions o;
  o.command_timeout = 300s;
  o.data_timeout = 600s;
  o.min_data_rate = 500;
  o.max_session_time = 3600s;
  o.stress_timeout = 10s;
  return o;
}

TEST(Deadlines, ACommandLineMustCompleteWithinTheTimeoutOfTheLastReply) {
  const auto t0 = Clock::now();
  Deadlines d(Options(), t0);
  // A byte every 15 s buys nothing: the deadline stays where the reply put it.
  auto n = d.NextRead(t0 + 15s, false, false);
  EXPECT_EQ(n.kind, Deadlines::Kind::kCommand);
  EXPECT_EQ(n.timeout, 285s);
  EXPECT_EQ(d.NextRead(t0 + 299s, false, false).timeout, 1s);
  EXPECT_EQ(d.NextRead(t0 + 301s, false, false).timeout, Clock::duration::zero());
  d.Answered(t0 + 100s);
  EXPECT_EQ(d.NextRead(t0 + 101s, false, false).timeout, 299s);
}

TEST(Deadlines, ContentEarnsTimeAtTheMinimumRate) {
  const auto t0 = Clock::now();
  Deadlines d(Options(), t0);
  d.DataStarted(t0);
  EXPECT_EQ(d.NextRead(t0, true, false).timeout, 600s);
  EXPECT_EQ(d.NextRead(t0, true, false).kind, Deadlines::Kind::kData);
  // A trickle of one byte every 15 s earns 2 ms a read: it ends near 600 s.
  auto t = t0;
  for (int i = 0; i < 39; ++i) {
    t += 15s;
    d.DataRead(t, 1);
  }
  auto left = d.NextRead(t, true, false).timeout;
  EXPECT_LT(left, 16s);
  EXPECT_GT(left, 14s);
  // A steady sender at the minimum rate keeps its deadline data_timeout ahead.
  Deadlines steady(Options(), t0);
  steady.DataStarted(t0);
  for (int i = 1; i <= 1000; ++i) steady.DataRead(t0 + i * 1s, 500);
  EXPECT_EQ(steady.NextRead(t0 + 1000s, true, false).timeout, 600s);
}

TEST(Deadlines, TheSessionLimitEndsEverything) {
  auto o = Options();
  o.max_session_time = 100s;
  const auto t0 = Clock::now();
  Deadlines d(o, t0);
  d.Answered(t0 + 90s);
  auto n = d.NextRead(t0 + 90s, false, false);
  EXPECT_EQ(n.kind, Deadlines::Kind::kSession);
  EXPECT_EQ(n.timeout, 10s);
  d.DataStarted(t0 + 95s);
  EXPECT_EQ(d.NextRead(t0 + 95s, true, false).kind, Deadlines::Kind::kSession);
}

TEST(Deadlines, StressShrinksBothTimeouts) {
  const auto t0 = Clock::now();
  Deadlines d(Options(), t0);
  EXPECT_EQ(d.NextRead(t0 + 1s, false, true).timeout, 9s);
  d.DataStarted(t0 + 2s);
  d.DataRead(t0 + 5s, 100'000);
  EXPECT_EQ(d.NextRead(t0 + 5s, true, true).timeout, 10s);   // from the last read
  EXPECT_EQ(d.NextRead(t0 + 5s, true, false).timeout, 600s);  // earned, capped at data_timeout ahead
}

}  // namespace
}  // namespace sluice::server
