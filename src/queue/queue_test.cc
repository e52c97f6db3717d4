#include "queue/queue.h"

#include <gtest/gtest.h>

namespace sluice::queue {
namespace {

TEST(Backoff, GrowsExponentiallyToTheCap) {
  QueueOptions o;
  o.retry_initial = std::chrono::seconds(300);
  o.retry_max = std::chrono::seconds(4000);
  // With the jitter at its midpoint (unit 0.5 → factor 1.0).
  EXPECT_EQ(Backoff(o, 1, 0.5).count(), 300);
  EXPECT_EQ(Backoff(o, 2, 0.5).count(), 600);
  EXPECT_EQ(Backoff(o, 3, 0.5).count(), 1200);
  EXPECT_EQ(Backoff(o, 4, 0.5).count(), 2400);
  EXPECT_EQ(Backoff(o, 5, 0.5).count(), 4000);
  EXPECT_EQ(Backoff(o, 50, 0.5).count(), 4000);
}

TEST(Backoff, JitterStaysWithinTwentyPercent) {
  QueueOptions o;
  o.retry_initial = std::chrono::seconds(1000);
  EXPECT_EQ(Backoff(o, 1, 0.0).count(), 800);
  EXPECT_EQ(Backoff(o, 1, 0.999).count(), 1199);
  o.retry_initial = std::chrono::seconds(1);
  EXPECT_GE(Backoff(o, 1, 0.0).count(), 1);  // never zero
}

}  // namespace
}  // namespace sluice::queue
