// The middleware dashboard: a page over /dashboard/api/* (mw's JSON shapes). No framework, no build step.
// Everything from the server is put on the page with textContent or attributes, never as HTML: component ids, keys,
// states and replies come from users.
"use strict";

const KEY = "mw-dashboard-key";
const COLORS = ["#2e5aac", "#12805c", "#b54708", "#7a2e9e", "#c4320a", "#0e7490", "#4d5761"];
let timers = [];
let generation = 0;

// ---- small DOM helpers (text only) ----
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined) continue;
    if (k === "class") node.className = v;
    else if (k === "onclick" || k === "onsubmit") node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, String(v));
  }
  for (const c of children) append(node, c);
  return node;
}
function append(node, c) {
  if (c === null || c === undefined) return;
  if (Array.isArray(c)) { c.forEach(x => append(node, x)); return; }
  node.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
}
function svgEl(tag, attrs) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  return node;
}
function text(v) { return v === null || v === undefined ? "-" : String(v); }
function json(v) { return v === null || v === undefined ? "-" : JSON.stringify(v); }
function num(v, digits) { return v === null || v === undefined ? "-" : Number(v).toLocaleString("en-US", { maximumFractionDigits: digits === undefined ? 1 : digits }); }
function time(v) { return v ? String(v).replace("T", " ").replace(/\.(\d{3})\d*Z$/, ".$1Z") : "-"; }
function table(headers, rows, attrs) {
  return el("table", attrs || {}, el("thead", {}, el("tr", {}, headers.map(h => el("th", {}, h)))), el("tbody", {}, rows));
}
function td(value, cls) { return el("td", cls ? { class: cls } : {}, value); }
function componentLink(id) { return el("a", { href: "#/component/" + encodeURIComponent(id), "data-component": id }, id); }
function page() { return document.getElementById("page"); }
function showError(message) {
  const p = document.getElementById("error");
  p.textContent = message || "";
  p.hidden = !message;
}

// ---- the API ----
async function api(path) {
  const headers = {};
  const key = sessionStorage.getItem(KEY);
  if (key) headers.Authorization = "Bearer " + key;
  const response = await fetch("/dashboard/api/" + path, { headers, cache: "no-store" });
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (response.status === 401) { showLogin(body && body.error); throw new Error("the admin key is needed"); }
  if (!response.ok) throw new Error((body && body.error) || ("HTTP " + response.status));
  return body;
}
function q(params) {
  const parts = [];
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== "") parts.push(encodeURIComponent(k) + "=" + encodeURIComponent(v));
  return parts.join("&");
}
function showLogin(message) {
  document.getElementById("login").hidden = false;
  document.getElementById("login-error").textContent = sessionStorage.getItem(KEY) ? (message || "that key was refused") : "";
}
function every(ms, fn) {
  const mine = generation;
  const run = async () => {
    if (mine !== generation) return;
    try { await fn(); } catch (e) { if (mine === generation) showError(e.message); }
  };
  run();
  timers.push(setInterval(run, ms));
}

