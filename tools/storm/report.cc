#include "report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

namespace storm {
namespace {

using nlohmann::json;

double Percentile(std::vector<float> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * (v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

json Percentiles(const std::vector<float>& v) {
  return {{"n", v.size()}, {"p50", Percentile(v, 0.5)}, {"p95", Percentile(v, 0.95)}, {"p99", Percentile(v, 0.99)}};
}

// The last cumulative histogram of `forest` sampled before second `end`
// (empty when there is none).
std::vector<uint64_t> LastBuckets(const Ledger& l, const std::string& forest, size_t end) {
  for (size_t i = std::min(end, l.seconds.size()); i-- > 0;) {
    auto it = l.seconds[i].sluice_lookup_buckets.find(forest);
    if (it != l.seconds[i].sluice_lookup_buckets.end()) return it->second;
  }
  return {};
}

// Sluice's own lookups of one forest within [from, to) seconds, from the
// difference of its cumulative histogram: count and the p50/p99 as the
// upper bound of the bucket they fall in (an estimate, as Prometheus's).
json SluiceLookups(const Ledger& l, const std::string& forest, size_t from, size_t to) {
  std::vector<uint64_t> a = LastBuckets(l, forest, from), b = LastBuckets(l, forest, to);
  if (b.empty()) return nullptr;
  a.resize(b.size(), 0);
  uint64_t n = 0;
  std::vector<uint64_t> d(b.size());
  for (size_t i = 0; i < b.size(); ++i) n += d[i] = b[i] >= a[i] ? b[i] - a[i] : 0;  // a restart resets the counts
  auto at = [&](double p) -> json {
    if (n == 0) return 0.0;
    uint64_t seen = 0;
    for (size_t i = 0; i < d.size(); ++i) {
      seen += d[i];
      if (seen >= p * n) return i < l.lookup_bounds_ms.size() ? json(l.lookup_bounds_ms[i]) : json("inf");
    }
    return "inf";
  };
  return {{"n", n}, {"p50_le", at(0.5)}, {"p99_le", at(0.99)}};
}

std::set<std::string> FaultedForests(const Scenario& s) {
  std::set<std::string> out;
  for (const auto& e : s.events) {
    if (e.action == "fault") out.insert(e.forest);
    if (e.action == "filter_stall") {  // the forests of the tenants routed through the filter
      for (const auto& t : s.tenants) {
        if (std::find(s.filter.tenants.begin(), s.filter.tenants.end(), t.name) != s.filter.tenants.end()) out.insert(t.forest);
      }
    }
  }
  return out;
}

}  // namespace

json Summarize(const Scenario& s, const Ledger& l) {
  uint64_t accepted = 0, delivered = 0, lost = 0, duplicates = 0, rejected = 0, given_up = 0, delivered_unique = 0;
  for (const auto& m : l.messages) {
    accepted += m.accepted;
    delivered += m.delivered;
    delivered_unique += m.delivered > 0;
    if (m.accepted && m.delivered == 0) ++lost;
    if (m.delivered > 1) duplicates += m.delivered - 1;
    rejected += m.rejected;
    if (!m.accepted && !m.rejected) ++given_up;
  }
  json r;
  r["scenario"] = s.name;
  r["duration_s"] = s.duration;
  r["rate_target"] = s.rate;
  r["sessions"] = s.sessions;
  r["sent"] = l.messages.size();
  r["transactions"] = l.transactions;
  r["accepted"] = accepted;
  r["rejected"] = rejected;
  r["deferred"] = l.deferred_by_code;
  r["rejected_by_code"] = l.rejected_by_code;
  r["retries"] = l.retries;
  r["dropped_without_reply"] = l.dropped;
  r["lost"] = lost;
  r["duplicates"] = duplicates;
  r["delivered"] = delivered;
  r["delivered_unique"] = delivered_unique;
  r["never_accepted"] = given_up;  // still retrying when the drain ended
  r["unknown_deliveries"] = l.unknown_deliveries;
  r["accepted_per_s"] = s.duration > 0 ? accepted / std::max(1.0, l.load_end) : 0;
  r["flood"] = {{"accepted", l.flood_accepted}, {"refused", l.flood_refused}};
  r["cpus"] = l.cpus.empty() ? json() : json(l.cpus);
  r["nodes"] = json::array();
  for (const auto& n : l.nodes) {
    r["nodes"].push_back({{"node", n.name}, {"transactions", n.transactions}, {"accepted", n.accepted},
                          {"deferred", n.deferred}, {"dropped", n.dropped}, {"seconds_local", n.seconds_local},
                          {"seconds_control_lost", n.seconds_control_lost}, {"seconds_down", n.seconds_down},
                          {"renew_failures", n.renew_failures}, {"mode_at_end", n.mode},
                          {"control_at_end", n.control}, {"change_revision_at_end", n.revision}});
  }
  r["downstream_refused"] = l.sink_refused;
  r["first_alert_after_fault_s"] = l.first_alert >= 0 && l.fault_start >= 0 ? json(l.first_alert - l.fault_start) : json();
  r["deferred_empty_after_fault_end_s"] =
      l.deferred_empty >= 0 && l.fault_end >= 0 ? json(l.deferred_empty - l.fault_end) : json();
  json timeline = json::array();
  for (const auto& [t, what] : l.timeline) timeline.push_back({{"t", t}, {"event", what}});
  r["timeline"] = timeline;

  // Per forest and bucket of time: RCPT and DATA reply latency, accepted, 4xx.
  std::set<std::string> forests(s.forests.begin(), s.forests.end());
  const size_t per = static_cast<size_t>(s.bucket);
  const size_t load_seconds = static_cast<size_t>(l.load_end);
  json by_forest = json::object();
  const auto faulted = FaultedForests(s);
  bool healthy_throughout = true;
  double healthy_worst_ratio = 0, healthy_worst_data_ratio = 0;
  for (const auto& f : forests) {
    json rows = json::array();
    std::vector<float> base_rcpt, base_data;
    double baseline_p99 = 0;
    for (size_t b = 0; b * per < l.seconds.size(); ++b) {
      std::vector<float> rcpt, data;
      uint64_t acc = 0, deferred = 0, data_deferred = 0;
      for (size_t i = b * per; i < std::min(l.seconds.size(), (b + 1) * per); ++i) {
        const auto& sec = l.seconds[i];
        if (auto it = sec.rcpt_ms.find(f); it != sec.rcpt_ms.end()) rcpt.insert(rcpt.end(), it->second.begin(), it->second.end());
        if (auto it = sec.data_ms.find(f); it != sec.data_ms.end()) data.insert(data.end(), it->second.begin(), it->second.end());
        if (auto it = sec.accepted_by_forest.find(f); it != sec.accepted_by_forest.end()) acc += it->second;
        if (auto it = sec.rcpt_4xx_by_forest.find(f); it != sec.rcpt_4xx_by_forest.end()) deferred += it->second;
        if (auto it = sec.data_4xx_by_forest.find(f); it != sec.data_4xx_by_forest.end()) data_deferred += it->second;
      }
      const double start = static_cast<double>(b * per);
      if (l.fault_start < 0 || start + per <= l.fault_start) {
        base_rcpt.insert(base_rcpt.end(), rcpt.begin(), rcpt.end());
        base_data.insert(base_data.end(), data.begin(), data.end());
      }
      rows.push_back({{"t", start}, {"rcpt_ms", Percentiles(rcpt)}, {"data_ms", Percentiles(data)},
                      {"sluice_lookup_ms", SluiceLookups(l, f, b * per, (b + 1) * per)},
                      {"accepted", acc}, {"rcpt_4xx", deferred}, {"data_4xx", data_deferred}});
    }
    baseline_p99 = Percentile(base_rcpt, 0.99);
    const double baseline_data_p99 = Percentile(base_data, 0.99);
    const bool healthy = !faulted.count(f);
    uint64_t rcpt_4xx = 0, data_4xx = 0;
    size_t idle_buckets = 0;
    for (const auto& row : rows) {
      rcpt_4xx += row["rcpt_4xx"].get<uint64_t>();
      data_4xx += row["data_4xx"].get<uint64_t>();
      const double t = row["t"].get<double>();
      // A full bucket inside the load phase with no accepted message.
      if (t + per <= load_seconds && row["accepted"].get<uint64_t>() == 0 && row["rcpt_ms"]["n"].get<size_t>() > 0) {
        ++idle_buckets;
      }
      if (healthy && baseline_p99 > 0 && l.fault_start >= 0 && t >= l.fault_start && t + per <= load_seconds) {
        healthy_worst_ratio = std::max(healthy_worst_ratio, row["rcpt_ms"]["p99"].get<double>() / baseline_p99);
      }
      if (healthy && baseline_data_p99 > 0 && l.fault_start >= 0 && t >= l.fault_start && t + per <= load_seconds) {
        healthy_worst_data_ratio = std::max(healthy_worst_data_ratio, row["data_ms"]["p99"].get<double>() / baseline_data_p99);
      }
    }
    if (healthy && (rcpt_4xx > 0 || data_4xx > 0 || idle_buckets > 0)) healthy_throughout = false;
    // "faulted" says what the scenario did to the forest; everything else
    // here is what Sluice did (its replies, their latency).
    by_forest[f] = {{"faulted", !healthy}, {"baseline_rcpt_p99_ms", baseline_p99},
                    {"baseline_data_p99_ms", baseline_data_p99}, {"rcpt_4xx", rcpt_4xx}, {"data_4xx", data_4xx},
                    {"buckets_without_accepted", idle_buckets}, {"over_time", rows}};
  }
  r["bucket_s"] = per;
  r["fault_window_s"] = l.fault_start >= 0 ? json::array({l.fault_start, l.fault_end >= 0 ? l.fault_end : l.load_end})
                                           : json();
  r["forests"] = by_forest;
  r["healthy_forests_accepted_throughout"] = healthy_throughout;
  r["healthy_rcpt_p99_worst_over_baseline"] = healthy_worst_ratio;
  r["healthy_data_p99_worst_over_baseline"] = healthy_worst_data_ratio;
  r["filter"] = s.filter.tenants.empty() ? json()
                                         : json{{"tenants", s.filter.tenants}, {"on_error", s.filter.on_error},
                                                {"verdicts", l.milter_scans}, {"replies_held_by_a_stall", l.milter_stalled}};

  json series = json::array();
  for (size_t i = 0; i < l.seconds.size(); ++i) {
    const auto& sec = l.seconds[i];
    json p99 = json::object();
    for (const auto& [f, v] : sec.rcpt_ms) p99[f] = Percentile(v, 0.99);
    series.push_back({{"t", i}, {"accepted", sec.accepted}, {"delivered", sec.delivered}, {"r2", sec.r2},
                      {"r4", sec.r4}, {"r5", sec.r5}, {"dropped", sec.dropped},
                      {"queue_messages", sec.queue_messages}, {"queue_deferred", sec.queue_deferred},
                      {"rcpt_p99_ms", p99}});
  }
  r["per_second"] = series;
  return r;
}

std::string Table(const json& r) {
  std::string out = fmt::format("\nsluice-storm: {} ({:.0f} s of load at {} msg/s target, {} sessions)\n\n",
                                r["scenario"].get<std::string>(), r["duration_s"].get<double>(),
                                r["rate_target"].get<double>(), r["sessions"].get<int>());
  auto row = [&](const std::string& k, const std::string& v) { out += fmt::format("  {:<42} {}\n", k, v); };
  row("CPUs", r.contains("cpus") && r["cpus"].is_string() ? r["cpus"].get<std::string>() : "not pinned (--cpus)");
  row("sent (messages)", std::to_string(r["sent"].get<uint64_t>()));
  row("accepted (250)", fmt::format("{}  ({:.0f}/s)", r["accepted"].get<uint64_t>(), r["accepted_per_s"].get<double>()));
  for (const auto& [code, n] : r["deferred"].items()) row("deferred " + code, std::to_string(n.get<uint64_t>()));
  for (const auto& [code, n] : r["rejected_by_code"].items()) row("rejected " + code, std::to_string(n.get<uint64_t>()));
  row("retries", std::to_string(r["retries"].get<uint64_t>()));
  row("dropped without a reply", std::to_string(r["dropped_without_reply"].get<uint64_t>()));
  row("LOST (accepted, not delivered, not queued)", std::to_string(r["lost"].get<uint64_t>()));
  if (r.contains("undelivered_at_end") && r["undelivered_at_end"].get<uint64_t>() > 0) {
    row("undelivered at the end / in Sluice's queue",
        fmt::format("{} / {:.0f}", r["undelivered_at_end"].get<uint64_t>(), r["sluice_queue_at_end"].get<double>()));
  }
  row("duplicates", std::to_string(r["duplicates"].get<uint64_t>()));
  row("delivered", std::to_string(r["delivered"].get<uint64_t>()));
  row("never accepted (still retrying at the end)", std::to_string(r["never_accepted"].get<uint64_t>()));
  auto secs = [](const json& v) { return v.is_null() ? std::string("-") : fmt::format("{:.1f} s", v.get<double>()); };
  row("first alert after the fault", secs(r["first_alert_after_fault_s"]));
  row("deferred queue empty after the fault ended", secs(r["deferred_empty_after_fault_end_s"]));
  row("healthy forests accepted throughout", r["healthy_forests_accepted_throughout"].get<bool>() ? "yes" : "NO");
  row("healthy forests' RCPT p99 vs baseline (worst)", fmt::format("{:.2f}x", r["healthy_rcpt_p99_worst_over_baseline"].get<double>()));
  row("healthy forests' DATA p99 vs baseline (worst)", fmt::format("{:.2f}x", r["healthy_data_p99_worst_over_baseline"].get<double>()));
  if (!r["filter"].is_null()) {
    row("content filter (" + r["filter"]["on_error"].get<std::string>() + "): verdicts / replies a stall held",
        fmt::format("{} / {}", r["filter"]["verdicts"].get<uint64_t>(), r["filter"]["replies_held_by_a_stall"].get<uint64_t>()));
  }
  if (!r["downstream_refused"].empty()) {
    std::string where;
    for (const auto& [k, n] : r["downstream_refused"].items()) where += fmt::format("{}{} {}", where.empty() ? "" : ", ", k, n.get<uint64_t>());
    row("downstream 421s (greeting, on open sessions)", where);
  }
  if (r["flood"]["accepted"].get<uint64_t>() + r["flood"]["refused"].get<uint64_t>() > 0) {
    row("flood connections greeted / refused", fmt::format("{} / {}", r["flood"]["accepted"].get<uint64_t>(),
                                                           r["flood"]["refused"].get<uint64_t>()));
  }
  if (r["nodes"].size() > 1) {
    out += fmt::format("\n  {:<6} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9} {:>6} {:>8}\n", "node", "tried", "accepted",
                       "deferred", "dropped", "local s", "no etcd s", "down s", "renew x");
    for (const auto& n : r["nodes"]) {
      out += fmt::format("  {:<6} {:>8} {:>8} {:>8} {:>8} {:>8.0f} {:>9.0f} {:>6.0f} {:>8}\n", n["node"].get<std::string>(),
                         n["transactions"].get<uint64_t>(), n["accepted"].get<uint64_t>(), n["deferred"].get<uint64_t>(),
                         n["dropped"].get<uint64_t>(), n["seconds_local"].get<double>(),
                         n["seconds_control_lost"].get<double>(), n["seconds_down"].get<double>(),
                         n["renew_failures"].get<uint64_t>());
    }
    out += "  (local s: seconds on local shares, Redis not answering; no etcd s: control plane unreachable;\n"
           "   down s: the node's admin API did not answer; renew x: failed budget renewals)\n";
  }
  out += fmt::format("\n  {:<8} {:>6} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7} {:>14}\n", "forest", "t(s)", "rcpts",
                     "rcpt p50", "p95", "p99", "data p50", "p99", "accepted", "4xx", "sluice lookups");
  auto lookups = [](const json& x) {
    if (x.is_null() || x["n"].get<uint64_t>() == 0) return std::string("-");
    auto bound = [](const json& v) { return v.is_string() ? std::string(">5s") : fmt::format("{:g}", v.get<double>()); };
    return fmt::format("{}≤{}/{}", x["n"].get<uint64_t>(), bound(x["p50_le"]), bound(x["p99_le"]));
  };
  for (const auto& [name, f] : r["forests"].items()) {
    for (const auto& b : f["over_time"]) {
      out += fmt::format("  {:<8} {:>6.0f} {:>7} {:>8.1f} {:>8.1f} {:>8.1f} {:>8.1f} {:>8.1f} {:>8} {:>7} {:>14}\n", name,
                         b["t"].get<double>(), b["rcpt_ms"]["n"].get<size_t>(), b["rcpt_ms"]["p50"].get<double>(),
                         b["rcpt_ms"]["p95"].get<double>(), b["rcpt_ms"]["p99"].get<double>(),
                         b["data_ms"]["p50"].get<double>(), b["data_ms"]["p99"].get<double>(),
                         b["accepted"].get<uint64_t>(), b["rcpt_4xx"].get<uint64_t>() + b.value("data_4xx", uint64_t{0}),
                         lookups(b["sluice_lookup_ms"]));
    }
  }
  out += "  (sluice lookups: Sluice's own back-end lookups in the bucket, count≤p50/p99 ms by its histogram)\n";
  out += "\n  timeline:\n";
  for (const auto& e : r["timeline"]) out += fmt::format("  {:>7.1f} s  {}\n", e["t"].get<double>(), e["event"].get<std::string>());
  return out;
}

namespace {

// A round step for about `n` ticks over [0, max]: 1, 2 or 5 times a power of ten.
double NiceStep(double max, int n) {
  const double raw = std::max(max, 1e-9) / n;
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (raw <= m * p) return m * p;
  }
  return 10 * p;
}

std::string Escape(const std::string& s);

// One SVG line chart: axes with ticks and units, series of (t, y) with a
// legend, and the run's events as dashed lines labelled on the plot, so a
// screenshot or a printout says what happened when.
std::string Chart(const std::string& title, const std::vector<std::pair<std::string, std::vector<std::pair<double, double>>>>& series,
                  const json& timeline, const std::string& unit) {
  static const char* kColors[] = {"#3b6ea5", "#d99a00", "#d63333", "#2e9e4f", "#7b4fa0", "#555555"};
  const double w = 900, h = 260, left = 60, right = 10, top = 10, bottom = 36;
  double tmax = 1, ymax = 1e-9;
  for (const auto& [name, pts] : series) {
    for (const auto& [t, y] : pts) {
      tmax = std::max(tmax, t);
      ymax = std::max(ymax, y);
    }
  }
  const double ystep = NiceStep(ymax, 4), tstep = NiceStep(tmax, 10);
  ymax = std::ceil(ymax / ystep) * ystep;
  const double pw = w - left - right, ph = h - top - bottom;
  auto X = [&](double t) { return left + pw * t / tmax; };
  auto Y = [&](double y) { return top + ph - ph * y / ymax; };
  std::string svg = fmt::format("<h2>{}</h2><svg viewBox=\"0 0 {} {}\" width=\"{}\" height=\"{}\" font-size=\"11\">",
                                Escape(title), w, h + 24, w, h + 24);
  // Y axis: gridlines and labels in the unit; X axis: seconds.
  for (double y = 0; y <= ymax * 1.0001; y += ystep) {
    svg += fmt::format("<line x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\" stroke=\"#eee\"/>", left, Y(y), w - right, Y(y));
    svg += fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{:g}</text>", left - 4, Y(y) + 4, y);
  }
  svg += fmt::format("<text x=\"12\" y=\"{:.1f}\" transform=\"rotate(-90 12 {:.1f})\" text-anchor=\"middle\">{}</text>",
                     top + ph / 2, top + ph / 2, Escape(unit));
  for (double t = 0; t <= tmax * 1.0001; t += tstep) {
    svg += fmt::format("<line x1=\"{:.1f}\" y1=\"{}\" x2=\"{:.1f}\" y2=\"{}\" stroke=\"#999\"/>", X(t), top + ph, X(t), top + ph + 4);
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{:g}</text>", X(t), top + ph + 16, t);
  }
  svg += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#999\"/>", left, top + ph, w - right, top + ph);
  svg += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#999\"/>", left, top, left, top + ph);
  svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">time (s)</text>", w - right, top + ph + 30);
  for (const auto& e : timeline) {
    const double x = X(e["t"].get<double>());
    std::string what = e["event"].get<std::string>();
    if (what.size() > 48) what = what.substr(0, 45) + "...";
    svg += fmt::format("<line x1=\"{:.1f}\" y1=\"{}\" x2=\"{:.1f}\" y2=\"{}\" stroke=\"#bbb\" stroke-dasharray=\"3,3\">"
                       "<title>{}</title></line>", x, top, x, top + ph, Escape(e["event"].get<std::string>()));
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\" transform=\"rotate(-90 {:.1f} {})\" text-anchor=\"end\" "
                       "fill=\"#777\" font-size=\"10\">{}</text>", x + 3, top + 2, x + 3, top + 2, Escape(what));
  }
  size_t c = 0;
  for (const auto& [name, pts] : series) {
    std::string path;
    for (const auto& [t, y] : pts) path += fmt::format("{}{:.1f},{:.1f}", path.empty() ? "M" : " L", X(t), Y(y));
    const char* color = kColors[c % std::size(kColors)];
    svg += fmt::format("<path d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\"/>", path, color);
    svg += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"12\" fill=\"{}\">{}</text>", left + 130 * c, h + 20, color, Escape(name));
    ++c;
  }
  return svg + "</svg>";
}

