// The admin dashboard: talks to /admin/api with the credential the person signs in with,
// kept in this tab's sessionStorage and sent as X-API-Key (never a cookie, so no other site
// can make the browser act with it). Live: the overview is fetched again every 5 seconds.
const api = new URL("api/", document.baseURI);
const $ = (id) => document.getElementById(id);
let timer = null;

function credential() { return sessionStorage.getItem("switchboard-admin-key"); }

async function call(path) {
  const r = await fetch(new URL(path, api), { headers: { "X-API-Key": credential() } });
  const body = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
  if (!r.ok) throw Object.assign(new Error(body.error || `HTTP ${r.status}`), { status: r.status });
  return body;
}

function cell(row, text, cls) {
  const td = row.insertCell();
  td.textContent = text ?? "—";
  if (cls) td.className = cls;
  return td;
}

function fixed(n, digits) { return n == null ? "—" : Number(n).toFixed(digits); }

async function refresh() {
  try {
    const [servers, stats] = await Promise.all([call("servers"), call("stats?window=5m")]);
    const tbody = $("servers").tBodies[0];
    tbody.replaceChildren();
    for (const s of servers.servers) {
      const row = tbody.insertRow();
      row.dataset.server = s.name;
      cell(row, s.name);
      cell(row, s.state, s.ready ? "state-ready" : "state-down");
      cell(row, s.protocol_version ? `${s.protocol_version} (${s.era})` : null);
      cell(row, s.detail);
    }
    const tools = $("tools").tBodies[0];
    tools.replaceChildren();
    for (const t of stats.tools) {
      const row = tools.insertRow();
      row.dataset.tool = t.tool;
      cell(row, t.tool);
      cell(row, String(t.calls), "num");
      cell(row, fixed(t.rate, 2), "num");
      cell(row, `${t.errors} (${fixed(t.error_rate * 100, 1)} %)`, "num");
      cell(row, fixed(t.p50_ms, 1), "num");
      cell(row, fixed(t.p99_ms, 1), "num");
    }
    $("no-calls").hidden = stats.tools.length > 0;
    const now = new Date();
    $("updated").dateTime = now.toISOString();
    $("updated").textContent = now.toLocaleTimeString();
  } catch (e) {
    if (e.status === 401 || e.status === 403) signOut(e.message);
  }
}

async function signIn(key) {
  sessionStorage.setItem("switchboard-admin-key", key);
  try {
    const me = await call("whoami");
    $("who").textContent = `${me.subject} (${me.role ?? "no role"}, ${me.access === "full" ? "may act" : "read only"})`;
    $("sign-in").hidden = true;
    $("overview").hidden = false;
    $("sign-out").hidden = false;
    await refresh();
    timer = setInterval(refresh, 5000);
  } catch (e) {
    signOut(e.message);
  }
}

function signOut(why) {
  sessionStorage.removeItem("switchboard-admin-key");
  clearInterval(timer);
  $("who").textContent = "";
  $("overview").hidden = true;
  $("sign-out").hidden = true;
  $("sign-in").hidden = false;
  $("sign-in-error").textContent = why || "";
  $("key").focus();
}

$("sign-in-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  signIn($("key").value.trim());
});
$("sign-out").addEventListener("click", () => signOut(""));
if (credential()) signIn(credential());
