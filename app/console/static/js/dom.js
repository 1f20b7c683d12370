// A tiny element builder: text always goes in as text nodes, so customer messages can never
// inject markup.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name === "value") el.value = value;
    else if (name === "checked") el.checked = Boolean(value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el, ...children) { el.replaceChildren(); append(el, children); return el; }

export function toast(message, bad = false) {
  const box = document.getElementById("toasts");
  const node = h("div", { class: bad ? "toast bad" : "toast", role: bad ? "alert" : undefined }, message);
  box.append(node);
  setTimeout(() => node.remove(), bad ? 7000 : 3500);
}

// Run an async action from a button: disabled while it runs, errors shown, never thrown away.
export async function attempt(action, success) {
  try {
    const result = await action();
    if (success) toast(typeof success === "function" ? success(result) : success);
    return result;
  } catch (error) {
    toast(error.message || String(error), true);
    return undefined;
  }
}

export const pct = (x) => (x === null || x === undefined ? "–" : `${(x * 100).toFixed(1)}%`);
export const when = (iso) => (iso ? new Date(iso.endsWith("Z") || iso.includes("+") ? iso : `${iso}Z`).toLocaleString() : "");
export function minutes(seconds) {
  if (!seconds) return "0 min";
  return seconds >= 3600 ? `${(seconds / 3600).toFixed(1)} h` : `${Math.round(seconds / 60)} min`;
}

export function pill(value, label) { return h("span", { class: `pill ${value}` }, label || value); }

export function meter(value, label) {
  const width = Math.max(0, Math.min(1, value || 0)) * 100;
  return h("span", { class: "meter", role: "meter", "aria-valuemin": 0, "aria-valuemax": 100,
    "aria-valuenow": Math.round(width), "aria-label": label || "confidence" }, h("span", { style: `width:${width}%` }));
}

export function field(label, input, hint) {
  const id = input.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  input.id = id;
  return h("div", { class: "editor" }, h("label", { for: id }, label), input, hint ? h("span", { class: "hint" }, hint) : null);
}

export function pattern_link(id) {
  return id ? h("a", { href: `#/patterns/${id}` }, `#${id}`) : h("span", { class: "muted" }, "none");
}
