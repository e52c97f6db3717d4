// The queue's admin routes: what `sluicectl queue` calls.
#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "admin/admin_api.h"
#include "queue/queue.h"

namespace sluice::admin {
namespace {

using nlohmann::json;

const char* kStates[] = {"ready", "deferred", "hold", "active"};

std::string UrlDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%' && i + 2 < s.size() &&
               std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// The filter as a JSON object: from a POST body, or from the query string.
std::optional<std::string> ReadFilter(const json& j, queue::Filter* f) {
  try {
    for (const auto& [key, value] : j.items()) {
      if (key == "ids") {
        f->ids = value.get<std::vector<std::string>>();
      } else if (key == "state") {
        f->state = value.get<std::string>();
        if (std::find(std::begin(kStates), std::end(kStates), f->state) == std::end(kStates)) {
          return fmt::format("state \"{}\" is not one of ready, deferred, hold, active", f->state);
        }
      } else if (key == "tenant") {
        f->tenant = value.get<std::string>();
      } else if (key == "destination") {
        f->destination = value.get<std::string>();
      } else if (key == "sender") {
        f->sender = value.get<std::string>();
      } else if (key == "rcpt") {
        f->rcpt = value.get<std::string>();
      } else if (key == "min_age") {
        int64_t s = value.get<int64_t>();
        if (s < 0) return std::string("min_age must not be negative");
        f->min_age = std::chrono::seconds(s);
      } else if (key != "all") {
        return fmt::format("unknown filter \"{}\" (ids, state, tenant, destination, sender, rcpt, min_age, all)", key);
      }
    }
  } catch (const json::exception&) {
    return std::string("filters are strings, ids a list of strings, min_age whole seconds");
  }
  return std::nullopt;
}

bool Empty(const queue::Filter& f) {
  return f.ids.empty() && f.state.empty() && f.tenant.empty() && f.destination.empty() && f.sender.empty() &&
         f.rcpt.empty() && f.min_age.count() == 0;
}

json MessageJson(const queue::MessageInfo& m, int64_t now) {
  json rcpts = json::array();
  for (const auto& r : m.recipients) {
    rcpts.push_back({{"address", r.address}, {"tenant", r.tenant}, {"forest", r.forest},
                     {"destination", r.destination}, {"state", r.state}, {"attempts", r.attempts},
                     {"next_attempt_unix", r.next_attempt_unix}, {"last_reply", r.last_reply}});
  }
  return {{"id", m.id}, {"sender", m.sender}, {"received_unix", m.received_unix},
          {"age_seconds", now - m.received_unix}, {"state", m.state}, {"recipients", rcpts}};
}

json HoldsJson(const std::vector<queue::HoldPolicy>& holds) {
  json out = json::array();
  for (const auto& h : holds) {
    out.push_back({{"kind", h.kind}, {"name", h.name}, {"reason", h.reason}, {"since_unix", h.since_unix}});
  }
  return out;
}

int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

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
    json filter = json::object();
    size_t start = 0;
    while (start < r.query.size()) {
      size_t amp = r.query.find('&', start);
      if (amp == std::string::npos) amp = r.query.size();
      std::string pair = r.query.substr(start, amp - start);
      start = amp + 1;
      size_t eq = pair.find('=');
      std::string key = UrlDecode(pair.substr(0, eq)), value = eq == std::string::npos ? "" : UrlDecode(pair.substr(eq + 1));
      if (key == "min_age") {
        char* end = nullptr;
        long long v = std::strtoll(value.c_str(), &end, 10);
        if (value.empty() || *end) return ErrorResponse(400, "min_age must be whole seconds");
        filter[key] = v;
      } else if (key == "id") {
        filter["ids"].push_back(value);
      } else if (!key.empty()) {
        filter[key] = value;
      }
    }
    queue::Filter f;
    if (auto bad = ReadFilter(filter, &f)) return ErrorResponse(400, *bad);
    json out = json::array();
    for (const auto& m : st.queue.List(f)) out.push_back(MessageJson(m, now));
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
    auto content = st.queue.Content(m[1]);
    if (content.ok()) {
      const std::string& c = content.value();
      size_t end = c.find("\r\n\r\n");
      out["headers"] = c.substr(0, end == std::string::npos ? c.size() : end + 2);
      out["size"] = c.size();
    }
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
    queue::HoldPolicy h;
    bool on = true;
    try {
      h.kind = body.at("kind").get<std::string>();
      h.name = body.at("name").get<std::string>();
      h.reason = body.value("reason", "");
      on = body.value("hold", true);
    } catch (const json::exception&) {
      return ErrorResponse(400, "\"kind\" (tenant or destination) and \"name\" are required strings; \"hold\" is a boolean");
    }
    return FromStatus(st.queue.SetHold(h, on));
  }
  if (!std::regex_match(t, m, kAction)) return std::nullopt;
  if (!ParseBody(r, &body, &bad)) return bad;
  queue::Filter f;
  if (auto problem = ReadFilter(body, &f)) return ErrorResponse(400, *problem);
  // Acting on the whole queue must be meant: postsuper asks for ALL too.
  if (Empty(f) && !(body.contains("all") && body["all"] == true)) {
    return ErrorResponse(400, "no message selected: give ids or a filter, or \"all\": true");
  }
  const std::string verb = m[1];
  queue::Action a = verb == "hold"      ? queue::Action::kHold
                    : verb == "release" ? queue::Action::kRelease
                    : verb == "retry"   ? queue::Action::kRetry
                    : verb == "delete"  ? queue::Action::kDelete
                                        : queue::Action::kBounce;
  auto n = st.queue.Apply(a, f);
  if (!n.ok()) return FromStatus(n.status());
  return JsonResponse(200, json{{"ok", true}, {"messages", n.value()}});
}

}  // namespace sluice::admin