// ---- charts: inline SVG polylines ----
function chart(title, id, unit) {
  const svg = svgEl("svg", { viewBox: "0 0 600 170", preserveAspectRatio: "none", id: id, "data-points": "0" });
  return el("div", { class: "chart" }, el("h3", {}, title, el("span", { class: "muted" }, " (" + unit + ")")), svg, el("div", { class: "legend", id: id + "-legend" }));
}
function drawChart(id, series) {
  const svg = document.getElementById(id);
  if (!svg) return;
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const all = series.flatMap(s => s.points);
  const max = Math.max(1, ...all);
  const width = 600, height = 150, n = 60;
  for (let i = 0; i <= 4; i++) {
    const y = 10 + (height - 10) * i / 4;
    svg.appendChild(svgEl("line", { x1: 40, x2: width, y1: y, y2: y, stroke: "#e4e7ec", "stroke-width": 1 }));
    const label = svgEl("text", { x: 0, y: y + 4, "font-size": 10, fill: "#667085" });
    label.textContent = num(max * (4 - i) / 4, max < 10 ? 1 : 0);
    svg.appendChild(label);
  }
  series.forEach((s, k) => {
    const pts = s.points.slice(-n);
    const coords = pts.map((v, i) => (40 + (width - 40) * (i + n - pts.length) / (n - 1)).toFixed(1) + "," + (height - (height - 10) * v / max).toFixed(1));
    svg.appendChild(svgEl("polyline", { points: coords.join(" "), fill: "none", stroke: s.color || COLORS[k % COLORS.length], "stroke-width": 2, "data-series": s.name }));
  });
  svg.setAttribute("data-points", String(Math.max(0, ...series.map(s => s.points.length))));
  svg.setAttribute("data-last", series.map(s => s.points.length ? s.points[s.points.length - 1].toFixed(3) : "").join(" "));
  const legend = document.getElementById(id + "-legend");
  legend.textContent = "";
  series.forEach((s, k) => {
    const last = s.points.length ? s.points[s.points.length - 1] : null;
    const swatch = el("i", {});
    swatch.style.background = s.color || COLORS[k % COLORS.length]; // CSSOM, not a style attribute: the CSP allows no inline styles
    legend.appendChild(el("span", {}, swatch, s.name + ": " + num(last)));
  });
}
// A percentile of the requests between two cumulative histograms: the bucket's upper bound (ms).
function percentile(bounds, delta, p) {
  const total = delta.reduce((a, b) => a + b, 0);
  if (total === 0) return 0;
  let seen = 0;
  for (let i = 0; i < delta.length; i++) {
    seen += delta[i];
    if (seen >= total * p) return i < bounds.length ? bounds[i] : bounds[bounds.length - 1] * 2;
  }
  return bounds[bounds.length - 1] * 2;
}

