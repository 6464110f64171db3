// The dashboard: draws each page from the /admin API with the session
// cookie. Text from the API is only ever set as text (never as HTML), and
// every change sends the session's CSRF token.
"use strict";

const csrf = document.querySelector('meta[name="csrf-token"]').content;
const page = document.getElementById("page");

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (name === "on") {
      for (const [event, handler] of Object.entries(value)) node.addEventListener(event, handler);
    } else if (value !== undefined && value !== null && value !== false) {
      node.setAttribute(name, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

async function api(method, path, body) {
  const options = { method, credentials: "same-origin", headers: {} };
  if (method !== "GET") options.headers["x-csrf-token"] = csrf;
  if (body !== undefined) {
    options.headers["content-type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  if (response.status === 401) {
    window.location.assign("/ui/");
    throw new Error("signed out");
  }
  const text = await response.text();
  const data = text ? JSON.parse(text) : {};
  if (!response.ok) {
    const error = new Error((data.error && data.error.message) || response.statusText);
    error.status = response.status;
    throw error;
  }
  return data;
}

const usd = (v) => (v === null || v === undefined ? "–" : "$" + Number(v).toFixed(v < 1 ? 6 : 2));
const ms = (v) => (v === null || v === undefined ? "–" : Number(v).toFixed(1) + " ms");
const us = (v) => (v === null || v === undefined ? "–" : v >= 1000 ? (Number(v) / 1000).toFixed(2) + " ms" : Math.round(Number(v)) + " µs");
const pct = (v) => (v === null || v === undefined || isNaN(v) ? "–" : (100 * v).toFixed(1) + "%");
// Small shares keep two significant digits: a budget 0.03% burnt is not 0.
const share = (v) => (v === null || v === undefined || isNaN(v) ? "–" : v > 0 && v < 0.01 ? (100 * v).toPrecision(2) + "%" : pct(v));
const when = (at) => (at ? new Date(Number(at)).toLocaleString() : "–");

function card(label, value, id) {
  return el("div", { class: "card", "data-metric": id }, el("span", { class: "label" }, label), el("span", { class: "value" }, value));
}

function table(columns, rows, attrs) {
  return el(
    "table",
    attrs || {},
    el("thead", {}, el("tr", {}, columns.map((c) => el("th", {}, c[0])))),
    el("tbody", {}, rows.length ? rows.map((row) => el("tr", {}, columns.map((c) => el("td", {}, c[1](row))))) : el("tr", {}, el("td", { colspan: columns.length, class: "empty" }, "nothing yet")))
  );
}

function notice(text, kind) {
  return el("p", { class: kind || "notice", role: kind === "error" ? "alert" : "status" }, text);
}

function chart(title, starts, series) {
  const holder = el("figure", { class: "chart" }, el("figcaption", {}, title));
  const width = Math.max(320, Math.min(900, page.clientWidth - 40));
  const palette = ["#1f4e79", "#c0392b", "#2e8b57", "#8e44ad", "#d35400", "#16a085", "#7f8c8d", "#b7950b"];
  const options = {
    width,
    height: 220,
    series: [{}].concat(series.map((s, i) => ({ label: s.label, stroke: palette[i % palette.length], width: 2 }))),
    axes: [{}, {}],
  };
  const data = [starts.map((t) => t / 1000)].concat(series.map((s) => s.values));
  if (window.uPlot) new window.uPlot(options, data, holder);
  return holder;
}

const WINDOWS = { "1h": 3600e3, "24h": 86400e3, "7d": 7 * 86400e3 };

function windowPicker(current, onPick) {
  return el("div", { class: "windows" }, Object.keys(WINDOWS).map((w) => el("button", { type: "button", class: w === current ? "active" : "", on: { click: () => onPick(w) } }, w)));
}

let overviewWindow = "24h";
// The request log is off by default: its pages say how to turn it on.
const LOG_OFF = "The request log is off: set `[request_log] enabled = true` to see requests, latency and spend here.";
async function summaryOf(path) {
  try { return await api("GET", path); } catch (error) {
    if (error.status === 404) return null;
    throw error;
  }
}

async function overview() {
  const since = Date.now() - WINDOWS[overviewWindow];
  const [summary, cache] = await Promise.all([
    summaryOf(`/admin/requests/summary?since_ms=${since}&buckets=24`),
    api("GET", "/admin/cache/stats").catch(() => null),
  ]);
  if (!summary) return [el("h1", {}, "Overview"), notice(LOG_OFF)];
  const hitRatio = summary.cache_lookups ? summary.cache_hits / summary.cache_lookups : NaN;
  return [
    el("h1", {}, "Overview"),
    windowPicker(overviewWindow, (w) => { overviewWindow = w; render(); }),
    el("div", { class: "cards" },
      card("Requests", summary.requests, "requests"),
      card("Errors", summary.errors, "errors"),
      card("Latency p50 / p99", `${ms(summary.p50_ms)} / ${ms(summary.p99_ms)}`, "latency"),
      card("Gateway overhead p50 / p99", `${us(summary.overhead_p50_us)} / ${us(summary.overhead_p99_us)}`, "overhead"),
      card("Spend", usd(summary.spend_usd), "spend"),
      card("Cache hit ratio", pct(hitRatio), "hit-ratio"),
      card("Saved by the cache", cache ? usd(cache.saved_usd) : "cache off", "saved")),
    chart("Requests and errors", summary.series.map((b) => b.start_ms), [
      { label: "requests", values: summary.series.map((b) => b.requests) },
      { label: "errors", values: summary.series.map((b) => b.errors) },
      { label: "cache hits", values: summary.series.map((b) => b.cache_hits) },
    ]),
  ];
}

async function spend() {
  const since = Date.now() - WINDOWS["24h"];
  const empty = { series: [], teams: [], keys: [], models: [] };
  const [teams, keys, logged, hourly] = await Promise.all([
    api("GET", "/admin/teams"),
    api("GET", "/admin/keys"),
    summaryOf(`/admin/requests/summary?since_ms=${since}&buckets=24`),
    summaryOf(`/admin/requests/summary?since_ms=${Date.now() - 3600e3}&buckets=1`),
  ]);
  const summary = logged || empty;
  const hour = hourly || empty;
  const details = await Promise.all(teams.data.map((t) => api("GET", `/admin/teams/${encodeURIComponent(t.id)}`)));
  const perHour = Object.fromEntries(hour.teams.map((g) => [g.name, g.spend_usd]));
  const budgets = [];
  for (const team of details) {
    for (const usage of team.budget_usage || []) {
      const rate = perHour[team.id] || 0;
      const left = usage.limit_usd - usage.used_usd;
      budgets.push({ team: team.id, ...usage, burn: usage.limit_usd ? usage.used_usd / usage.limit_usd : 0, exhaust: rate > 0 ? (left <= 0 ? "exhausted" : `${(left / rate).toFixed(1)} h at the last hour's rate`) : "not spending" });
    }
  }
  const created = el("div", { id: "new-key" });
  const teamForm = el("form", { class: "inline", on: { submit: async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const body = { id: form.get("id") };
    if (form.get("usd_per_day")) body.limits = { usd_per_day: Number(form.get("usd_per_day")) };
    try { await api("POST", "/admin/teams", body); render(); } catch (error) { created.replaceChildren(notice(error.message, "error")); }
  } } },
  el("input", { name: "id", placeholder: "team id", required: true }),
  el("input", { name: "usd_per_day", placeholder: "USD per day", type: "number", step: "0.01", min: "0" }),
  el("button", { type: "submit" }, "Create team"));
  const keyForm = el("form", { class: "inline", on: { submit: async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    try {
      const made = await api("POST", "/admin/keys", { id: form.get("id"), team: form.get("team") });
      created.replaceChildren(el("p", { class: "secret" }, "New key (shown once, copy it now): ", el("code", {}, made.key)));
    } catch (error) { created.replaceChildren(notice(error.message, "error")); }
  } } },
  el("input", { name: "id", placeholder: "key id", required: true }),
  el("select", { name: "team" }, teams.data.map((t) => el("option", { value: t.id }, t.id))),
  el("button", { type: "submit" }, "Create key"));
  const limitForm = el("form", { class: "inline", on: { submit: async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    try { await api("PATCH", `/admin/teams/${encodeURIComponent(form.get("team"))}`, { limits: { usd_per_day: Number(form.get("usd_per_day")) } }); render(); } catch (error) { created.replaceChildren(notice(error.message, "error")); }
  } } },
  el("select", { name: "team" }, teams.data.map((t) => el("option", { value: t.id }, t.id))),
  el("input", { name: "usd_per_day", placeholder: "USD per day", type: "number", step: "0.01", min: "0", required: true }),
  el("button", { type: "submit" }, "Set daily budget"));
  const revoke = (kind, id) => el("button", { type: "button", class: "danger", on: { click: async () => {
    if (!window.confirm(`Revoke ${kind} ${id}?`)) return;
    try { await api("DELETE", `/admin/${kind}s/${encodeURIComponent(id)}`); render(); } catch (error) { created.replaceChildren(notice(error.message, "error")); }
  } } }, "Revoke");
  return [
    el("h1", {}, "Spend"),
    logged ? null : notice(LOG_OFF),
    chart("Spend per team, last 24 hours (USD)", summary.series.map((b) => b.start_ms), summary.teams.slice(0, 8).map((g) => ({ label: g.name, values: g.spend_series }))),
    chart("Spend per key, last 24 hours (USD)", summary.series.map((b) => b.start_ms), summary.keys.slice(0, 8).map((g) => ({ label: g.name, values: g.spend_series }))),
    chart("Spend per model, last 24 hours (USD)", summary.series.map((b) => b.start_ms), summary.models.slice(0, 8).map((g) => ({ label: g.name, values: g.spend_series }))),
    el("h2", {}, "Budgets"),
    table([["Team", (r) => r.team], ["Window", (r) => r.window], ["Limit", (r) => usd(r.limit_usd)], ["Used", (r) => usd(r.used_usd)], ["Burn", (r) => el("span", { class: "burn", "data-burn": r.team }, share(r.burn))], ["Runs out", (r) => r.exhaust]], budgets, { id: "budgets" }),
    el("h2", {}, "Spend by team, key and model (24 hours)"),
    el("div", { class: "columns" },
      table([["Team", (g) => g.name], ["Requests", (g) => g.requests], ["Spend", (g) => usd(g.spend_usd)]], summary.teams),
      table([["Key", (g) => g.name], ["Requests", (g) => g.requests], ["Spend", (g) => usd(g.spend_usd)]], summary.keys),
      table([["Model", (g) => g.name], ["Requests", (g) => g.requests], ["Spend", (g) => usd(g.spend_usd)]], summary.models)),
    el("h2", {}, "Teams"),
    table([["Team", (t) => t.id], ["Models", (t) => (t.models || []).join(", ")], ["Limits", (t) => JSON.stringify(t.limits || {})], ["Keys", (t) => (t.keys || []).join(", ")], ["", (t) => revoke("team", t.id)]], teams.data),
    el("h2", {}, "Keys"),
    table([["Key", (k) => k.id], ["Team", (k) => k.team], ["", (k) => revoke("key", k.id)]], keys.data || []),
    el("h2", {}, "Change"), teamForm, keyForm, limitForm, created,
  ];
}

