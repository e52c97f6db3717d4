#include "admin/metrics.h"

#include <fmt/format.h>

#include "cluster/fleet.h"
#include "cluster/shadow.h"
#include "delivery/dedup.h"
#include "delivery/delivery.h"
#include "server/held_scans.h"
#include "directory/directory.h"
#include "filter/filter.h"
#include "server/edge_metrics.h"
#include "admin/monitor.h"
#include "queue/queue.h"
#include "spool/spool.h"
#include "mail/clock.h"

namespace sluice::admin {
namespace {

// Writes one family: HELP, TYPE, then its samples.
class Family {
 public:
  Family(std::string* out, const char* name, const char* type, const char* help) : out_(out), name_(name) {
    *out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  }
  void Sample(const std::string& labels, double value, const char* suffix = "") {
    if (labels.empty()) {
      *out_ += fmt::format("{}{} {}\n", name_, suffix, value);
    } else {
      *out_ += fmt::format("{}{}{{{}}} {}\n", name_, suffix, labels, value);
    }
  }

 private:
  std::string* out_;
  const char* name_;
};

std::string Forest(const std::string& name) { return fmt::format("forest=\"{}\"", name); }

// Per content filter: verdicts, errors by kind, latency, slots, breaker.
void RenderFilters(std::string& out, const filter::FilterSet& set, const server::EdgeMetrics::Snapshot& edge) {
  {
    Family f(&out, "sluice_content_scans_total", "counter",
             "Transactions through the content filters, by outcome (accept, reject, tempfail, discard, quarantine, hold).");
    for (const auto& [outcome, n] : edge.scans) f.Sample(fmt::format("outcome=\"{}\"", outcome), static_cast<double>(n));
  }
  const std::vector<filter::FilterStats> all = set.Stats();
  auto label = [](const filter::FilterStats& s) { return fmt::format("filter=\"{}\"", s.name); };
  {
    Family f(&out, "sluice_filter_verdicts_total", "counter", "Verdicts per content filter.");
    for (const auto& s : all) {
      for (size_t a = 0; a < s.verdicts.size(); ++a) {
        f.Sample(fmt::format("{},verdict=\"{}\"", label(s), filter::ToString(static_cast<filter::Verdict::Action>(a))),
                 static_cast<double>(s.verdicts[a]));
      }
    }
  }
  {
    Family f(&out, "sluice_filter_errors_total", "counter",
             "Scans without a verdict per content filter, by kind (busy, breaker_open, connect, timeout, protocol, closed).");
    for (const auto& s : all) {
      for (size_t e = 1; e < s.errors.size(); ++e) {
        f.Sample(fmt::format("{},error=\"{}\"", label(s), filter::ToString(static_cast<filter::FilterError>(e))),
                 static_cast<double>(s.errors[e]));
      }
    }
  }
  {
    Family f(&out, "sluice_filter_duration_seconds", "histogram", "Time per scan, slot wait included, per content filter.");
    for (const auto& s : all) {
      uint64_t cumulative = 0;
      for (size_t i = 0; i < s.latency.size(); ++i) {
        cumulative += s.latency[i];
        std::string le = i < filter::kFilterBuckets.size() ? fmt::format("{}", filter::kFilterBuckets[i] / 1000.0) : "+Inf";
        f.Sample(fmt::format("{},le=\"{}\"", label(s), le), static_cast<double>(cumulative), "_bucket");
      }
      f.Sample(label(s), s.latency_sum_ms / 1000.0, "_sum");
      f.Sample(label(s), static_cast<double>(cumulative), "_count");
    }
  }
  {
    Family f(&out, "sluice_filter_in_flight", "gauge", "Scans in flight per content filter.");
    for (const auto& s : all) f.Sample(label(s), static_cast<double>(s.in_flight));
    Family l(&out, "sluice_filter_limit", "gauge", "The concurrency limit per content filter (max_concurrency).");
    for (const auto& s : all) l.Sample(label(s), static_cast<double>(s.limit));
    Family q(&out, "sluice_filter_queue_length", "gauge", "Scans waiting for a slot per content filter.");
    for (const auto& s : all) q.Sample(label(s), static_cast<double>(s.queued));
    Family b(&out, "sluice_filter_breaker_open", "gauge", "1 while a content filter's circuit breaker is open or half-open.");
    for (const auto& s : all) b.Sample(label(s), s.breaker == "closed" ? 0 : 1);
  }
}

}  // namespace

std::string RenderMetrics(AdminStages st) {
  std::string out;
  {
    Family f(&out, "sluice_build_info", "gauge", "Always 1; the running build's version as a label.");
    f.Sample(fmt::format("version=\"{}\"", SLUICE_VERSION_STRING), 1);
  }
  auto forests = st.directory.Stats();
  {
    Family f(&out, "sluice_forest_lookups_in_flight", "gauge", "Directory lookups in flight per forest.");
    for (const auto& x : forests) f.Sample(Forest(x.name), static_cast<double>(x.in_flight));
  }
  {
    Family f(&out, "sluice_forest_limit", "gauge", "Current bulkhead limit per forest (fixed or adaptive).");
    for (const auto& x : forests) f.Sample(Forest(x.name), static_cast<double>(x.limit));
  }
  {
    Family f(&out, "sluice_forest_queue_length", "gauge", "Lookups waiting for a bulkhead slot.");
    for (const auto& x : forests) f.Sample(Forest(x.name), static_cast<double>(x.queued));
  }
  {
    Family f(&out, "sluice_forest_lookups_total", "counter", "Recipient lookups per forest.");
    for (const auto& x : forests) f.Sample(Forest(x.name), static_cast<double>(x.lookups));
  }
  {
    Family f(&out, "sluice_forest_cache_hits_total", "counter", "Lookups answered from the cache.");
    for (const auto& x : forests) f.Sample(Forest(x.name), static_cast<double>(x.cache_hits));
  }
  {
    Family f(&out, "sluice_forest_stale_serves_total", "counter",
             "Lookups answered with an expired cache entry because the forest failed or was saturated.");
    for (const auto& x : forests) f.Sample(Forest(x.name), static_cast<double>(x.stale_serves));
  }
  {
    Family f(&out, "sluice_forest_deferrals_total", "counter", "Recipients deferred with a 4xx, by reason.");
    for (const auto& x : forests) {
      f.Sample(Forest(x.name) + ",reason=\"saturated\"", static_cast<double>(x.deferred_saturated));
      f.Sample(Forest(x.name) + ",reason=\"timeout\"", static_cast<double>(x.deferred_timeout));
      f.Sample(Forest(x.name) + ",reason=\"unavailable\"", static_cast<double>(x.deferred_unavailable));
    }
  }
  {
    Family f(&out, "sluice_forest_lookup_duration_seconds", "histogram", "Back-end lookup latency per forest.");
    for (const auto& x : forests) {
      uint64_t cumulative = 0;
      for (size_t i = 0; i < x.latency_buckets.size(); ++i) {
        cumulative += x.latency_buckets[i];
        std::string le = i < std::size(directory::kLatencyBucketsMs)
                             ? fmt::format("{}", directory::kLatencyBucketsMs[i] / 1000.0)
                             : "+Inf";
        f.Sample(Forest(x.name) + ",le=\"" + le + "\"", static_cast<double>(cumulative), "_bucket");
      }
      f.Sample(Forest(x.name), x.latency_sum_ms / 1000.0, "_sum");
      f.Sample(Forest(x.name), static_cast<double>(cumulative), "_count");
    }
  }
  {
    Family f(&out, "sluice_forest_replica_up", "gauge", "1 while a replica's circuit breaker is closed.");
    for (const auto& x : forests) {
      for (const auto& r : x.replicas) {
        f.Sample(fmt::format("{},replica=\"{}\"", Forest(x.name), r.name), r.breaker == "closed" ? 1 : 0);
      }
    }
  }
  {
    Family f(&out, "sluice_tenant_forest", "gauge", "1 for the forest that holds each tenant (placement).");
    for (const auto& [tenant, forest] : st.directory.catalog().tenant_forest) {
      f.Sample(fmt::format("tenant=\"{}\",{}", tenant, Forest(forest)), 1);
    }
  }
  auto edge = st.edge.snapshot();
  {
    Family f(&out, "sluice_smtp_connections_total", "counter", "SMTP connections accepted.");
    f.Sample("", static_cast<double>(edge.connections));
  }
  {
    Family f(&out, "sluice_smtp_transactions_total", "counter", "Messages received, by whether they were queued.");
    f.Sample("result=\"queued\"", static_cast<double>(edge.queued));
    f.Sample("result=\"failed\"", static_cast<double>(edge.failed));
  }
  {
    Family f(&out, "sluice_smtp_replies_total", "counter", "SMTP replies sent, by code and enhanced code.");
    for (const auto& [key, n] : edge.replies) {
      f.Sample(fmt::format("code=\"{}\",enhanced=\"{}\"", key.first, key.second), static_cast<double>(n));
    }
  }
  {
    Family f(&out, "sluice_spool_commit_duration_seconds", "histogram",
             "Time to commit and sync a message before its 250.");
    uint64_t cumulative = 0;
    for (size_t i = 0; i < edge.commit_buckets.size(); ++i) {
      cumulative += edge.commit_buckets[i];
      std::string le = i < std::size(server::kCommitBucketsMs) ? fmt::format("{}", server::kCommitBucketsMs[i] / 1000.0) : "+Inf";
      f.Sample("le=\"" + le + "\"", static_cast<double>(cumulative), "_bucket");
    }
    f.Sample("", edge.commit_sum_ms / 1000.0, "_sum");
    f.Sample("", static_cast<double>(cumulative), "_count");
  }
  {
    Family f(&out, "sluice_smtp_sessions", "gauge", "SMTP sessions open now.");
    f.Sample("", static_cast<double>(edge.open_sessions));
  }
  {
    Family f(&out, "sluice_smtp_session_limit", "gauge",
             "Sessions allowed at once: max_connections, or fewer when file descriptors would not suffice.");
    f.Sample("", static_cast<double>(edge.session_limit));
  }
  {
    Family f(&out, "sluice_smtp_stress", "gauge", "1 while open sessions are above the stress threshold (timeouts shortened).");
    f.Sample("", edge.stressed ? 1 : 0);
  }
  {
    Family f(&out, "sluice_smtp_stress_entries_total", "counter", "Times the edge went under stress.");
    f.Sample("", static_cast<double>(edge.stress_entries));
  }
  {
    Family f(&out, "sluice_smtp_timeouts_total", "counter",
             "Sessions closed by a deadline (421 4.4.2), by deadline and whether under stress.");
    for (const char* kind : {"command", "data", "session"}) {
      for (bool stressed : {false, true}) {
        auto it = edge.timeouts.find({kind, stressed});
        f.Sample(fmt::format("deadline=\"{}\",stress=\"{}\"", kind, stressed ? "yes" : "no"),
                 it == edge.timeouts.end() ? 0.0 : static_cast<double>(it->second));
      }
    }
  }
  {
    Family f(&out, "sluice_smtp_buffered_bytes", "gauge", "Message content held in memory across SMTP sessions.");
    f.Sample("", static_cast<double>(edge.buffered_bytes));
  }
  {
    Family f(&out, "sluice_smtp_buffer_limit_bytes", "gauge", "The budget for message content in memory ([limits] max_buffered_bytes).");
    f.Sample("", static_cast<double>(edge.buffered_limit));
  }
  {
    Family f(&out, "sluice_smtp_buffer_waits_total", "counter", "Times a session stopped reading because the content budget was spent.");
    f.Sample("", static_cast<double>(edge.buffer_waits));
  }
  {
    Family f(&out, "sluice_smtp_buffer_refusals_total", "counter", "Messages refused with 452 4.3.1 for want of memory.");
    f.Sample("", static_cast<double>(edge.buffer_refusals));
  }
  {
    using R = server::EdgeMetrics::Refusal;
    auto n = [&](R r) { return static_cast<double>(edge.refused[static_cast<size_t>(r)]); };
    Family f(&out, "sluice_rate_limited_total", "counter",
             "Refused by a rate limit: messages per client address or per tenant (451 4.7.1), connections per "
             "client address (421 4.7.0), recipients per client address (451 4.7.1).");
    f.Sample("scope=\"client\"", n(R::kClientRate));
    f.Sample("scope=\"tenant\"", n(R::kTenantRate));
    f.Sample("scope=\"client_connections\"", n(R::kConnectionRate));
    f.Sample("scope=\"client_recipients\"", n(R::kRecipientRate));
    Family b(&out, "sluice_blocked_total", "counter",
             "Refused by the connection filter: connections from the global block list (554 5.7.1 greeting), "
             "recipients of a tenant that blocks the client (550 5.7.1).");
    b.Sample("scope=\"global\"", n(R::kBlocked));
    b.Sample("scope=\"tenant\"", n(R::kTenantBlocked));
    Family c(&out, "sluice_connector_refusals_total", "counter",
             "MAIL refused by the connectors: a require_tls connector's address in the clear (530 5.7.0), a sender "
             "domain restricted to its tenant's connectors from elsewhere (550 5.7.1).");
    c.Sample("reason=\"tls_required\"", n(R::kConnectorTls));
    c.Sample("reason=\"sender_restricted\"", n(R::kConnectorSender));
  }
  {
    Family t(&out, "sluice_connector_transactions_total", "counter", "Transactions accepted from a tenant's connector.");
    for (const auto& [name, v] : edge.connectors) t.Sample(fmt::format("connector=\"{}\"", name), static_cast<double>(v.first));
    Family r(&out, "sluice_connector_relayed_total", "counter",
             "Recipients outside the directory relayed for a connector's tenant.");
    for (const auto& [name, v] : edge.connectors) r.Sample(fmt::format("connector=\"{}\"", name), static_cast<double>(v.second));
  }
  {
    Family f(&out, "sluice_shadowed_total", "counter", "Messages a peer synced a shadow copy of before the 250.");
    f.Sample("", static_cast<double>(edge.shadowed));
  }
  {
    Family f(&out, "sluice_unshadowed_total", "counter",
             "Messages accepted without a shadow copy (best-effort: no peer within the deadline), and refused for want of one (required: 451 4.4.0).");
    f.Sample("result=\"accepted\"", static_cast<double>(edge.unshadowed));
    f.Sample("result=\"refused\"", static_cast<double>(edge.shadow_refused));
  }
  {
    Family f(&out, "sluice_smtp_accept_errors_total", "counter", "accept(2) failures, such as running out of file descriptors.");
    f.Sample("", static_cast<double>(edge.accept_errors));
  }
  if (st.fleet) {
    const cluster::FleetStatus fleet = st.fleet->View();
    {
      Family f(&out, "sluice_cluster_mode", "gauge",
               "1 for the fleet mode: shared (budgets in Redis) or local (Redis did not answer; local shares).");
      for (const char* mode : {"shared", "local"}) f.Sample(fmt::format("mode=\"{}\"", mode), fleet.mode == mode ? 1 : 0);
    }
    {
      Family f(&out, "sluice_cluster_renewals_total", "counter", "Budget renewals with Redis, by result.");
      f.Sample("result=\"ok\"", static_cast<double>(fleet.renewals));
      f.Sample("result=\"failed\"", static_cast<double>(fleet.renew_failures));
    }
    {
      Family f(&out, "sluice_rate_takes_total", "counter",
               "Rate-limit takes, by who answered: the fleet's table in Redis, or this node's share alone.");
      f.Sample("answered=\"shared\"", static_cast<double>(fleet.rates.shared));
      f.Sample("answered=\"local\"", static_cast<double>(fleet.rates.local));
    }
    {
      Family f(&out, "sluice_forest_fleet_limit", "gauge", "A forest's limit for the whole fleet.");
      for (const auto& b : fleet.forests) f.Sample(Forest(b.name), static_cast<double>(b.limit));
    }
    {
      Family f(&out, "sluice_forest_fleet_share", "gauge", "The block of a forest's fleet budget this node holds.");
      for (const auto& b : fleet.forests) f.Sample(Forest(b.name), static_cast<double>(b.share));
    }
    {
      Family f(&out, "sluice_destination_fleet_share", "gauge",
               "The block of a destination's fleet-wide max_concurrency this node holds.");
      for (const auto& b : fleet.destinations) {
        f.Sample(fmt::format("destination=\"{}\"", b.name), static_cast<double>(b.share));
      }
    }
  }
  if (st.dedup) {
    Family f(&out, "sluice_duplicates_suppressed_total", "counter",
             "Recipients not delivered again to a mailbox store: the same Message-ID reached them within the dedup window.");
    f.Sample("", static_cast<double>(st.dedup->suppressed()));
  }
  if (st.shadow) {
    const cluster::ShadowStats sh = st.shadow->Stats();
    {
      Family f(&out, "sluice_shadow_copies_held", "gauge", "Shadow copies this node holds for other nodes.");
      f.Sample("", static_cast<double>(sh.held));
    }
    {
      Family f(&out, "sluice_shadow_copies_total", "counter",
               "Shadow copies: received for others, sent to peers, failed to send, delivered here (promoted: a primary "
               "lost its spool or went silent; takeover: the latter), moved to the safety net (discarded), removed from "
               "it (expired), queued again from it (resubmitted).");
      f.Sample("kind=\"received\"", static_cast<double>(sh.received));
      f.Sample("kind=\"sent\"", static_cast<double>(sh.sent));
      f.Sample("kind=\"failed\"", static_cast<double>(sh.failed));
      f.Sample("kind=\"promoted\"", static_cast<double>(sh.promoted));
      f.Sample("kind=\"takeover\"", static_cast<double>(sh.takeovers));
      f.Sample("kind=\"discarded\"", static_cast<double>(sh.discarded));
      f.Sample("kind=\"expired\"", static_cast<double>(sh.expired));
      f.Sample("kind=\"resubmitted\"", static_cast<double>(sh.resubmitted));
    }
    {
      Family f(&out, "sluice_safety_net_copies", "gauge", "Delivered messages kept in this node's safety net.");
      f.Sample("", static_cast<double>(sh.net));
    }
    {
      Family f(&out, "sluice_shadow_discards_pending", "gauge",
               "This node's discards some peer has not heard yet (they leave shadow copies held on it).");
      f.Sample("", static_cast<double>(sh.discards_pending));
    }
    {
      Family f(&out, "sluice_shadow_peers_up", "gauge", "Shadow peers that answered this node's last exchange, of those configured.");
      f.Sample("", static_cast<double>(sh.peers_up));
    }
    {
      Family f(&out, "sluice_shadow_dropped_total", "counter",
               "This node's messages dropped at a peer's word that it delivered them during a takeover.");
      f.Sample("", static_cast<double>(sh.dropped_taken));
    }
    {
      const cluster::DrainStatus d = st.shadow->Drain();
      Family f(&out, "sluice_node_draining", "gauge", "1 while this node is drained to its peers.");
      f.Sample("", d.state == "off" ? 0.0 : 1.0);
      Family h(&out, "sluice_drain_handed_total", "counter", "Messages this drain handed to a peer.");
      h.Sample("", static_cast<double>(d.handed));
    }
  }
  if (st.spool) {
    const spool::SpoolHealth h = st.spool->Health();
    {
      Family f(&out, "sluice_spool_bytes", "gauge",
               "The spool's file system: free and total bytes, the spool's own files, min_free and the reserve held.");
      f.Sample("kind=\"free\"", static_cast<double>(h.free_bytes));
      f.Sample("kind=\"total\"", static_cast<double>(h.total_bytes));
      f.Sample("kind=\"used\"", static_cast<double>(h.used_bytes));
      f.Sample("kind=\"min_free\"", static_cast<double>(h.min_free));
      f.Sample("kind=\"reserve\"", static_cast<double>(h.reserve_bytes));
    }
    {
      Family f(&out, "sluice_spool_writes_total", "counter",
               "The spool writer's work: changes (commits, updates, removals), the batches they went in, the synced ones.");
      f.Sample("kind=\"changes\"", static_cast<double>(h.changes));
      f.Sample("kind=\"batches\"", static_cast<double>(h.batches));
      f.Sample("kind=\"syncs\"", static_cast<double>(h.syncs));
    }
    {
      Family f(&out, "sluice_spool_state", "gauge", "1 for the spool's state: ok, low (under min_free), full or error.");
      for (auto state : {spool::SpoolState::kOk, spool::SpoolState::kLow, spool::SpoolState::kFull, spool::SpoolState::kError}) {
        f.Sample(fmt::format("state=\"{}\"", spool::ToString(state)), h.state == state ? 1 : 0);
      }
    }
  }
  auto destinations = st.delivery.Stats();
  auto dest = [](const delivery::DestinationStats& d) { return fmt::format("destination=\"{}\"", d.name); };
  {
    Family f(&out, "sluice_destination_concurrency_limit", "gauge",
             "Deliveries a destination may take at once (its adaptive throttle).");
    for (const auto& d : destinations) f.Sample(dest(d), static_cast<double>(d.concurrency_limit));
  }
  {
    Family f(&out, "sluice_destination_deliveries_in_flight", "gauge", "Deliveries in progress per destination.");
    for (const auto& d : destinations) f.Sample(dest(d), static_cast<double>(d.in_flight));
  }
  {
    Family f(&out, "sluice_destination_breaker_open", "gauge",
             "1 while a destination is backing off and gets no connections.");
    for (const auto& d : destinations) f.Sample(dest(d), d.breaker == "open" ? 1 : 0);
  }
  {
    Family f(&out, "sluice_destination_backoff_seconds", "gauge", "Time left of a destination's backoff window.");
    for (const auto& d : destinations) f.Sample(dest(d), d.backoff_ms / 1000.0);
  }
  {
    Family f(&out, "sluice_deliveries_total", "counter", "Delivery outcomes per recipient, by destination and result.");
    for (const auto& d : destinations) {
      f.Sample(dest(d) + ",result=\"delivered\"", static_cast<double>(d.delivered));
      f.Sample(dest(d) + ",result=\"deferred\"", static_cast<double>(d.deferred));
      f.Sample(dest(d) + ",result=\"failed\"", static_cast<double>(d.failed));
    }
  }
  {
    Family f(&out, "sluice_destination_connections_total", "counter", "Connections opened to a destination.");
    for (const auto& d : destinations) f.Sample(dest(d), static_cast<double>(d.connections));
  }
  {
    Family f(&out, "sluice_destination_connections_reused_total", "counter",
             "Deliveries that reused an open connection.");
    for (const auto& d : destinations) f.Sample(dest(d), static_cast<double>(d.reused));
  }
  {
    auto q = st.queue.Stats();
    Family f(&out, "sluice_queue_messages", "gauge", "Messages in the queue by state.");
    f.Sample("state=\"ready\"", static_cast<double>(q.ready));
    f.Sample("state=\"deferred\"", static_cast<double>(q.deferred));
    f.Sample("state=\"hold\"", static_cast<double>(q.hold));
    f.Sample("state=\"in_flight\"", static_cast<double>(q.in_flight));
    const int64_t now = mail::Clock::System().NowUnix();
    Family age(&out, "sluice_queue_oldest_message_age_seconds", "gauge",
               "Age of the oldest message in the queue; 0 when it is empty.");
    age.Sample("", q.oldest_unix ? static_cast<double>(now - q.oldest_unix) : 0.0);
    Family d(&out, "sluice_queue_deliveries_total", "counter",
             "Delivery attempts per recipient, by result and the destination's reply code.");
    for (const auto& [key, n] : q.deliveries) {
      d.Sample(fmt::format("result=\"{}\",code=\"{}\"", key.first, key.second), static_cast<double>(n));
    }
    Family dsn(&out, "sluice_queue_dsn_total", "counter", "Delivery status notifications queued to senders.");
    dsn.Sample("", static_cast<double>(q.dsn_sent));
  }
  if (st.monitor) {
    // One series per rule, 0 when quiet, so a dashboard can graph it and a
    // Prometheus rule can page on it.
    std::map<std::string, size_t> firing;
    for (const auto& r : st.monitor->Rules()) firing[r.name] = 0;
    for (const auto& a : st.monitor->Active()) firing[a.rule] += a.state == "firing";
    Family f(&out, "sluice_alerts_firing", "gauge", "Alerts firing per rule (instances of it).");
    for (const auto& [rule, n] : firing) f.Sample(fmt::format("alert=\"{}\"", rule), static_cast<double>(n));
    Family w(&out, "sluice_alert_notifications_total", "counter",
             "Alert notifications per webhook: sent, retried after a failure, dropped after the last attempt.");
    for (const auto& s : st.monitor->Webhooks()) {
      w.Sample(fmt::format("webhook=\"{}\",result=\"sent\"", s.name), static_cast<double>(s.sent));
      w.Sample(fmt::format("webhook=\"{}\",result=\"retried\"", s.name), static_cast<double>(s.retries));
      w.Sample(fmt::format("webhook=\"{}\",result=\"dropped\"", s.name), static_cast<double>(s.dropped));
    }
  }
  if (st.filters) RenderFilters(out, *st.filters, edge);
  if (st.held) {
    const server::HeldStats h = st.held->Stats();
    Family n(&out, "sluice_held_for_scan", "gauge", "Messages held for their scan (on_error = \"hold\"), waiting for their filters.");
    n.Sample("", static_cast<double>(h.held));
    Family r(&out, "sluice_held_scans_total", "counter",
             "Rescans of held mail by result: released, quarantined, discarded, or still waiting (no verdict yet).");
    r.Sample("result=\"released\"", static_cast<double>(h.released));
    r.Sample("result=\"quarantined\"", static_cast<double>(h.quarantined));
    r.Sample("result=\"discarded\"", static_cast<double>(h.discarded));
    r.Sample("result=\"waiting\"", static_cast<double>(h.waits));
  }
  if (st.flight) {
    const FlightView v = st.flight->View();
    Family share(&out, "sluice_flight_share", "gauge", "Percent of tenants in a running flight (0: none).");
    share.Sample("", v.state == "running" ? v.share : 0);
    Family gates(&out, "sluice_flight_gate_failing", "gauge", "1 while a judged flight gate is failing.");
    for (const auto& g : v.gates) gates.Sample(fmt::format("gate=\"{}\"", g.name), g.judged && !g.pass ? 1 : 0);
  }
  return out;
}

}  // namespace sluice::admin
