#include "admin/alerts.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "admin/webhook.h"

namespace sluice::admin {
namespace {

using namespace std::chrono_literals;

Sample ForestAt(int64_t ms, double in_flight, double limit, double queued) {
  Sample s;
  s.at_ms = ms;
  ForestSample f;
  f.name = "na-1";
  f.in_flight = in_flight;
  f.limit = limit;
  f.queued = queued;
  s.forests.push_back(f);
  return s;
}

AlertRule Rule(std::string name, AlertKind kind, std::string code = "") {
  AlertRule r;
  r.name = std::move(name);
  r.kind = kind;
  r.code = std::move(code);
  return r;
}

AlertRule Saturation(std::chrono::seconds for_duration, std::chrono::seconds clear_after) {
  return {"forest-saturated", AlertKind::kForestSaturation, "", 0.8, for_duration, clear_after, Severity::kWarning};
}

TEST(AlertEngine, FiresOnlyAfterTheConditionHeldForItsDuration) {
  AlertEngine engine({Saturation(30s, 10s)});
  Window w;
  std::vector<Notice> all;
  for (int64_t t = 0; t <= 40'000; t += 1000) {
    w.Add(ForestAt(t, 9, 10, 0));
    auto n = engine.Evaluate(w, t);
    if (t < 30'000) {
      EXPECT_TRUE(n.empty()) << t;
      ASSERT_EQ(engine.Active().size(), 1u);
      EXPECT_EQ(engine.Active()[0].state, "pending");
    }
    all.insert(all.end(), n.begin(), n.end());
  }
  ASSERT_EQ(all.size(), 1u);  // once, not once per evaluation
  EXPECT_TRUE(all[0].firing);
  EXPECT_EQ(all[0].alert.instance, "na-1");
  EXPECT_EQ(all[0].alert.fired_ms, 30'000);
  EXPECT_DOUBLE_EQ(all[0].alert.value, 0.9);
}

TEST(AlertEngine, APendingAlertThatDropsBackNeverNotifies) {
  AlertEngine engine({Saturation(5s, 1s)});
  Window w;
  w.Add(ForestAt(0, 10, 10, 0));
  EXPECT_TRUE(engine.Evaluate(w, 0).empty());
  w.Add(ForestAt(1000, 1, 10, 0));
  EXPECT_TRUE(engine.Evaluate(w, 1000).empty());
  EXPECT_TRUE(engine.Active().empty());
}

TEST(AlertEngine, ResolvesOnceAfterStayingBelowForClearAfter) {
  AlertEngine engine({Saturation(0s, 5s)});
  Window w;
  w.Add(ForestAt(0, 10, 10, 3));
  auto fired = engine.Evaluate(w, 0);
  ASSERT_EQ(fired.size(), 1u);
  std::vector<Notice> later;
  // Back below, briefly above again (no new notice), then below for good.
  int64_t t = 1000;
  for (double v : {1.0, 1.0, 10.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0}) {
    w.Add(ForestAt(t, v, 10, 0));
    auto n = engine.Evaluate(w, t);
    later.insert(later.end(), n.begin(), n.end());
    t += 1000;
  }
  ASSERT_EQ(later.size(), 1u);
  EXPECT_FALSE(later[0].firing);
  EXPECT_EQ(later[0].alert.Id(), fired[0].alert.Id());  // receivers pair them by id
  EXPECT_TRUE(engine.Active().empty());
}

TEST(AlertMeasure, ReplyRateCountsMatchingRepliesPerMinute) {
  Window w;
  Sample a;
  a.at_ms = 0;
  a.replies[{"451", "4.3.2"}] = 10;
  a.replies[{"250", "2.1.5"}] = 100;
  Sample b = a;
  b.at_ms = 30'000;
  b.replies[{"451", "4.3.2"}] = 40;  // 30 in 30 s
  b.replies[{"451", "4.4.3"}] = 5;
  w.Add(a);
  w.Add(b);
  AlertRule enhanced = Rule("r", AlertKind::kReplyRate, "4.3.2");
  EXPECT_DOUBLE_EQ(Measure(enhanced, w).at(""), 60);
  AlertRule cls = Rule("r", AlertKind::kReplyRate, "4xx");
  EXPECT_DOUBLE_EQ(Measure(cls, w).at(""), 70);
  AlertRule code = Rule("r", AlertKind::kReplyRate, "250");
  EXPECT_DOUBLE_EQ(Measure(code, w).at(""), 0);
}

TEST(AlertMeasure, SpoolCommitP99IsTheBucketHoldingIt) {
  Window w;
  Sample a;
  a.at_ms = 0;
  a.commit_buckets.assign(11, 0);
  Sample b = a;
  b.at_ms = 10'000;
  b.commit_buckets[1] = 98;  // ≤ 1 ms
  b.commit_buckets[8] = 2;   // ≤ 250 ms
  w.Add(a);
  w.Add(b);
  AlertRule r = Rule("s", AlertKind::kSpoolCommitLatency);
  EXPECT_DOUBLE_EQ(Measure(r, w).at(""), 250);
}

TEST(AlertMeasure, TheWindowKeepsAboutAMinute) {
  Window w;
  for (int64_t t = 0; t <= 120'000; t += 1000) w.Add(ForestAt(t, 0, 1, 0));
  EXPECT_GE(w.span_seconds(), 59);
  EXPECT_LE(w.span_seconds(), 61);
}

TEST(AlertMeasure, DestinationBreakerAndVanishedInstancesResolve) {
  AlertRule down = Rule("down", AlertKind::kDestinationBreaker);
  down.clear_after = 0s;
  AlertEngine engine({down});
  Window w;
  Sample s;
  s.at_ms = 0;
  DestinationSample d;
  d.name = "lmtp";
  d.breaker = "open";
  s.destinations.push_back(d);
  w.Add(s);
  ASSERT_EQ(engine.Evaluate(w, 0).size(), 1u);
  Sample gone;
  gone.at_ms = 1000;  // the destination was removed from the config
  w.Add(gone);
  auto n = engine.Evaluate(w, 1000);
  ASSERT_EQ(n.size(), 1u);
  EXPECT_FALSE(n[0].firing);
}

TEST(AlertMeasure, TheShadowRulesFireOnNoPeerAndOnABacklog) {
  const auto defaults = DefaultAlertRules();
  auto rule = [&](const char* name) {
    for (const auto& r : defaults) {
      if (r.name == name) return r;
    }
    ADD_FAILURE() << name;
    return AlertRule{};
  };
  AlertEngine engine({rule("no-shadow-peer"), rule("shadow-backlog")});
  Window w;
  std::vector<Notice> fired;
  for (int64_t t = 0; t <= 130'000; t += 1000) {
    Sample s;
    s.at_ms = t;
    s.shadow_no_peer = t >= 100'000 ? 1 : 0;      // the peers go at 100 s
    s.shadow_discards_pending = 60'000;          // a backlog from the start
    w.Add(s);
    auto n = engine.Evaluate(w, t);
    fired.insert(fired.end(), n.begin(), n.end());
  }
  ASSERT_EQ(fired.size(), 2u) << fired.size();
  EXPECT_EQ(fired[0].alert.rule, "no-shadow-peer");  // after its 10 s
  EXPECT_EQ(fired[0].alert.fired_ms, 110'000);
  EXPECT_EQ(fired[1].alert.rule, "shadow-backlog");  // after two minutes above 50,000
  EXPECT_EQ(fired[1].alert.fired_ms, 120'000);
}

// Mail held for its scan that waited 15 minutes pages the operator (the
// filter may be down longer than anyone noticed).
TEST(AlertMeasure, ScanHeldFiresWhenTheOldestHeldMessageWaitedTooLong) {
  AlertRule held;
  for (const auto& r : DefaultAlertRules()) {
    if (r.name == "scan-held") held = r;
  }
  ASSERT_EQ(held.kind, AlertKind::kHeldScanAge);
  AlertEngine engine({held});
  Window w;
  std::vector<Notice> fired;
  for (int64_t t = 0; t <= 1'000'000; t += 10'000) {
    Sample s;
    s.at_ms = t;
    s.held_scan_age_s = t / 1000;  // held since the start
    w.Add(s);
    auto n = engine.Evaluate(w, t);
    fired.insert(fired.end(), n.begin(), n.end());
  }
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_EQ(fired[0].alert.rule, "scan-held");
  EXPECT_EQ(fired[0].alert.fired_ms, 910'000);  // first sample above 900 s
}

TEST(Webhook, BodiesForEachFormat) {
  Notice n{true,
           {"forest-saturated", AlertKind::kForestSaturation, "na-1", Severity::kWarning, "firing", 1.5, 0.8, 1000, 2000, 0},
           2000};
  auto generic = nlohmann::json::parse(WebhookBody(WebhookOptions::Format::kJson, n, "mx1"));
  EXPECT_EQ(generic["status"], "firing");
  EXPECT_EQ(generic["alert"], "forest-saturated");
  EXPECT_EQ(generic["instance"], "na-1");
  EXPECT_EQ(generic["id"], "forest-saturated/na-1/2000");
  EXPECT_EQ(generic["host"], "mx1");
  auto slack = nlohmann::json::parse(WebhookBody(WebhookOptions::Format::kSlack, n, "mx1"));
  EXPECT_NE(slack["text"].get<std::string>().find("[FIRING] forest-saturated (na-1)"), std::string::npos);
  n.firing = false;
  auto teams = nlohmann::json::parse(WebhookBody(WebhookOptions::Format::kTeams, n, "mx1"));
  EXPECT_EQ(teams["@type"], "MessageCard");
  EXPECT_NE(teams["title"].get<std::string>().find("[RESOLVED]"), std::string::npos);
}

TEST(Webhook, ParsesUrls) {
  auto a = sluice::ParseUrl("http://127.0.0.1:9000/hook?x=1");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a.value().host, "127.0.0.1");
  EXPECT_EQ(a.value().port, 9000);
  EXPECT_EQ(a.value().path, "/hook?x=1");
  auto b = sluice::ParseUrl("https://hooks.example.com");
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b.value().tls);
  EXPECT_EQ(b.value().port, 443);
  EXPECT_EQ(b.value().path, "/");
  auto c = sluice::ParseUrl("http://[::1]:8080/x");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c.value().host, "::1");
  EXPECT_FALSE(sluice::ParseUrl("ftp://x/").ok());
  EXPECT_FALSE(sluice::ParseUrl("http://x:99999/").ok());
  EXPECT_FALSE(sluice::ParseUrl("http://user:pw@x/").ok());
  EXPECT_FALSE(sluice::ParseUrl("http:///path").ok());
}

}  // namespace
}  // namespace sluice::admin
