// Small hand-written SVG charts: lines or stacked bars over equal time buckets.
// Each chart is a <figure> whose SVG has role="img" and a label stating the latest
// values, so screen readers get the numbers the picture shows; data-latest and
// data-sum carry them for scripts and tests.
import { h } from "./dom.js";

const NS = "http://www.w3.org/2000/svg";
const W = 300;
const H = 100;
const COLORS = ["var(--c1)", "var(--c2)", "var(--c3)", "var(--c4)", "var(--c5)"];

function svg(tag, attrs) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

function fmt(v, unit) {
  if (v === null || v === undefined) return "none";
  const n = Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2);
  return `${n}${unit ? " " + unit : ""}`;
}

// series: [{name, values: [number|null]}]; kind: "line" | "bars" (stacked).
export function chart({ id, title, series, kind = "line", unit = "", note = "" }) {
  const n = Math.max(1, ...series.map((s) => s.values.length));
  const totals = Array.from({ length: n }, (_, i) =>
    series.reduce((acc, s) => acc + (kind === "bars" ? s.values[i] || 0 : 0), 0));
  const peak = Math.max(
    kind === "bars" ? Math.max(0, ...totals) : 0,
    ...series.flatMap((s) => s.values.filter((v) => v !== null && v !== undefined)),
  );
  const max = peak > 0 ? peak * 1.1 : 1;
  const y = (v) => H - (v / max) * (H - 4);
  const step = W / n;
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img" });
  root.append(svg("line", { x1: 0, y1: H - 0.5, x2: W, y2: H - 0.5, stroke: "#d0d7de",
    "vector-effect": "non-scaling-stroke" }));
  if (kind === "bars") {
    const base = new Array(n).fill(0);
    series.forEach((s, si) => {
      s.values.forEach((v, i) => {
        if (!v) return;
        const top = base[i] + v;
        root.append(svg("rect", { x: i * step + step * 0.1, width: step * 0.8,
          y: y(top), height: y(base[i]) - y(top), fill: COLORS[si % COLORS.length] }));
        base[i] = top;
      });
    });
  } else {
    series.forEach((s, si) => {
      const pts = [];
      s.values.forEach((v, i) => {
        if (v !== null && v !== undefined) pts.push(`${(i + 0.5) * step},${y(v)}`);
      });
      if (pts.length === 1) pts.push(pts[0]); // one point still shows as a dot
      if (!pts.length) return;
      root.append(svg("polyline", { points: pts.join(" "), fill: "none",
        stroke: COLORS[si % COLORS.length], "stroke-width": 2, "stroke-linecap": "round",
        "vector-effect": "non-scaling-stroke" }));
    });
  }
  const latest = series.map((s) => `${s.name} ${fmt(lastValue(s.values), unit)}`).join(", ");
  const sum = series.reduce((acc, s) => acc + s.values.reduce((a, v) => a + (v || 0), 0), 0);
  root.setAttribute("aria-label", `${title}: latest ${latest || "no data"}; peak ${fmt(peak, unit)}`);
  return h("figure", { class: "chart card", id, "data-latest": latest, "data-sum": sum.toFixed(3) },
    h("figcaption", {}, title, " ", h("span", { class: "hint" }, `peak ${fmt(peak, unit)}`)),
    root,
    h("div", { class: "legend", "aria-hidden": "true" },
      series.map((s, i) => {
        const el = h("span", {}, s.name);
        el.style.setProperty("--swatch", COLORS[i % COLORS.length]);
        return el;
      })),
    note ? h("p", { class: "hint" }, note) : null);
}

function lastValue(values) {
  for (let i = values.length - 1; i >= 0; i--) if (values[i] !== null && values[i] !== undefined) return values[i];
  return null;
}

// The four charts of a stats body (GET /v2/stats "calls" or /v2/fns/{id}/stats).
export function callCharts(stats, prefix) {
  const b = stats.buckets;
  const paths = [...new Set(b.flatMap((x) => Object.keys(x.first_calls)))].sort();
  const span = `last ${formatWindow(stats.window_s)}, ${formatWindow(stats.bucket_s)} buckets`;
  return [
    chart({ id: `${prefix}-rate`, title: "Calls per second", unit: "/s",
      series: [{ name: "calls/s", values: b.map((x) => x.calls_per_s) }], note: span }),
    chart({ id: `${prefix}-latency`, title: "Latency", unit: "ms",
      series: [{ name: "p50", values: b.map((x) => x.p50_ms) },
        { name: "p99", values: b.map((x) => x.p99_ms) }] }),
    chart({ id: `${prefix}-errors`, title: "Errors", kind: "bars",
      series: [{ name: "errors", values: b.map((x) => x.errors) }] }),
    chart({ id: `${prefix}-first`, title: "First calls by start path", kind: "bars",
      series: (paths.length ? paths : ["none yet"]).map((p) =>
        ({ name: p, values: b.map((x) => x.first_calls[p] || 0) })) }),
  ];
}

export function formatWindow(s) {
  if (s >= 3600 && s % 3600 === 0) return `${s / 3600} h`;
  if (s >= 60 && s % 60 === 0) return `${s / 60} min`;
  return `${Number(s.toFixed(1))} s`;
}
