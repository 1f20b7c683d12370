// Charts drawn as inline SVG: line series over days, vertical bars, horizontal bars.
// Each chart carries an aria-label summary and a visually hidden table for screen readers.
import { h } from "./dom.js";

const NS = "http://www.w3.org/2000/svg";
export const COLORS = ["#2457c5", "#1f7a3e", "#a15c00", "#b3261e", "#6b3fa0"];

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attrs)) if (value !== undefined) el.setAttribute(name, String(value));
  for (const child of children) if (child) el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return el;
}

function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 2.5, 5, 10].map((m) => m * power).find((m) => m >= value);
}

function srTable(title, labels, series, format) {
  return h("table", { class: "sr-only" }, h("caption", {}, title),
    h("tr", {}, h("th", {}, ""), series.map((s) => h("th", {}, s.name))),
    labels.map((label, i) => h("tr", {}, h("th", {}, label), series.map((s) => h("td", {}, format(s.values[i]))))));
}

function legend(series) {
  return h("div", { class: "legend", "aria-hidden": "true" },
    series.map((s, i) => h("span", {}, h("i", { style: `background:${s.color || COLORS[i]}` }), s.name)));
}

/** Lines (or bars with `bars: true` on a series) over shared x labels; y from 0 to max. */
export function timeChart({ title, labels, series, max, format = (v) => v ?? "–", height = 180 }) {
  const width = 640, left = 44, right = 12, top = 10, bottom = 24;
  const values = series.flatMap((s) => s.values.filter((v) => v !== null && v !== undefined));
  const ymax = max ?? niceMax(Math.max(0, ...values));
  const plotW = width - left - right, plotH = height - top - bottom;
  const step = labels.length > 1 ? plotW / (labels.length - 1) : plotW;
  const x = (i) => (labels.length > 1 ? left + i * step : left + plotW / 2);
  const y = (v) => top + plotH - (v / ymax) * plotH;
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": `${title}: ${labels.length} days` });
  for (let t = 0; t <= 4; t++) {
    const v = (ymax * t) / 4;
    root.append(svg("line", { x1: left, x2: width - right, y1: y(v), y2: y(v), stroke: "#e3e6ec" }));
    root.append(svg("text", { x: left - 6, y: y(v) + 4, "text-anchor": "end" }, format(v)));
  }
  const every = Math.max(1, Math.ceil(labels.length / 8));
  labels.forEach((label, i) => {
    if (i % every === 0 || i === labels.length - 1) root.append(svg("text", { x: x(i), y: height - 6, "text-anchor": "middle" }, label.slice(5)));
  });
  const barSeries = series.filter((s) => s.bars);
  const barW = Math.max(3, Math.min(24, (plotW / Math.max(1, labels.length)) * 0.7 / Math.max(1, barSeries.length)));
  series.forEach((s, si) => {
    const color = s.color || COLORS[si];
    if (s.bars) {
      const bi = barSeries.indexOf(s);
      s.values.forEach((v, i) => {
        if (!v) return;
        const bx = x(i) - (barW * barSeries.length) / 2 + bi * barW;
        root.append(svg("rect", { x: bx, y: y(v), width: barW, height: top + plotH - y(v), fill: color, opacity: 0.75 },
          svg("title", {}, `${labels[i]} ${s.name}: ${format(v)}`)));
      });
      return;
    }
    let d = "";
    s.values.forEach((v, i) => {
      if (v === null || v === undefined) return;
      d += `${d && s.values[i - 1] !== null && s.values[i - 1] !== undefined ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
      root.append(svg("circle", { cx: x(i), cy: y(v), r: 3, fill: color }, svg("title", {}, `${labels[i]} ${s.name}: ${format(v)}`)));
    });
    if (d) root.append(svg("path", { d, fill: "none", stroke: color, "stroke-width": 2 }));
  });
  if (!labels.length) root.append(svg("text", { x: width / 2, y: height / 2, "text-anchor": "middle" }, "no data yet"));
  return h("figure", { class: "card" }, h("figcaption", {}, h("strong", {}, title)), legend(series), root, srTable(title, labels, series, format));
}

/** Horizontal bars: one row per item (label, value), largest first as given. */
export function barList({ title, rows, format = (v) => v, color = COLORS[0] }) {
  const width = 640, rowH = 22, left = 220, right = 70;
  const max = Math.max(0, ...rows.map((r) => r.value)) || 1;
  const height = Math.max(rowH, rows.length * rowH) + 4;
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": `${title}: ${rows.length} rows` });
  rows.forEach((r, i) => {
    const w = ((width - left - right) * r.value) / max;
    const label = r.label.length > 34 ? `${r.label.slice(0, 33)}…` : r.label;
    root.append(svg("text", { x: left - 6, y: i * rowH + 15, "text-anchor": "end" }, label));
    root.append(svg("rect", { x: left, y: i * rowH + 4, width: Math.max(1, w), height: rowH - 8, fill: color, rx: 2 }, svg("title", {}, `${r.label}: ${format(r.value)}`)));
    root.append(svg("text", { x: left + w + 6, y: i * rowH + 15 }, format(r.value)));
  });
  if (!rows.length) root.append(svg("text", { x: width / 2, y: 15, "text-anchor": "middle" }, "no data yet"));
  return h("figure", { class: "card" }, h("figcaption", {}, h("strong", {}, title)), root,
    srTable(title, rows.map((r) => r.label), [{ name: title, values: rows.map((r) => r.value) }], format));
}
