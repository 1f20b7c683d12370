// Pattern builder by example: pick a conversation or a past reply, make it a pattern, add more
// trigger messages, test, approve. Every step is one of the ordinary APIs.
import { api } from "../api.js";
import { attempt, clear, field, h, pattern_link, pct, pill, toast, when } from "../dom.js";

export const title = "Pattern builder";
export const shortcuts = [["/", "focus the first field"]];

export async function render(root, { params }) {
  const text = h("textarea", { rows: 2, "data-search": "", placeholder: "what the customer wrote" }, params.text || "");
  const reply = h("textarea", { rows: 3, placeholder: "the reply that answers it" }, params.reply || "");
  const triggers = h("textarea", { rows: 4, placeholder: "other ways customers ask this, one per line" });
  const probe = h("input", { type: "text", placeholder: "a message to test against the pattern" });
  const mode = h("select", {}, ["suggest", "shadow", "auto"].map((m) => h("option", { value: m }, m)));
  const picker = h("div", {});
  const made = h("div", { "aria-live": "polite" });
  const added = h("ul", { "aria-live": "polite" });
  const tested = h("div", { "aria-live": "polite" });
  let target = null; // {pattern_id, example_id, reply}

  async function conversations() {
    const list = await attempt(() => api("/api/conversations", { query: { limit: 30 } }));
    if (!list) return;
    clear(picker, list.length ? h("ul", {}, list.map((c) => h("li", {}, h("button", { type: "button", class: "ghost", onclick: () => conversation(c.id) },
      `Conversation ${c.id} · ${c.message_count} messages · ${when(c.last_message_at)}`)))) : h("p", { class: "muted" }, "No conversations yet."));
  }

  async function conversation(id) {
    const c = await attempt(() => api(`/api/conversations/${id}`));
    if (!c) return;
    clear(picker, h("p", { class: "hint" }, "Click a customer message to use it as the trigger, an operator reply to use it as the reply."),
      h("ul", {}, c.messages.map((m) => h("li", {}, h("button", { type: "button", class: m.direction === "incoming" ? "secondary" : "ghost",
        onclick: () => { (m.direction === "incoming" ? text : reply).value = m.text; } }, `${m.direction === "incoming" ? "customer" : m.author || "operator"}: ${m.text}`)))));
  }

  async function pastReplies(query) {
    if (!query.trim()) return;
    const hits = await attempt(() => api("/api/search", { query: { q: query, limit: 10 } }));
    if (!hits) return;
    clear(picker, h("ul", {}, hits.map((hit) => h("li", {}, h("button", { type: "button", class: "ghost",
      onclick: () => { text.value = hit.text; reply.value = hit.reply; } }, `${hit.text} → ${hit.reply} (${pct(hit.similarity)})`)))));
  }

  async function create() {
    const body = { text: text.value.trim(), reply: reply.value.trim() };
    if (!body.text || !body.reply) { toast("A customer message and a reply are both needed.", true); return; }
    const learned = await attempt(() => api("/api/learn", { method: "POST", body }));
    if (!learned) return;
    target = { pattern_id: learned.pattern_id, example_id: learned.example_id, reply: body.reply };
    const split = h("button", { type: "button", class: "secondary", onclick: async () => {
      const done = await attempt(() => api(`/api/patterns/${learned.pattern_id}/split`, { method: "POST",
        body: { example_ids: [learned.example_id], response_text: body.reply, reason: "pattern builder" } }));
      if (done && done.result) { target.pattern_id = done.result.id; paintMade(`Split into its own pattern`); }
    } }, "Split it into its own pattern");
    const paintMade = (how) => clear(made, h("p", { role: "status" }, how, " ", pattern_link(target.pattern_id), "."),
      !learned.new_pattern ? h("p", { class: "hint" }, "This example joined an existing pattern with the same reply. ", split) : null);
    paintMade(learned.new_pattern ? "Created pattern" : learned.duplicate ? "Already learned, in pattern" : "Filed under pattern");
    probe.value = body.text;
  }

  async function addTriggers() {
    if (!target) { toast("Create the pattern first.", true); return; }
    for (const line of triggers.value.split("\n").map((t) => t.trim()).filter(Boolean)) {
      const learned = await attempt(() => api("/api/learn", { method: "POST", body: { text: line, reply: target.reply } }));
      if (!learned) continue;
      if (learned.pattern_id !== target.pattern_id) {
        await attempt(() => api("/api/examples/move", { method: "POST", body: { example_ids: [learned.example_id], pattern_id: target.pattern_id, reason: "pattern builder" } }));
      }
      added.append(h("li", {}, line));
    }
    triggers.value = "";
  }

  async function test() {
    if (!probe.value.trim()) return;
    const r = await attempt(() => api("/api/match", { method: "POST", body: { text: probe.value.trim(), record: false } }));
    if (!r) return;
    const hit = target && r.pattern_id === target.pattern_id;
    clear(tested, h("p", { role: "status", class: "builder-result" }, pill(r.decision), " ", hit ? "matches this pattern" : "matched ", hit ? "" : pattern_link(r.pattern_id),
      ` at ${pct(r.confidence)} (suggest ≥ ${pct(r.thresholds.suggest)}, auto ≥ ${pct(r.thresholds.auto)}). `, r.reason),
      target ? h("a", { href: `#/playground?${new URLSearchParams({ text: probe.value.trim(), pattern: target.pattern_id })}` }, "Open in the playground") : null);
  }

  async function approve() {
    if (!target) { toast("Create the pattern first.", true); return; }
    const done = await attempt(() => api(`/api/patterns/${target.pattern_id}/approve`, { method: "POST", body: { mode: mode.value, reason: "pattern builder" } }));
    if (done) toast(`Pattern #${target.pattern_id} approved as ${mode.value}`);
  }

  const searchBox = h("input", { type: "search", placeholder: "find a past reply", "aria-label": "Find a past reply" });
  clear(root,
    h("h1", {}, "Pattern builder"),
    h("section", { class: "card", "aria-labelledby": "b1" }, h("h2", { id: "b1" }, "1. Start from an example"),
      h("div", { class: "row" }, h("button", { type: "button", class: "secondary", onclick: conversations }, "Pick a conversation"),
        h("form", { class: "row", onsubmit: (e) => { e.preventDefault(); pastReplies(searchBox.value); } }, searchBox, h("button", { type: "submit", class: "secondary" }, "Search past replies"))),
      picker),
    h("section", { class: "card", "aria-labelledby": "b2" }, h("h2", { id: "b2" }, "2. Turn it into a pattern"),
      h("form", { onsubmit: (e) => { e.preventDefault(); create(); } }, field("Customer message", text), field("Reply", reply, "placeholders such as {location} are allowed"),
        h("button", { type: "submit" }, "Create pattern")), made),
    h("section", { class: "card", "aria-labelledby": "b3" }, h("h2", { id: "b3" }, "3. Add trigger examples"),
      h("form", { onsubmit: (e) => { e.preventDefault(); addTriggers(); } }, field("More customer messages", triggers), h("button", { type: "submit" }, "Add examples")), added),
    h("section", { class: "card", "aria-labelledby": "b4" }, h("h2", { id: "b4" }, "4. Test"),
      h("form", { class: "row", onsubmit: (e) => { e.preventDefault(); test(); } }, h("label", { for: "builder-probe" }, "Message"), Object.assign(probe, { id: "builder-probe" }), h("button", { type: "submit" }, "Test")), tested),
    h("section", { class: "card", "aria-labelledby": "b5" }, h("h2", { id: "b5" }, "5. Approve"),
      h("div", { class: "row" }, h("label", { for: "builder-mode" }, "Mode"), Object.assign(mode, { id: "builder-mode" }), h("button", { type: "button", onclick: approve }, "Approve pattern"))));
  return { keys: {} };
}