async function cachePage() {
  let stats;
  try { stats = await api("GET", "/admin/cache/stats"); } catch (error) {
    if (error.status === 404) return [el("h1", {}, "Cache"), notice("The cache is off: set `[cache] enabled = true`.")];
    throw error;
  }
  const [entries, shadow] = await Promise.all([api("GET", "/admin/cache/entries?limit=100"), api("GET", "/admin/cache/shadow?limit=50")]);
  const detail = el("div", { id: "entry-detail" });
  const results = el("div", { id: "search-results" });
  const status = el("div", { id: "cache-status" });
  const showEntry = async (id) => {
    const entry = await api("GET", `/admin/cache/entries/${id}`);
    detail.replaceChildren(
      el("h2", {}, "Entry ", el("code", {}, entry.id)),
      el("p", {}, `Team ${entry.team}, model ${entry.model}, ${entry.hits} hits, saved ${entry.saved_tokens} tokens (${usd(entry.saved_usd)}).`),
      el("blockquote", {}, entry.prompt),
      table([["When", (h) => when(h.at_ms)], ["Layer", (h) => h.layer], ["Similarity", (h) => (h.similarity === null || h.similarity === undefined ? "–" : Number(h.similarity).toFixed(4))], ["Verifier", (h) => (h.score === null || h.score === undefined ? "–" : `accepted, ${Number(h.score).toFixed(3)}`)], ["Asked", (h) => h.question]], entry.history || [], { class: "history" }),
      el("button", { type: "button", class: "danger", on: { click: async () => { await api("DELETE", `/admin/cache/entries/${id}`); render(); } } }, "Delete entry"));
  };
  const search = el("form", { class: "inline", on: { submit: async (event) => {
    event.preventDefault();
    const q = new FormData(event.target).get("q");
    const found = await api("GET", `/admin/cache/search?q=${encodeURIComponent(q)}`);
    results.replaceChildren(table([["Similarity", (r) => (r.similarity === undefined ? "–" : Number(r.similarity).toFixed(4))], ["Team", (r) => r.team], ["Prompt", (r) => r.prompt]], found.results || []));
  } } }, el("input", { name: "q", placeholder: "search prompts by meaning", required: true }), el("button", { type: "submit" }, "Search"));
  const purge = el("form", { class: "inline", on: { submit: async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const body = {};
    if (form.get("team")) body.team = form.get("team");
    if (form.get("model")) body.model = form.get("model");
    try {
      const done = await api("POST", "/admin/cache/purge", body);
      await render();
      document.getElementById("cache-status").replaceChildren(notice(`Purged ${done.purged} entries.`));
    } catch (error) { status.replaceChildren(notice(error.message, "error")); }
  } } }, el("input", { name: "team", placeholder: "team" }), el("input", { name: "model", placeholder: "model" }), el("button", { type: "submit", class: "danger" }, "Purge"));
  return [
    el("h1", {}, "Cache"),
    el("div", { class: "cards" },
      card("Entries", stats.entries, "entries"),
      card("Hit ratio (exact / semantic)", `${pct(stats.hit_ratio.exact)} / ${pct(stats.hit_ratio.semantic)}`, "cache-ratio"),
      card("Saved", `${stats.saved_tokens} tokens, ${usd(stats.saved_usd)}`, "cache-saved"),
      card("Semantic layer", stats.semantic_layer ? (stats.shadow_mode ? "shadow" : "on") : "off", "semantic")),
    status,
    el("h2", {}, "Entries"),
    table([["Team", (e) => e.team], ["Model", (e) => e.model], ["Prompt", (e) => el("a", { href: "#/cache", on: { click: (ev) => { ev.preventDefault(); showEntry(e.id); } } }, e.prompt)], ["Created", (e) => when(e.created_ms)], ["Hits", (e) => e.hits], ["Last hit", (e) => when(e.last_hit_ms)], ["Saved", (e) => `${e.saved_tokens} tok, ${usd(e.saved_usd)}`]], entries.entries, { id: "cache-entries" }),
    detail,
    el("h2", {}, "Search"), search, results,
    el("h2", {}, "Purge by team or model"), purge,
    el("h2", {}, "Shadow log"),
    table([["When", (r) => when(r.at_ms)], ["Team", (r) => r.team], ["Asked", (r) => r.question], ["Candidate", (r) => r.entry_question], ["Similarity", (r) => Number(r.similarity).toFixed(4)], ["Stage", (r) => r.stage], ["Accepted", (r) => (r.accepted ? "yes" : "no")], ["Check", (r) => r.check || "–"], ["Score", (r) => (r.score === null || r.score === undefined ? "–" : Number(r.score).toFixed(3))]], shadow.records || []),
  ];
}

