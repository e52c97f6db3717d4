// Sluice's health dashboard: polls the admin API and redraws. No framework,
// no CDN; charts are plain SVG. Every string from the server goes in through
// textContent, never as HTML: reasons and troubles quote remote replies.
"use strict";

const POLL_MS = 2000;
const HISTORY_MS = 10000;
const QUARANTINE_MS = 30000;  // the list reads the spool: not every poll
const SVG = "http://www.w3.org/2000/svg";

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = String(text);
  return e;
}

function svgEl(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}

// The admin API tells nothing without a bearer token (the read-only one
// will do). It comes once in the address ("/#token=...", never sent to the
// server, dropped from the address bar at once) or from the form, and is
// kept for this tab only.
const TOKEN_KEY = "sluice-admin-token";
if (location.hash.startsWith("#token=")) {
  sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(location.hash.slice(7)));
  window.history.replaceState(null, "", location.pathname);
}

class NeedsToken extends Error {}

async function getJson(path) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const headers = token ? { Authorization: "Bearer " + token } : {};
  const r = await fetch(path, { cache: "no-store", headers });
  if (r.status === 401 || r.status === 403) throw new NeedsToken(path + ": HTTP " + r.status);
  if (!r.ok) throw new Error(path + ": HTTP " + r.status);
  return r.json();
}

function askForToken(why) {
  const form = document.getElementById("token-form");
  form.hidden = false;
  document.getElementById("token-why").textContent = why;
}

document.getElementById("token-form").addEventListener("submit", (e) => {
  e.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, document.getElementById("token").value);
  document.getElementById("token-form").hidden = true;
});

function age(seconds) {
  if (seconds < 60) return seconds + "s";
  if (seconds < 3600) return Math.floor(seconds / 60) + "m " + (seconds % 60) + "s";
  return Math.floor(seconds / 3600) + "h " + Math.floor((seconds % 3600) / 60) + "m";
}

// A forest is "hot" when lookups wait for a slot (the edge is deferring),
// "warm" from 80 % of its limit, as the forest-saturated alert sees it.
function forestState(f) {
  if (f.limit > 0 && f.in_flight >= f.limit && f.queued > 0) return "hot";
  if (f.saturation >= 0.8) return "warm";
  const open = f.replicas.filter((r) => r.breaker !== "closed").length;
  if (open && open === f.replicas.length) return "hot";
  return "ok";
}

function renderBanner(status) {
  const banner = document.getElementById("banner");
  banner.className = "banner " + status.health;
  document.getElementById("health").textContent =
    { healthy: "Healthy", degraded: "Degraded", incident: "Incident" }[status.health] || status.health;
  const ul = document.getElementById("reasons");
  ul.replaceChildren(...status.reasons.map((r) => el("li", {}, r)));
  if (status.config) {
    document.getElementById("version").textContent =
      "config v" + status.config.version + " (" + status.config.hash.slice(0, 12) + ")";
  }
}

function renderForests(forests, history) {
  const latest = new Map();
  const last = history && history.points.length ? history.points[history.points.length - 1] : null;
  if (last) for (const [name, v] of Object.entries(last.forests)) latest.set(name, v);
  const cards = forests.map((f) => {
    const state = forestState(f);
    const card = el("div", { class: "forest", "data-forest": f.name, "data-state": state });
    card.append(el("div", { class: "name" }, f.name));
    const bar = el("div", { class: "bar" });
    const fill = el("div", { class: "fill" });
    fill.style.width = Math.min(100, Math.round(f.saturation * 100)) + "%";
    bar.append(fill);
    card.append(bar);
    const row = (label, value) => {
      const r = el("div", { class: "row" }, label + " ");
      r.append(el("b", {}, value));
      return r;
    };
    card.append(row("in flight / limit", f.in_flight + " / " + f.limit));
    if (f.flight_lane) card.append(row("flight lane", f.flight_lane.in_flight + " / " + f.flight_lane.limit));
    card.append(row("waiting", f.queued));
    card.append(row("mean lookup", f.latency_mean_ms.toFixed(1) + " ms"));
    const recent = latest.get(f.name);
    if (recent) card.append(row("last 10 s", recent.latency_ms.toFixed(1) + " ms"));
    const d = f.deferred;
    card.append(row("deferred", d.saturated + d.timeout + d.unavailable));
    const up = f.replicas.filter((r) => r.breaker === "closed").length;
    card.append(row("replicas up", up + " / " + f.replicas.length));
    card.append(row("tenants", f.tenants.length));
    return card;
  });
  document.getElementById("forests").replaceChildren(...cards);
}

