// The console's shell: sign-in, the hash router, the live feed shared by every view, and the
// keyboard: global shortcuts here, each view adds its own.
import { api, auth, liveFeed, whenUnauthorized } from "./api.js";
import { clear, h, toast } from "./dom.js";
import * as inbox from "./views/inbox.js";
import * as queue from "./views/queue.js";
import * as patterns from "./views/patterns.js";
import * as pattern from "./views/pattern.js";
import * as playground from "./views/playground.js";
import * as builder from "./views/builder.js";
import * as search from "./views/search.js";
import * as dashboard from "./views/dashboard.js";
import * as settings from "./views/settings.js";

const VIEWS = { inbox, queue, patterns, pattern, playground, builder, search, dashboard, settings };
const GOTO = { i: "inbox", q: "queue", p: "patterns", l: "playground", b: "builder", s: "search", d: "dashboard", t: "settings" };
const GLOBAL_KEYS = [
  ["?", "show or hide this help"],
  ["g then i / q / p / l / b / s / d / t", "go to Inbox, Queue, Patterns, pLayground, Builder, Search, Dashboard, seTtings"],
  ["/", "focus the view's search or first field"],
  ["Esc", "leave a field, close a dialog"],
];

// State every view may use: the live feed's events.
const live = {
  events: [],
  listeners: new Set(),
  unseen: 0,
  runtime: null,
};
let feed = null;
let current = { keys: {}, dispose: null };
let pendingG = 0;

function onLive(event) {
  if (event.type === "hello") return;
  live.events.push(event);
  if (live.events.length > 500) live.events.shift();
  if (event.type === "decision" && !location.hash.startsWith("#/inbox")) {
    live.unseen += 1;
    const badge = document.getElementById("inbox-badge");
    badge.textContent = String(live.unseen);
    badge.hidden = false;
  }
  for (const listener of live.listeners) listener(event);
}

function setLiveState(on) {
  const state = document.getElementById("live-state");
  state.textContent = on ? "live" : "reconnecting…";
  state.classList.toggle("on", on);
}

function route() {
  const hash = location.hash || "#/inbox";
  const [path, query] = hash.slice(2).split("?");
  const parts = path.split("/");
  let name = parts[0] || "inbox";
  const params = Object.fromEntries(new URLSearchParams(query || ""));
  if (name === "patterns" && parts[1]) { name = "pattern"; params.id = parts[1]; }
  return { name: VIEWS[name] ? name : "inbox", params };
}

async function show() {
  if (!auth.key) return;
  if (current.dispose) current.dispose();
  const { name, params } = route();
  const view = VIEWS[name];
  const nav = name === "pattern" ? "patterns" : name;
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.dataset.view === nav) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (name === "inbox") {
    live.unseen = 0;
    document.getElementById("inbox-badge").hidden = true;
  }
  const main = document.getElementById("main");
  clear(main);
  document.title = `${view.title} · PLS console`;
  current = { keys: {}, dispose: null };
  try {
    const mounted = (await view.render(main, { live, params })) || {};
    current = { keys: mounted.keys || {}, dispose: mounted.dispose || null };
  } catch (error) {
    clear(main, h("h1", {}, view.title), h("p", { class: "error", role: "alert" }, error.message || String(error)));
  }
}

function helpBody() {
  const { name } = route();
  const rows = (list) => h("table", {}, list.map(([keys, what]) => h("tr", {}, h("td", {}, h("kbd", {}, keys)), h("td", {}, what))));
  const own = VIEWS[name].shortcuts || [];
  return [h("h3", {}, "Everywhere"), rows(GLOBAL_KEYS), own.length ? [h("h3", {}, VIEWS[name].title), rows(own)] : null];
}

function toggleHelp() {
  const dialog = document.getElementById("help");
  if (dialog.open) { dialog.close(); return; }
  clear(document.getElementById("help-body"), helpBody());
  dialog.showModal();
}

function typing(target) {
  return target instanceof HTMLElement && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

function onKey(event) {
  if (!auth.key || event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.key === "Escape" && typing(event.target)) { event.target.blur(); return; }
  if (typing(event.target) || document.getElementById("help").open) return;
  if (event.key === "?") { event.preventDefault(); toggleHelp(); return; }
  if (pendingG && Date.now() - pendingG < 1500 && GOTO[event.key]) {
    pendingG = 0;
    event.preventDefault();
    location.hash = `#/${GOTO[event.key]}`;
    return;
  }
  pendingG = 0;
  if (event.key === "g") { pendingG = Date.now(); return; }
  if (event.key === "/") {
    const target = document.querySelector("#main [data-search]") || document.querySelector("#main input, #main textarea");
    if (target) { event.preventDefault(); target.focus(); }
    return;
  }
  const handler = current.keys[event.key];
  if (handler) { event.preventDefault(); handler(event); }
}

async function signIn(key) {
  const runtime = await api("/api/runtime", { key });
  auth.set(key);
  live.runtime = runtime;
  return runtime;
}

function enter() {
  document.getElementById("login").hidden = true;
  document.getElementById("shell").hidden = false;
  document.getElementById("who").textContent = `tenant ${live.runtime ? live.runtime.tenant : ""}`;
  if (feed) feed.close();
  feed = liveFeed(onLive, setLiveState);
  if (!location.hash) location.hash = "#/inbox";
  show();
}

function leave(message) {
  auth.clear();
  if (feed) { feed.close(); feed = null; }
  if (current.dispose) current.dispose();
  current = { keys: {}, dispose: null };
  clear(document.getElementById("main"));
  document.getElementById("shell").hidden = true;
  document.getElementById("login").hidden = false;
  document.getElementById("login-error").textContent = message || "";
  document.getElementById("login-key").value = "";
  document.getElementById("login-key").focus();
}

document.getElementById("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const key = document.getElementById("login-key").value.trim();
  try {
    await signIn(key);
    enter();
  } catch (error) {
    document.getElementById("login-error").textContent =
      error.status === 401 ? "That key was not accepted (unknown or revoked)." : error.message;
  }
});
document.getElementById("logout").addEventListener("click", () => leave("Signed out."));
document.getElementById("help-button").addEventListener("click", toggleHelp);
document.addEventListener("keydown", onKey);
window.addEventListener("hashchange", show);
whenUnauthorized(() => leave("Your key is no longer accepted: sign in again."));

if (auth.key) {
  signIn(auth.key).then(enter, () => leave("Sign in again."));
} else {
  leave();
}
export { toast };
