// One pattern: edit with a dry run, its usage and confidence over time, examples (void, gold,
// split), versions with diff and rollback, and the suggestions that concern it.
import { api } from "../api.js";
import { timeChart } from "../chart.js";
import { attempt, clear, field, h, pct, pill, toast, when } from "../dom.js";
import { decisionsChanged } from "./changes.js";

export const title = "Pattern";
const rerender = () => window.dispatchEvent(new HashChangeEvent("hashchange"));
export const shortcuts = [
  ["s", "save the edit"],
  ["d", "preview the edit as a dry run"],
  ["b", "back to the pattern list"],
];

export async function render(root, { params }) {
  const id = Number(params.id);
  if (!Number.isInteger(id) || id < 1) throw new Error(`"${params.id}" is not a pattern id`);
  const [p, versions, history] = await Promise.all([
    api(`/api/patterns/${id}`, { query: { examples: 100 } }),
    api(`/api/patterns/${id}/versions`),
    api(`/api/patterns/${id}/history`, { query: { days: 30 } }),
  ]);
  const state = versions.length ? versions[0].state : {};
  const reply = h("textarea", { rows: 3 }, p.response_text);
  const alternatives = h("textarea", { rows: 2 }, (state.alternatives || []).join("\n"));
  const mode = h("select", {}, ["shadow", "suggest", "auto"].map((m) => h("option", { value: m }, m)));
  const status = h("select", {}, ["candidate", "approved", "disabled"].map((s) => h("option", { value: s }, s)));
  const threshold = h("input", { type: "number", min: "0.01", max: "1", step: "0.01", value: state.threshold_override ?? "" });
  const reason = h("input", { type: "text", placeholder: "why (kept in the history)" });
  mode.value = p.mode;
  status.value = p.status;
  const preview = h("div", { "aria-live": "polite" });
  const suggestionsBox = h("div", {}, h("p", { class: "muted" }, "Looking for suggestions…"));

  function changes() {
    const body = { expected_version: p.version, reason: reason.value };
    if (reply.value.trim() !== p.response_text) body.response_text = reply.value.trim();
    const alts = alternatives.value.split("\n").map((s) => s.trim()).filter(Boolean);
    if (JSON.stringify(alts) !== JSON.stringify(state.alternatives || [])) body.alternatives = alts;
    if (mode.value !== p.mode) body.mode = mode.value;
    if (status.value !== p.status) body.status = status.value;
    const t = threshold.value === "" ? null : Number(threshold.value);
    if (t !== (state.threshold_override ?? null)) body.threshold_override = t;
    return body;
  }

  async function submit(dryRun) {
    const body = { ...changes(), dry_run: dryRun };
    const result = await attempt(() => api(`/api/patterns/${id}`, { method: "PATCH", body }));
    if (!result) return;
    if (dryRun) clear(preview, h("h3", {}, "Dry run: nothing was saved"), decisionsChanged(result.decisions_changed));
    else { toast(`Saved as version ${result.pattern.version}`); rerender(); }
  }

  const examples = h("tbody", {}, p.examples.map((e) => h("tr", {},
    h("td", {}, h("input", { type: "checkbox", value: e.id, "aria-label": `select example ${e.id}` })),
    h("td", {}, e.text), h("td", {}, e.reply), h("td", {}, pill(e.status)), h("td", {}, e.quality.toFixed(2)), h("td", { class: "small" }, when(e.created_at)))));
  const chosen = () => [...examples.querySelectorAll("input:checked")].map((box) => Number(box.value));
  const splitReply = h("input", { type: "text", placeholder: "reply of the new pattern (optional)", "aria-label": "Reply of the split-off pattern" });

  async function curate(action, dryRun = false) {
    const ids = chosen();
    if (!ids.length) { toast("Select examples first.", true); return; }
    const path = action === "split" ? `/api/patterns/${id}/split` : `/api/examples/${action}`;
    const body = { example_ids: ids, dry_run: dryRun, reason: reason.value || `${action} from the console` };
    if (action === "split" && splitReply.value.trim()) body.response_text = splitReply.value.trim();
    const result = await attempt(() => api(path, { method: "POST", body }));
    if (!result) return;
    if (dryRun) { clear(preview, h("h3", {}, `Dry run of ${action}: nothing was saved`), decisionsChanged(result.decisions_changed)); return; }
    if (action === "split" && result.result) { location.hash = `#/patterns/${result.result.id}`; return; }
    toast(`${action}: ${ids.length} example(s)`);
    rerender();
  }

  const diffBox = h("div", { class: "diff", "aria-live": "polite" });
  async function showDiff(a, b) {
    const d = await attempt(() => api(`/api/patterns/${id}/diff`, { query: { a, b } }));
    if (!d) return;
    clear(diffBox, h("h3", {}, `Version ${a} → ${b}`),
      Object.keys(d.fields).length ? h("table", {}, Object.entries(d.fields).map(([name, change]) =>
        h("tr", {}, h("th", {}, name), h("td", {}, h("del", {}, JSON.stringify(change.from))), h("td", {}, h("ins", {}, JSON.stringify(change.to))))))
        : h("p", { class: "muted" }, "No differences."),
      d.response_diff.length ? h("pre", {}, d.response_diff.join("\n")) : null);
  }
  async function rollback(version) {
    const done = await attempt(() => api(`/api/patterns/${id}/rollback`, { method: "POST", body: { version, expected_version: p.version } }));
    if (done) { toast(`Rolled back to version ${version} (now version ${done.pattern.version})`); rerender(); }
  }

  const labels = history.per_day.map((d) => d.day);
  clear(root,
    h("p", {}, h("a", { href: "#/patterns" }, "← Patterns")),
    h("h1", {}, `Pattern #${id} `, pill(p.status), " ", pill(p.mode), h("span", { class: "muted small" }, ` version ${p.version}`)),
    h("p", { class: "muted" }, `${p.example_count} examples · ${p.match_count} matches · ${p.accepted_count} accepted · ${p.rejected_count} rejected · posterior ${pct(p.feedback_mean)}`),
    h("div", { class: "grid2" },
      h("section", { class: "card", "aria-labelledby": "edit-title" }, h("h2", { id: "edit-title" }, "Edit"),
        h("form", { onsubmit: (e) => { e.preventDefault(); submit(false); } },
          field("Reply", reply), field("Alternatives (one per line)", alternatives),
          h("div", { class: "grid3" }, field("Mode", mode), field("Status", status), field("Auto threshold override", threshold, "empty: the calibrated one")),
          field("Reason", reason),
          h("div", { class: "row" }, h("button", { type: "button", class: "secondary", onclick: () => submit(true) }, "Preview dry run (d)"),
            h("button", { type: "submit" }, "Save (s)"))),
        preview),
      h("section", { "aria-label": "Usage and confidence over 30 days" },
        timeChart({ title: "Matches per day", labels, series: [
          { name: "matched", values: history.per_day.map((d) => d.matches), bars: true },
          { name: "answerable", values: history.per_day.map((d) => d.answerable), bars: true },
          { name: "accepted", values: history.per_day.map((d) => d.accepted), bars: true },
          { name: "rejected", values: history.per_day.map((d) => d.rejected), bars: true }] }),
        timeChart({ title: "Mean confidence per day", labels, max: 1, format: (v) => (v === null || v === undefined ? "–" : `${Math.round(v * 100)}%`),
          series: [{ name: "mean confidence", values: history.per_day.map((d) => d.mean_confidence) }] }))),
    h("section", { class: "card", "aria-labelledby": "ex-title" },
      h("h2", { id: "ex-title" }, `Examples (${p.examples.length} newest)`),
      h("div", { class: "row" },
        h("button", { type: "button", class: "secondary", onclick: () => curate("gold") }, "Mark gold"),
        h("button", { type: "button", class: "secondary", onclick: () => curate("void") }, "Void"),
        h("button", { type: "button", class: "secondary", onclick: () => curate("split", true) }, "Split: dry run"),
        splitReply, h("button", { type: "button", onclick: () => curate("split") }, "Split into a new pattern")),
      h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, ""), h("th", {}, "customer message"), h("th", {}, "reply sent"), h("th", {}, "status"), h("th", {}, "quality"), h("th", {}, "learned"))), examples)),
    h("div", { class: "grid2" },
      h("section", { class: "card", "aria-labelledby": "v-title" }, h("h2", { id: "v-title" }, "Versions"),
        h("table", {}, h("tbody", {}, versions.map((v) => h("tr", { dataset: { version: v.version } },
          h("td", {}, `v${v.version}`), h("td", {}, v.state.response_text), h("td", { class: "small" }, `${v.author || ""} ${v.reason || ""}`), h("td", { class: "small" }, when(v.created_at)),
          h("td", {}, v.version === p.version ? h("span", { class: "muted" }, "current") : [
            h("button", { type: "button", class: "secondary", onclick: () => showDiff(v.version, p.version) }, "Diff"), " ",
            h("button", { type: "button", class: "secondary", onclick: () => rollback(v.version) }, `Roll back to v${v.version}`)]))))),
        diffBox),
      h("section", { class: "card", "aria-labelledby": "s-title" }, h("h2", { id: "s-title" }, "Suggestions"), suggestionsBox)));

  // Suggestions compare every pattern of the tenant: loaded after the page is up.
  api("/api/suggestions").then((all) => {
    const mine = all.filter((s) => s.pattern_ids.includes(id));
    clear(suggestionsBox, mine.length ? h("ul", {}, mine.map((s) => h("li", {}, pill(s.kind), " ", s.reason, " ",
      s.pattern_ids.filter((other) => other !== id).map((other) => h("a", { href: `#/patterns/${other}` }, `#${other} `)))))
      : h("p", { class: "muted" }, "Nothing to change here."));
  }, (error) => clear(suggestionsBox, h("p", { class: "error" }, error.message)));

  return { keys: { s: () => submit(false), d: () => submit(true), b: () => { location.hash = "#/patterns"; } } };
}
