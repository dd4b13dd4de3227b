// API keys: listed for every admin; created (the key shown once) and revoked with `admin:*`.
import { call, el, row, session, table, when, fill } from "./core.js";

export function keys(root) {
  const notice = el("p", { id: "keys-note", class: "updated", role: "status" });
  const list = el("div");
  const created = el("p", { id: "created", hidden: true, role: "status" });
  root.append(el("h2", {}, "API keys"), notice, list);
  const draw = async () => {
    let answer;
    try {
      answer = await call("keys");
    } catch (e) {
      notice.textContent = e.message;
      return;
    }
    if (!session.mayAct) notice.textContent = "Read-only access: keys can be seen, not changed.";
    fill(list, table("API keys; active ones can be revoked",
      [{ name: "Name" }, { name: "Role" }, { name: "Created" }, { name: "Status" }, { name: "Action" }],
      answer.keys.map((k) => row([k.name, k.role, when(k.created), k.revoked ? `revoked ${when(k.revoked)}` : "active",
        el("td", {}, session.mayAct && !k.revoked ? el("button", {
          type: "button", class: "small", "aria-label": `Revoke key ${k.name}`,
          onclick: async () => {
            try { await call(`keys/${encodeURIComponent(k.id)}`, "DELETE"); } catch (e) { notice.textContent = e.message; }
            draw();
          },
        }, "Revoke") : null)], { dataset: { key: k.name } })), { id: "key-list" }));
  };
  if (session.mayAct) {
    const name = el("input", { id: "new-key-name", name: "name", required: true, maxlength: "64" });
    const role = el("input", { id: "new-key-role", name: "role", required: true });
    const error = el("p", { id: "new-key-error", class: "error", role: "alert" });
    root.append(el("form", {
      id: "new-key",
      onsubmit: async (ev) => {
        ev.preventDefault();
        error.textContent = "";
        try {
          const made = await call("keys", "POST", { name: name.value.trim(), role: role.value.trim() });
          fill(created, "New key (shown once, copy it now): ", el("code", { id: "created-key" }, made.key));
          created.hidden = false;
        } catch (e) {
          error.textContent = e.message;
        }
        draw();
      },
    }, el("h3", {}, "New key"), el("label", { for: "new-key-name" }, "Name"), name,
    el("label", { for: "new-key-role" }, "Role"), role, el("button", { type: "submit" }, "Create key"), error), created);
  }
  draw();
  return null;
}
