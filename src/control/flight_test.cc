#include "control/flight.h"

#include <gtest/gtest.h>

#include <fstream>

#include "common/test_util.h"

namespace sluice::control {
namespace {

TEST(TenantGroups, SharesGrowWithoutMovingAnyoneOut) {
  TenantGroups g;
  EXPECT_FALSE(g.InFlight("acme"));  // no flight: everyone is control
  int at10 = 0, at50 = 0;
  for (int i = 0; i < 2000; ++i) {
    const std::string t = "tenant-" + std::to_string(i);
    g.SetShare(10);
    const bool small = g.InFlight(t);
    g.SetShare(50);
    const bool large = g.InFlight(t);
    EXPECT_TRUE(!small || large) << t << " left the flight when it grew";
    at10 += small;
    at50 += large;
  }
  EXPECT_GT(at10, 120);  // about 200 of 2000
  EXPECT_LT(at10, 280);
  EXPECT_GT(at50, 900);
  EXPECT_LT(at50, 1100);
}

TEST(TenantGroups, BucketIsFnv1aModHundred) {
  // Fixed values: the integration tests compute the same hash to check
  // the daemon's choice from its log.
  EXPECT_EQ(TenantBucket(""), 2166136261u % 100);
  EXPECT_EQ(TenantBucket("a"), 0xe40c292cu % 100);
}

TEST(TenantGroups, CountsPerGroupAndReset) {
  TenantGroups g;
  g.CountLookup(true, true, std::chrono::microseconds(3000));
  g.CountLookup(false, false, std::chrono::microseconds(1000));
  g.CountDelivery(true, false);
  EXPECT_EQ(g.Get(TenantGroups::kFlight).lookups, 1u);
  EXPECT_EQ(g.Get(TenantGroups::kFlight).lookups_deferred, 1u);
  EXPECT_EQ(g.Get(TenantGroups::kFlight).latency_us, 3000u);
  EXPECT_EQ(g.Get(TenantGroups::kControl).lookups_deferred, 0u);
  EXPECT_EQ(g.Get(TenantGroups::kFlight).deliveries, 1u);
  g.Reset();
  EXPECT_EQ(g.Get(TenantGroups::kFlight).lookups, 0u);
}

TenantGroups::Counts Lookups(uint64_t n, uint64_t deferred, double mean_ms) {
  TenantGroups::Counts c;
  c.lookups = n;
  c.lookups_deferred = deferred;
  c.latency_us = static_cast<uint64_t>(mean_ms * 1000 * n);
  return c;
}

const admin::FlightGate& Gate(const std::vector<admin::FlightGate>& gates, const std::string& name) {
  for (const auto& g : gates) {
    if (g.name == name) return g;
  }
  throw std::runtime_error("no gate " + name);
}

TEST(JudgeGates, TooLittleTrafficIsNotJudged) {
  FlightOptions o;
  auto gates = JudgeGates(o, Lookups(10, 10, 500), Lookups(1000, 0, 1));
  for (const auto& g : gates) {
    EXPECT_FALSE(g.judged) << g.name;
    EXPECT_TRUE(g.pass) << g.name;
  }
}

TEST(JudgeGates, DeferralsAboveControlFail) {
  FlightOptions o;
  auto ok = JudgeGates(o, Lookups(100, 3, 2), Lookups(1000, 10, 2));
  EXPECT_TRUE(Gate(ok, "deferral_rate").judged);
  EXPECT_TRUE(Gate(ok, "deferral_rate").pass);
  auto bad = JudgeGates(o, Lookups(100, 30, 2), Lookups(1000, 10, 2));
  EXPECT_FALSE(Gate(bad, "deferral_rate").pass);
  EXPECT_NEAR(Gate(bad, "deferral_rate").flight, 0.30, 1e-9);
  EXPECT_NEAR(Gate(bad, "deferral_rate").limit, 0.06, 1e-9);
}

TEST(JudgeGates, LatencyHasSlackForFastForests) {
  FlightOptions o;  // ratio 2, slack 5 ms
  EXPECT_TRUE(Gate(JudgeGates(o, Lookups(100, 0, 5.5), Lookups(100, 0, 1)), "lookup_latency_ms").pass);
  EXPECT_FALSE(Gate(JudgeGates(o, Lookups(100, 0, 7), Lookups(100, 0, 1)), "lookup_latency_ms").pass);
  EXPECT_TRUE(Gate(JudgeGates(o, Lookups(100, 0, 190), Lookups(100, 0, 100)), "lookup_latency_ms").pass);
  EXPECT_FALSE(Gate(JudgeGates(o, Lookups(100, 0, 210), Lookups(100, 0, 100)), "lookup_latency_ms").pass);
}

TEST(JudgeGates, DeliveryFailures) {
  FlightOptions o;
  TenantGroups::Counts f, c;
  f.deliveries = 50;
  f.delivery_failures = 10;
  c.deliveries = 500;
  c.delivery_failures = 25;
  auto g = Gate(JudgeGates(o, f, c), "delivery_failure_rate");
  EXPECT_TRUE(g.judged);
  EXPECT_FALSE(g.pass);  // 20 % against 5 % + 10
  f.delivery_failures = 5;
  EXPECT_TRUE(Gate(JudgeGates(o, f, c), "delivery_failure_rate").pass);
}

Config WithForests(std::vector<std::pair<std::string, size_t>> limits) {
  Config c;
  c.source = "running.toml";
  for (const auto& [name, limit] : limits) {
    directory::ForestOptions f;
    f.name = name;
    f.limit = limit;
    c.directory.forests.push_back(f);
  }
  return c;
}

TEST(FlightChanges, ForestLimitsOnly) {
  Config running = WithForests({{"na-1", 40}, {"eu-1", 20}});
  Config candidate = WithForests({{"na-1", 20}, {"eu-1", 20}});
  candidate.source = "candidate.toml";
  FlightPlan plan;
  auto r = FlightChanges(running, candidate, &plan);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r.value().size(), 1u);
  EXPECT_EQ(r.value()[0], "forests.na-1.limit 40 → 20");
  EXPECT_EQ(plan.limits, (std::map<std::string, size_t>{{"na-1", 20}}));
}

TEST(FlightChanges, AForestWithoutATableUsesTheDefaults) {
  Config running = WithForests({});
  running.directory.defaults.limit = 50;
  Config candidate = WithForests({{"na-1", 80}});
  candidate.directory.defaults.limit = 50;
  FlightPlan plan;
  auto r = FlightChanges(running, candidate, &plan);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(plan.limits.at("na-1"), 80u);
}

TEST(FlightChanges, Placement) {
  Config running = WithForests({{"na-1", 40}});
  running.placement = {{"acme", "na-1", 3}};
  Config candidate = running;
  candidate.placement = {{"acme", "na-2", 9}, {"globex", "de-1", 10}};
  FlightPlan plan;
  auto r = FlightChanges(running, candidate, &plan);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r.value(), (std::vector<std::string>{"placement.acme na-1 → na-2",
                                                 "placement.globex its catalog forest → de-1"}));
  EXPECT_EQ(plan.moves, (std::map<std::string, std::string>{{"acme", "na-2"}, {"globex", "de-1"}}));
  EXPECT_TRUE(plan.limits.empty());
}

