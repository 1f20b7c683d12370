// Shared rendering of a dry run's "decisions that would change" list.
import { h, pct } from "../dom.js";

export function decisionsChanged(list) {
  if (!list || !list.length) return h("p", { class: "muted", role: "status" }, "No recent decision would change.");
  const side = (d) => `${d.decision} · #${d.pattern_id ?? "–"} · ${pct(d.confidence)}`;
  return h("table", { "aria-label": "Decisions that would change" },
    h("caption", { class: "small muted" }, `${list.length} recent decision(s) would change`),
    h("thead", {}, h("tr", {}, h("th", {}, "message"), h("th", {}, "now"), h("th", {}, "after"))),
    h("tbody", {}, list.map((d) => h("tr", {}, h("td", {}, d.text), h("td", {}, side(d.now)), h("td", {}, side(d.after))))));
}
