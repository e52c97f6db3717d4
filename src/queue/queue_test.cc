#include "queue/queue.h"

#include <gtest/gtest.h>

#include "queue/spool_queue.h"

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

TEST(Filter, MatchesEveryCriterion) {
  Envelope e;
  e.sender = "Alice@Example.org";
  e.routes = {{"bob@acme.test", "acme", "na-1", "local", ""}, {"eve@hooli.test", "hooli", "de-1", "relay", ""}};
  e.received_unix = 1000;
  const std::string id = "0123456789ABCDEF01";
  EXPECT_TRUE(Matches({}, id, e, "deferred", 1000));
  Filter f;
  f.tenant = "hooli";
  EXPECT_TRUE(Matches(f, id, e, "deferred", 1000));
  f.destination = "local";  // any recipient may match each criterion
  EXPECT_TRUE(Matches(f, id, e, "deferred", 1000));
  f.state = "hold";
  EXPECT_FALSE(Matches(f, id, e, "deferred", 1000));
  Filter g;
  g.sender = "alice@EXAMPLE";
  g.rcpt = "BOB@";
  EXPECT_TRUE(Matches(g, id, e, "ready", 1000));
  g.min_age = std::chrono::seconds(60);
  EXPECT_FALSE(Matches(g, id, e, "ready", 1059));
  EXPECT_TRUE(Matches(g, id, e, "ready", 1060));
  Filter h;
  h.ids = {"FFFFFFFFFFFFFFFFFF"};
  EXPECT_FALSE(Matches(h, id, e, "ready", 1000));
  h.tenant = "nobody";
  h.ids = {id};
  EXPECT_FALSE(Matches(h, id, e, "ready", 1000));
}

TEST(HoldPolicies, RoundTripThroughTheSpoolRecord) {
  std::vector<HoldPolicy> in = {{"tenant", "acme", "provider down", 1700000000},
                                {"destination", "relay", "", 1700000001}};
  auto out = ParseHolds(FormatHolds(in));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].kind, "tenant");
  EXPECT_EQ(out[0].reason, "provider down");
  EXPECT_EQ(out[1].name, "relay");
  EXPECT_EQ(out[1].since_unix, 1700000001);
  EXPECT_TRUE(ParseHolds("garbage without tabs\n").empty());
}

}  // namespace
}  // namespace sluice::queue
