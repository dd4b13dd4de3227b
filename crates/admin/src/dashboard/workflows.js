// Workflows: each configured workflow's step graph (what waits for what), and its recent
// durable runs (tasks of its tool), each a link to the run's page with its steps' states.
import { call, el, link, when, fill } from "./core.js";
import { stepGraph } from "./graph.js";

let cache = null;
/// The configured workflows (fetched once per page view).
export async function workflowList() {
  cache ??= call("workflows").then((w) => w.workflows).catch((e) => { cache = null; throw e; });
  return cache;
}
export function forgetWorkflows() { cache = null; }

export function workflows(root) {
  forgetWorkflows();
  const list = el("div");
  root.append(el("h2", {}, "Workflows"), list);
  (async () => {
    let wfs;
    let runs = [];
    try {
      wfs = await workflowList();
    } catch (e) {
      fill(list, el("p", { class: "error" }, e.message));
      return;
    }
    try { runs = (await call("tasks?limit=200")).tasks; } catch { /* no task store: no runs */ }
    fill(list, wfs.length ? wfs.map((w) => {
      const mine = runs.filter((t) => t.tool === w.tool).slice(0, 10);
      return el("section", { class: "workflow", dataset: { workflow: w.name } },
        el("h3", {}, w.name), w.description ? el("p", {}, w.description) : null,
        el("p", { class: "help" }, `Called as tool ${w.tool}.`),
        stepGraph(w.name, w.steps),
        el("h4", {}, "Recent durable runs"),
        mine.length ? el("ul", {}, mine.map((t) => el("li", {},
          link(`#/tasks/${encodeURIComponent(t.taskId)}`, t.taskId, `Run ${t.taskId}`),
          ` — ${t.status}, ${when(t.createdAt)}, by ${t.owner}`)))
          : el("p", {}, "None kept (runs as tasks are kept in the task store)."));
    }) : el("p", {}, "No workflows are configured (`workflows:`)."));
  })();
  return null;
}
