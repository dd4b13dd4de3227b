// Tasks the gateway runs (`tasks:`): every owner's, newest first, refreshed every 3 seconds,
// with a Cancel button for those still running (`admin:*`); a task's page shows its status,
// progress and outcome, and a workflow run's step graph with each step's state.
import { call, el, link, num, row, session, table, when, fill } from "./core.js";
import { stepGraph } from "./graph.js";
import { workflowList } from "./workflows.js";

const ENDED = new Set(["completed", "failed", "cancelled"]);

function cancelButton(t, after) {
  if (!session.mayAct || ENDED.has(t.status)) return null;
  return el("button", {
    type: "button", class: "small", "aria-label": `Cancel task ${t.taskId}`,
    onclick: async (ev) => {
      const button = ev.currentTarget;
      button.disabled = true;
      try {
        await call(`tasks/${encodeURIComponent(t.taskId)}/cancel`, "POST");
        after();
      } catch (e) {
        button.replaceWith(el("span", { class: "error", role: "alert" }, e.message));
      }
    },
  }, "Cancel");
}

export function tasks(root) {
  const list = el("div", { "aria-live": "polite" });
  root.append(el("h2", {}, "Tasks"), list);
  const draw = async () => {
    let page;
    try {
      page = await call("tasks?limit=100");
    } catch (e) {
      fill(list, el("p", { class: "error" }, e.message));
      return;
    }
    fill(list, page.tasks.length ? table("Tasks, newest first",
      [{ name: "Task" }, { name: "Tool" }, { name: "Owner" }, { name: "Status" }, { name: "Progress", num: true },
        { name: "Created" }, { name: "Updated" }, { name: "" }],
      page.tasks.map((t) => row([
        link(`#/tasks/${encodeURIComponent(t.taskId)}`, t.taskId.slice(0, 12), `Task ${t.taskId}`),
        t.tool, t.owner,
        el("td", { class: `status-${t.status}` }, t.status),
        num(t.progress == null ? "—" : `${Math.round(t.progress)} %`),
        when(t.createdAt), when(t.lastUpdatedAt), el("td", {}, cancelButton(t, draw)),
      ], { dataset: { task: t.taskId, status: t.status } })), { id: "task-list" })
      : el("p", {}, "No tasks kept."));
  };
  draw();
  const timer = setInterval(draw, 3000);
  return () => clearInterval(timer);
}

export function taskPage(root, id) {
  const body = el("div", { "aria-live": "polite" });
  root.append(el("p", {}, link("#/tasks", "← All tasks")), el("h2", {}, `Task ${id}`), body);
  let timer = null;
  const draw = async () => {
    let t;
    try {
      t = await call(`tasks/${encodeURIComponent(id)}`);
    } catch (e) {
      fill(body, el("p", { class: "error" }, e.message));
      return;
    }
    const facts = el("dl", { class: "facts" },
      el("dt", {}, "Status"), el("dd", { id: "task-status", class: `status-${t.status}` }, t.status),
      t.statusMessage ? [el("dt", {}, "Message"), el("dd", {}, t.statusMessage)] : null,
      el("dt", {}, "Tool"), el("dd", {}, t.tool),
      el("dt", {}, "Owner"), el("dd", {}, t.owner),
      el("dt", {}, "Progress"), el("dd", {}, t.progress == null ? "—" : `${Math.round(t.progress)} %`),
      el("dt", {}, "Attempts"), el("dd", {}, String(t.attempts)),
      el("dt", {}, "Created"), el("dd", {}, when(t.createdAt)),
      el("dt", {}, "Updated"), el("dd", {}, when(t.lastUpdatedAt)));
    const parts = [facts, cancelButton(t, draw)];
    if (t.run) {
      const wf = (await workflowList().catch(() => [])).find((w) => w.tool === t.tool);
      const states = Object.fromEntries(Object.entries(t.run.steps ?? {}).map(([k, v]) => [k, v.status]));
      parts.push(el("h3", {}, `Workflow run ${t.run.run}`));
      parts.push(wf ? stepGraph(wf.name, wf.steps, states)
        : el("p", {}, "Its workflow is no longer configured; the steps it ran:"));
      parts.push(table("Steps of this run", [{ name: "Step" }, { name: "Status" }, { name: "Calls", num: true }, { name: "Error" }],
        Object.entries(t.run.steps ?? {}).map(([k, v]) => row([k, el("td", { class: `status-${v.status}` }, v.status),
          num(String(v.calls ?? 0)), v.error ?? null], { dataset: { step: k } }))));
    }
    if (t.result !== undefined) parts.push(el("h3", {}, "Result"), el("pre", {}, JSON.stringify(t.result, null, 2)));
    if (t.error !== undefined) parts.push(el("h3", {}, "Error"), el("pre", {}, JSON.stringify(t.error, null, 2)));
    fill(body, ...parts.filter(Boolean));
    if (ENDED.has(t.status)) clearInterval(timer);
  };
  draw();
  timer = setInterval(draw, 2000);
  return () => clearInterval(timer);
}
