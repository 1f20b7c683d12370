// Settings: the tenant's shadow switch, business rules (hours, holidays,
// VIPs, rate limits), pattern counts by mode, export and import of patterns.
import { api } from "../api.js";
import { attempt, clear, field, h, pct, toast } from "../dom.js";

export const title = "Settings";
export const shortcuts = [["s", "save the business rules"]];
const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

const lines = (value) => value.split(/[\n,]/).map((s) => s.trim()).filter(Boolean);

// "09:00-12:00, 13:00-18:00" <-> [["09:00","12:00"],["13:00","18:00"]]
const spansText = (spans) => (spans || []).map(([a, b]) => `${a}-${b}`).join(", ");
function spans(text, day) {
  return lines(text).map((span) => {
    const parts = span.split("-").map((s) => s.trim());
    if (parts.length !== 2) throw new Error(`${day}: "${span}" is not a range like 09:00-18:00`);
    return parts;
  });
}

export async function render(root) {
  const [runtime, policy] = await Promise.all([api("/api/runtime"), api("/api/policy")]);
  const counts = await Promise.all(["shadow", "suggest", "auto"].map((mode) => api("/api/pattern-list", { query: { mode, status: "approved", limit: 1 } })));
  const tz = h("input", { type: "text", value: policy.timezone });
  const hours = Object.fromEntries(DAYS.map((d) => [d, h("input", { type: "text", value: spansText(policy.hours[d]), placeholder: "closed: empty" })]));
  const holidays = h("textarea", { rows: 2 }, policy.holidays.join("\n"));
  const vips = h("textarea", { rows: 2 }, policy.vip_numbers.join("\n"));
  const phrases = h("textarea", { rows: 2 }, policy.escalation_phrases.join("\n"));
  const num = (value, min) => h("input", { type: "number", min, value });
  const perCustomer = num(policy.max_auto_per_customer_day, 0);
  const perConversation = num(policy.max_auto_per_conversation, 0);
  const lockout = num(policy.operator_lockout_hours, 0);
  const repeatWindow = num(policy.repeat_window_s, 1);
  const repeatLimit = num(policy.repeat_limit, 2);
  const report = h("div", { "aria-live": "polite" });
  const file = h("input", { type: "file", accept: "application/json,.json" });
  const overwrite = h("input", { type: "checkbox", id: "import-overwrite" });
  let importDoc = null;

  async function save() {
    let hoursBody;
    try {
      const anySet = DAYS.some((d) => hours[d].value.trim());
      hoursBody = anySet ? Object.fromEntries(DAYS.map((d) => [d, spans(hours[d].value, d)])) : {};
    } catch (error) { toast(error.message, true); return; }
    const body = { timezone: tz.value.trim(), hours: hoursBody, holidays: lines(holidays.value), vip_numbers: lines(vips.value),
      escalation_phrases: lines(phrases.value), max_auto_per_customer_day: Number(perCustomer.value),
      max_auto_per_conversation: Number(perConversation.value), operator_lockout_hours: Number(lockout.value),
      repeat_window_s: Number(repeatWindow.value), repeat_limit: Number(repeatLimit.value) };
    await attempt(() => api("/api/policy", { method: "PUT", body }), "Business rules saved");
  }

  // null hands the switch back to the service default (PLS_SHADOW).
  async function setShadow(value) {
    const done = await attempt(() => api("/api/policy", { method: "PUT", body: { shadow: value } }),
      value === null ? "Shadow switch follows the service default" : `Shadow mode turned ${value ? "on" : "off"}`);
    if (done) await render(root);
  }

  async function exportPatterns() {
    const doc = await attempt(() => api("/api/patterns/export"));
    if (!doc) return;
    const url = URL.createObjectURL(new Blob([JSON.stringify(doc, null, 2)], { type: "application/json" }));
    const link = h("a", { href: url, download: `pls-patterns-${runtime.tenant}.json` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  async function importPatterns(apply) {
    if (!importDoc) {
      const chosen = file.files[0];
      if (!chosen) { toast("Choose an export file first.", true); return; }
      try { importDoc = JSON.parse(await chosen.text()); } catch (_) { toast("That file is not JSON.", true); return; }
    }
    const result = await attempt(() => api("/api/patterns/import", { method: "POST", body: importDoc,
      query: { dry_run: apply ? "false" : "true", overwrite: overwrite.checked ? "true" : "false" } }));
    if (!result) return;
    const r = result.report;
    clear(report, h("p", { role: "status" }, `${apply ? "Imported" : "Dry run"}: ${JSON.stringify(Object.fromEntries(Object.entries(r).filter(([, v]) => typeof v === "number")))}`),
      !apply ? h("button", { type: "button", onclick: () => importPatterns(true) }, "Apply this import") : null);
  }
  file.addEventListener("change", () => { importDoc = null; clear(report); });

  clear(root, h("h1", {}, "Settings"),
    h("div", { class: "grid2" },
      h("section", { class: "card", "aria-labelledby": "st-shadow" }, h("h2", { id: "st-shadow" }, "Shadow switch"),
        h("p", {}, h("strong", { id: "shadow-state" }, runtime.shadow ? "Shadow mode is ON" : "Shadow mode is OFF"), ": ",
          runtime.shadow ? "PLS only records what it would have done; nothing is suggested or sent." : "suggestions and automatic replies follow each pattern's mode."),
        h("p", { class: "hint" }, `Set by ${runtime.shadow_source}; the service default is ${runtime.service_shadow ? "on" : "off"}.`),
        h("div", { class: "row", role: "group", "aria-label": "Shadow switch for this business" },
          h("button", { type: "button", id: "shadow-toggle", onclick: () => setShadow(!runtime.shadow) },
            runtime.shadow ? "Turn shadow mode off" : "Turn shadow mode on"),
          runtime.tenant_shadow !== null
            ? h("button", { type: "button", class: "secondary", onclick: () => setShadow(null) }, "Follow the service default")
            : null),
        h("p", {}, `Sender: ${runtime.sender}. Thresholds: `, runtime.thresholds ? `suggest ≥ ${pct(runtime.thresholds.suggest)}, auto ≥ ${pct(runtime.thresholds.auto)}` : "not calibrated yet",
          ` (targets: ${pct(runtime.suggest_precision)} / ${pct(runtime.auto_precision)} precision).`)),
      h("section", { class: "card", "aria-labelledby": "st-modes" }, h("h2", { id: "st-modes" }, "Modes of approved patterns"),
        h("table", {}, h("tbody", {}, ["shadow", "suggest", "auto"].map((mode, i) => h("tr", {}, h("th", {}, mode),
          h("td", {}, h("a", { href: `#/patterns?mode=${mode}&status=approved` }, `${counts[i].total} patterns`)))))),
        h("p", { class: "hint" }, "Change modes in bulk on the Patterns page, or one at a time on a pattern."))),
    h("section", { class: "card", "aria-labelledby": "st-rules" }, h("h2", { id: "st-rules" }, "Business rules"),
      h("form", { onsubmit: (e) => { e.preventDefault(); save(); } },
        h("div", { class: "grid3" }, field("Time zone", tz, "IANA, e.g. Europe/London"), field("Holidays (YYYY-MM-DD, one per line)", holidays), field("VIP numbers (always a person)", vips)),
        h("h3", {}, "Hours when automatic replies may go out"), h("p", { class: "hint" }, "All empty: any time. Ranges like 09:00-18:00, several separated by commas."),
        h("div", { class: "grid3" }, DAYS.map((d) => field(d, hours[d]))),
        h("h3", {}, "Rate limits and escalation"),
        h("div", { class: "grid3" }, field("Automatic replies per customer per day", perCustomer), field("Automatic replies per conversation", perConversation),
          field("Operator lockout (hours after a person replied)", lockout), field("Repeat window (s)", repeatWindow), field("Unanswered messages that escalate", repeatLimit),
          field("Escalation phrases (one per line)", phrases)),
        h("button", { type: "submit" }, "Save rules (s)"))),
    h("section", { class: "card", "aria-labelledby": "st-transfer" }, h("h2", { id: "st-transfer" }, "Export and import patterns"),
      h("div", { class: "row" }, h("button", { type: "button", class: "secondary", onclick: exportPatterns }, "Download export"),
        h("label", { for: "import-file" }, "Import file"), Object.assign(file, { id: "import-file" }),
        overwrite, h("label", { for: "import-overwrite" }, "overwrite differing patterns"),
        h("button", { type: "button", onclick: () => importPatterns(false) }, "Dry run import")),
      report));
  return { keys: { s: save } };
}
