// "How did we answer this before?": the closest past customer messages and the replies they got.
import { api } from "../api.js";
import { attempt, clear, h, pattern_link, pct, pill } from "../dom.js";

export const title = "Search";
export const shortcuts = [["/", "focus the search box"]];

export async function render(root, { params }) {
  const q = h("input", { type: "search", "data-search": "", placeholder: "a customer message, e.g. my sim is frozen", "aria-label": "Search past messages", value: params.q || "", class: "grow" });
  const results = h("div", { "aria-live": "polite" });
  async function run() {
    if (!q.value.trim()) return;
    const hits = await attempt(() => api("/api/search", { query: { q: q.value.trim(), limit: 20 } }));
    if (!hits) return;
    clear(results, hits.length ? h("div", { class: "list" }, hits.map((hit) => h("article", { class: "item" },
      h("div", { class: "row" }, h("span", { class: "text grow" }, hit.text), h("span", { class: "small" }, `similarity ${pct(hit.similarity)}`), pill(hit.status)),
      h("div", { class: "reply" }, hit.reply),
      h("div", { class: "row small" }, "pattern ", pattern_link(hit.pattern_id),
        h("a", { href: `#/builder?${new URLSearchParams({ text: hit.text, reply: hit.reply })}` }, "use in the builder")))))
      : h("p", { class: "muted" }, "Nothing similar has been learned."));
  }
  clear(root, h("h1", {}, "How did we answer this before?"),
    h("form", { class: "row card", role: "search", onsubmit: (e) => { e.preventDefault(); run(); } }, q, h("button", { type: "submit" }, "Search")),
    results);
  if (q.value) await run();
  q.focus();
  return { keys: {} };
}
