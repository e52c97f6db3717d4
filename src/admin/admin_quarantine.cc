// The quarantine's admin routes: what `sluicectl quarantine` and the
// dashboard's quarantine panel call (doc/protection.md, "Quarantine").
#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "admin/admin_api.h"
#include "admin/requests.h"
#include "common/log.h"
#include "mail/clock.h"
#include "queue/queue.h"

namespace sluice::admin {
namespace {

using nlohmann::json;

// Only what is in quarantine now: quarantined and still held.
queue::Filter InQuarantine(queue::Filter f) {
  f.quarantined = true;
  f.state = queue::MessageState::kHold;
  return f;
}

std::string CategoryOf(const std::string& reason) {
  size_t colon = reason.find(':');
  return colon == std::string::npos ? std::string() : reason.substr(0, colon);
}

json Entry(const queue::MessageInfo& m, int64_t now) {
  json rcpts = json::array();
  json tenants = json::array();
  for (const auto& r : m.recipients) {
    rcpts.push_back(r.address);
    if (std::find(tenants.begin(), tenants.end(), r.tenant) == tenants.end()) tenants.push_back(r.tenant);
  }
  return {{"id", m.id}, {"sender", m.sender}, {"recipients", rcpts}, {"tenants", tenants},
          {"received_unix", m.received_unix}, {"age_seconds", now - m.received_unix},
          {"category", CategoryOf(m.quarantine)}, {"reason", m.quarantine}};
}

}  // namespace

std::optional<ApiResponse> HandleQuarantineGet(const ApiRequest& r, AdminStages st) {
  const std::string& t = r.target;
  const int64_t now = mail::Clock::System().NowUnix();
  if (t == "/api/v1/quarantine") {
    auto f = ParseFilterQuery(r.query);
    if (!f.ok()) return ErrorResponse(400, f.status().message());
    json out = json::array();
    for (const auto& m : st.queue.List(InQuarantine(f.value()))) out.push_back(Entry(m, now));
    return JsonResponse(200, out);
  }
  static const std::regex kOne("^/api/v1/quarantine/([0-9A-F]{18})$");
  std::smatch m;
  if (std::regex_match(t, m, kOne)) {
    queue::Filter f;
    f.ids = {m[1]};
    auto found = st.queue.List(InQuarantine(f));
    if (found.empty()) return ErrorResponse(404, fmt::format("no message {} in quarantine", std::string(m[1])));
    json out = Entry(found.front(), now);
    AttachHeaders(out, st.queue, m[1]);
    return JsonResponse(200, out);
  }
  if (t.rfind("/api/v1/quarantine/", 0) == 0 && t != "/api/v1/quarantine/release" &&
      t != "/api/v1/quarantine/delete") {
    return ErrorResponse(400, "a queue id is 18 upper-case hex digits");
  }
  return std::nullopt;
}

std::optional<ApiResponse> HandleQuarantinePost(const ApiRequest& r, AdminStages st, bool operator_token) {
  const std::string& t = r.target;
  const bool release = t == "/api/v1/quarantine/release";
  if (!release && t != "/api/v1/quarantine/delete") return std::nullopt;
  json body;
  ApiResponse bad;
  if (!ParseBody(r, &body, &bad)) return bad;
  bool all = false;
  auto parsed = ParseFilter(body, &all);
  if (!parsed.ok()) return ErrorResponse(400, parsed.status().message());
  // One message at a time, or a named set: a whole quarantine released by
  // a slip would deliver every piece of spam and malware in it.
  if (parsed.value().ids.empty()) return ErrorResponse(400, "name the messages: \"ids\": [...]");
  queue::Filter f = InQuarantine(parsed.value());
  f.limit = SIZE_MAX;
  std::vector<queue::MessageInfo> found = st.queue.List(f);
  if (found.empty()) return ErrorResponse(404, "none of those messages is in quarantine");
  if (!operator_token) {
    for (const auto& m : found) {
      // Held for its scan, it is nobody's verdict yet: it may be malware, and
      // it may be mail the sender was told was taken.
      if (CategoryOf(m.quarantine) == queue::kPendingScan) {
        return ErrorResponse(403, fmt::format("{} waits for its scan: it is released or deleted by an operator only "
                                              "(the [admin] token)", m.id));
      }
      if (release && CategoryOf(m.quarantine) == "malware") {
        return ErrorResponse(403, fmt::format("{} is malware: it is released by an operator only (the [admin] token)",
                                              m.id));
      }
    }
  }
  queue::Filter act;
  act.quarantined = true;
  for (const auto& m : found) act.ids.push_back(m.id);
  auto n = st.queue.Apply(release ? queue::OperatorAction::kRelease : queue::OperatorAction::kDelete, act);
  if (!n.ok()) return FromStatus(n.status());
  for (const auto& m : found) {
    log::Event(release ? "quarantine release" : "quarantine delete").With("id", m.id).With("reason", m.quarantine)
        .With("by", operator_token ? "operator" : "quarantine desk").Info();
  }
  return JsonResponse(200, json{{"ok", true}, {"messages", n.value()}});
}

}  // namespace sluice::admin
