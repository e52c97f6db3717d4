// Routes of the admin API. Errors are JSON: {"error": "..."} with a status
// that says whose fault it was (400 bad input, 401/403 auth, 404 unknown).
#include "cluster/control_plane.h"
#include "cluster/fleet.h"
#include "cluster/shadow.h"
#include "server/edge_metrics.h"
#include "admin/admin_api.h"

#include <fmt/format.h>
#include <openssl/crypto.h>

#include <nlohmann/json.hpp>
#include <boost/asio/ip/address.hpp>
#include <regex>

#include "delivery/delivery.h"
#include "directory/directory.h"
#include "admin/dashboard.h"
#include "admin/metrics.h"
#include "admin/monitor.h"
#include "admin/requests.h"
#include "common/log.h"
#include "mail/ascii.h"
#include "queue/queue.h"
#include "spool/spool.h"
#include "mail/clock.h"

namespace sluice::admin {
namespace {

using nlohmann::json;

ApiResponse Json(int status, const json& j) { return JsonResponse(status, j); }
ApiResponse Error(int status, const std::string& what) { return ErrorResponse(status, what); }

// Constant-time comparison, so the token cannot be guessed byte by byte.
// Constant time: the comparison says nothing of how much of a guess was right.
bool Matches(const std::string& authorization, const std::string& token) {
  const std::string want = "Bearer " + token;
  return !token.empty() && authorization.size() == want.size() &&
         CRYPTO_memcmp(authorization.data(), want.data(), want.size()) == 0;
}

enum class Access { kNone, kRead, kQuarantine, kFull };

Access AccessOf(const ApiRequest& r, const AdminOptions& o) {
  if (Matches(r.authorization, o.token)) return Access::kFull;
  if (Matches(r.authorization, o.read_token)) return Access::kRead;
  if (Matches(r.authorization, o.quarantine_token)) return Access::kQuarantine;
  return Access::kNone;
}

// Replicas whose breaker is not closed: all of them means the forest cannot answer.
size_t OpenReplicas(const directory::ForestStats& f) {
  size_t open = 0;
  for (const auto& r : f.replicas) open += r.breaker != "closed";
  return open;
}

json ForestsJson(AdminStages st) {
  directory::Catalog p = st.directory.catalog();
  json out = json::array();
  for (const auto& f : st.directory.Stats()) {
    json tenants = json::array();
    for (const auto& [tenant, forest] : p.tenant_forest) {
      if (forest == f.name) tenants.push_back(tenant);
    }
    json replicas = json::array();
    for (const auto& r : f.replicas) {
      replicas.push_back({{"name", r.name}, {"breaker", r.breaker}, {"lookups", r.lookups},
                          {"failures", r.failures}});
    }
    uint64_t samples = 0;
    for (auto c : f.latency_buckets) samples += c;
    out.push_back({{"name", f.name},
                   {"tenants", tenants},
                   {"in_flight", f.in_flight},
                   {"limit", f.limit},
                   {"queued", f.queued},
                   {"saturation", f.limit ? static_cast<double>(f.in_flight) / f.limit : 0.0},
                   {"lookups", f.lookups},
                   {"cache_hits", f.cache_hits},
                   {"stale_serves", f.stale_serves},
                   {"deferred", {{"saturated", f.deferred_saturated},
                                 {"timeout", f.deferred_timeout},
                                 {"unavailable", f.deferred_unavailable}}},
                   {"latency_mean_ms", samples ? f.latency_sum_ms / samples : 0.0},
                   // Counts of back-end lookups per latency bound (ms), the last one +Inf: since start.
                   {"latency_buckets", f.latency_buckets},
                   {"latency_bucket_bounds_ms", directory::kLatencyBucketsMs},
                   {"replicas", replicas}});
    if (f.flight_limit > 0) {  // a flight splits the limit: its tenants' lane
      out.back()["flight_lane"] = {{"limit", f.flight_limit}, {"in_flight", f.flight_in_flight},
                                   {"queued", f.flight_queued}};
    }
  }
  return out;
}

json SpoolJson(const spool::SpoolHealth& h) {
  return {{"state", spool::ToString(h.state)}, {"reason", h.reason}, {"free_bytes", h.free_bytes},
          {"total_bytes", h.total_bytes}, {"used_bytes", h.used_bytes}, {"min_free_bytes", h.min_free},
          {"reserve_bytes", h.reserve_bytes}};
}

// The service at a glance, for people and for the dashboard's banner:
// "incident" when mail is being turned away or cannot leave, "degraded"
// when something is close to it, with the reasons.
json StatusJson(AdminStages st) {
  std::vector<std::string> incident, degraded;
  for (const auto& f : st.directory.Stats()) {
    double sat = f.limit ? static_cast<double>(f.in_flight) / f.limit : 0.0;
    if (f.in_flight >= f.limit && f.queued > 0) {
      incident.push_back(fmt::format("forest {} is saturated ({} in flight, {} waiting)", f.name, f.in_flight, f.queued));
    } else if (sat >= 0.8) {
      degraded.push_back(fmt::format("forest {} is at {:.0f}% of its limit", f.name, sat * 100));
    }
    const size_t open = OpenReplicas(f);
    if (open && open == f.replicas.size()) {
      incident.push_back(fmt::format("forest {}: every replica's breaker is open", f.name));
    } else if (open) {
      degraded.push_back(fmt::format("forest {}: {} replica(s) failing", f.name, open));
    }
  }
  for (const auto& d : st.delivery.Stats()) {
    if (d.breaker != "closed") degraded.push_back(fmt::format("destination {} is {}: {}", d.name, d.breaker, d.last_trouble));
  }
  if (st.fleet) {
    const cluster::FleetStatus f = st.fleet->View();
    if (f.mode == "local") degraded.push_back("fleet budgets on local shares, Redis does not answer: " + f.reason);
  }
  if (st.control) {
    const cluster::ControlStatus c = st.control->View();
    if (c.state == "unreachable") degraded.push_back("control plane unreachable, running on the snapshot: " + c.reason);
  }
  json spool = nullptr;
  if (st.spool) {
    const spool::SpoolHealth h = st.spool->Health();
    if (h.state == spool::SpoolState::kLow) {
      degraded.push_back("spool low on space, new mail refused with 452 4.3.1: " + h.reason);
    } else if (h.state != spool::SpoolState::kOk) {
      incident.push_back(fmt::format("spool {}, new mail refused: {}", spool::ToString(h.state), h.reason));
    }
    spool = SpoolJson(h);
  }
  auto q = st.queue.Stats();
  const int64_t now = mail::Clock::System().NowUnix();
  const int64_t oldest = q.oldest_unix ? now - q.oldest_unix : 0;
  if (oldest > 3600) {
    incident.push_back(fmt::format("the oldest queued message is {}m old", oldest / 60));
  } else if (oldest > 900) {
    degraded.push_back(fmt::format("the oldest queued message is {}m old", oldest / 60));
  }
  json reasons = incident;
  for (const auto& r : degraded) reasons.push_back(r);
  return {{"health", !incident.empty() ? "incident" : !degraded.empty() ? "degraded" : "healthy"},
          {"reasons", reasons},
          {"queue", {{"messages", q.messages}, {"ready", q.ready}, {"deferred", q.deferred}, {"hold", q.hold},
                     {"oldest_age_seconds", oldest}}},
          {"spool", spool}};
}

// The fleet as this node sees it: its mode, and each forest's shared
// budget with who holds how much.
json FleetJson(AdminStages st) {
  json out = json::object();
  if (st.fleet) {
    const cluster::FleetStatus f = st.fleet->View();
    json forests = json::array();
    for (const auto& b : f.forests) {
      json holders = json::object();
      for (const auto& [node, block] : b.holders) holders[node] = block;
      forests.push_back({{"forest", b.name}, {"share", b.share}, {"limit", b.limit}, {"live_nodes", b.live},
                         {"fleet_in_flight", b.fleet_in_use}, {"controller", b.controller}, {"holders", holders}});
    }
    json destinations = json::array();
    for (const auto& b : f.destinations) {
      json holders = json::object();
      for (const auto& [node, block] : b.holders) holders[node] = block;
      destinations.push_back({{"destination", b.name}, {"share", b.share}, {"limit", b.limit},
                              {"live_nodes", b.live}, {"fleet_in_flight", b.fleet_in_use}, {"holders", holders}});
    }
    out.update({{"node", f.node}, {"mode", f.mode}, {"reason", f.reason}, {"redis", f.redis},
                {"mode_since_unix", f.mode_since_unix}, {"renewals", f.renewals},
                {"renew_failures", f.renew_failures}, {"live_nodes", f.live}, {"forests", forests},
                {"destinations", destinations},
                {"rate_limits", {{"mode", f.rates.local_mode ? "local" : "shared"},
                                 {"shared_takes", f.rates.shared}, {"local_takes", f.rates.local}}}});
  }
  if (st.control) {
    const cluster::ControlStatus c = st.control->View();
    json members = json::array();
    for (const auto& m : c.members) {
      members.push_back({{"node", m.node}, {"smtp", m.smtp}, {"admin", m.admin}, {"version", m.version},
                         {"config_version", m.config_version}, {"seen_unix", m.seen_unix}, {"shadow", m.shadow},
                         {"failure_domain", m.failure_domain}});
    }
    out["control"] = {{"state", c.state}, {"endpoint", c.endpoint}, {"reason", c.reason}, {"revision", c.revision}, {"change_revision", c.change_revision},
                      {"state_since_unix", c.state_since_unix}, {"members", members}};
  }
  if (st.fleet_flight) {
    const FlightView v = st.fleet_flight->View();
    out["flight"] = {{"state", v.state}, {"share", v.share}, {"nodes", v.nodes}, {"candidate", v.candidate}};
  }
  return out;
}

// Liveness (this process answers) and readiness (it can take mail now):
// not ready while a forest has no replica to ask, so a load balancer sends
// new connections to a peer that can accept them.
json HealthJson(AdminStages st) {
  json reasons = json::array();
  for (const auto& f : st.directory.Stats()) {
    if (!f.replicas.empty() && OpenReplicas(f) == f.replicas.size()) {
      reasons.push_back(fmt::format("forest {}: every replica's breaker is open", f.name));
    }
  }
  // A spool that cannot take mail makes the node not ready, so a load
  // balancer sends new senders to a peer with room.
  if (st.spool) {
    const spool::SpoolHealth h = st.spool->Health();
    if (h.state != spool::SpoolState::kOk) reasons.push_back(fmt::format("spool {}: {}", spool::ToString(h.state), h.reason));
  }
  // A node being drained is not ready first: the load balancer sends new
  // senders elsewhere before the node refuses any.
  if (st.shadow && st.shadow->draining()) reasons.push_back("node draining to its peers (sluicectl node undrain)");
  return {{"status", "ok"}, {"live", true}, {"ready", reasons.empty()}, {"reasons", reasons}};
}

}  // namespace

const EmbeddedFile* DashboardFile(const std::string& target) {
  const std::string path = target == "/" || target == "/dashboard" ? "/index.html" : target;
  for (const auto& f : DashboardFiles()) {
    if (path == f.path) return &f;
  }
  return nullptr;
}

static json ConfigJson(const ConfigInfo& c) {
  return {{"version", c.version}, {"hash", c.hash}, {"source", c.source}, {"loaded_unix", c.loaded_unix}};
}

// Invalid UTF-8 (a peer's reply stored before it was sanitized, a tenant
// name) becomes U+FFFD instead of an exception that would leave the
// request without an answer.
ApiResponse JsonResponse(int status, const json& j) {
  return {status, "application/json", j.dump(2, ' ', false, json::error_handler_t::replace) + "\n"};
}
ApiResponse ErrorResponse(int status, const std::string& what) { return JsonResponse(status, json{{"error", what}}); }

ApiResponse FromStatus(const Status& s) {
  if (s.ok()) return Json(200, json{{"ok", true}});
  int code = s.code() == Status::Code::kNotFound ? 404
             : s.code() == Status::Code::kInvalidArgument ? 400
             : s.code() == Status::Code::kUnavailable ? 503 : 500;
  return Error(code, s.message());
}

// A change written to the fleet's control plane: every node applies it.
ApiResponse FromFleetWrite(const Result<int64_t>& r) {
  if (!r.ok()) return FromStatus(r.status());
  return Json(200, json{{"ok", true}, {"fleet", true}, {"revision", r.value()}});
}

// Parses a JSON object body, or says precisely why not.
bool ParseBody(const ApiRequest& r, json* out, ApiResponse* error) {
  auto parsed = ParseObject(r.body);
  if (!parsed.ok()) {
    *error = Error(400, parsed.status().message());
    return false;
  }
  *out = std::move(parsed).value();
  return true;
}

namespace {

ApiResponse Route(const ApiRequest& r, const AdminOptions& o, AdminStages st) {
  std::smatch m;
  const std::string& t = r.target;
  // Open to anyone who reaches the listener: liveness, readiness, the
  // figures, and the dashboard's files (which hold no data).
  if (r.method == "GET") {
    if (t == "/metrics") return {200, "text/plain; version=0.0.4", RenderMetrics(st)};
    if (t == "/api/v1/health") return Json(200, HealthJson(st));
    if (t == "/api/v1/health/ready") {
      json h = HealthJson(st);
      return Json(h["ready"].get<bool>() ? 200 : 503, h);
    }
    if (r.metrics_only) return Error(404, "this listener serves /metrics and /api/v1/health only");
    if (const EmbeddedFile* f = DashboardFile(t)) return {200, f->content_type, std::string(f->body)};
  }
  if (r.metrics_only) return Error(404, "this listener serves /metrics and /api/v1/health only");
  // Everything else shows mail data (envelopes, replies, addresses) or
  // changes state: it needs a token.
  const Access access = AccessOf(r, o);
  if (access == Access::kNone) {
    if (o.token.empty() && o.read_token.empty() && o.quarantine_token.empty()) {
      return Error(403, "no [admin] token is configured: the API tells nothing and changes nothing without one");
    }
    return Error(401, r.authorization.empty() ? "a bearer token is required" : "the bearer token is not valid");
  }
  // The quarantine desk's token opens the quarantine and nothing else.
  if (access == Access::kQuarantine) {
    auto desk = r.method == "GET" ? HandleQuarantineGet(r, st)
                : r.method == "POST" ? HandleQuarantinePost(r, st, false) : std::nullopt;
    if (desk) return *desk;
    return Error(403, "this token may only work the quarantine");
  }
  if (r.method == "GET") {
    if (auto quarantine = HandleQuarantineGet(r, st)) return *quarantine;
    if (t == "/api/v1/status") {
      json out = StatusJson(st);
      if (st.fleet || st.control) out["fleet"] = FleetJson(st);
      if (st.shadow) {
        out["shadow"] = ShadowJson(*st.shadow);
        const auto edge = st.edge.snapshot();  // what the edge accepted with and without a copy
        out["shadow"]["shadowed"] = edge.shadowed;
        out["shadow"]["unshadowed"] = {{"accepted", edge.unshadowed}, {"refused", edge.shadow_refused}};
      }
      if (st.config) out["config"] = ConfigJson(st.config->Current());
      return Json(200, out);
    }
    if (t == "/api/v1/config") {
      if (!st.config) return Error(503, "no config control in this process");
      return Json(200, ConfigJson(st.config->Current()));
    }
    if (t == "/api/v1/alerts") {
      if (!st.monitor) return Error(503, "alerts are not evaluated in this process");
      return Json(200, st.monitor->AlertsJson());
    }
    if (t == "/api/v1/history") {
      if (!st.monitor) return Error(503, "no history is kept in this process");
      return Json(200, st.monitor->HistoryJson());
    }
    if (t == "/api/v1/forests") return Json(200, ForestsJson(st));
    if (t == "/api/v1/fleet") {
      if (!st.fleet && !st.control) return Error(404, "this node is not in a fleet (no [cluster] in its config)");
      return Json(200, FleetJson(st));
    }
    if (t == "/api/v1/destinations") {
      json out = json::array();
      for (const auto& d : st.delivery.Stats()) {
        out.push_back({{"name", d.name}, {"kind", d.kind}, {"concurrency_limit", d.concurrency_limit},
                       {"in_flight", d.in_flight}, {"breaker", d.breaker}, {"backoff_ms", d.backoff_ms},
                       {"last_trouble", d.last_trouble},
                       {"deliveries", {{"delivered", d.delivered}, {"deferred", d.deferred}, {"failed", d.failed}}},
                       {"connections", d.connections}, {"reused", d.reused}});
      }
      return Json(200, out);
    }
    if (auto queue = HandleQueueGet(r, st)) return *queue;
    if (auto flight = HandleFlightGet(r, st)) return *flight;
    if (auto shadow = HandleShadowGet(r, st)) return *shadow;
    return Error(404, "no such resource: " + t);
  }
  if (r.method != "POST") return Error(405, "method not allowed: " + r.method);

  // Everything below changes state.
  if (access != Access::kFull) return Error(403, "this token may only read");
  if (auto quarantine = HandleQuarantinePost(r, st, true)) return *quarantine;
  json body;
  ApiResponse bad;
  static const std::regex kMove("^/api/v1/tenants/([^/]+)/move$");
  static const std::regex kLimit("^/api/v1/forests/([^/]+)/limit$");
  static const std::regex kFault("^/api/v1/forests/([^/]+)/fault$");
  static const std::regex kDestinationLimit("^/api/v1/destinations/([^/]+)/limit$");
  if (auto queue = HandleQueuePost(r, st)) return *queue;
  if (auto flight = HandleFlightPost(r, st)) return *flight;
  if (auto shadow = HandleShadowPost(r, st)) return *shadow;
  if (t == "/api/v1/config/reload") {
    if (!st.config) return Error(503, "no config control in this process");
    ReloadReport rep = st.config->Reload();
    json out = {{"ok", rep.ok}, {"changed", rep.changed}, {"config", ConfigJson(rep.config)},
                {"applied", rep.applied}, {"restart_needed", rep.restart_needed}, {"errors", rep.errors}};
    if (!rep.ok) out["error"] = "the new config was refused; the running one stays: " + (rep.errors.empty() ? "" : rep.errors[0]);
    return Json(rep.ok ? 200 : 422, out);
  }
  if (std::regex_match(t, m, kMove)) {
    if (!ParseBody(r, &body, &bad)) return bad;
    auto forest = ParseMove(body);
    if (!forest.ok()) return FromStatus(forest.status());
    if (st.control) return FromFleetWrite(st.control->MoveTenant(m[1], forest.value()));
    return FromStatus(st.directory.MoveTenant(m[1], forest.value()));
  }
  const bool forest_limit = std::regex_match(t, m, kLimit);
  if (forest_limit || std::regex_match(t, m, kDestinationLimit)) {
    if (!ParseBody(r, &body, &bad)) return bad;
    auto limit = ParseLimit(body);
    if (!limit.ok()) return FromStatus(limit.status());
    if (forest_limit && st.control) return FromFleetWrite(st.control->SetForestLimit(m[1], limit.value()));
    return FromStatus(forest_limit ? st.directory.SetForestLimit(m[1], limit.value())
                                   : st.delivery.SetConcurrency(m[1], limit.value()));
  }
  if (std::regex_match(t, m, kFault)) {
    if (!ParseBody(r, &body, &bad)) return bad;
    auto fault = ParseFault(body);
    if (!fault.ok()) return FromStatus(fault.status());
    return FromStatus(st.directory.SetForestFault(m[1], fault.value()));
  }
  return Error(404, "no such resource: " + t);
}

}  // namespace

ApiResponse HandleApi(const ApiRequest& r, const AdminOptions& o, AdminStages st) {
  try {
    return Route(r, o, st);
  } catch (const std::exception& e) {
    log::Event("admin handler failed").With("target", r.target).With("error", e.what()).Error();
    return Error(500, std::string("internal error: ") + e.what());
  }
}

bool HostAllowed(std::string_view host, uint16_t port, const std::vector<std::string>& names) {
  for (const auto& n : names) {
    if (mail::EqualsNoCase(host, n) || mail::EqualsNoCase(host, fmt::format("{}:{}", n, port))) return true;
  }
  std::string_view name = host, port_part;
  if (!host.empty() && host.front() == '[') {  // "[v6]" or "[v6]:port"
    const size_t close = host.find(']');
    if (close == std::string_view::npos) return false;
    name = host.substr(1, close - 1);
    std::string_view rest = host.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return false;
    if (!rest.empty()) port_part = rest.substr(1);
  } else if (size_t colon = host.find(':'); colon != std::string_view::npos) {
    name = host.substr(0, colon);
    port_part = host.substr(colon + 1);
  }
  if (!port_part.empty() && port_part != std::to_string(port)) return false;
  if (mail::EqualsNoCase(name, "localhost")) return true;
  if (name.empty()) return false;
  boost::system::error_code ec;
  boost::asio::ip::make_address(std::string(name), ec);
  return !ec;  // an IP literal cannot be rebound to another address
}

const std::vector<std::pair<std::string, std::string>>& SecurityHeaders() {
  static const std::vector<std::pair<std::string, std::string>> h = {
      {"Content-Security-Policy",
       "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"},
      {"X-Content-Type-Options", "nosniff"},
      {"X-Frame-Options", "DENY"},
      {"Referrer-Policy", "no-referrer"},
  };
  return h;
}

}  // namespace sluice::admin
