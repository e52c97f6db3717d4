// Shadow copies, drain and the safety net: GET /api/v1/shadow, and
// (authorized already) POST /api/v1/node/{drain,undrain} and
// /api/v1/safetynet/resubmit.
#include <nlohmann/json.hpp>

#include "admin/admin_api.h"
#include "cluster/shadow.h"

namespace sluice::admin {
namespace {

using nlohmann::json;

json DrainJson(const cluster::DrainStatus& d) {
  return {{"state", d.state}, {"since_unix", d.since_unix}, {"handed", d.handed}, {"failed", d.failed},
          {"left", d.left}, {"last_error", d.last_error}};
}

}  // namespace

json ShadowJson(cluster::Shadow& shadow) {
  const cluster::ShadowStats s = shadow.Stats();
  json peers = json::array();
  for (const auto& p : s.peer_list) peers.push_back({{"address", p.address}, {"state", p.state}, {"last_ok_unix", p.last_ok_unix}});
  return {{"held", s.held}, {"safety_net", s.net}, {"received", s.received}, {"promoted", s.promoted},
          {"takeovers", s.takeovers}, {"discarded", s.discarded}, {"expired", s.expired},
          {"resubmitted", s.resubmitted}, {"sent", s.sent}, {"failed", s.failed},
          {"discards_pending", s.discards_pending}, {"dropped_taken", s.dropped_taken},
          {"peers_up", s.peers_up}, {"peers", peers}, {"drain", DrainJson(shadow.Drain())}};
}

std::optional<ApiResponse> HandleShadowGet(const ApiRequest& r, AdminStages st) {
  if (r.target != "/api/v1/shadow" && r.target != "/api/v1/node/drain") return std::nullopt;
  if (!st.shadow) return ErrorResponse(404, "shadow copies are off on this node (no [shadow] in its config)");
  if (r.target == "/api/v1/node/drain") return JsonResponse(200, DrainJson(st.shadow->Drain()));
  return JsonResponse(200, ShadowJson(*st.shadow));
}

std::optional<ApiResponse> HandleShadowPost(const ApiRequest& r, AdminStages st) {
  const std::string& t = r.target;
  if (t != "/api/v1/node/drain" && t != "/api/v1/node/undrain" && t != "/api/v1/safetynet/resubmit") return std::nullopt;
  if (!st.shadow) return ErrorResponse(404, "shadow copies are off on this node (no [shadow] in its config)");
  json body;
  ApiResponse bad;
  if (!ParseBody(r, &body, &bad)) return bad;
  if (t == "/api/v1/safetynet/resubmit") {
    if (!body.contains("destination") || !body["destination"].is_string() || body["destination"].get<std::string>().empty()) {
      return ErrorResponse(400, "destination: a destination name is required");
    }
    if (!body.contains("since") || !body["since"].is_number_integer()) {
      return ErrorResponse(400, "since: unix seconds are required");
    }
    const int64_t since = body["since"].get<int64_t>();
    int64_t until = INT64_MAX;
    if (body.contains("until")) {
      if (!body["until"].is_number_integer()) return ErrorResponse(400, "until: must be unix seconds");
      until = body["until"].get<int64_t>();
    }
    if (until < since) return ErrorResponse(400, "until: must not be before since");
    auto queued = st.shadow->Resubmit(body["destination"].get<std::string>(), since, until);
    if (!queued.ok()) return FromStatus(queued.status());
    return JsonResponse(200, json{{"ok", true}, {"resubmitted", queued.value()}});
  }
  // A drain names the node, so a command aimed at the wrong admin address
  // changes nothing.
  if (!body.contains("node") || !body["node"].is_string()) return ErrorResponse(400, "node: the node's name is required");
  const std::string node = body["node"].get<std::string>();
  if (node != st.shadow->node()) {
    return ErrorResponse(409, "this is node " + st.shadow->node() + ", not " + node + ": ask " + node + "'s own admin address");
  }
  st.shadow->SetDrain(t == "/api/v1/node/drain");
  return JsonResponse(200, DrainJson(st.shadow->Drain()));
}

}  // namespace sluice::admin
