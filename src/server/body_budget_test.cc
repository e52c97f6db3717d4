// The content budget's accounting and who waits longest for room.
#include "server/body_budget.h"

#include <gtest/gtest.h>

namespace sluice::server {
namespace {

TEST(BodyBudget, ChargesAndSaysWhenMoreWouldGoOver) {
  BodyBudget b(100);
  b.Charge(60);
  EXPECT_FALSE(b.Over(40));
  EXPECT_TRUE(b.Over(41));
  b.Charge(-60);
  EXPECT_EQ(b.used(), 0u);
  EXPECT_EQ(b.peak(), 60u);
}

TEST(BodyBudget, TheOldestHolderIsTheOneThatBeganFirst) {
  BodyBudget b(100);
  const uint64_t first = b.Enter(), second = b.Enter(), third = b.Enter();
  EXPECT_TRUE(b.Oldest(first));
  EXPECT_FALSE(b.Oldest(second));
  EXPECT_FALSE(b.Oldest(third));
  b.Leave(first);  // it finished: the next in age waits longest now
  EXPECT_TRUE(b.Oldest(second));
  b.Leave(third);
  EXPECT_TRUE(b.Oldest(second));
  b.Leave(second);
  EXPECT_FALSE(b.Oldest(second));
}

}  // namespace
}  // namespace sluice::server
