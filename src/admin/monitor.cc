#include "cluster/control_plane.h"
#include "cluster/fleet.h"
#include "cluster/shadow.h"
#include "admin/monitor.h"

#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>

#include "delivery/delivery.h"
#include "directory/directory.h"
#include "filter/filter.h"
#include "server/edge_metrics.h"
#include "server/held_scans.h"
#include "spool/spool.h"
#include "common/log.h"
#include "queue/queue.h"
#include "mail/clock.h"

namespace sluice::admin {
namespace {

using nlohmann::json;

constexpr int64_t kHistoryStepMs = 10'000;           // one chart point per 10 s ...
constexpr size_t kHistoryPoints = 3600'000 / kHistoryStepMs;  // ... for an hour
constexpr size_t kRecentNotices = 50;

int64_t NowMs() { return mail::Clock::System().NowUnixMs(); }

json AlertJson(const Alert& a) {
  return {{"id", a.Id()},          {"alert", a.rule},         {"kind", ToString(a.kind)},
          {"instance", a.instance}, {"severity", ToString(a.severity)}, {"state", a.state},
          {"value", a.value},       {"threshold", a.threshold}, {"summary", a.Summary()},
          {"since_ms", a.since_ms}, {"fired_ms", a.fired_ms}};
}

uint64_t RepliesOfClass(const Sample& s, char c) {
  uint64_t n = 0;
  for (const auto& [key, count] : s.replies) {
    if (!key.first.empty() && key.first[0] == c) n += count;
  }
  return n;
}

}  // namespace

Sample TakeSample(AdminStages st, int64_t now_ms) {
  Sample s;
  s.at_ms = now_ms;
  auto edge = st.edge.snapshot();
  s.replies = std::move(edge.replies);
  s.commit_buckets = std::move(edge.commit_buckets);
  for (const auto& f : st.directory.Stats()) {
    ForestSample x;
    x.name = f.name;
    x.in_flight = static_cast<double>(f.in_flight);
    x.limit = static_cast<double>(f.limit);
    x.queued = static_cast<double>(f.queued);
    x.deferrals = f.deferred_saturated + f.deferred_timeout + f.deferred_unavailable;
    x.lookups = f.lookups;
    for (auto c : f.latency_buckets) x.latency_count += c;
    x.latency_sum_ms = f.latency_sum_ms;
    s.forests.push_back(std::move(x));
  }
  for (const auto& d : st.delivery.Stats()) {
    s.destinations.push_back({d.name, d.breaker, d.last_trouble, static_cast<double>(d.in_flight),
                              static_cast<double>(d.concurrency_limit), d.delivered, d.deferred, d.failed});
  }
  if (st.filters) {
    for (const auto& f : st.filters->Stats()) {
      uint64_t scans = 0;
      for (auto c : f.latency) scans += c;
      s.filters.push_back({f.name, f.breaker, scans, f.latency_sum_ms});
    }
  }
  if (st.held) {
    const server::HeldStats h = st.held->Stats();
    s.held_scan_age_s = h.oldest_unix ? now_ms / 1000 - h.oldest_unix : 0;
  }
  auto q = st.queue.Stats();
  s.queue_messages = q.messages;
  s.queue_deferred = q.deferred;
  s.oldest_age_s = q.oldest_unix ? now_ms / 1000 - q.oldest_unix : 0;
  if (st.spool) {
    spool::SpoolHealth h = st.spool->Health();
    s.spool_state = static_cast<int>(h.state);
    s.spool_reason = std::move(h.reason);
  }
  if (st.fleet) s.cluster_local = st.fleet->View().mode == "local" ? 1 : 0;
  if (st.control) s.cluster_control = st.control->View().state == "unreachable" ? 1 : 0;
  if (st.shadow) {
    const cluster::ShadowStats sh = st.shadow->Stats();
    s.shadow_no_peer = sh.peers > 0 && sh.peers_up == 0 ? 1 : 0;
    s.shadow_discards_pending = sh.discards_pending;
  }
  return s;
}

Monitor::Monitor(AlertOptions o, AdminStages st, std::string host)
    : o_(std::move(o)), st_(st), host_(std::move(host)), engine_(o_.rules) {}

void Monitor::Start(boost::asio::io_context& io) {
  timer_ = std::make_unique<boost::asio::steady_timer>(io);
  for (const auto& w : o_.webhooks) {
    webhooks_.push_back(std::make_unique<Webhook>(io, w, host_));
    webhooks_.back()->Start();
  }
  boost::asio::post(io, [this] {
    Tick(NowMs());
    Schedule();
  });
}

void Monitor::Stop() {
  for (auto& w : webhooks_) w->Stop();
  if (timer_) boost::asio::post(timer_->get_executor(), [this] { timer_->cancel(); });
}

void Monitor::Schedule() {
  timer_->expires_after(o_.interval);
  timer_->async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    Tick(NowMs());
    Schedule();
  });
}

