// The pages: server overview with apps and fns, one app, one fn. Each returns
// {title, crumbs, node, refresh}; app.js polls refresh() while the page is shown.
import * as api from "./api.js";
import { callCharts, chart, formatWindow } from "./charts.js";
import { clear, h, ms, props, safely, time } from "./dom.js";
import { invokeForm } from "./invoke.js";

const INVOKE_ENDPOINT = "fnproject.io/fn/invokeEndpoint";
const HTTP_ENDPOINT = "fnproject.io/trigger/httpEndpoint";
const STATUSES = ["running", "success", "error", "timeout", "cancelled"];
const WINDOWS = ["1m", "5m", "15m", "1h", "6h", "24h"];
const HISTORY = 60; // container samples kept for the containers chart

// Right-aligned in HISTORY slots, so the first samples do not fill the whole chart.
const padded = (values) => [...new Array(Math.max(0, HISTORY - values.length)).fill(null), ...values];
const link = (href, text) => h("a", { href }, text);
const fnHref = (fn) => `#/fns/${encodeURIComponent(fn.id)}`;
const appHref = (app) => `#/apps/${encodeURIComponent(app.id)}`;

function table(caption, heads, rows, empty) {
  if (!rows.length) return h("p", { class: "hint" }, empty);
  return h("table", {},
    h("caption", { class: "hint", style: null }, caption),
    h("thead", {}, h("tr", {}, heads.map(([t, cls]) => h("th", { scope: "col", class: cls }, t)))),
    h("tbody", {}, rows));
}

function windowSelect(state, onChange) {
  const select = h("select", { id: "window", onchange: safely(() => { state.window = select.value; return onChange(); }) },
    WINDOWS.map((w) => h("option", { value: w, selected: w === state.window }, w)));
  return h("div", { class: "row" }, h("div", {}, h("label", { for: "window" }, "Chart window"), select));
}

function annotationsOf(obj, skip) {
  const entries = Object.entries(obj.annotations || {}).filter(([k]) => k !== skip);
  if (!entries.length) return "none";
  return h("ul", {}, entries.map(([k, v]) => h("li", {}, h("code", {}, k), ": ",
    h("code", {}, typeof v === "string" ? v : JSON.stringify(v)))));
}

function configKeys(obj) {
  const keys = Object.keys(obj.config || {});
  return keys.length ? `${keys.join(", ")} (values not shown)` : "none";
}

function triggerRows(triggers, fnsById) {
  return triggers.map((t) => h("tr", {},
    h("td", {}, t.name), h("td", { class: "hide-narrow" }, t.type), h("td", {}, h("code", {}, t.source)),
    h("td", { class: "hide-narrow" }, fnsById ? (fnsById[t.fn_id] ? link(fnHref(fnsById[t.fn_id]), fnsById[t.fn_id].name) : t.fn_id) : null),
    h("td", {}, h("code", {}, t.annotations[HTTP_ENDPOINT] || ""))));
}

const TRIGGER_HEADS = [["Trigger"], ["Type", "hide-narrow"], ["Source"], ["Fn", "hide-narrow"], ["Endpoint"]];

