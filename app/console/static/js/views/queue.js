// Approval queue: candidates by the operator time they would save; one key to approve,
// reject or edit, and bulk actions over a selection.
import { api } from "../api.js";
import { attempt, clear, h, toast } from "../dom.js";
import { Selection } from "../selection.js";

export const title = "Approval queue";
export const shortcuts = [
  ["j / k", "next / previous candidate"],
  ["a", "approve in the chosen mode"],
  ["r", "reject (discovery candidates: dismiss)"],
  ["e", "edit the reply, then approve"],
  ["x", "select / unselect for bulk actions"],
  ["A", "approve every selected pattern"],
  ["R", "reject (disable) every selected pattern"],
];

const keyOf = (row) => (row.kind === "discovery" ? `d${row.candidate_id}` : `p${row.pattern_id}`);

export async function render(root) {
  const mode = h("select", { id: "queue-mode", "aria-label": "Mode for approvals" },
    ["suggest", "shadow", "auto"].map((m) => h("option", { value: m }, m)));
  const tbody = h("tbody");
  const table = h("table", { "aria-label": "Candidate patterns" },
    h("thead", {}, h("tr", {}, h("th", {}, h("span", { class: "sr-only" }, "select")), h("th", {}, "minutes saved / day"),
      h("th", {}, "reply"), h("th", {}, "examples"), h("th", {}, "sent / day"), h("th", {}, "would have answered"), h("th", {}, "source"))),
    tbody);
  const summary = h("p", { class: "muted", role: "status" });
  const picked = new Set();
  let rows = [];
  clear(root,
    h("div", { class: "row" }, h("h1", { class: "grow" }, "Approval queue"),
      h("label", { for: "queue-mode" }, "approve as"), mode,
      h("button", { type: "button", onclick: () => bulk("approve") }, "Approve selected (A)"),
      h("button", { type: "button", class: "danger", onclick: () => bulk("disable") }, "Reject selected (R)")),
    summary, table);
  const selection = new Selection(tbody, "tr.candidate");

  async function load() {
    rows = await api("/api/approval-queue", { query: { limit: 200 } });
    paint();
  }

  function paint() {
    const keep = selection.current ? selection.current.dataset.key : null;
    clear(tbody, rows.map((row) => {
      const key = keyOf(row);
      const box = h("input", { type: "checkbox", checked: picked.has(key), "aria-label": `select candidate ${key}`,
        onchange: () => (box.checked ? picked.add(key) : picked.delete(key)) });
      const tr = h("tr", { class: "candidate", dataset: { key }, tabindex: "-1",
        onclick: (event) => { if (event.target !== box) selection.selectRow(tr); } },
        h("td", {}, box),
        h("td", {}, h("strong", {}, row.minutes_saved_per_day.toFixed(1))),
        h("td", { class: "reply-cell" }, row.kind === "pattern" ? h("a", { href: `#/patterns/${row.pattern_id}` }, row.response_text) : row.response_text),
        h("td", {}, row.example_count), h("td", {}, row.per_day),
        h("td", {}, row.would_have_answered ?? "–"),
        h("td", {}, row.kind === "discovery" ? "discovered" : "learned"));
      return tr;
    }));
    summary.textContent = rows.length ? `${rows.length} candidates, most valuable first.` : "The queue is empty: nothing waits for approval.";
    const index = keep ? rows.findIndex((r) => keyOf(r) === keep) : -1;
    selection.select(index >= 0 ? index : 0);
  }

  const currentRow = () => { const tr = selection.current; return tr ? rows.find((r) => keyOf(r) === tr.dataset.key) : null; };

  async function approve(row, responseText) {
    if (!row) return;
    const body = { mode: mode.value, ...(responseText ? { response_text: responseText } : {}) };
    const path = row.kind === "discovery" ? `/api/discovery/candidates/${row.candidate_id}/approve` : `/api/patterns/${row.pattern_id}/approve`;
    if (row.kind === "pattern") body.expected_version = row.version;
    const done = await attempt(() => api(path, { method: "POST", body }), `Approved as ${mode.value}`);
    if (done) { picked.delete(keyOf(row)); await load(); }
  }

  async function reject(row) {
    if (!row) return;
    const path = row.kind === "discovery" ? `/api/discovery/candidates/${row.candidate_id}/dismiss` : `/api/patterns/${row.pattern_id}/reject`;
    const done = await attempt(() => api(path, { method: "POST", body: {} }), row.kind === "discovery" ? "Dismissed" : "Rejected");
    if (done) { picked.delete(keyOf(row)); await load(); }
  }

  function edit(row) {
    if (!row) return;
    const tr = selection.current;
    const box = h("textarea", { "aria-label": "Reply to approve" }, row.response_text);
    const form = h("form", { class: "editor", onsubmit: (event) => { event.preventDefault(); approve(row, box.value.trim()); } },
      box, h("div", { class: "row" }, h("button", { type: "submit" }, "Save and approve"),
        h("button", { type: "button", class: "ghost", onclick: () => paint() }, "Cancel")));
    clear(tr.querySelector(".reply-cell"), form);
    box.focus();
  }

  function toggle() {
    const tr = selection.current;
    if (!tr) return;
    const box = tr.querySelector("input[type=checkbox]");
    box.checked = !box.checked;
    box.dispatchEvent(new Event("change"));
  }

  async function bulk(action) {
    const chosen = rows.filter((r) => picked.has(keyOf(r)));
    if (!chosen.length) { toast("Select candidates first (x).", true); return; }
    const ids = chosen.filter((r) => r.kind === "pattern").map((r) => r.pattern_id);
    if (ids.length) {
      const body = { pattern_ids: ids, action, ...(action === "approve" ? { mode: mode.value } : {}) };
      if (!(await attempt(() => api("/api/patterns/bulk", { method: "POST", body })))) return;
    }
    for (const row of chosen.filter((r) => r.kind === "discovery")) {
      const verb = action === "approve" ? "approve" : "dismiss";
      const body = action === "approve" ? { mode: mode.value } : {};
      await attempt(() => api(`/api/discovery/candidates/${row.candidate_id}/${verb}`, { method: "POST", body }));
    }
    toast(`${action === "approve" ? "Approved" : "Rejected"} ${chosen.length} candidate(s)`);
    picked.clear();
    await load();
  }

  await load();
  return {
    keys: { ...selection.keys(), a: () => approve(currentRow()), r: () => reject(currentRow()), e: () => edit(currentRow()),
      x: toggle, A: () => bulk("approve"), R: () => bulk("disable") },
  };
}