// A line chart of series (arrays of [t, y]) over the last hour.
function lineChart(container, series, colors, h) {
  const w = 600, pad = 28;
  const svg = svgEl("svg", { viewBox: `0 0 ${w} ${h}` });
  const now = Date.now(), from = now - 3600 * 1000;
  let ymax = 1;
  for (const s of series) for (const [, y] of s) ymax = Math.max(ymax, y);
  const x = (t) => pad + ((t - from) / (now - from)) * (w - pad - 4);
  const y = (v) => h - 14 - (v / ymax) * (h - 24);
  svg.append(svgEl("line", { x1: pad, y1: y(0), x2: w - 4, y2: y(0), stroke: "#dde2e8" }));
  const label = svgEl("text", { x: 2, y: 12, "font-size": 10, fill: "#6b7480" });
  label.textContent = ymax >= 10 ? Math.round(ymax) : ymax.toFixed(1);
  svg.append(label);
  const tl = svgEl("text", { x: pad, y: h - 2, "font-size": 10, fill: "#6b7480" });
  tl.textContent = "-60 min";
  svg.append(tl);
  series.forEach((s, i) => {
    if (!s.length) return;
    const d = s.map(([t, v], j) => (j ? "L" : "M") + x(t).toFixed(1) + "," + y(v).toFixed(1)).join(" ");
    svg.append(svgEl("path", { d, fill: "none", stroke: colors[i], "stroke-width": 2 }));
    const [t, v] = s[s.length - 1];  // the latest point, visible even when it is the only one
    svg.append(svgEl("circle", { cx: x(t), cy: y(v), r: 3, fill: colors[i] }));
  });
  container.replaceChildren(svg);
}

function renderHistory(history) {
  const pts = history.points;
  const series = ["2xx", "4xx", "5xx"].map((c) => pts.map((p) => [p.at_ms, p.replies_per_minute[c]]));
  lineChart(document.getElementById("replies-chart"), series, ["#9db4c8", "#d99a00", "#d63333"], 160);
  lineChart(document.getElementById("queue-chart"), [pts.map((p) => [p.at_ms, p.queue])], ["#3b6ea5"], 80);
}

function renderQueue(q) {
  const fig = (label, value) => {
    const d = el("div", {}, label);
    d.prepend(el("b", {}, value));
    return d;
  };
  document.getElementById("queue").replaceChildren(
    fig("messages", q.messages), fig("ready", q.ready), fig("deferred", q.deferred),
    fig("held", q.hold), fig("oldest", age(q.oldest_age_seconds)));
}

function mib(bytes) {
  return bytes >= 10 * 1048576 ? Math.round(bytes / 1048576) + " MiB" : (bytes / 1048576).toFixed(1) + " MiB";
}

function renderSpool(sp) {
  const box = document.getElementById("spool");
  if (!sp) {
    box.replaceChildren(el("div", { class: "muted" }, "not reported"));
    return;
  }
  box.dataset.state = sp.state;
  const fig = (label, value) => {
    const d = el("div", {}, label);
    d.prepend(el("b", {}, value));
    return d;
  };
  box.replaceChildren(fig("state", sp.state), fig("free", mib(sp.free_bytes)),
    fig("min free", mib(sp.min_free_bytes)), fig("used by spool", mib(sp.used_bytes)),
    fig("reserve", mib(sp.reserve_bytes)));
  box.title = sp.reason || "";
}

function renderDestinations(dests) {
  const rows = dests.map((d) => {
    const cls = d.breaker === "open" ? "open" : d.breaker !== "closed" ? "throttled" : "";
    const tr = el("tr", { class: cls, "data-destination": d.name });
    const cells = [d.name, d.kind, d.breaker, d.in_flight + " / " + d.concurrency_limit,
                   d.deliveries.delivered, d.deliveries.deferred, d.deliveries.failed, d.last_trouble];
    for (const c of cells) tr.append(el("td", {}, c));
    return tr;
  });
  document.querySelector("#destinations tbody").replaceChildren(...rows);
}

