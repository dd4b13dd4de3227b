// The configuration in force (secrets redacted), and — with `admin:*` — loading the config
// file again: the answer says what changed, or why the new file was refused (the running
// config stays).
import { call, el, fill, session } from "./core.js";

export function config(root) {
  const shown = el("pre", { id: "config-text", tabindex: "0", "aria-label": "The configuration in force" });
  const outcome = el("div", { id: "reload-outcome", "aria-live": "polite" });
  const draw = async () => {
    try {
      fill(shown, JSON.stringify(await call("config"), null, 2));
    } catch (e) {
      fill(shown, e.message);
    }
  };
  const reload = async (ev) => {
    const button = ev.currentTarget;
    button.disabled = true;
    fill(outcome, el("p", { role: "status" }, "Reloading…"));
    try {
      const r = await call("reload", "POST");
      fill(outcome, el("p", { class: "state-ready", role: "status" }, "Reloaded. What changed:"),
        el("pre", { id: "reload-report" }, JSON.stringify(r.report, null, 2)));
      draw();
    } catch (e) {
      fill(outcome, el("p", { class: "error", role: "alert" }, `Not reloaded: ${e.message}`));
    } finally {
      button.disabled = false;
    }
  };
  root.append(el("h2", {}, "Configuration"),
    el("p", { class: "help" }, "The configuration in force, with secrets redacted."),
    session.mayAct
      ? el("button", { type: "button", id: "reload", onclick: reload }, "Reload from file")
      : el("p", { class: "updated" }, "Read-only access: reloading needs admin:*."),
    outcome, shown);
  draw();
  return null;
}
