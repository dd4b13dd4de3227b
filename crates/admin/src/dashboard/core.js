// What every page of the dashboard shares: the credential (this tab's sessionStorage, sent as
// X-API-Key, or as a bearer token when it is a JWT — never a cookie, so no other site can make the browser act with it), calls to
// the admin API, the live feed's last values, and small DOM helpers.
export const api = new URL("api/", document.baseURI);
const KEY = "switchboard-admin-key";

export const session = { me: null, mayAct: false };

export function credential() { return sessionStorage.getItem(KEY); }

/// The credential as a header: a JWT (three base64url parts, the first `{"…`) as
/// `Authorization: Bearer`, anything else as `X-API-Key`.
export function authHeaders() {
  const c = credential() ?? "";
  return /^eyJ[\w-]*\.[\w-]+\.[\w-]*$/.test(c) ? { Authorization: `Bearer ${c}` } : { "X-API-Key": c };
}
export function keep(key) { sessionStorage.setItem(KEY, key); }
export function forget() { sessionStorage.removeItem(KEY); }

/// A request to the admin API; throws an Error carrying `status` and the API's own words.
export async function call(path, method = "GET", body = undefined) {
  const headers = authHeaders();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(new URL(path, api), {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
  if (!r.ok) {
    const e = new Error(answer.error || `HTTP ${r.status}`);
    e.status = r.status;
    if (r.status === 401) bus.emit("signed-out", { error: e.message });
    throw e;
  }
  return answer;
}

/// Live values (`servers`, `stats` from the event stream) and who wants to hear of them.
export const bus = {
  last: {},
  listeners: {},
  on(name, fn) {
    (this.listeners[name] ??= new Set()).add(fn);
    if (name in this.last) fn(this.last[name]);
    return () => this.listeners[name].delete(fn);
  },
  emit(name, value) {
    this.last[name] = value;
    for (const fn of this.listeners[name] ?? []) fn(value);
  },
};

/// An element: `el("td", {class: "num"}, "3")`. Text is always set as text, never as HTML.
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "dataset") Object.assign(e.dataset, v);
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

export function link(hash, text, label) {
  return el("a", { href: hash, "aria-label": label }, text);
}

export function fixed(n, digits) { return n == null ? "—" : Number(n).toFixed(digits); }

/// A table with a visually hidden caption, column headings (`{name, num}`) and rows of cells.
export function table(caption, columns, rows, attrs = {}) {
  return el("table", attrs,
    el("caption", { class: "sr-only" }, caption),
    el("thead", {}, el("tr", {}, columns.map((c) =>
      el("th", { scope: "col", class: c.num ? "num" : undefined }, c.name)))),
    el("tbody", {}, rows));
}

export function row(cells, attrs = {}) {
  return el("tr", attrs, cells.map((c) => c instanceof Node && c.tagName === "TD" ? c : el("td", {}, c ?? "—")));
}

export function num(text) { return el("td", { class: "num" }, text ?? "—"); }

/// The state of a server, as a word with its colour class.
export function stateCell(server) {
  return el("td", { class: server.ready ? "state-ready" : "state-down" }, server.state);
}

/// A message in a live region (screen readers hear it).
export function note(text, cls = "updated") {
  return el("p", { class: cls, role: "status" }, text);
}

export function when(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

/// Replace `node`'s children with `children` (arrays flattened; null, undefined and false left
/// out — `replaceChildren` would write them as text).
export function fill(node, ...children) {
  node.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
}
