// The request bodies the admin API accepts, parsed and checked before any
// stage sees them: a malformed or out-of-range value is an
// InvalidArgument (400) naming the field, never an exception escaping a
// handler. Pure; fuzzed (fuzz/admin_request_fuzz.cc).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/status.h"
#include "directory/forest.h"
#include "queue/queue.h"

namespace sluice::admin {

// A JSON object, or why the body is not one.
Result<nlohmann::json> ParseObject(std::string_view body);

// A queue selection: ids and filters; `*all` is set by "all": true.
Result<queue::Filter> ParseFilter(const nlohmann::json& body, bool* all);
// The same selection from GET /api/v1/queue/messages?state=...&id=...
Result<queue::Filter> ParseFilterQuery(std::string_view query);

// POST /api/v1/tenants/T/move: {"forest": "name"}.
Result<std::string> ParseMove(const nlohmann::json& body);
// POST .../limit: {"limit": 1..100000}.
Result<size_t> ParseLimit(const nlohmann::json& body);
// POST /api/v1/forests/F/fault.
Result<directory::FaultOptions> ParseFault(const nlohmann::json& body);

struct HoldRequest {
  queue::HoldPolicy policy;
  bool on = true;
};
// POST /api/v1/queue/holds.
Result<HoldRequest> ParseHold(const nlohmann::json& body);

struct FlightStart {
  std::string candidate;
  int share = 0;
};
// POST /api/v1/flight/start.
Result<FlightStart> ParseFlightStart(const nlohmann::json& body);

// %XX and '+' of a URL query component.
std::string UrlDecode(std::string_view s);

}  // namespace sluice::admin
