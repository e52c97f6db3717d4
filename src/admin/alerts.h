// Alert rules over the figures the admin API samples once a second, and the
// state of each alert (pending → firing → resolved). Free of I/O: the
// monitor feeds samples in and sends the notices that come out.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/tls_policy.h"

namespace sluice::admin {

// What a rule measures, per instance: a forest, a destination, or the
// whole service.
enum class AlertKind {
  kReplyRate, kForestSaturation, kForestDeferralRate, kForestLatency, kQueueOldestAge, kQueueDepth,
  kDestinationBreaker, kDestinationFailureRate, kSpoolCommitLatency, kSpoolState, kClusterLocal,
  kClusterControl, kShadowNoPeer, kShadowBacklog, kFilterBreaker, kFilterLatency,
  kHeldScanAge,
};
enum class Severity { kInfo, kWarning, kCritical };

struct AlertKindInfo {
  AlertKind kind;
  const char* name;  // as written in [[alerts.rule]] kind
  const char* help;  // what it measures, for check-config and docs
};
const std::vector<AlertKindInfo>& AlertKinds();
const char* ToString(AlertKind k);
const char* ToString(Severity s);

// One rule from [[alerts.rule]].
struct AlertRule {
  std::string name;
  AlertKind kind = AlertKind::kReplyRate;
  std::string code;  // reply_rate only: "4.3.2", "451" or a class "4xx"
  double above = 0;  // fires when the measure stays above this ...
  std::chrono::seconds for_duration{0};   // ... for this long
  std::chrono::seconds clear_after{10};   // resolves after this long at or below it
  Severity severity = Severity::kWarning;
  bool operator==(const AlertRule&) const = default;  // a reload applies what changed
};
// The rules used when the config names none: the five, tuned for a
// hosted service (see README "Alerts").
std::vector<AlertRule> DefaultAlertRules();

// The figures of one moment, copied out of the stages.
struct ForestSample {
  std::string name;
  double in_flight = 0, limit = 0, queued = 0;
  uint64_t deferrals = 0, lookups = 0, latency_count = 0;
  double latency_sum_ms = 0;
};
struct DestinationSample {
  std::string name, breaker, last_trouble;
  double in_flight = 0, limit = 0;
  uint64_t delivered = 0, deferred = 0, failed = 0;
};
struct FilterSample {
  std::string name, breaker;
  uint64_t scans = 0;  // with a latency (every scan but those the open breaker refused)
  double latency_sum_ms = 0;
};
struct Sample {
  int64_t at_ms = 0;  // wall clock
  std::map<std::pair<std::string, std::string>, uint64_t> replies;  // (code, enhanced) → count
  std::vector<ForestSample> forests;
  std::vector<DestinationSample> destinations;
  std::vector<FilterSample> filters;
  uint64_t queue_messages = 0, queue_deferred = 0;
  int64_t oldest_age_s = 0;
  std::vector<uint64_t> commit_buckets;  // commits per bucket of kCommitBucketsMs, then +Inf, since start
  int spool_state = 0;                   // 0 ok, 1 low, 2 full, 3 error (spool::SpoolState)
  std::string spool_reason;
  int cluster_local = 0;    // 1 while this node runs on local shares (Redis away)
  int cluster_control = 0;  // 1 while etcd does not answer (running on the snapshot)
  int shadow_no_peer = 0;   // 1 while [shadow] is on and no peer answered the last exchange
  uint64_t shadow_discards_pending = 0;  // discards a peer has not heard yet
  int64_t held_scan_age_s = 0;  // the oldest message held for its scan (on_error = "hold"); 0: none
};

// The last minute of samples, for rates and windowed percentiles.
class Window {
 public:
  void Add(Sample s);
  bool empty() const { return samples_.empty(); }
  const Sample& latest() const { return samples_.back(); }
  const Sample& earliest() const { return samples_.front(); }
  double span_seconds() const;

 private:
  std::deque<Sample> samples_;
};

// What a rule measures now, per instance ("" for the service as a whole).
std::map<std::string, double> Measure(const AlertRule& rule, const Window& w);

struct Alert {
  std::string rule;
  AlertKind kind = AlertKind::kReplyRate;
  std::string instance;
  Severity severity = Severity::kWarning;
  std::string state;  // "pending" (above, not yet for long enough) or "firing"
  double value = 0, threshold = 0;
  int64_t since_ms = 0;     // when the measure went above
  int64_t fired_ms = 0;     // when it fired (0 while pending)
  int64_t below_since_ms = 0;  // while firing: when it went back at or below, else 0
  std::string Summary() const;
  std::string Id() const;  // stable per firing: rule/instance/fired_ms, for receivers to dedupe
};

// A firing or resolved notification, made once per transition.
struct Notice {
  bool firing = true;
  Alert alert;
  int64_t at_ms = 0;
};

// One [[alerts.webhook]].
struct WebhookOptions {
  std::string name;
  std::string url;             // http:// or https://
  enum class Format { kJson, kSlack, kTeams };
  Format format = Format::kJson;  // a generic body, or what Slack's or Teams' incoming webhooks take
  std::string ca_file;         // https: trust anchors; empty: the system's
  TlsPolicy tls_policy;        // [tls]: the same policy as every other TLS context
  std::vector<std::pair<std::string, std::string>> headers;  // sent with every POST (e.g. an API key)
  std::string proxy;           // http:// proxy URL; empty: HTTPS_PROXY/HTTP_PROXY and NO_PROXY of the environment
  std::chrono::seconds timeout{5};
  size_t max_attempts = 10;    // then the notice is dropped (and logged)
  std::chrono::seconds retry_initial{1};
  std::chrono::seconds retry_max{60};
  bool operator==(const WebhookOptions&) const = default;  // a reload applies what changed
};

// [alerts]: the rules, how often they are evaluated, and where notices go.
struct AlertOptions {
  std::chrono::milliseconds interval{1000};
  std::vector<AlertRule> rules = DefaultAlertRules();
  std::vector<WebhookOptions> webhooks;
  bool operator==(const AlertOptions&) const = default;  // a reload applies what changed
};

class AlertEngine {
 public:
  explicit AlertEngine(std::vector<AlertRule> rules) : rules_(std::move(rules)) {}
  // Measures every rule on `w` and moves each alert along; returns the
  // transitions to notify, in order.
  std::vector<Notice> Evaluate(const Window& w, int64_t now_ms);
  std::vector<Alert> Active() const;  // pending and firing
  const std::vector<AlertRule>& rules() const { return rules_; }

 private:
  std::vector<AlertRule> rules_;
  std::map<std::pair<std::string, std::string>, Alert> active_;  // (rule, instance)
};

}  // namespace sluice::admin
