// Playground: match one or many messages without recording anything, see why, and try a
// changed reply or threshold as a dry run over recent decisions.
import { api } from "../api.js";
import { attempt, clear, field, h, meter, pattern_link, pct, pill } from "../dom.js";
import { decisionsChanged } from "./changes.js";

export const title = "Playground";
export const shortcuts = [
  ["Ctrl+Enter (in the box)", "match the messages"],
  ["/", "focus the message box"],
];

function explain(result) {
  const ex = result.explanation || {};
  const features = Object.entries(ex.features || {});
  return h("details", {}, h("summary", {}, "Why: neighbours and features"),
    h("div", { class: "grid2" },
      h("table", { "aria-label": "Nearest learned examples" },
        h("thead", {}, h("tr", {}, h("th", {}, "example"), h("th", {}, "pattern"), h("th", {}, "similarity"))),
        h("tbody", {}, (ex.neighbours || []).slice(0, 10).map((n) => h("tr", {}, h("td", {}, n.example_id), h("td", {}, pattern_link(n.pattern_id)), h("td", {}, n.similarity.toFixed(3)))))),
      h("table", { "aria-label": "Features of the best candidate" },
        h("tbody", {}, features.map(([name, value]) => h("tr", {}, h("th", {}, name), h("td", {}, typeof value === "number" ? value.toFixed(4) : String(value))))))));
}

export async function render(root, { params }) {
  const box = h("textarea", { rows: 5, "data-search": "", placeholder: "One message per line: try several wordings at once" }, params.text || "");
  const results = h("div", { "aria-live": "polite" });
  const patternId = h("input", { type: "number", min: "1", value: params.pattern || "" });
  const reply = h("textarea", { rows: 2, placeholder: "leave empty to keep the reply" });
  const threshold = h("input", { type: "number", min: "0.01", max: "1", step: "0.01", placeholder: "e.g. 0.9" });
  const dry = h("div", { "aria-live": "polite" });

  async function run() {
    const texts = box.value.split("\n").map((t) => t.trim()).filter(Boolean);
    if (!texts.length) { clear(results, h("p", { class: "error", role: "alert" }, "Type a message first.")); return; }
    clear(results, h("p", { class: "muted" }, "Matching…"));
    const matched = await attempt(() => Promise.all(texts.map((text) => api("/api/match", { method: "POST", body: { text, record: false } }))));
    if (!matched) { clear(results); return; }
    clear(results, h("table", { "aria-label": "Match results" },
      h("thead", {}, h("tr", {}, h("th", {}, "message"), h("th", {}, "decision"), h("th", {}, "pattern"), h("th", {}, "confidence"),
        h("th", {}, "thresholds"), h("th", {}, "reply and reason"))),
      h("tbody", {}, matched.map((r, i) => h("tr", { class: "match-result", dataset: { pattern: r.pattern_id ?? "" } },
        h("td", {}, texts[i]), h("td", {}, pill(r.decision), h("div", { class: "small muted" }, `supports ${r.action}`)),
        h("td", {}, pattern_link(r.pattern_id)), h("td", {}, meter(r.confidence), " ", pct(r.confidence)),
        h("td", { class: "small" }, `suggest ≥ ${pct(r.thresholds.suggest)}`, h("br"), `auto ≥ ${pct(r.thresholds.auto)}`),
        h("td", {}, r.reply ? h("div", { class: "reply" }, r.reply) : null, h("div", { class: "small muted" }, r.reason), explain(r)))))));
  }

  async function dryRun() {
    const id = Number(patternId.value);
    if (!Number.isInteger(id) || id < 1) { clear(dry, h("p", { class: "error", role: "alert" }, "Give the pattern id to try a change on.")); return; }
    const body = { dry_run: true };
    if (reply.value.trim()) body.response_text = reply.value.trim();
    if (threshold.value !== "") body.threshold_override = Number(threshold.value);
    if (Object.keys(body).length === 1) { clear(dry, h("p", { class: "error", role: "alert" }, "Change the reply or the threshold first.")); return; }
    const result = await attempt(() => api(`/api/patterns/${id}`, { method: "PATCH", body }));
    if (result) clear(dry, h("h3", {}, "Dry run: nothing was saved"), decisionsChanged(result.decisions_changed));
  }

  box.addEventListener("keydown", (event) => { if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); run(); } });
  clear(root,
    h("h1", {}, "Playground"),
    h("p", { class: "muted" }, "Nothing here is recorded or sent: matches run with record=false, changes as dry runs."),
    h("section", { class: "card", "aria-labelledby": "pg-match" }, h("h2", { id: "pg-match" }, "Match messages"),
      h("form", { onsubmit: (e) => { e.preventDefault(); run(); } }, field("Messages", box, "Ctrl+Enter matches"), h("button", { type: "submit" }, "Match")),
      results),
    h("section", { class: "card", "aria-labelledby": "pg-dry" }, h("h2", { id: "pg-dry" }, "Try a change (dry run)"),
      h("p", { class: "hint" }, "Re-decides the newest 200 decisions with the change applied and lists those that would turn."),
      h("form", { onsubmit: (e) => { e.preventDefault(); dryRun(); } },
        h("div", { class: "grid3" }, field("Pattern id", patternId), field("Auto threshold", threshold), field("New reply", reply)),
        h("button", { type: "submit" }, "Show what would change")),
      dry));
  if (box.value) run();
  return { keys: {} };
}