// ---- pages ----
function clusterPage() {
  const root = page();
  root.append(
    el("h2", {}, "Silos"), el("p", { class: "summary", id: "cluster-summary" }, "loading..."), el("div", { id: "silos" }),
    el("div", { class: "charts" },
      chart("Throughput", "chart-throughput", "requests run per second, by silo"),
      chart("Latency", "chart-latency", "ms from request to reply at the silo, all silos; bucket bounds")),
    el("h2", {}, "Busiest components"), el("div", { id: "busiest" }),
    el("h2", {}, "Mirrors"), el("div", { id: "mirrors" }));

  every(2000, async () => {
    const c = await api("cluster");
    document.getElementById("cluster-summary").textContent =
      `${c.live} live of ${c.total} silo(s); ${c.components} component(s), ${c.componentsWithoutLiveOwner} without a live owner` + (c.noMirror ? "; no mirror: " + c.noMirror : "");
    const rows = c.silos.map(s => el("tr", { "data-silo": s.siloId, "data-status": s.status, class: s.status === "dead" ? "dead" : null },
      td(s.siloId), td(s.address, "code"), td(s.httpAddress, "code"), td(s.status, "status-" + s.status),
      td(num(s.heartbeatAgeSeconds) + " s", "num"), td(num(s.deadAfterSeconds) + " s", "num"),
      td(num(s.activations, 0), "num"), td(num(s.componentsOwned, 0), "num"),
      td(s.mirror ? num(s.mirror.standbys, 0) : "-", "num"), td(s.mirror ? num(s.mirror.mirroredComponents, 0) : "-", "num"),
      td(s.mirror ? num(s.mirror.maxLagRecords, 0) + " rec / " + num(s.mirror.maxLagMs) + " ms" : "-", "num"),
      td(s.mirror && s.mirror.diverged ? "DIVERGED " + s.mirror.diverged : (s.mirror ? num(s.mirror.diverged, 0) : "-"), s.mirror && s.mirror.diverged ? "error" : null),
      td(time(s.joinedAt)), td(s.mirror && s.mirror.error ? s.mirror.error : "", "muted")));
    const holder = document.getElementById("silos");
    holder.textContent = "";
    holder.append(table(["silo", "address", "http", "status", "heartbeat age", "window", "activations", "components owned", "standbys kept", "mirrored owned", "standby lag", "diverged", "joined (UTC)", "note"], rows, { id: "silos-table" }));
  });

  const history = { at: [], silos: {} };
  let previous = null;
  const rates = {}, p50 = [], p99 = [];
  every(1000, async () => {
    const t = await api("throughput");
    if (previous) {
      let delta = null, bounds = null;
      for (const s of t.silos) {
        const before = previous.silos.find(x => x.siloId === s.siloId);
        if (!rates[s.siloId]) rates[s.siloId] = [];
        if (!s.stats || !before || !before.stats) { rates[s.siloId].push(0); continue; }
        const seconds = Math.max(0.001, (Date.parse(s.stats.at) - Date.parse(before.stats.at)) / 1000);
        // Turns run where they run: a forwarded request counts once, at the owner that runs it.
        rates[s.siloId].push(Math.max(0, (s.stats.served - before.stats.served) / seconds));
        bounds = s.stats.latencyBoundsMs;
        const d = s.stats.latencyCounts.map((v, i) => Math.max(0, v - (before.stats.latencyCounts[i] || 0)));
        delta = delta ? delta.map((v, i) => v + d[i]) : d;
      }
      p50.push(delta ? percentile(bounds, delta, 0.5) : 0);
      p99.push(delta ? percentile(bounds, delta, 0.99) : 0);
      for (const k of Object.keys(rates)) if (rates[k].length > 60) rates[k].shift();
      if (p50.length > 60) { p50.shift(); p99.shift(); }
      const ids = Object.keys(rates).sort();
      const total = rates[ids[0]] ? rates[ids[0]].map((_, i) => ids.reduce((a, id) => a + (rates[id][i] || 0), 0)) : [];
      drawChart("chart-throughput", [{ name: "total", points: total, color: "#1d2330" }].concat(ids.map((id, k) => ({ name: id, points: rates[id], color: COLORS[k % COLORS.length] }))));
      drawChart("chart-latency", [{ name: "p50", points: p50, color: COLORS[1] }, { name: "p99", points: p99, color: COLORS[4] }]);
    }
    previous = t;
  });

  const seen = {};
  every(2000, async () => {
    const b = await api("busiest?top=10");
    const now = Date.now();
    const rows = b.top.map(c => {
      const before = seen[c.id];
      const rate = before ? (c.lastSeq - before.lastSeq) / Math.max(0.001, (now - before.at) / 1000) : null;
      seen[c.id] = { lastSeq: c.lastSeq, at: now };
      return el("tr", { "data-component": c.id }, td(componentLink(c.id)), td(c.owner), td(num(c.epoch, 0), "num"), td(num(c.lastSeq, 0), "num"), td(num(c.checkpointSeq, 0), "num"), td(rate === null ? "-" : num(rate), "num"));
    });
    const holder = document.getElementById("busiest");
    holder.textContent = "";
    holder.append(el("p", { class: "muted" }, `the ${b.top.length} longest logs of ${b.components} component(s); turns/s from the last two reads`),
      table(["component", "owner", "epoch", "last seq", "checkpoint seq", "turns/s"], rows, { id: "busiest-table" }));
  });

  every(5000, async () => {
    const m = await api("mirrors");
    const holder = document.getElementById("mirrors");
    holder.textContent = "";
    if (m.noMirror) { holder.append(el("p", { class: "muted" }, "no mirror: " + m.noMirror)); return; }
    holder.append(el("p", { class: "summary" }, `${m.standbys} standby(s): ${m.lagging} lagging, ${m.diverged} diverged, ${m.misplaced} not where placement expects`));
    holder.append(table(["component", "owner", "mirror", "expected", "applied seq", "last seq", "lag", "state"],
      m.mirrors.slice(0, 200).map(r => el("tr", { class: r.state === "diverged" ? "divergence" : null },
        td(componentLink(r.component)), td(r.owner), td(r.mirror), td(r.expectedMirror), td(num(r.appliedSeq, 0), "num"), td(num(r.lastSeq, 0), "num"),
        td(r.lagRecords === null ? "-" : num(r.lagRecords, 0) + " rec, " + num(r.lagMs) + " ms", "num"),
        td(r.state === "diverged" ? "DIVERGED at seq " + r.divergedAtSeq : r.state, r.state === "diverged" ? "error" : null)))));
    for (const u of m.unanswered) holder.append(el("p", { class: "muted" }, `${u.siloId} (${u.address}) did not answer: ${u.reason}`));
  });
}