function renderAlerts(alerts) {
  const active = alerts.active.map((a) =>
    el("li", { class: a.state, "data-alert": a.alert }, (a.state === "firing" ? "FIRING " : "pending ") + a.summary));
  if (!active.length) active.push(el("li", { class: "muted" }, "none"));
  document.getElementById("alerts").replaceChildren(...active);
  const recent = alerts.recent.slice(-8).reverse().map((n) =>
    el("li", {}, new Date(n.at_ms).toLocaleTimeString() + " " + n.status + ": " + n.summary));
  document.getElementById("notices").replaceChildren(...recent);
}

function renderFlight(f) {
  const panel = document.getElementById("flight");
  panel.dataset.state = f.state;
  const summary = {
    none: "No flight. Start one with: sluicectl flight start CANDIDATE.toml --share 10%",
    running: "Running at " + f.share + " % of tenants: " + f.candidate,
    completed: "Completed: " + f.reason,
    rolled_back: "Rolled back: " + f.reason,
  }[f.state] || f.state;
  document.getElementById("flight-summary").textContent = summary;
  document.getElementById("flight-shares").replaceChildren(...(f.state === "running" ? f.shares : []).map((st) =>
    el("span", { class: st === f.share ? "share current" : st < f.share ? "share done" : "share" }, st + " %")));
  document.getElementById("flight-changes").replaceChildren(...f.changes.map((c) => el("li", {}, c)));
  const fmt = (x) => (Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(3));
  const rows = f.gates.map((g) => {
    const verdict = !g.judged ? "too little traffic" : g.pass ? "pass" : "FAIL";
    const tr = el("tr", { class: g.judged && !g.pass ? "open" : "", "data-gate": g.name });
    for (const c of [g.name, fmt(g.flight), fmt(g.control), fmt(g.limit), verdict]) tr.append(el("td", {}, c));
    return tr;
  });
  document.querySelector("#flight-gates tbody").replaceChildren(...rows);
  document.getElementById("flight-history").replaceChildren(...f.history.slice(-5).reverse().map((h) =>
    el("li", {}, new Date(h.unix * 1000).toLocaleTimeString() + " " + h.step)));
}

// The fleet, when this node is in one ([cluster]): the budget mode, each
// forest's shared budget, the control plane and its members.
function renderFleet(f) {
  const panel = document.getElementById("fleet");
  panel.hidden = !f;
  if (!f) return;
  panel.dataset.mode = f.mode || "none";
  const parts = [];
  if (f.mode) parts.push("node " + f.node + ": budgets " + f.mode + (f.redis ? " via " + f.redis : "") + (f.reason ? " (" + f.reason + ")" : ""));
  if (f.rate_limits) parts.push("rate limits " + f.rate_limits.mode);
  if (f.control) parts.push("control plane " + f.control.state + " at revision " + f.control.revision + (f.control.reason ? " (" + f.control.reason + ")" : ""));
  if (f.flight && f.flight.state !== "none") parts.push("node flight " + f.flight.state + " at " + f.flight.share + " %: " + f.flight.nodes.join(", "));
  document.getElementById("fleet-summary").textContent = parts.join(" · ");
  const row = (attrs, name, b) => {
    const tr = el("tr", attrs);
    const holders = Object.entries(b.holders).map(([n, k]) => n + " " + k).join(", ");
    for (const c of [name, b.limit, b.share + (b.controller ? " (controller)" : ""), b.fleet_in_flight, holders]) tr.append(el("td", {}, c));
    return tr;
  };
  document.querySelector("#fleet-budgets tbody").replaceChildren(
    ...(f.forests || []).map((b) => row({ "data-forest": b.forest }, b.forest, b)));
  const destinations = f.destinations || [];
  document.querySelector("#fleet-destinations tbody").replaceChildren(
    ...destinations.map((b) => row({ "data-destination": b.destination }, b.destination, b)));
  document.getElementById("fleet-destinations").hidden = destinations.length === 0;
  const now = Date.now() / 1000;
  const members = ((f.control && f.control.members) || []).map((m) => {
    const tr = el("tr", { "data-node": m.node });
    for (const c of [m.node, m.smtp, m.admin, m.version, m.config_version, age(Math.max(0, Math.round(now - m.seen_unix))) + " ago"]) tr.append(el("td", {}, c));
    return tr;
  });
  document.querySelector("#fleet-members tbody").replaceChildren(...members);
  // Members come from etcd: without a control plane there is no list to show.
  document.getElementById("fleet-members").hidden = !f.control;
  document.getElementById("fleet-members-title").hidden = !f.control;
}

