// The queue's admin routes: what `sluicectl queue` calls.
#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "cluster/control_plane.h"
#include "admin/admin_api.h"
#include "admin/requests.h"
#include "queue/queue.h"
#include "mail/clock.h"

namespace sluice::admin {
namespace {

using nlohmann::json;

bool Empty(const queue::Filter& f) {
  return f.ids.empty() && !f.state && f.tenant.empty() && f.destination.empty() && f.sender.empty() &&
         f.rcpt.empty() && f.min_age.count() == 0;
}

json MessageJson(const queue::MessageInfo& m, int64_t now) {
  json rcpts = json::array();
  for (const auto& r : m.recipients) {
    rcpts.push_back({{"address", r.address}, {"tenant", r.tenant}, {"forest", r.forest},
                     {"destination", r.destination}, {"state", queue::ToString(r.state)}, {"attempts", r.attempts},
                     {"next_attempt_unix", r.next_attempt_unix}, {"last_reply", r.last_reply}});
  }
  return {{"id", m.id}, {"sender", m.sender}, {"received_unix", m.received_unix},
          {"age_seconds", now - m.received_unix}, {"state", queue::ToString(m.state)}, {"recipients", rcpts}};
}

json HoldsJson(const std::vector<queue::HoldPolicy>& holds) {
  json out = json::array();
  for (const auto& h : holds) {
    out.push_back({{"kind", queue::ToString(h.kind)}, {"name", h.name}, {"reason", h.reason}, {"since_unix", h.since_unix}});
  }
  return out;
}

int64_t Now() { return mail::Clock::System().NowUnix(); }

}  // namespace

void AttachHeaders(json& out, queue::Queue& queue, const std::string& id) {
  auto content = queue.Content(id);
  if (!content.ok()) return;
  const std::string& c = *content.value();
  size_t end = c.find("\r\n\r\n");
  out["headers"] = c.substr(0, end == std::string::npos ? c.size() : end + 2);
  out["size"] = c.size();
}

std::optional<ApiResponse> HandleQueueGet(const ApiRequest& r, AdminStages st) {
  const std::string& t = r.target;
  const int64_t now = Now();
  if (t == "/api/v1/queue") {
    auto q = st.queue.Stats();
    return JsonResponse(200, json{{"messages", q.messages}, {"ready", q.ready}, {"deferred", q.deferred},
                                  {"hold", q.hold}, {"in_flight", q.in_flight},
                                  {"oldest_age_seconds", q.oldest_unix ? now - q.oldest_unix : 0},
                                  {"dsn_sent", q.dsn_sent}, {"hold_policies", HoldsJson(st.queue.Holds())}});
  }
  if (t == "/api/v1/queue/messages") {
    auto f = ParseFilterQuery(r.query);
    if (!f.ok()) return ErrorResponse(400, f.status().message());
    json out = json::array();
    for (const auto& m : st.queue.List(f.value())) out.push_back(MessageJson(m, now));
    return JsonResponse(200, out);
  }
  static const std::regex kOne("^/api/v1/queue/messages/([0-9A-F]{18})$");
  std::smatch m;
  if (std::regex_match(t, m, kOne)) {
    queue::Filter f;
    f.ids = {m[1]};
    auto found = st.queue.List(f);
    if (found.empty()) return ErrorResponse(404, fmt::format("no message {} in the queue", std::string(m[1])));
    json out = MessageJson(found.front(), now);
    AttachHeaders(out, st.queue, m[1]);
    return JsonResponse(200, out);
  }
  if (t.rfind("/api/v1/queue/messages/", 0) == 0) {
    return ErrorResponse(400, "a queue id is 18 upper-case hex digits");
  }
  return std::nullopt;
}

std::optional<ApiResponse> HandleQueuePost(const ApiRequest& r, AdminStages st) {
  static const std::regex kAction("^/api/v1/queue/(hold|release|retry|delete|bounce)$");
  std::smatch m;
  const std::string& t = r.target;
  json body;
  ApiResponse bad;
  if (t == "/api/v1/queue/holds") {
    if (!ParseBody(r, &body, &bad)) return bad;
    auto hold = ParseHold(body);
    if (!hold.ok()) return FromStatus(hold.status());
    if (st.control) return FromFleetWrite(st.control->SetHold(hold.value().policy, hold.value().on));
    return FromStatus(st.queue.SetHold(hold.value().policy, hold.value().on));
  }
  if (!std::regex_match(t, m, kAction)) return std::nullopt;
  if (!ParseBody(r, &body, &bad)) return bad;
  bool all = false;
  auto parsed = ParseFilter(body, &all);
  if (!parsed.ok()) return ErrorResponse(400, parsed.status().message());
  const queue::Filter& f = parsed.value();
  // Acting on the whole queue must be meant: postsuper asks for ALL too.
  if (Empty(f) && !all) {
    return ErrorResponse(400, "no message selected: give ids or a filter, or \"all\": true");
  }
  const queue::OperatorAction a = *queue::ParseOperatorAction(std::string(m[1]));  // the pattern names only actions
  auto n = st.queue.Apply(a, f);
  if (!n.ok()) return FromStatus(n.status());
  return JsonResponse(200, json{{"ok", true}, {"messages", n.value()}});
}

}  // namespace sluice::admin