function componentPage(id) {
  const root = page();
  if (!id) {
    root.append(el("h2", {}, "Components"), el("div", { id: "components" }, "loading..."));
    api("components?limit=200").then(list => {
      const holder = document.getElementById("components");
      holder.textContent = "";
      holder.append(table(["component", "owner", "epoch", "last seq", "checkpoint seq", "last activity (UTC)"],
        list.components.map(c => el("tr", {}, td(componentLink(c.id)), td(c.owner), td(num(c.epoch, 0), "num"), td(num(c.lastSeq, 0), "num"), td(num(c.checkpointSeq, 0), "num"), td(time(c.lastActivity))))));
    }).catch(e => showError(e.message));
    return;
  }
  root.append(
    el("h2", {}, "Component ", el("span", { id: "component-id", class: "code" }, id)),
    el("dl", { class: "fields", id: "component-head" }),
    el("div", { class: "columns" },
      el("div", {},
        el("h2", {}, "State"),
        el("form", { id: "state-form", class: "inline" },
          el("input", { id: "state-seq", placeholder: "seq", size: 8, "aria-label": "seq" }),
          el("input", { id: "state-asof", placeholder: "or time, e.g. 2026-12-06T16:00:00Z", size: 30, "aria-label": "as of time" }),
          el("button", { type: "submit" }, "Show")),
        el("p", { id: "state-caption", class: "muted" }), el("pre", { id: "state-json" }, "loading...")),
      el("div", {},
        el("h2", {}, "Log"),
        el("form", { id: "log-form", class: "inline" },
          el("input", { id: "log-from", placeholder: "from seq", size: 8, "aria-label": "from seq" }),
          el("input", { id: "log-to", placeholder: "to seq", size: 8, "aria-label": "to seq" }),
          el("button", { type: "submit" }, "Show"), el("span", { class: "muted" }, "(the last 50 without a range)")),
        el("p", { id: "log-caption", class: "muted" }), el("div", { id: "log" }))));

  const enc = encodeURIComponent(id);
  api("component?id=" + enc).then(c => {
    const dl = document.getElementById("component-head");
    for (const [k, v] of [["type", c.type], ["owner", text(c.owner)], ["epoch", c.epoch], ["last seq", c.lastSeq], ["checkpoint seq", c.checkpointSeq], ["last activity", time(c.lastActivity)]])
      dl.append(el("dt", {}, k), el("dd", { "data-field": k }, String(v)));
  }).catch(e => showError(e.message));

  const loadState = (params) => api("state?" + q(Object.assign({ id }, params))).then(s => {
    document.getElementById("state-caption").textContent = `after seq ${s.seq} (checkpoint ${s.checkpointSeq}; committed ${time(s.committedAt)})`;
    const pre = document.getElementById("state-json");
    pre.textContent = JSON.stringify(s.state, null, 2);
    pre.setAttribute("data-seq", String(s.seq));
  }).catch(e => { document.getElementById("state-json").textContent = e.message; });
  const loadLog = (params) => api("log?" + q(Object.assign({ id }, params))).then(log => {
    document.getElementById("log-caption").textContent = `${log.records.length} record(s), seq ${log.firstSeq}..${log.lastSeq}`;
    const holder = document.getElementById("log");
    holder.textContent = "";
    holder.append(table(["seq", "kind", "epoch", "committed (UTC)", "request", "session", "caller", "method", "args", "recorded", "outbound calls", "reply"],
      log.records.slice().reverse().map(r => el("tr", { "data-seq": r.seq, class: r.checksum !== "verified" && r.checksum !== "unverified" ? "corrupt" : (r.error && r.kind === "turn" ? "error" : r.kind) },
        td(String(r.seq), "num"), td(r.kind), td(String(r.epoch), "num"), td(time(r.committedAt)), td(r.requestId, "code"), td(r.sessionId, "code"), td(r.caller, "code"),
        td(r.method), td(json(r.args), "code"),
        td(r.recorded.length ? r.recorded.map(v => v.kind + "=" + v.value).join(", ") : "-", "code"),
        td(r.outbound.length ? el("ul", { class: "calls" }, r.outbound.map(o => el("li", {}, `${o.target}.${o.operation} [${o.requestId}] ${json(o.args)} = ${o.error ? "abort " + o.error.message : json(o.result)}`))) : "-", "code"),
        td(r.error ? `error ${r.error.type}: ${r.error.message}` : (r.kind === "partialTurn" ? "(partial)" : json(r.reply)), "code"))), { id: "log-table" }));
  }).catch(e => showError(e.message));
  loadState({});
  loadLog({});
  document.getElementById("state-form").addEventListener("submit", ev => {
    ev.preventDefault();
    loadState({ seq: document.getElementById("state-seq").value.trim(), asOf: document.getElementById("state-asof").value.trim() });
  });
  document.getElementById("log-form").addEventListener("submit", ev => {
    ev.preventDefault();
    loadLog({ from: document.getElementById("log-from").value.trim(), to: document.getElementById("log-to").value.trim() });
  });
}