std::string Escape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    if (ch == '<') out += "&lt;";
    else if (ch == '>') out += "&gt;";
    else if (ch == '&') out += "&amp;";
    else out += ch;
  }
  return out;
}

}  // namespace

std::string Html(const json& r) {
  using Series = std::vector<std::pair<double, double>>;
  Series accepted, delivered, r2, r4, r5, queue, deferred;
  std::map<std::string, Series> p99;
  for (const auto& p : r["per_second"]) {
    const double t = p["t"].get<double>();
    accepted.emplace_back(t, p["accepted"].get<double>());
    delivered.emplace_back(t, p["delivered"].get<double>());
    r2.emplace_back(t, p["r2"].get<double>());
    r4.emplace_back(t, p["r4"].get<double>());
    r5.emplace_back(t, p["r5"].get<double>());
    if (p["queue_messages"].get<double>() >= 0) {
      queue.emplace_back(t, p["queue_messages"].get<double>());
      deferred.emplace_back(t, p["queue_deferred"].get<double>());
    }
    for (const auto& [f, v] : p["rcpt_p99_ms"].items()) p99[f].emplace_back(t, v.get<double>());
  }
  std::vector<std::pair<std::string, Series>> forests(p99.begin(), p99.end());
  std::string html = "<!doctype html><html><head><meta charset=\"utf-8\"><title>sluice-storm " +
                     Escape(r["scenario"].get<std::string>()) +
                     "</title><style>body{font:14px system-ui,sans-serif;margin:1.5em;color:#1d232a}"
                     "pre{background:#f5f7f9;padding:1em}svg{display:block}</style></head><body>";
  html += "<h1>sluice-storm: " + Escape(r["scenario"].get<std::string>()) + "</h1>";
  html += "<pre>" + Escape(Table(r)) + "</pre>";
  const json& tl = r["timeline"];
  html += Chart("Throughput (messages per second)", {{"accepted", accepted}, {"delivered", delivered}}, tl, "msg/s");
  html += Chart("Replies to RCPT and DATA by class (per second)", {{"2xx", r2}, {"4xx", r4}, {"5xx", r5}}, tl, "/s");
  html += Chart("RCPT reply p99 by forest (ms)", forests, tl, "ms");
  html += Chart("Sluice queue", {{"messages", queue}, {"deferred", deferred}}, tl, "messages");
  html += "<p>Dashed lines: the scenario's events, labelled (hover for the whole text). JSON beside this file.</p></body></html>";
  return html;
}

}  // namespace storm