// Shadow copies ([shadow]): what this node holds for others, what its
// peers hold for it (discards they have not heard yet), each peer, a drain.
function renderShadow(s) {
  const panel = document.getElementById("shadow");
  panel.hidden = !s;
  if (!s) return;
  panel.dataset.drain = s.drain.state;
  const parts = [
    "held for others " + s.held, "safety net " + s.safety_net, "copies sent " + s.sent + " (failed " + s.failed + ")",
    "accepted without a copy " + (s.unshadowed ? s.unshadowed.accepted : 0) + ", refused for want of one " + (s.unshadowed ? s.unshadowed.refused : 0),
    "discards pending " + s.discards_pending, "promoted " + s.promoted + " (takeovers " + s.takeovers + ")",
    "drain " + s.drain.state + (s.drain.state !== "off" ? ": " + s.drain.handed + " handed, " + s.drain.left + " left" : ""),
  ];
  document.getElementById("shadow-summary").textContent = parts.join(" · ");
  const now = Date.now() / 1000;
  document.querySelector("#shadow-peers tbody").replaceChildren(...s.peers.map((p) => {
    const tr = el("tr", { "data-peer": p.address, "data-state": p.state });
    const last = p.last_ok_unix ? age(Math.max(0, Math.round(now - p.last_ok_unix))) + " ago" : "never";
    for (const c of [p.address, p.state, last]) tr.append(el("td", {}, c));
    return tr;
  }));
}

function renderQuarantine(list) {
  const shown = list.slice(0, 20);
  const malware = list.filter((m) => m.category === "malware").length;
  document.getElementById("quarantine-summary").textContent = list.length === 0 ? "empty" :
    list.length + " message(s), " + malware + " malware" + (list.length > shown.length ? "; the 20 oldest shown" : "");
  document.querySelector("#quarantine-list tbody").replaceChildren(...shown.map((m) => {
    const tr = el("tr", { "data-id": m.id, "data-category": m.category });
    for (const c of [m.id, age(m.age_seconds), m.category, m.sender || "<>", m.recipients.join(", "), m.reason]) {
      tr.append(el("td", {}, c));
    }
    return tr;
  }));
}

let history = null;
let lastHistory = 0;
let lastQuarantine = 0;

async function poll() {
  try {
    if (Date.now() - lastHistory >= HISTORY_MS) {
      history = await getJson("/api/v1/history");
      lastHistory = Date.now();
      renderHistory(history);
    }
    if (Date.now() - lastQuarantine >= QUARANTINE_MS) {
      lastQuarantine = Date.now();
      renderQuarantine(await getJson("/api/v1/quarantine?limit=500"));
    }
    const [status, forests, dests, alerts, flight] = await Promise.all([
      getJson("/api/v1/status"), getJson("/api/v1/forests"),
      getJson("/api/v1/destinations"), getJson("/api/v1/alerts"), getJson("/api/v1/flight")]);
    renderBanner(status);
    renderForests(forests, history);
    renderQueue(status.queue);
    renderSpool(status.spool);
    renderDestinations(dests);
    renderAlerts(alerts);
    renderFlight(flight);
    renderFleet(status.fleet);
    renderShadow(status.shadow);
    document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (e) {
    if (e instanceof NeedsToken) askForToken(String(e.message));
    const banner = document.getElementById("banner");
    banner.className = "banner unreachable";
    document.getElementById("health").textContent = "Admin API unreachable";
    document.getElementById("reasons").replaceChildren(el("li", {}, String(e.message || e)));
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

poll();
