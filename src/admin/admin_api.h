// The admin API's routes, free of I/O: a request in, a response out.
// admin.cc serves them over HTTP; tests call them directly.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>

#include "admin/admin.h"

namespace sluice::admin {

struct ApiRequest {
  std::string method;  // "GET", "POST"
  std::string target;  // path, e.g. "/api/v1/forests"
  std::string body;
  std::string authorization;  // the Authorization header
  std::string query;          // after '?' in the target, still URL-encoded
  bool metrics_only = false;  // came in on the metrics listener: /metrics and health only
};

struct ApiResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

// Never throws: a handler's exception is a 500 with a JSON body.
ApiResponse HandleApi(const ApiRequest& request, const AdminOptions& options, AdminStages stages);

// The DNS-rebinding defence: a browser tricked into calling the admin API
// sends the attacker's host name. Accepted: an IP literal or "localhost"
// (with `port`, or none), or one of `names`.
bool HostAllowed(std::string_view host, uint16_t port, const std::vector<std::string>& names);

// Headers every admin response carries: no sniffing, no framing, a
// Content-Security-Policy that allows only the dashboard's own files.
const std::vector<std::pair<std::string, std::string>>& SecurityHeaders();

// Shared by the route files (admin_api.cc, admin_queue.cc).
ApiResponse JsonResponse(int status, const nlohmann::json& body);
ApiResponse ErrorResponse(int status, const std::string& what);
ApiResponse FromStatus(const Status& s);
ApiResponse FromFleetWrite(const Result<int64_t>& r);  // a change every fleet node applies
// Parses a JSON object body, or says precisely why not.
bool ParseBody(const ApiRequest& r, nlohmann::json* out, ApiResponse* error);

// The queue's routes: GET /api/v1/queue[/messages[/ID]], and (authorized
// already) POST /api/v1/queue/{hold,release,retry,delete,bounce,holds}.
// Returns nullopt for a path that is not theirs.
std::optional<ApiResponse> HandleQueueGet(const ApiRequest& r, AdminStages st);
std::optional<ApiResponse> HandleQueuePost(const ApiRequest& r, AdminStages st);
// A stored message's header section and size into `out` ("headers",
// "size"), when the spool still has it.
void AttachHeaders(nlohmann::json& out, queue::Queue& queue, const std::string& id);
// The quarantine's: GET /api/v1/quarantine[/ID] (the list takes the queue's
// filters), POST /api/v1/quarantine/{release,delete} with "ids". Malware is
// released only with `operator_token` (the [admin] token).
std::optional<ApiResponse> HandleQuarantineGet(const ApiRequest& r, AdminStages st);
std::optional<ApiResponse> HandleQuarantinePost(const ApiRequest& r, AdminStages st, bool operator_token);
// GET /api/v1/flight; POST /api/v1/flight/{start,promote,rollback}.
std::optional<ApiResponse> HandleFlightGet(const ApiRequest& r, AdminStages st);
std::optional<ApiResponse> HandleFlightPost(const ApiRequest& r, AdminStages st);
// GET /api/v1/shadow and /api/v1/node/drain; POST /api/v1/node/{drain,undrain}
// and /api/v1/safetynet/resubmit.
nlohmann::json ShadowJson(cluster::Shadow& shadow);  // also in /api/v1/status
std::optional<ApiResponse> HandleShadowGet(const ApiRequest& r, AdminStages st);
std::optional<ApiResponse> HandleShadowPost(const ApiRequest& r, AdminStages st);

}  // namespace sluice::admin