function outcomePage() {
  page().append(el("h2", {}, "Outcome of a request"),
    el("form", { id: "outcome-form", class: "inline" },
      el("input", { id: "outcome-request", placeholder: "request id, e.g. SESSION:12", size: 40, "aria-label": "request id" }),
      el("input", { id: "outcome-component", placeholder: "component Type/key (optional: else every component is scanned)", size: 50, "aria-label": "component" }),
      el("button", { type: "submit" }, "Look up")),
    el("div", { id: "outcome" }));
  const show = o => el("dl", { class: "fields", "data-outcome": o.outcome },
    [["component", o.component], ["request", o.requestId], ["outcome", o.outcome], ["source", text(o.source)], ["seq", text(o.seq)], ["committed", time(o.committedAt)],
     ["reply", o.error ? `error ${o.error.type}: ${o.error.message}` : json(o.reply)], ["partial seq", text(o.partialSeq)]].flatMap(([k, v]) => [el("dt", {}, k), el("dd", { class: k === "outcome" ? (o.committed ? "ok" : "error") : null }, v)]));
  document.getElementById("outcome-form").addEventListener("submit", ev => {
    ev.preventDefault();
    const holder = document.getElementById("outcome");
    holder.textContent = "looking...";
    api("outcome?" + q({ requestId: document.getElementById("outcome-request").value.trim(), component: document.getElementById("outcome-component").value.trim() })).then(o => {
      holder.textContent = "";
      if (o.found) {
        holder.append(el("p", { class: "summary" }, `${o.found.length} hit(s) among ${o.componentsScanned} component(s)` + (o.found.length ? "" : ": not committed anywhere (not fenced)")));
        o.found.forEach(f => holder.append(show(f)));
      } else holder.append(show(o));
    }).catch(e => { holder.textContent = e.message; });
  });
}