TEST(FlightChanges, OtherChangesAreRefusedByName) {
  Config running = WithForests({{"na-1", 40}});
  Config candidate = WithForests({{"na-1", 20}});
  candidate.queue.retry_initial = std::chrono::seconds(1);
  FlightPlan plan;
  auto r = FlightChanges(running, candidate, &plan);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("queue"), std::string::npos) << r.status().message();

  candidate = WithForests({{"na-1", 40}});
  candidate.directory.forests[0].wait_timeout = std::chrono::milliseconds(1);
  r = FlightChanges(running, candidate, &plan);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("forests.na-1 changes more than its limit"), std::string::npos);

  r = FlightChanges(running, WithForests({{"na-1", 40}}), &plan);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("nothing to fly"), std::string::npos);
}

TEST(Config, FlightTable) {
  testing::TempDir dir;
  std::string path = dir / "c.toml";
  std::ofstream(path) << "[destinations.local]\ntype = \"maildir\"\nroot = \"/tmp/m\"\n"
                         "[flight]\nshares = [5, 20, 100]\ninterval = \"2s\"\nmax_latency_ratio = 3.0\n";
  auto r = LoadConfig(path);
  ASSERT_TRUE(r.ok()) << r.errors[0].ToString();
  EXPECT_EQ(r.config.flight.shares, (std::vector<size_t>{5, 20, 100}));
  EXPECT_EQ(r.config.flight.interval, std::chrono::seconds(2));
  std::ofstream(path) << "[destinations.local]\ntype = \"maildir\"\nroot = \"/tmp/m\"\n"
                         "[flight]\nshares = [50, 10]\n";
  r = LoadConfig(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.errors[0].ToString(), path + ":5: flight.shares: expected rising shares ending at 100, e.g. [10, 50, 100]");
  std::ofstream(path) << "[destinations.local]\ntype = \"maildir\"\nroot = \"/tmp/m\"\n"
                         "[flight]\nstages = [10, 100]\n";
  r = LoadConfig(path);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].ToString(), path + ":5: flight.stages: renamed to shares");
}

}  // namespace
}  // namespace sluice::control
