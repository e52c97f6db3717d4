// The flight's routes: GET /api/v1/flight, and (authorized already) POST
// /api/v1/flight/{start,promote,rollback}.
#include <nlohmann/json.hpp>

#include "admin/admin_api.h"
#include "admin/requests.h"

namespace sluice::admin {
namespace {

using nlohmann::json;

json GroupJson(const FlightGroupFigures& g) {
  return {{"lookups", g.lookups}, {"lookups_deferred", g.lookups_deferred}, {"latency_mean_ms", g.latency_mean_ms},
          {"deliveries", g.deliveries}, {"delivery_failures", g.delivery_failures}};
}

json FlightJson(const FlightView& v) {
  json gates = json::array();
  for (const auto& g : v.gates) {
    gates.push_back({{"name", g.name}, {"flight", g.flight}, {"control", g.control}, {"limit", g.limit},
                     {"judged", g.judged}, {"pass", g.pass}});
  }
  json history = json::array();
  for (const auto& [t, what] : v.history) history.push_back({{"unix", t}, {"step", what}});
  return {{"state", v.state}, {"candidate", v.candidate}, {"candidate_hash", v.candidate_hash},
          {"reason", v.reason}, {"share", v.share}, {"shares", v.shares}, {"started_unix", v.started_unix},
          {"share_started_unix", v.share_started_unix}, {"changes", v.changes}, {"nodes", v.nodes},
          {"groups", {{"flight", GroupJson(v.flight)}, {"control", GroupJson(v.control)}}},
          {"gates", gates}, {"history", history}};
}

// A refused step is the caller's to fix: 409 when the flight is not in a
// state for it, 422 when the candidate is not acceptable.
ApiResponse Reply(const Result<FlightView>& r, int refused) {
  if (r.ok()) return JsonResponse(200, FlightJson(r.value()));
  if (r.status().code() == Status::Code::kInvalidArgument) return ErrorResponse(refused, r.status().message());
  return FromStatus(r.status());
}

}  // namespace

// The tenant-share flight at /api/v1/flight, the fleet's node flight at
// /api/v1/fleet/flight: the same resource over two controls.
namespace {
struct FlightRoute {
  std::string base;
  FlightControl* control;
};
std::optional<FlightRoute> RouteOf(const std::string& t, AdminStages st) {
  if (t.rfind("/api/v1/fleet/flight", 0) == 0) return FlightRoute{"/api/v1/fleet/flight", st.fleet_flight};
  if (t.rfind("/api/v1/flight", 0) == 0) return FlightRoute{"/api/v1/flight", st.flight};
  return std::nullopt;
}
}  // namespace

std::optional<ApiResponse> HandleFlightGet(const ApiRequest& r, AdminStages st) {
  auto route = RouteOf(r.target, st);
  if (!route || r.target != route->base) return std::nullopt;
  if (!route->control) return ErrorResponse(503, "no such flight control in this process");
  return JsonResponse(200, FlightJson(route->control->View()));
}

std::optional<ApiResponse> HandleFlightPost(const ApiRequest& r, AdminStages st) {
  const std::string& t = r.target;
  auto route = RouteOf(t, st);
  if (!route || t.rfind(route->base + "/", 0) != 0) return std::nullopt;
  if (!route->control) return ErrorResponse(503, "no such flight control in this process");
  const std::string step = t.substr(route->base.size());
  if (step == "/start") {
    json body;
    ApiResponse bad;
    if (!ParseBody(r, &body, &bad)) return bad;
    auto start = ParseFlightStart(body);
    if (!start.ok()) return ErrorResponse(400, start.status().message());
    return Reply(route->control->Start(start.value().candidate, start.value().share), 422);
  }
  if (step == "/promote") return Reply(route->control->Promote(), 409);
  if (step == "/rollback") return Reply(route->control->Rollback(), 409);
  return ErrorResponse(404, "no such resource: " + t);
}

}  // namespace sluice::admin