function auditPage() {
  page().append(el("h2", {}, "Replay audit"),
    el("p", { class: "muted" }, "Replays logs against the silo's current code and reports every divergence (read-only: nothing is written)."),
    el("form", { id: "audit-form", class: "inline" },
      el("input", { id: "audit-component", placeholder: "component Type/key", size: 30, "aria-label": "component" }),
      el("input", { id: "audit-type", placeholder: "or type", size: 14, "aria-label": "type" }),
      el("label", {}, el("input", { id: "audit-all", type: "checkbox" }), " all"),
      el("label", {}, el("input", { id: "audit-genesis", type: "checkbox" }), " from genesis"),
      el("button", { type: "submit" }, "Audit")),
    el("div", { id: "audit" }));
  document.getElementById("audit-form").addEventListener("submit", ev => {
    ev.preventDefault();
    const holder = document.getElementById("audit");
    holder.textContent = "auditing...";
    api("audit?" + q({ component: document.getElementById("audit-component").value.trim(), type: document.getElementById("audit-type").value.trim(),
      all: document.getElementById("audit-all").checked ? "1" : "", mode: document.getElementById("audit-genesis").checked ? "genesis" : "" })).then(a => {
      holder.textContent = "";
      holder.append(el("p", { class: a.clean ? "ok" : "error", id: "audit-verdict", "data-clean": String(a.clean) },
        a.clean ? "clean: every replayed turn reproduced its recorded reply" : `NOT CLEAN: ${a.divergent} divergent, ${a.skipped} skipped`));
      holder.append(table(["mode", "components", "turns replayed", "divergent", "skipped", "time", "turns/s", "checksums verified", "unverified", "dedup checked"],
        [el("tr", {}, td(a.mode), td(num(a.components, 0), "num"), td(num(a.turns, 0), "num"), td(num(a.divergent, 0), "num"), td(num(a.skipped, 0), "num"),
          td(num(a.seconds, 2) + " s", "num"), td(num(a.turnsPerSecond, 0), "num"), td(num(a.verified, 0), "num"), td(num(a.unverified, 0), "num"), td(num(a.dedupChecked, 0), "num"))]));
      if (a.divergences.length) {
        holder.append(el("h2", {}, "Divergences"), table(["component", "seq", "kind", "method", "args", "expected", "actual"],
          a.divergences.map(d => el("tr", { class: "divergence" }, td(componentLink(d.component)), td(String(d.seq), "num"), td(d.kind), td(d.method), td(json(d.args), "code"), td(d.expected, "code"), td(d.actual, "code"))),
          { id: "divergences" }));
      }
      if (a.skippedComponents.length) holder.append(el("h2", {}, "Skipped"), table(["component", "reason"], a.skippedComponents.map(s => el("tr", {}, td(s.component), td(s.reason)))));
      if (a.inDoubt.length) holder.append(el("h2", {}, "Turns in doubt"), table(["component", "request", "seq", "method", "state"],
        a.inDoubt.map(t => el("tr", { class: t.state === "passedOver" ? "divergence" : null }, td(componentLink(t.component)), td(t.requestId, "code"), td(String(t.seq), "num"), td(t.method), td(t.state === "passedOver" ? "passed over by " + t.passedBy : "pending")))));
    }).catch(e => { holder.textContent = e.message; });
  });
}

// ---- routing ----
function route() {
  generation++;
  timers.forEach(clearInterval);
  timers = [];
  showError("");
  page().textContent = "";
  const hash = location.hash || "#/";
  const [, name, ...rest] = hash.split("/");
  for (const a of document.querySelectorAll("header nav a")) a.classList.toggle("active", a.id === "nav-" + (name || "cluster"));
  if (name === "component") componentPage(rest.length ? decodeURIComponent(rest.join("/")) : "");
  else if (name === "outcome") outcomePage();
  else if (name === "audit") auditPage();
  else clusterPage();
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("login-form").addEventListener("submit", ev => {
    ev.preventDefault();
    sessionStorage.setItem(KEY, document.getElementById("login-key").value);
    document.getElementById("login").hidden = true;
    route();
  });
  document.getElementById("goto").addEventListener("submit", ev => {
    ev.preventDefault();
    const id = document.getElementById("goto-id").value.trim();
    if (id) location.hash = "#/component/" + encodeURIComponent(id);
  });
  window.addEventListener("hashchange", route);
  api("about").then(a => { document.getElementById("source").textContent = `${a.source} · ${a.store}`; }).catch(() => {});
  route();
});
