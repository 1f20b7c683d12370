// Dashboard: what PLS covers, how often it is right, the time it saves; charts over days.
import { api } from "../api.js";
import { barList, timeChart } from "../chart.js";
import { clear, h, minutes, pct } from "../dom.js";

export const title = "Dashboard";
export const shortcuts = [["1 / 7 / 3", "show the last day / 7 days / 30 days"]];
const RECENT_DAYS = 7;

function kpi(label, value) { return h("div", { class: "card kpi" }, h("div", { class: "value" }, value), h("div", { class: "label" }, label)); }

// A pattern loses accuracy when its precision over the last week is clearly below its
// precision over the whole window (at least a few verdicts in both).
function losing(recent, window) {
  const before = new Map(window.per_pattern.map((p) => [p.pattern_id, p]));
  return recent.per_pattern
    .map((p) => ({ p, w: before.get(p.pattern_id) }))
    .filter(({ p, w }) => w && p.precision !== null && w.precision !== null && p.accepted + p.rejected + p.edited >= 3 && w.precision - p.precision >= 0.1)
    .map(({ p, w }) => ({ label: `#${p.pattern_id}: ${pct(w.precision)} → ${pct(p.precision)}`, value: w.precision - p.precision }))
    .sort((a, b) => b.value - a.value);
}

export async function render(root, { params }) {
  const days = Number(params.days) || 30;
  const m = await api("/api/metrics", { query: { days, recent_days: Math.min(RECENT_DAYS, days) } });
  const labels = m.per_day.map((d) => d.day);
  const asPct = (v) => (v === null || v === undefined ? "–" : `${Math.round(v * 100)}%`);
  const top = [...m.per_pattern].filter((p) => p.time_saved_s > 0).sort((a, b) => b.time_saved_s - a.time_saved_s).slice(0, 10)
    .map((p) => ({ label: `#${p.pattern_id}`, value: p.time_saved_s }));
  const reasons = Object.entries(m.by_reason).slice(0, 8).map(([label, value]) => ({ label, value }));
  const declining = losing({ per_pattern: m.per_pattern_recent }, m);
  const pick = (d) => h("a", { href: `#/dashboard?days=${d}`, "aria-current": d === days ? "page" : undefined }, `${d} days`);
  clear(root,
    h("div", { class: "row" }, h("h1", { class: "grow" }, `Dashboard · last ${days} days`), pick(1), pick(7), pick(30), pick(90)),
    h("div", { class: "kpis" }, kpi("coverage (turns PLS could answer)", pct(m.coverage)), kpi("precision (accepted / judged)", pct(m.precision)),
      kpi("time saved", minutes(m.time_saved_s)), kpi("customer turns", m.turns), kpi("automatic replies sent", m.auto_replies_sent)),
    h("div", { class: "grid2" },
      timeChart({ title: "Coverage and precision per day", labels, max: 1, format: asPct, series: [
        { name: "coverage", values: m.per_day.map((d) => d.coverage) }, { name: "precision", values: m.per_day.map((d) => d.precision) }] }),
      timeChart({ title: "Turns and time saved (minutes) per day", labels, series: [
        { name: "turns", values: m.per_day.map((d) => d.turns), bars: true },
        { name: "minutes saved", values: m.per_day.map((d) => Math.round(d.time_saved_s / 60)), bars: true }] })),
    h("div", { class: "grid2" },
      barList({ title: "Top patterns by time saved", rows: top, format: minutes }),
      barList({ title: `Patterns losing accuracy (last ${RECENT_DAYS} days against ${days})`, rows: declining, color: "#b3261e", format: (v) => `−${Math.round(v * 100)} pts` })),
    barList({ title: "Why PLS decided as it did", rows: reasons, color: "#6b3fa0" }));
  const go = (d) => () => { location.hash = `#/dashboard?days=${d}`; };
  return { keys: { 1: go(1), 7: go(7), 3: go(30) } };
}
