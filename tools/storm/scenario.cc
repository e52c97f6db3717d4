#include "scenario.h"

#include <fmt/format.h>

#include <algorithm>
#include <toml++/toml.h>

namespace storm {
namespace {

// "250ms", "20s", "2m" or a number of seconds.
bool Seconds(const toml::node* n, double* out) {
  if (!n) return true;
  if (auto v = n->value<double>()) {
    *out = *v;
    return true;
  }
  auto s = n->value<std::string>();
  if (!s || s->empty()) return false;
  size_t pos = 0;
  double x = 0;
  try {
    x = std::stod(*s, &pos);
  } catch (const std::exception&) {
    return false;
  }
  const std::string unit = s->substr(pos);
  if (unit == "ms") x /= 1000;
  else if (unit == "m") x *= 60;
  else if (unit != "s" && !unit.empty()) return false;
  *out = x;
  return true;
}

}  // namespace

std::string EventSpec::Describe() const {
  if (action == "fault") {
    return fmt::format("fault on {}: +{} ms per lookup{}{}", forest, latency_ms,
                       error_rate > 0 ? fmt::format(", {:.0f} % errors", error_rate * 100) : "", hang ? ", hang" : "");
  }
  if (action == "clear_fault") return "fault on " + forest + " cleared";
  if (action == "limit") return fmt::format("limit of {} set to {}", forest, limit);
  if (action == "move") return fmt::format("tenant {} moved to {}", tenant, forest);
  if (action == "downstream") return fmt::format("downstream answers \"{}\" for {:.0f} s", reply, lasts);
  if (action == "flood") return fmt::format("{} idle connections from one client for {:.0f} s", connections, lasts);
  if (action == "kill") {
    return fmt::format("SIGKILL{}, restarted after {:.1f} s", node.empty() ? "" : " " + node, restart_after);
  }
  if (action == "redis_stop") return fmt::format("Redis stopped (SIGSTOP) for {:.1f} s", lasts);
  if (action == "redis_kill") return fmt::format("Redis killed, started again after {:.1f} s", restart_after);
  if (action == "filter_stall") return fmt::format("the content filter stops answering for {:.0f} s", lasts);
  if (action == "etcd_quorum") return fmt::format("etcd quorum lost (2 of 3 members stopped) for {:.1f} s", lasts);
  return action;
}

std::string LoadScenario(const std::string& path, double scale, Scenario* out) {
  toml::table t;
  try {
    t = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return fmt::format("{}:{}: {}", path, e.source().begin.line, e.description());
  }
  Scenario s;
  auto bad = [&](const std::string& key, const char* what) { return fmt::format("{}: {}: {}", path, key, what); };
  s.name = t["name"].value_or(std::string("storm"));
  s.description = t["description"].value_or(std::string());
  if (!Seconds(t.get("duration"), &s.duration) || s.duration <= 0) return bad("duration", "expected a duration");
  if (!Seconds(t.get("drain"), &s.drain)) return bad("drain", "expected a duration");
  if (!Seconds(t.get("bucket"), &s.bucket) || s.bucket <= 0) return bad("bucket", "expected a duration");
  if (!Seconds(t.get("sink_delay"), &s.sink_delay)) return bad("sink_delay", "expected a duration");
  s.rate = t["rate"].value_or(s.rate);
  s.nodes = t["nodes"].value_or(s.nodes);
  if (s.nodes < 1 || s.nodes > 9) return bad("nodes", "expected 1 to 9");
  s.sessions = t["sessions"].value_or(s.sessions);
  s.messages_per_session = t["messages_per_session"].value_or(s.messages_per_session);
  if (s.sessions < 1 || s.rate < 0 || s.messages_per_session < 1) return bad("sessions", "expected positive numbers");
  if (auto* sizes = t["sizes"].as_array()) {
    s.sizes.clear();
    for (const auto& e : *sizes) {
      const auto* pair = e.as_array();
      if (!pair || pair->size() != 2) return bad("sizes", "expected [[bytes, weight], ...]");
      s.sizes.emplace_back((*pair)[0].value_or(int64_t{4096}), (*pair)[1].value_or(1.0));
    }
  }
  if (auto* forests = t["forests"].as_array()) {
    for (const auto& f : *forests) s.forests.push_back(f.value_or(std::string()));
  }
  if (auto* tenants = t["tenants"].as_array()) {
    for (const auto& e : *tenants) {
      const auto* x = e.as_table();
      if (!x) return bad("tenants", "expected [[tenants]] tables");
      TenantSpec ts;
      ts.name = (*x)["name"].value_or(std::string());
      ts.forest = (*x)["forest"].value_or(std::string());
      ts.weight = (*x)["weight"].value_or(1.0);
      ts.recipients = (*x)["recipients"].value_or(50);
      if (ts.name.empty() || std::find(s.forests.begin(), s.forests.end(), ts.forest) == s.forests.end()) {
        return bad("tenants." + ts.name, "needs a name and a forest listed in forests");
      }
      s.tenants.push_back(ts);
    }
  }
  if (s.tenants.empty()) return bad("tenants", "at least one tenant is needed");
  if (const auto* f = t["filter"].as_table()) {
    if (auto* tenants = (*f)["tenants"].as_array()) {
      for (const auto& x : *tenants) s.filter.tenants.push_back(x.value_or(std::string()));
    }
    for (const auto& name : s.filter.tenants) {
      if (std::none_of(s.tenants.begin(), s.tenants.end(), [&](const TenantSpec& ts) { return ts.name == name; })) {
        return bad("filter.tenants", "names a tenant that is not under [[tenants]]");
      }
    }
    s.filter.on_error = (*f)["on_error"].value_or(s.filter.on_error);
    if (s.filter.on_error != "tempfail" && s.filter.on_error != "accept" && s.filter.on_error != "hold") {
      return bad("filter.on_error", "expected tempfail, accept or hold");
    }
    if (!Seconds(f->get("content_timeout"), &s.filter.content_timeout) || s.filter.content_timeout <= 0) {
      return bad("filter.content_timeout", "expected a duration");
    }
    if (!Seconds(f->get("breaker_cooldown"), &s.filter.breaker_cooldown) || s.filter.breaker_cooldown <= 0) {
      return bad("filter.breaker_cooldown", "expected a duration");
    }
    s.filter.breaker_failures = (*f)["breaker_failures"].value_or(s.filter.breaker_failures);
  }
  if (auto* events = t["events"].as_array()) {
    for (const auto& e : *events) {
      const auto* x = e.as_table();
      if (!x) return bad("events", "expected [[events]] tables");
      EventSpec ev;
      ev.action = (*x)["action"].value_or(std::string());
      const std::string key = "events." + ev.action;
      if (!Seconds(x->get("at"), &ev.at)) return bad(key + ".at", "expected a duration");
      ev.forest = (*x)["forest"].value_or(std::string());
      ev.tenant = (*x)["tenant"].value_or(std::string());
      ev.node = (*x)["node"].value_or(std::string());
      double latency = 0;
      if (!Seconds(x->get("latency"), &latency)) return bad(key + ".latency", "expected a duration");
      ev.latency_ms = static_cast<int>(latency * 1000);
      ev.error_rate = (*x)["error_rate"].value_or(0.0);
      ev.hang = (*x)["hang"].value_or(false);
      ev.limit = (*x)["limit"].value_or(0);
      ev.reply = (*x)["reply"].value_or(ev.reply);
      if (!Seconds(x->get("for"), &ev.lasts)) return bad(key + ".for", "expected a duration");
      ev.connections = (*x)["connections"].value_or(0);
      if (!Seconds(x->get("restart_after"), &ev.restart_after)) return bad(key + ".restart_after", "expected a duration");
      static const char* kActions[] = {"fault", "clear_fault", "limit", "move", "downstream", "flood", "kill",
                                       "redis_stop", "redis_kill", "etcd_quorum", "filter_stall"};
      if (std::find(std::begin(kActions), std::end(kActions), ev.action) == std::end(kActions)) {
        return bad("events.action", "expected fault, clear_fault, limit, move, downstream, flood, kill, "
                                    "redis_stop, redis_kill, etcd_quorum or filter_stall");
      }
      if (ev.action == "filter_stall" && s.filter.tenants.empty()) return bad(key, "needs [filter] tenants");
      if (ev.action.rfind("redis_", 0) == 0 || ev.action == "etcd_quorum") {
        if (s.nodes < 2) return bad(key, "needs a fleet (nodes = 2 or more)");
      }
      if (!ev.node.empty()) {
        const bool known = ev.node.size() == 2 && ev.node[0] == 'n' && ev.node[1] >= '1' && ev.node[1] < '1' + s.nodes;
        if (ev.action != "kill" || !known) return bad(key + ".node", "expected a kill of one of n1..nN");
      }
      ev.at *= scale;
      ev.lasts *= scale;
      s.events.push_back(ev);
    }
  }
  std::stable_sort(s.events.begin(), s.events.end(), [](const auto& a, const auto& b) { return a.at < b.at; });
  s.sluice_config = t["sluice"]["config"].value_or(std::string());
  s.duration *= scale;
  // The drain is a ceiling, not scaled: retries and backoffs take their time whatever the scale.
  s.bucket = std::max(1.0, s.bucket * scale);
  *out = std::move(s);
  return "";
}

}  // namespace storm