export async function overview() {
  const state = { window: "5m", containers: [] };
  const [apps, fns] = await Promise.all([api.all("/v2/apps"), api.all("/v2/fns")]);
  const appsById = Object.fromEntries(apps.map((a) => [a.id, a]));
  const server = h("div", { id: "server-charts", class: "grid" });
  const counts = h("p", { id: "server-counts", "aria-live": "polite" });
  async function refresh() {
    const s = await api.get(`/v2/stats?window=${state.window}&buckets=30`);
    state.containers.push(s.containers);
    if (state.containers.length > HISTORY) state.containers.shift();
    const c = s.containers;
    clear(counts, `Containers: ${c.busy} busy, ${c.idle} idle, ${c.starting} starting, ${c.generic} warm generic · `,
      `${s.inflight} calls in flight, ${s.queued} queued · ${s.calls.totals.calls} calls in the last ${formatWindow(s.calls.window_s)}`);
    clear(server, ...callCharts(s.calls, "server"),
      chart({ id: "server-containers", title: "Containers by state", kind: "bars",
        series: ["busy", "idle", "starting", "generic"].map((k) =>
          ({ name: k, values: padded(state.containers.map((x) => x[k])) })),
        note: "one bar per refresh (every 2 s)" }),
      h("section", { class: "card later", id: "detached-queue", "aria-labelledby": "dq-title" },
        h("h2", { id: "dq-title" }, "Detached queue"),
        h("p", {}, "Detached calls wait in a durable queue; its depth, oldest call, retries and dead letters are in /metrics (hotfn_detached_*), failed calls in each fn's calls (status failed). A chart here is still to come.")));
  }
  const node = h("div", {},
    h("h1", {}, "Server"),
    h("section", { class: "card", "aria-labelledby": "srv-title" },
      h("h2", { id: "srv-title" }, "Live"), counts, windowSelect(state, () => { state.containers = []; return refresh(); }), server),
    h("div", { class: "columns" },
      h("section", { class: "card", "aria-labelledby": "apps-title" },
        h("h2", { id: "apps-title" }, `Apps (${apps.length})`),
        table("Apps by name", [["Name"], ["Created", "hide-narrow"]], apps.map((a) => h("tr", {},
          h("td", {}, link(appHref(a), a.name)), h("td", { class: "hide-narrow" }, time(a.created_at)))),
        "No apps yet: create one with hotfn deploy --create-app.")),
      h("section", { class: "card", "aria-labelledby": "fns-title" },
        h("h2", { id: "fns-title" }, `Fns (${fns.length})`),
        table("Fns by name", [["Fn"], ["App"], ["Image", "hide-narrow"]], fns.map((f) => h("tr", { "data-fn": f.id },
          h("td", {}, link(fnHref(f), f.name)),
          h("td", {}, appsById[f.app_id] ? link(appHref(appsById[f.app_id]), appsById[f.app_id].name) : f.app_id),
          h("td", { class: "hide-narrow" }, h("code", {}, f.image)))), "No fns yet."))));
  await refresh();
  return { title: "Server", crumbs: [], node, refresh };
}

export async function appPage(appId) {
  const id = encodeURIComponent(appId);
  const [app, fns, triggers] = await Promise.all([api.get(`/v2/apps/${id}`),
    api.all(`/v2/fns?app_id=${id}`), api.all(`/v2/triggers?app_id=${id}`)]);
  const fnsById = Object.fromEntries(fns.map((f) => [f.id, f]));
  const node = h("div", {},
    h("h1", {}, `App ${app.name}`),
    h("section", { class: "card" }, props([["Id", h("code", {}, app.id)], ["Annotations", annotationsOf(app)],
      ["Config", configKeys(app)], ["Syslog", app.syslog_url || "none"], ["Created", time(app.created_at)]])),
    h("section", { class: "card", "aria-labelledby": "app-fns" },
      h("h2", { id: "app-fns" }, `Fns (${fns.length})`),
      table("Fns of this app", [["Fn"], ["Image"], ["Format"], ["Memory", "num"], ["Timeout", "num"]],
        fns.map((f) => h("tr", { "data-fn": f.id }, h("td", {}, link(fnHref(f), f.name)),
          h("td", {}, h("code", {}, f.image)), h("td", {}, f.format),
          h("td", { class: "num" }, `${f.memory} MB`), h("td", { class: "num" }, `${f.timeout} s`))),
        "No fns in this app.")),
    h("section", { class: "card", "aria-labelledby": "app-triggers" },
      h("h2", { id: "app-triggers" }, `Triggers (${triggers.length})`),
      table("Triggers of this app", TRIGGER_HEADS, triggerRows(triggers, fnsById), "No triggers.")));
  return { title: `App ${app.name}`, crumbs: [[appHref(app), app.name]], node, refresh: null };
}

