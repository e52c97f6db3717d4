#include "admin/alerts.h"

#include <fmt/format.h>

#include <algorithm>

#include "server/edge_metrics.h"

namespace sluice::admin {
namespace {

using namespace std::chrono_literals;

// A counter's rise over the window, scaled to a minute. Counters that went
// down (a forest re-created by a reload) count from zero.
double PerMinute(uint64_t now, uint64_t then, double span_s) {
  if (span_s <= 0) return 0;
  uint64_t rise = now >= then ? now - then : now;
  return rise * 60.0 / span_s;
}

template <class T>
const T* Named(const std::vector<T>& v, const std::string& name) {
  for (const auto& x : v) {
    if (x.name == name) return &x;
  }
  return nullptr;
}

// Does a reply (code, enhanced) match a rule's code: "4.3.2", "451" or "4xx"?
bool ReplyMatches(const std::string& want, const std::pair<std::string, std::string>& reply) {
  if (want.size() == 3 && want[1] == 'x' && want[2] == 'x') return !reply.first.empty() && reply.first[0] == want[0];
  if (want.find('.') != std::string::npos) return reply.second == want;
  return reply.first == want;
}

uint64_t CountReplies(const Sample& s, const std::string& code) {
  uint64_t n = 0;
  for (const auto& [key, count] : s.replies) {
    if (ReplyMatches(code, key)) n += count;
  }
  return n;
}

// The 99th percentile of commits within the window, as the upper bound of
// the bucket that holds it (what a histogram can tell).
double CommitP99(const Window& w) {
  const auto& now = w.latest().commit_buckets;
  const auto& then = w.earliest().commit_buckets;
  std::vector<uint64_t> delta(now.size());
  uint64_t total = 0;
  for (size_t i = 0; i < now.size(); ++i) {
    delta[i] = i < then.size() && now[i] >= then[i] ? now[i] - then[i] : now[i];
    total += delta[i];
  }
  if (total == 0) return 0;
  uint64_t seen = 0;
  for (size_t i = 0; i < delta.size(); ++i) {
    seen += delta[i];
    if (seen * 100 >= total * 99) {
      return i < std::size(server::kCommitBucketsMs) ? server::kCommitBucketsMs[i] : 2 * server::kCommitBucketsMs[std::size(server::kCommitBucketsMs) - 1];
    }
  }
  return 0;
}

}  // namespace

const std::vector<AlertKindInfo>& AlertKinds() {
  static const std::vector<AlertKindInfo> kinds = {
      {AlertKind::kReplyRate, "reply_rate", "SMTP replies matching `code` per minute, at the edge"},
      {AlertKind::kForestSaturation, "forest_saturation",
       "lookups in flight / the forest's limit (above 1 when lookups wait), per forest"},
      {AlertKind::kForestDeferralRate, "forest_deferral_rate", "recipients a forest deferred with 4xx per minute, per forest"},
      {AlertKind::kForestLatency, "forest_latency", "mean lookup latency over the last minute in ms, per forest"},
      {AlertKind::kQueueOldestAge, "queue_oldest_age", "age of the oldest queued message in seconds"},
      {AlertKind::kQueueDepth, "queue_depth", "messages in the queue"},
      {AlertKind::kDestinationBreaker, "destination_breaker", "1 while a destination's breaker is open, per destination"},
      {AlertKind::kDestinationFailureRate, "destination_failure_rate",
       "deferred and failed deliveries per minute, per destination"},
      {AlertKind::kSpoolCommitLatency, "spool_commit_latency",
       "99th percentile of spool commit time over the last minute in ms"},
      {AlertKind::kSpoolState, "spool_state",
       "the spool's state: 0 ok, 1 low (under min_free), 2 full, 3 failing; mail is refused above 0"},
      {AlertKind::kClusterLocal, "cluster_local",
       "1 while this fleet node runs its forests on local shares because Redis does not answer"},
      {AlertKind::kClusterControl, "cluster_control",
       "1 while this fleet node cannot read the control plane (etcd without quorum or away) and runs on its snapshot"},
      {AlertKind::kShadowNoPeer, "shadow_no_peer",
       "1 while [shadow] is on and no shadow peer answered: best-effort listeners accept without a copy, required ones refuse"},
      {AlertKind::kFilterBreaker, "filter_breaker",
       "1 while a content filter's circuit breaker is open or half-open (its transactions get on_error), per filter"},
      {AlertKind::kFilterLatency, "filter_latency", "mean scan time over the last minute in ms, per content filter"},
      {AlertKind::kHeldScanAge, "held_scan_age",
       "seconds the oldest message held for its scan (on_error = \"hold\") has waited for its filters"},
      {AlertKind::kShadowBacklog, "shadow_backlog",
       "this node's discards some shadow peer has not heard yet (copies it holds in vain)"},
  };
  return kinds;
}

const char* ToString(AlertKind k) {
  for (const auto& info : AlertKinds()) {
    if (info.kind == k) return info.name;
  }
  return "?";
}

const char* ToString(Severity s) {
  switch (s) {
    case Severity::kInfo: return "info";
    case Severity::kWarning: return "warning";
    case Severity::kCritical: return "critical";
  }
  return "warning";
}

std::vector<AlertRule> DefaultAlertRules() {
  std::vector<AlertRule> r;
  r.push_back({"directory-deferrals", AlertKind::kReplyRate, "4.3.2", 60, 0s, 30s, Severity::kCritical});
  r.push_back({"forest-saturated", AlertKind::kForestSaturation, "", 0.8, 30s, 30s, Severity::kWarning});
  r.push_back({"queue-stuck", AlertKind::kQueueOldestAge, "", 900, 0s, 60s, Severity::kWarning});
  r.push_back({"destination-down", AlertKind::kDestinationBreaker, "", 0, 0s, 10s, Severity::kWarning});
  r.push_back({"spool-slow", AlertKind::kSpoolCommitLatency, "", 250, 60s, 60s, Severity::kCritical});
  r.push_back({"spool-full", AlertKind::kSpoolState, "", 0, 0s, 10s, Severity::kCritical});
  r.push_back({"fleet-local", AlertKind::kClusterLocal, "", 0, 0s, 10s, Severity::kWarning});
  r.push_back({"fleet-control-lost", AlertKind::kClusterControl, "", 0, 0s, 10s, Severity::kCritical});
  r.push_back({"no-shadow-peer", AlertKind::kShadowNoPeer, "", 0, 10s, 10s, Severity::kCritical});
  r.push_back({"shadow-backlog", AlertKind::kShadowBacklog, "", 50'000, 120s, 60s, Severity::kWarning});
  r.push_back({"filter-down", AlertKind::kFilterBreaker, "", 0, 0s, 10s, Severity::kCritical});
  r.push_back({"filter-slow", AlertKind::kFilterLatency, "", 2000, 60s, 60s, Severity::kWarning});
  r.push_back({"scan-held", AlertKind::kHeldScanAge, "", 900, 0s, 60s, Severity::kWarning});
  return r;
}

void Window::Add(Sample s) {
  samples_.push_back(std::move(s));
  // Keep one sample older than a minute so a rate spans the whole minute.
  while (samples_.size() > 2 && samples_.back().at_ms - samples_[1].at_ms >= 60'000) samples_.pop_front();
}

double Window::span_seconds() const {
  return samples_.empty() ? 0 : (samples_.back().at_ms - samples_.front().at_ms) / 1000.0;
}

std::map<std::string, double> Measure(const AlertRule& rule, const Window& w) {
  std::map<std::string, double> out;
  if (w.empty()) return out;
  const Sample& now = w.latest();
  const Sample& then = w.earliest();
  const double span = w.span_seconds();
  switch (rule.kind) {
    case AlertKind::kReplyRate:
      out[""] = PerMinute(CountReplies(now, rule.code), CountReplies(then, rule.code), span);
      break;
    case AlertKind::kQueueOldestAge: out[""] = static_cast<double>(now.oldest_age_s); break;
    case AlertKind::kQueueDepth: out[""] = static_cast<double>(now.queue_messages); break;
    case AlertKind::kSpoolCommitLatency: out[""] = CommitP99(w); break;
    case AlertKind::kSpoolState: out[""] = now.spool_state; break;
    case AlertKind::kClusterLocal: out[""] = now.cluster_local; break;
    case AlertKind::kClusterControl: out[""] = now.cluster_control; break;
    case AlertKind::kShadowNoPeer: out[""] = now.shadow_no_peer; break;
    case AlertKind::kShadowBacklog: out[""] = static_cast<double>(now.shadow_discards_pending); break;
    case AlertKind::kHeldScanAge: out[""] = static_cast<double>(now.held_scan_age_s); break;
    case AlertKind::kForestSaturation:
    case AlertKind::kForestDeferralRate:
    case AlertKind::kForestLatency:
      for (const auto& f : now.forests) {
        const ForestSample* old = Named(then.forests, f.name);
        if (rule.kind == AlertKind::kForestSaturation) {
          double sat = f.limit > 0 ? f.in_flight / f.limit : 0;
          if (f.queued > 0 && f.limit > 0) sat = (f.in_flight + f.queued) / f.limit;
          out[f.name] = sat;
        } else if (rule.kind == AlertKind::kForestDeferralRate) {
          out[f.name] = PerMinute(f.deferrals, old ? old->deferrals : 0, span);
        } else {
          uint64_t n = f.latency_count - (old && old->latency_count <= f.latency_count ? old->latency_count : 0);
          double sum = f.latency_sum_ms - (old && old->latency_count <= f.latency_count ? old->latency_sum_ms : 0);
          out[f.name] = n ? sum / n : 0;
        }
      }
      break;
    case AlertKind::kFilterBreaker:
    case AlertKind::kFilterLatency:
      for (const auto& f : now.filters) {
        if (rule.kind == AlertKind::kFilterBreaker) {
          out[f.name] = f.breaker == "closed" ? 0 : 1;
          continue;
        }
        const FilterSample* old = Named(then.filters, f.name);
        const bool same = old && old->scans <= f.scans;
        const uint64_t n = f.scans - (same ? old->scans : 0);
        out[f.name] = n ? (f.latency_sum_ms - (same ? old->latency_sum_ms : 0)) / static_cast<double>(n) : 0;
      }
      break;
    case AlertKind::kDestinationBreaker:
    case AlertKind::kDestinationFailureRate:
      for (const auto& d : now.destinations) {
        const DestinationSample* old = Named(then.destinations, d.name);
        out[d.name] = rule.kind == AlertKind::kDestinationBreaker
                          ? (d.breaker == "open" ? 1 : 0)
                          : PerMinute(d.deferred + d.failed, old ? old->deferred + old->failed : 0, span);
      }
      break;
  }
  return out;
}

std::string Alert::Summary() const {
  std::string what = instance.empty() ? rule : fmt::format("{} ({})", rule, instance);
  return fmt::format("{}: {} is {:.4g}, above {:.4g}", what, ToString(kind), value, threshold);
}

std::string Alert::Id() const { return fmt::format("{}/{}/{}", rule, instance, fired_ms); }

std::vector<Notice> AlertEngine::Evaluate(const Window& w, int64_t now_ms) {
  std::vector<Notice> notices;
  for (const AlertRule& rule : rules_) {
    std::map<std::string, double> values = Measure(rule, w);
    // Instances that vanished (a destination removed) count as back to normal.
    for (auto& [key, a] : active_) {
      if (key.first == rule.name && !values.count(key.second)) values[key.second] = 0;
    }
    for (const auto& [instance, value] : values) {
      auto key = std::make_pair(rule.name, instance);
      auto it = active_.find(key);
      const bool above = value > rule.above;
      if (it == active_.end()) {
        if (!above) continue;
        Alert a{rule.name, rule.kind, instance, rule.severity, "pending", value, rule.above, now_ms, 0, 0};
        it = active_.emplace(key, a).first;
      }
      Alert& a = it->second;
      if (above) a.value = value;
      if (a.state == "pending") {
        if (!above) {
          active_.erase(it);
        } else if (now_ms - a.since_ms >= std::chrono::milliseconds(rule.for_duration).count()) {
          a.state = "firing";
          a.fired_ms = now_ms;
          notices.push_back({true, a, now_ms});
        }
        continue;
      }
      // Firing: resolve only after it stayed at or below for clear_after, so
      // a measure hovering at the threshold does not page twice a minute.
      if (above) {
        a.below_since_ms = 0;
      } else if (a.below_since_ms == 0) {
        a.below_since_ms = now_ms;
      }
      if (!above && now_ms - a.below_since_ms >= std::chrono::milliseconds(rule.clear_after).count()) {
        a.value = value;
        notices.push_back({false, a, now_ms});
        active_.erase(it);
      }
    }
  }
  return notices;
}

std::vector<Alert> AlertEngine::Active() const {
  std::vector<Alert> out;
  for (const auto& [key, a] : active_) out.push_back(a);
  return out;
}

}  // namespace sluice::admin