void Monitor::Tick(int64_t now_ms) {
  Sample s = TakeSample(st_, now_ms);
  std::vector<Notice> notices;
  {
    std::lock_guard lock(mu_);
    window_.Add(s);
    notices = engine_.Evaluate(window_, now_ms);
    Record(s);
    for (const auto& n : notices) {
      recent_.push_back(n);
      if (recent_.size() > kRecentNotices) recent_.pop_front();
    }
  }
  for (const auto& n : notices) {
    log::Event(n.firing ? "alert firing" : "alert resolved")
        .With("alert", n.alert.rule)
        .With("instance", n.alert.instance)
        .With("severity", ToString(n.alert.severity))
        .With("value", n.alert.value)
        .With("threshold", n.alert.threshold)
        .With("id", n.alert.Id())
        .Warn();
    for (auto& w : webhooks_) w->Post(n);
  }
}

// Appends a history point once per step, with rates over that step.
void Monitor::Record(const Sample& now) {
  const Sample& then = last_point_sample_;
  if (then.at_ms != 0 && now.at_ms - then.at_ms < kHistoryStepMs) return;
  Point p;
  p.at_ms = now.at_ms;
  if (then.at_ms != 0) {
    double minutes = (now.at_ms - then.at_ms) / 60000.0;
    auto rate = [&](char c) {
      uint64_t a = RepliesOfClass(now, c), b = RepliesOfClass(then, c);
      return a >= b ? (a - b) / minutes : 0.0;
    };
    p.r2xx = rate('2');
    p.r4xx = rate('4');
    p.r5xx = rate('5');
  }
  p.queue = now.queue_messages;
  p.oldest_age_s = now.oldest_age_s;
  for (const auto& f : now.forests) {
    double sat = f.limit > 0 ? f.in_flight / f.limit : 0;
    double latency = 0;
    for (const auto& old : then.forests) {
      if (old.name == f.name && f.latency_count > old.latency_count) {
        latency = (f.latency_sum_ms - old.latency_sum_ms) / (f.latency_count - old.latency_count);
      }
    }
    p.forests.push_back({f.name, {sat, latency}});
  }
  history_.push_back(std::move(p));
  if (history_.size() > kHistoryPoints) history_.pop_front();
  last_point_sample_ = now;
}

std::vector<Alert> Monitor::Active() const {
  std::lock_guard lock(mu_);
  return engine_.Active();
}

std::vector<WebhookStats> Monitor::Webhooks() const {
  std::vector<WebhookStats> out;
  for (const auto& w : webhooks_) out.push_back(w->Stats());
  return out;
}

json Monitor::AlertsJson() const {
  std::lock_guard lock(mu_);
  json active = json::array();
  size_t firing = 0;
  for (const auto& a : engine_.Active()) {
    active.push_back(AlertJson(a));
    firing += a.state == "firing";
  }
  json rules = json::array();
  for (const auto& r : engine_.rules()) {
    rules.push_back({{"name", r.name}, {"kind", ToString(r.kind)}, {"code", r.code}, {"above", r.above},
                     {"for_seconds", r.for_duration.count()}, {"clear_after_seconds", r.clear_after.count()},
                     {"severity", ToString(r.severity)}});
  }
  json recent = json::array();
  for (const auto& n : recent_) {
    json j = AlertJson(n.alert);
    j["status"] = n.firing ? "firing" : "resolved";
    j["at_ms"] = n.at_ms;
    recent.push_back(std::move(j));
  }
  json hooks = json::array();
  for (const WebhookStats& s : Webhooks()) {
    hooks.push_back({{"name", s.name}, {"format", s.format}, {"sent", s.sent}, {"retries", s.retries},
                     {"dropped", s.dropped}, {"pending", s.pending}, {"last_error", s.last_error}});
  }
  return {{"firing", firing}, {"active", active}, {"recent", recent}, {"rules", rules}, {"webhooks", hooks}};
}

json Monitor::HistoryJson() const {
  std::lock_guard lock(mu_);
  json points = json::array();
  for (const auto& p : history_) {
    json forests = json::object();
    for (const auto& [name, v] : p.forests) forests[name] = {{"saturation", v.first}, {"latency_ms", v.second}};
    points.push_back({{"at_ms", p.at_ms}, {"replies_per_minute", {{"2xx", p.r2xx}, {"4xx", p.r4xx}, {"5xx", p.r5xx}}},
                      {"queue", p.queue}, {"oldest_age_s", p.oldest_age_s}, {"forests", forests}});
  }
  return {{"step_ms", kHistoryStepMs}, {"points", points}};
}

}  // namespace sluice::admin