let requestFilter = {};
async function requests() {
  const filter = { ...requestFilter };
  if (filter.since && WINDOWS[filter.since]) filter.since_ms = String(Date.now() - WINDOWS[filter.since]);
  delete filter.since;
  const query = new URLSearchParams(Object.entries(filter).filter(([, v]) => v)).toString();
  const log = await summaryOf(`/admin/requests?limit=200${query ? "&" + query : ""}`);
  if (!log) return [el("h1", {}, "Requests"), notice(LOG_OFF)];
  const detail = el("div", { id: "request-detail" });
  const show = async (id) => {
    const one = await api("GET", `/admin/requests/${encodeURIComponent(id)}`);
    const inside = (c) => {
      const d = c.detail || {};
      return el("div", { class: "call-detail" },
        el("h3", {}, `Call ${c.seq}`),
        table([["Stage", (s) => s[0]], ["Took", (s) => us(s[1])]], d.stages || [], { class: "stages" }),
        table([["Attempt", (a) => a.model], ["Took", (a) => us(a.us)], ["Outcome", (a) => a.error || "ok"]], d.attempts || [], { class: "attempts" }),
        el("p", {}, "Guardrails: ", d.guardrails || "nothing flagged or redacted"),
        d.captured ? el("div", { class: "captured" },
          el("h4", {}, "Captured prompt (after redaction)"), el("pre", {}, JSON.stringify(d.captured.messages, null, 2)),
          el("h4", {}, "Captured answer"), el("pre", {}, d.captured.answer || d.captured.answer_withheld || "–"))
          : el("p", { class: "muted" }, "Content is not captured for this team."));
    };
    detail.replaceChildren(el("h2", {}, "Request ", el("code", {}, one.request_id)),
      table([["Call", (c) => c.seq], ["Endpoint", (c) => c.endpoint], ["Model", (c) => `${c.requested_model || "–"} → ${c.model || "–"}`], ["Attempts", (c) => c.attempts], ["Status", (c) => `${c.status} ${c.outcome}`], ["Cache", (c) => c.cache || "–"], ["Total", (c) => ms(c.duration_ms)], ["Upstream", (c) => ms(c.upstream_ms)], ["Overhead", (c) => us(c.overhead_us)], ["Tokens", (c) => `${c.prompt_tokens} + ${c.completion_tokens}`], ["Cost", (c) => (c.cost_nano === null ? "–" : usd(c.cost_nano / 1e9))]], one.calls),
      ...one.calls.map(inside));
  };
  const filters = el("form", { class: "inline", on: { submit: (event) => {
    event.preventDefault();
    requestFilter = Object.fromEntries(new FormData(event.target).entries());
    render();
  } } }, ["team", "key", "model", "status"].map((name) => el("input", { name, placeholder: name === "status" ? "status (429, 5xx, error)" : name, value: requestFilter[name] || "" })),
  el("select", { name: "since" }, [["", "any time"], ["1h", "last hour"], ["24h", "last 24 hours"], ["7d", "last 7 days"]].map(([value, label]) => el("option", { value, selected: requestFilter.since === value }, label))),
  el("button", { type: "submit" }, "Filter"));
  return [
    el("h1", {}, "Requests"), filters,
    table([["When", (r) => when(r.at_ms)], ["Request", (r) => el("a", { href: "#/requests", on: { click: (ev) => { ev.preventDefault(); show(r.request_id); } } }, r.request_id)], ["Team", (r) => r.team || "–"], ["Key", (r) => r.key || "–"], ["Model", (r) => r.model || r.requested_model || "–"], ["Status", (r) => r.status], ["Cache", (r) => r.cache || "–"], ["Duration", (r) => ms(r.duration_ms)], ["Cost", (r) => (r.cost_nano === null ? "–" : usd(r.cost_nano / 1e9))]], log.requests, { id: "request-log" }),
    detail,
  ];
}

