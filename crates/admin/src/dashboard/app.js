// The dashboard's shell: sign-in, the page menu (one page per `#/…` address, so the browser's
// back button and links work), and the live feed — `GET /admin/api/events` read with fetch
// (EventSource cannot send the credential header): servers at once when one changes state,
// figures every 5 seconds; the feed ends with `signed-out` when the key stops being accepted.
import { authHeaders, bus, call, credential, el, forget, keep, session } from "./core.js";
import { overview } from "./overview.js";
import { servers, serverPage } from "./servers.js";
import { playground } from "./playground.js";
import { audit } from "./audit.js";
import { tasks, taskPage } from "./tasks.js";
import { workflows } from "./workflows.js";
import { routes } from "./routes.js";
import { keys } from "./keys.js";
import { config } from "./config.js";

const $ = (id) => document.getElementById(id);

// Address → page. A page is `{ title, render(root, arg) → dispose? }`.
const pages = [
  ["overview", "Overview", overview],
  ["servers", "Servers", servers],
  ["playground", "Playground", playground],
  ["audit", "Audit", audit],
  ["tasks", "Tasks", tasks],
  ["workflows", "Workflows", workflows],
  ["routes", "Routes", routes],
  ["keys", "API keys", keys],
  ["config", "Config", config],
];
const detail = { servers: serverPage, tasks: taskPage, playground };

let dispose = null;
let feed = null;

function route() {
  if (!session.me) return;
  const [, name = "overview", ...rest] = location.hash.split("/");
  const arg = rest.length ? decodeURIComponent(rest.join("/")) : undefined;
  const entry = pages.find(([n]) => n === name) ?? pages[0];
  const page = arg !== undefined && detail[entry[0]] ? detail[entry[0]] : entry[2];
  for (const a of $("nav").querySelectorAll("a")) {
    if (a.dataset.page === entry[0]) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (typeof dispose === "function") dispose();
  const root = $("page");
  root.replaceChildren();
  document.title = `${entry[1]} — Switchboard admin`;
  dispose = page(root, arg);
  $("page").focus({ preventScroll: true });
}

async function follow(signal) {
  while (!signal.aborted) {
    try {
      const r = await fetch(new URL("api/events", document.baseURI), {
        headers: authHeaders(), signal,
      });
      if (r.status === 401 || r.status === 403) {
        const a = await r.json().catch(() => ({}));
        return signOut(a.error || `HTTP ${r.status}`);
      }
      $("live").textContent = "Live";
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let at;
        while ((at = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, at);
          buf = buf.slice(at + 2);
          if (dispatch(block) === "signed-out") return;
        }
      }
    } catch (e) {
      if (signal.aborted) return;
    }
    $("live").textContent = "Reconnecting…";
    await new Promise((ok) => setTimeout(ok, 2000));
  }
}

function dispatch(block) {
  let name = "message";
  let data = "";
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) name = line.slice(6).trim();
    else if (line.startsWith("data:")) data += line.slice(5).trimStart();
  }
  if (!data) return null;
  let value;
  try { value = JSON.parse(data); } catch { return null; }
  if (name === "signed-out") {
    signOut(value.error);
    return name;
  }
  bus.emit(name, value);
  $("updated").dateTime = new Date().toISOString();
  $("updated").textContent = new Date().toLocaleTimeString();
  return name;
}

async function signIn(key) {
  keep(key);
  try {
    const me = await call("whoami");
    session.me = me;
    session.mayAct = me.access === "full";
    $("who").textContent = `${me.subject} (${me.role ?? "no role"}, ${session.mayAct ? "may act" : "read only"})`;
    $("sign-in").hidden = true;
    $("shell").hidden = false;
    $("sign-out").hidden = false;
    feed = new AbortController();
    follow(feed.signal);
    route();
  } catch (e) {
    signOut(e.message);
  }
}

function signOut(why) {
  forget();
  feed?.abort();
  feed = null;
  if (typeof dispose === "function") dispose();
  dispose = null;
  session.me = null;
  session.mayAct = false;
  bus.last = {};
  $("page").replaceChildren();
  $("who").textContent = "";
  $("shell").hidden = true;
  $("sign-out").hidden = true;
  $("sign-in").hidden = false;
  $("sign-in-error").textContent = why || "";
  $("key").value = "";
  $("key").focus();
}

$("nav").append(...pages.map(([name, title]) =>
  el("a", { href: `#/${name}`, dataset: { page: name } }, title)));
$("sign-in-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  signIn($("key").value.trim());
});
$("sign-out").addEventListener("click", () => signOut(""));
bus.on("signed-out", (v) => signOut(v.error));
window.addEventListener("hashchange", route);
if (credential()) signIn(credential());
