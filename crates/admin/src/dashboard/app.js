// The admin dashboard: talks to /admin/api with the credential the person signs in with,
// kept in this tab's sessionStorage and sent as X-API-Key (never a cookie, so no other site
// can make the browser act with it). Live: the overview is fetched again every 5 seconds.
const api = new URL("api/", document.baseURI);
const $ = (id) => document.getElementById(id);
let timer = null;

function credential() { return sessionStorage.getItem("switchboard-admin-key"); }

let mayAct = false;

async function call(path, method = "GET", body = undefined) {
  const headers = { "X-API-Key": credential() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(new URL(path, api), {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
  if (!r.ok) throw Object.assign(new Error(answer.error || `HTTP ${r.status}`), { status: r.status });
  return answer;
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

async function loadKeys() {
  let list;
  try {
    list = await call("keys");
  } catch (e) {
    $("keys-note").textContent = e.message;
    return;
  }
  $("keys-note").textContent = mayAct ? "" : "Read-only access: keys can be seen, not changed.";
  const tbody = $("key-list").tBodies[0];
  tbody.replaceChildren();
  for (const k of list.keys) {
    const row = tbody.insertRow();
    row.dataset.key = k.name;
    cell(row, k.name);
    cell(row, k.role);
    cell(row, k.created);
    cell(row, k.revoked ? `revoked ${k.revoked}` : "active");
    const action = row.insertCell();
    if (mayAct && !k.revoked) {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = "Revoke";
      b.setAttribute("aria-label", `Revoke key ${k.name}`);
      b.addEventListener("click", async () => {
        try {
          await call(`keys/${encodeURIComponent(k.id)}`, "DELETE");
        } catch (e) {
          $("keys-note").textContent = e.message;
        }
        await loadKeys();
      });
      action.append(b);
    }
  }
}

async function signIn(key) {
  sessionStorage.setItem("switchboard-admin-key", key);
  try {
    const me = await call("whoami");
    mayAct = me.access === "full";
    $("who").textContent = `${me.subject} (${me.role ?? "no role"}, ${mayAct ? "may act" : "read only"})`;
    $("sign-in").hidden = true;
    $("overview").hidden = false;
    $("keys").hidden = false;
    $("new-key").hidden = !mayAct;
    await loadKeys();
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
  $("keys").hidden = true;
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
$("new-key").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("new-key-error").textContent = "";
  try {
    const made = await call("keys", "POST", {
      name: $("new-key-name").value.trim(), role: $("new-key-role").value.trim(),
    });
    $("created-key").textContent = made.key;
    $("created").hidden = false;
  } catch (e) {
    $("new-key-error").textContent = e.message;
  }
  await loadKeys();
});
if (credential()) signIn(credential());
