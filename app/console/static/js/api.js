// Every call to the service: the key from sessionStorage, JSON in and out, errors as messages.
const KEY = "pls.key";

export const auth = {
  get key() { return sessionStorage.getItem(KEY); },
  set(key) { sessionStorage.setItem(KEY, key); },
  clear() { sessionStorage.removeItem(KEY); },
};

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

// FastAPI answers 422 with a list of {loc, msg}; the service's own errors with a string.
function detailOf(status, data) {
  const detail = data && typeof data === "object" ? data.detail : data;
  if (Array.isArray(detail)) {
    return detail.map((d) => `${(d.loc || []).filter((p) => p !== "body").join(".")}: ${d.msg}`).join("; ");
  }
  return detail ? String(detail) : `HTTP ${status}`;
}

let onUnauthorized = () => {};
export function whenUnauthorized(callback) { onUnauthorized = callback; }

export async function api(path, { method = "GET", body, query, key } = {}) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  const headers = { Authorization: `Bearer ${key || auth.key}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const type = response.headers.get("content-type") || "";
  const data = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) {
    if (response.status === 401 && !key) onUnauthorized();
    throw new ApiError(response.status, detailOf(response.status, data));
  }
  return data;
}

// The live feed: reconnects with a growing delay until closed by the caller.
export function liveFeed(onEvent, onState) {
  let socket = null;
  let closed = false;
  let delay = 500;
  const open = () => {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/ws/live?key=${encodeURIComponent(auth.key || "")}`);
    socket.onopen = () => { delay = 500; onState(true); };
    socket.onmessage = (event) => { try { onEvent(JSON.parse(event.data)); } catch (_) { /* not ours */ } };
    socket.onclose = (event) => {
      onState(false);
      if (closed || event.code === 4401 || event.code === 4403) return;
      setTimeout(() => { if (!closed) open(); }, delay);
      delay = Math.min(delay * 2, 15000);
    };
  };
  open();
  return { close() { closed = true; if (socket) socket.close(); } };
}
