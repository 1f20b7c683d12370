// Patterns: search by reply text or id, filter by status and mode, bulk enable/disable/mode.
import { api } from "../api.js";
import { attempt, clear, h, pct, pill, toast } from "../dom.js";
import { Selection } from "../selection.js";

export const title = "Patterns";
export const shortcuts = [
  ["/", "search the replies"],
  ["j / k", "next / previous pattern"],
  ["Enter or o", "open the selected pattern"],
  ["x", "select / unselect for bulk actions"],
  ["n / p", "next / previous page"],
];
const PAGE = 50;

export async function render(root, { params }) {
  const q = h("input", { type: "search", placeholder: "reply text or #id", "data-search": "", "aria-label": "Search patterns", value: params.q || "" });
  const status = h("select", { "aria-label": "Status" }, ["", "candidate", "approved", "disabled"].map((s) => h("option", { value: s }, s || "any status")));
  const mode = h("select", { "aria-label": "Mode" }, ["", "shadow", "suggest", "auto"].map((s) => h("option", { value: s }, s || "any mode")));
  const sort = h("select", { "aria-label": "Sort by" }, ["examples", "matches", "accepted", "rejected", "updated", "id"].map((s) => h("option", { value: s }, `by ${s}`)));
  const bulkMode = h("select", { "aria-label": "Mode for bulk change" }, ["shadow", "suggest", "auto"].map((m) => h("option", { value: m }, m)));
  status.value = params.status || "";
  mode.value = params.mode || "";
  const tbody = h("tbody");
  const info = h("p", { class: "muted", role: "status" });
  const picked = new Set();
  let offset = 0;
  let total = 0;
  let timer = null;
  clear(root,
    h("h1", {}, "Patterns"),
    h("form", { class: "row card", role: "search", onsubmit: (e) => { e.preventDefault(); offset = 0; load(); } },
      q, status, mode, sort, h("button", { type: "submit" }, "Filter"),
      h("span", { class: "grow" }),
      h("button", { type: "button", class: "secondary", onclick: () => bulk("enable") }, "Enable"),
      h("button", { type: "button", class: "secondary", onclick: () => bulk("disable") }, "Disable"),
      bulkMode, h("button", { type: "button", class: "secondary", onclick: () => bulk("mode") }, "Set mode")),
    info,
    h("table", { "aria-label": "Patterns" },
      h("thead", {}, h("tr", {}, h("th", {}, h("span", { class: "sr-only" }, "select")), h("th", {}, "id"), h("th", {}, "reply"),
        h("th", {}, "status"), h("th", {}, "mode"), h("th", {}, "v"), h("th", {}, "examples"), h("th", {}, "matches"),
        h("th", {}, "accepted / rejected"), h("th", {}, "posterior"))),
      tbody),
    h("div", { class: "row" }, h("button", { type: "button", class: "secondary", onclick: () => page(-1) }, "Previous (p)"),
      h("button", { type: "button", class: "secondary", onclick: () => page(1) }, "Next (n)")));
  const selection = new Selection(tbody, "tr");
  for (const control of [status, mode, sort]) control.addEventListener("change", () => { offset = 0; load(); });
  q.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => { offset = 0; load(); }, 250); });

  async function load() {
    const query = { q: q.value.replace(/^#/, ""), status: status.value, mode: mode.value, sort: sort.value, limit: PAGE, offset };
    const result = await api("/api/pattern-list", { query });
    total = result.total;
    clear(tbody, result.items.map((p) => {
      const box = h("input", { type: "checkbox", checked: picked.has(p.id), "aria-label": `select pattern ${p.id}`,
        onchange: () => (box.checked ? picked.add(p.id) : picked.delete(p.id)) });
      const tr = h("tr", { dataset: { id: p.id }, tabindex: "-1", onclick: (e) => { if (e.target !== box) selection.selectRow(tr); } },
        h("td", {}, box), h("td", {}, p.id), h("td", {}, h("a", { href: `#/patterns/${p.id}` }, p.response_text)),
        h("td", {}, pill(p.status)), h("td", {}, pill(p.mode)), h("td", {}, p.version), h("td", {}, p.example_count),
        h("td", {}, p.match_count), h("td", {}, `${p.accepted_count} / ${p.rejected_count}`), h("td", {}, pct(p.feedback_mean)));
      return tr;
    }));
    info.textContent = `${total} patterns${total ? `, showing ${offset + 1}–${Math.min(total, offset + PAGE)}` : ""}; ${picked.size} selected.`;
    selection.select(0);
  }

  function page(delta) {
    const next = offset + delta * PAGE;
    if (next < 0 || next >= total) return;
    offset = next;
    load();
  }

  async function bulk(action) {
    if (!picked.size) { toast("Select patterns first (x).", true); return; }
    const body = { pattern_ids: [...picked], action, ...(action === "mode" ? { mode: bulkMode.value } : {}) };
    const done = await attempt(() => api("/api/patterns/bulk", { method: "POST", body }), `${action}: ${picked.size} pattern(s)`);
    if (done) { picked.clear(); await load(); }
  }

  function toggle() {
    const box = selection.current && selection.current.querySelector("input[type=checkbox]");
    if (!box) return;
    box.checked = !box.checked;
    box.dispatchEvent(new Event("change"));
  }

  const open = () => { if (selection.current) location.hash = `#/patterns/${selection.current.dataset.id}`; };
  await load();
  return { keys: { ...selection.keys(), Enter: open, o: open, x: toggle, n: () => page(1), p: () => page(-1) } };
}