export async function fnPage(fnId) {
  const id = encodeURIComponent(fnId);
  const fn = await api.get(`/v2/fns/${id}`);
  const [app, triggers] = await Promise.all([api.get(`/v2/apps/${encodeURIComponent(fn.app_id)}`),
    api.all(`/v2/triggers?app_id=${encodeURIComponent(fn.app_id)}&fn_id=${id}`)]);
  const state = { window: "5m", status: "", open: null };
  const charts = h("div", { id: "fn-charts", class: "grid" });
  const calls = h("div", { id: "calls" });
  const logPanel = h("section", { id: "call-log", class: "card", "aria-live": "polite", hidden: true });
  const filter = h("select", { id: "status-filter", onchange: safely(() => { state.status = filter.value; return refreshCalls(); }) },
    h("option", { value: "" }, "any"), STATUSES.map((s) => h("option", { value: s }, s)));

  async function openCall(callId) {
    state.open = callId;
    logPanel.hidden = false;
    clear(logPanel, h("p", {}, "Loading the call…"));
    const [rec, log] = await Promise.all([api.get(`/v2/fns/${id}/calls/${encodeURIComponent(callId)}`),
      api.text(`/v2/fns/${id}/calls/${encodeURIComponent(callId)}/log`)]);
    clear(logPanel,
      h("h2", { id: "call-log-title", tabindex: "-1" }, `Call ${rec.id}`),
      props([["Status", h("span", { class: `status-${rec.status}` }, rec.status)], ["HTTP status", rec.http_status ?? "–"],
        ["Error", rec.error || "none"], ["Start path", rec.start_path || "–"],
        ["Queued / start / run", `${ms(rec.queued_ms)} / ${ms(rec.start_ms)} / ${ms(rec.run_ms)} ms`],
        ["Created", time(rec.created_at)], ["Completed", time(rec.completed_at)],
        ["Container", h("code", {}, rec.container_id || "–")]]),
      h("h3", {}, "Log"), h("pre", { id: "call-log-text" }, log || "(the call wrote nothing)"),
      h("button", { type: "button", onclick: () => { logPanel.hidden = true; state.open = null; } }, "Close"));
    logPanel.querySelector("h2").focus();
  }

  async function refreshCalls() {
    const q = state.status ? `&status=${state.status}` : "";
    const page = await api.get(`/v2/fns/${id}/calls?per_page=30${q}`);
    clear(calls, table("Recent calls, newest first",
      [["Call"], ["Status"], ["Path", "hide-narrow"], ["Queued ms", "num hide-narrow"], ["Start ms", "num hide-narrow"],
        ["Run ms", "num"], ["Created"], ["Completed", "hide-narrow"]],
      page.items.map((c) => h("tr", { "data-call": c.id },
        h("td", {}, h("button", { type: "button", class: "link mono", "aria-label": `Open call ${c.id}`,
          onclick: safely(() => openCall(c.id)) }, c.id.slice(-8))),
        h("td", { class: `status-${c.status}` }, c.status, c.http_status ? ` (${c.http_status})` : ""),
        h("td", { class: "hide-narrow" }, c.start_path || "–"),
        h("td", { class: "num hide-narrow" }, ms(c.queued_ms)), h("td", { class: "num hide-narrow" }, ms(c.start_ms)),
        h("td", { class: "num" }, ms(c.run_ms)), h("td", {}, time(c.created_at)),
        h("td", { class: "hide-narrow" }, time(c.completed_at)))),
      state.status ? `No ${state.status} calls.` : "No calls yet: use the form above."));
  }

  async function refreshCharts() {
    const s = await api.get(`/v2/fns/${id}/stats?window=${state.window}&buckets=30`);
    clear(charts, ...callCharts(s, "fn"));
  }

  async function refresh() {
    await Promise.all([refreshCharts(), refreshCalls()]);
  }

  const node = h("div", {},
    h("h1", {}, `Fn ${fn.name}`),
    h("div", { class: "columns" },
      h("section", { class: "card", "aria-labelledby": "fn-props" },
        h("h2", { id: "fn-props" }, "Settings"),
        props([["Image", h("code", { id: "fn-image" }, fn.image)], ["Format", fn.format], ["Memory", `${fn.memory} MB`],
          ["Timeout", `${fn.timeout} s`], ["Idle timeout", `${fn.idle_timeout} s`],
          ["Annotations", annotationsOf(fn, INVOKE_ENDPOINT)], ["Config", configKeys(fn)],
          ["Invoke endpoint", h("code", {}, fn.annotations[INVOKE_ENDPOINT] || "")],
          ["Trigger endpoints", triggers.length ? h("ul", {}, triggers.map((t) =>
            h("li", {}, h("code", {}, t.annotations[HTTP_ENDPOINT] || t.source)))) : "none"]])),
      invokeForm(fn, safely(async (callId) => { await refresh(); if (callId) await openCall(callId); }))),
    h("section", { class: "card", "aria-labelledby": "fn-live" },
      h("h2", { id: "fn-live" }, "Live"), windowSelect(state, refreshCharts), charts),
    h("section", { class: "card", "aria-labelledby": "fn-calls" },
      h("h2", { id: "fn-calls" }, "Recent calls"),
      h("div", { class: "row" }, h("div", {}, h("label", { for: "status-filter" }, "Status"), filter)), calls),
    logPanel,
    h("section", { class: "card", "aria-labelledby": "fn-triggers" },
      h("h2", { id: "fn-triggers" }, `Triggers (${triggers.length})`),
      table("Triggers of this fn", TRIGGER_HEADS, triggerRows(triggers, { [fn.id]: fn }), "No triggers.")));
  await refresh();
  return { title: `Fn ${fn.name}`, crumbs: [[appHref(app), app.name], [fnHref(fn), fn.name]], node, refresh };
}
