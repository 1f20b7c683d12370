// Live inbox: every decision as it is made, with what PLS would do and the operator's verdict.
import { api } from "../api.js";
import { attempt, clear, h, meter, pattern_link, pct, pill, toast, when } from "../dom.js";
import { Selection } from "../selection.js";

export const title = "Inbox";
export const shortcuts = [
  ["j / k", "next / previous message"],
  ["a", "accept the suggestion"],
  ["e", "edit the suggestion, then send the edit as the verdict"],
  ["w", "this response was wrong (optionally say what was right)"],
  ["m", "mark this conversation's learned replies as gold standard"],
  ["c", "create a pattern from this message"],
];

function fromEvent(event) {
  return {
    decision_id: event.decision_id, message_id: event.message_id, conversation_id: event.conversation_id,
    text: event.text, pattern_id: event.pattern_id, reply: event.reply, confidence: event.confidence,
    action: event.action, decision: event.decision, reason: event.reason, at: event.at, verdict: null,
  };
}

export async function render(root, { live }) {
  const items = new Map(); // decision id -> item, newest first by insertion into `order`
  let order = [];
  const list = h("div", { class: "list", role: "feed", "aria-label": "Messages and decisions" });
  const status = h("p", { class: "muted small", role: "status" });
  clear(root,
    h("div", { class: "row" }, h("h1", { class: "grow" }, "Live inbox"),
      h("span", { class: "hint" }, "Press ", h("kbd", {}, "?"), " for shortcuts")),
    status, list);
  const selection = new Selection(list, ".item");

  const history = await api("/api/inbox", { query: { limit: 100 } });
  for (const row of history.reverse()) { items.set(row.decision_id, row); order.unshift(row.decision_id); }
  for (const event of live.events) {
    if (event.type === "decision" && !items.has(event.decision_id)) { items.set(event.decision_id, fromEvent(event)); order.unshift(event.decision_id); }
  }

  function actions(item) {
    const judgeable = item.pattern_id && !item.verdict;
    return h("div", { class: "row" },
      h("button", { type: "button", disabled: !judgeable, onclick: () => accept(item), "aria-keyshortcuts": "a" }, "Accept (a)"),
      h("button", { type: "button", class: "secondary", disabled: !judgeable, onclick: () => editor(item, "edited"), "aria-keyshortcuts": "e" }, "Edit (e)"),
      h("button", { type: "button", class: "secondary", disabled: !judgeable, onclick: () => editor(item, "rejected"), "aria-keyshortcuts": "w" }, "Wrong (w)"),
      h("button", { type: "button", class: "secondary", onclick: () => gold(item), "aria-keyshortcuts": "m" }, "Mark gold (m)"),
      h("button", { type: "button", class: "secondary", onclick: () => create(item), "aria-keyshortcuts": "c" }, "Create pattern (c)"));
  }

  function card(item) {
    const node = h("article", { class: "item", tabindex: "-1", dataset: { decision: item.decision_id },
      "aria-label": `${item.decision}: ${item.text}`, onclick: () => selection.selectRow(node) },
      h("div", { class: "row" },
        pill(item.decision), h("span", { class: "text grow" }, item.text),
        h("span", { class: "small muted" }, when(item.at))),
      h("div", { class: "row small" },
        h("span", {}, "pattern ", pattern_link(item.pattern_id)),
        h("span", {}, "confidence ", meter(item.confidence), " ", pct(item.confidence)),
        item.threshold !== undefined && item.threshold !== null ? h("span", { class: "muted" }, `threshold ${pct(item.threshold)}`) : null,
        item.conversation_id ? h("span", { class: "muted" }, `conversation ${item.conversation_id}`) : null,
        item.verdict ? pill(item.verdict, `verdict: ${item.verdict}`) : null),
      item.reply ? h("div", { class: "reply", "aria-label": "proposed reply" }, item.reply) : null,
      h("div", { class: "small muted" }, item.reason),
      actions(item));
    return node;
  }

  function paint() {
    const keep = selection.current ? selection.current.dataset.decision : null;
    clear(list, order.map((id) => card(items.get(id))));
    status.textContent = order.length ? `${order.length} decisions, newest first.` : "No messages yet: they appear here as webhooks deliver them.";
    const index = keep ? order.indexOf(keep) : -1;
    if (index >= 0) selection.select(index);
  }

  // Repaint one card only, so an editor open on another message survives live updates.
  function repaint(item) {
    const node = list.querySelector(`[data-decision="${item.decision_id}"]`);
    if (!node) return;
    const wasSelected = node.classList.contains("selected");
    const fresh = card(item);
    node.replaceWith(fresh);
    if (wasSelected) selection.selectRow(fresh);
  }

  function selected() {
    const row = selection.current || selection.select(0);
    return row ? items.get(row.dataset.decision) : null;
  }

  async function verdict(item, body) {
    const result = await attempt(() => api(`/api/decisions/${item.decision_id}/verdict`, { method: "POST", body }));
    if (!result) return;
    item.verdict = result.verdict;
    toast(`Recorded: ${result.verdict}${result.posterior_mean !== null ? ` (pattern #${result.pattern_id} now ${pct(result.posterior_mean)})` : ""}`);
    repaint(item);
  }

  const accept = (item) => item && item.pattern_id && !item.verdict && verdict(item, { verdict: "accepted" });

  function editor(item, kind) {
    if (!item || !item.pattern_id || item.verdict) return;
    const node = list.querySelector(`[data-decision="${item.decision_id}"]`);
    const label = kind === "edited" ? "Edited reply" : "What should it have said? (optional)";
    const box = h("textarea", { "aria-label": label }, kind === "edited" ? item.reply || "" : "");
    const form = h("form", { class: "editor", onsubmit: (event) => {
      event.preventDefault();
      const reply = box.value.trim();
      verdict(item, kind === "edited" ? { verdict: "edited", reply } : { verdict: "rejected", ...(reply ? { reply } : {}) });
    } }, h("label", {}, label), box,
      h("div", { class: "row" }, h("button", { type: "submit" }, kind === "edited" ? "Send edit" : "Mark wrong"),
        h("button", { type: "button", class: "ghost", onclick: () => form.remove() }, "Cancel")));
    node.append(form);
    box.focus();
  }

  async function gold(item) {
    if (!item) return;
    if (!item.conversation_id) { toast("This decision has no conversation to mark.", true); return; }
    const result = await attempt(() => api(`/api/conversations/${item.conversation_id}/gold`, { method: "POST", body: { reason: "gold standard from the inbox" } }));
    if (result) toast(`${result.result.example_ids.length} example(s) from this conversation marked gold`);
  }

  function create(item) {
    if (!item) return;
    const query = new URLSearchParams({ text: item.text, reply: item.reply || "" });
    location.hash = `#/builder?${query}`;
  }

  const listener = (event) => {
    if (event.type === "decision" && !items.has(event.decision_id)) {
      const item = fromEvent(event);
      items.set(event.decision_id, item);
      order.unshift(event.decision_id);
      list.prepend(card(item));
      if (selection.index >= 0) selection.index += 1;
      status.textContent = `${order.length} decisions, newest first.`;
    } else if (event.type === "verdict" && items.has(event.decision_id)) {
      items.get(event.decision_id).verdict = event.verdict;
      repaint(items.get(event.decision_id));
    } else if (event.type === "learned" && event.feedback) {
      const item = order.map((id) => items.get(id)).find((i) => i.conversation_id === event.conversation_id && i.pattern_id === event.feedback_pattern_id && !i.verdict);
      if (item) { item.verdict = event.feedback; repaint(item); }
    }
  };
  live.listeners.add(listener);
  paint();
  return {
    keys: { ...selection.keys(), a: () => accept(selected()), e: () => editor(selected(), "edited"),
      w: () => editor(selected(), "rejected"), m: () => gold(selected()), c: () => create(selected()) },
    dispose: () => live.listeners.delete(listener),
  };
}