async function guardrails() {
  const response = await fetch("/metrics", { credentials: "same-origin" });
  const text = response.ok ? await response.text() : "";
  const rows = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith("switchboard_guardrail_decisions_total{")) continue;
    const labels = {};
    for (const match of line.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[match[1]] = match[2];
    rows.push({ ...labels, count: Number(line.slice(line.lastIndexOf(" ") + 1)) });
  }
  rows.sort((a, b) => b.count - a.count);
  return [el("h1", {}, "Guardrails"), el("p", {}, "Decisions by rule, action, phase and team since the gateway started. The matched text is never kept."),
    table([["Team", (r) => r.team], ["Pack", (r) => r.pack], ["Rule", (r) => r.rule], ["Action", (r) => r.action], ["Phase", (r) => r.phase], ["Count", (r) => r.count]], rows, { id: "guardrail-events" })];
}

async function mcp() {
  const [servers, tools, approvals, calls] = await Promise.all([api("GET", "/admin/mcp/servers"), api("GET", "/admin/mcp/tools"), api("GET", "/admin/mcp/approvals"), api("GET", "/admin/mcp/calls")]);
  const status = el("div", { id: "mcp-status" });
  const approve = (change) => el("button", { type: "button", on: { click: async () => {
    try {
      await api("POST", "/admin/mcp/approvals", { server: change.server, tool: change.tool, current_hash: change.current_hash });
      await render();
      document.getElementById("mcp-status").replaceChildren(notice(`Approved ${change.server}/${change.tool}.`));
    } catch (error) { status.replaceChildren(notice(error.message, "error")); }
  } } }, "Approve");
  // Side by side: each definition as JSON (known by its hash alone when it
  // was pinned before the gateway last started).
  const definition = (hash, body) => el("div", {}, el("code", {}, hash.slice(0, 16)), body ? el("pre", {}, JSON.stringify(body, null, 2)) : el("p", { class: "muted" }, "seen before the last restart: known by its hash"));
  return [
    el("h1", {}, "MCP"), status,
    el("h2", {}, "Pending approvals"),
    table([["Server", (c) => c.server], ["Tool", (c) => c.tool], ["Approved definition", (c) => definition(c.pinned_hash, c.pinned_definition)], ["Offered definition", (c) => definition(c.current_hash, c.current_definition)], ["", approve]], approvals.data, { id: "approvals" }),
    el("h2", {}, "Servers"),
    table([["Server", (s) => s.name], ["Transport", (s) => s.transport], ["Target", (s) => s.target], ["State", (s) => s.state + (s.reason ? ` (${s.reason})` : "")], ["Restarts", (s) => s.restarts], ["Tools", (s) => s.tools], ["Blocked", (s) => s.blocked_tools]], servers.data, { id: "servers" }),
    el("h2", {}, "Tools"),
    table([["Name", (t) => t.name], ["Server", (t) => t.server], ["Description", (t) => t.description || ""], ["State", (t) => (t.blocked ? "blocked: changed" : "callable")]], tools.data, { id: "tools" }),
    el("h2", {}, "Recent calls"),
    table([["When", (c) => when(c.at_ms)], ["Team", (c) => c.team], ["Key", (c) => c.key], ["Tool", (c) => `${c.server}/${c.tool}`], ["Outcome", (c) => c.outcome], ["Took", (c) => ms(c.ms)], ["Request", (c) => c.request_id]], calls.data, { id: "mcp-calls" }),
  ];
}

const PAGES = { overview, spend, cache: cachePage, requests, guardrails, mcp };

// Each render is numbered: one that finishes after a later one began (the
// first page's data still loading when the operator moves on) draws nothing,
// so the page shown is always the one the address names.
let renders = 0;

async function render() {
  const ticket = ++renders;
  const name = (window.location.hash.replace(/^#\//, "") || "overview").split("?")[0];
  const draw = PAGES[name] || overview;
  for (const link of document.querySelectorAll("nav a")) link.classList.toggle("active", link.getAttribute("href") === `#/${name}`);
  let content;
  let drawn = true;
  try {
    content = await draw();
  } catch (error) {
    content = [el("h1", {}, "Could not load this page"), notice(error.message, "error")];
    drawn = false;
  }
  if (ticket !== renders) return;
  page.replaceChildren(...content);
  if (drawn) page.dataset.page = name;
}

window.addEventListener("hashchange", render);
render();
