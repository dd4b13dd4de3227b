// A workflow's step graph as SVG: steps in columns by depth (a step sits right of every step
// it waits for), an arrow from each step to those waiting for it, each step coloured by its
// state in a run. A list of the same steps and states follows it for screen readers.
import { el } from "./core.js";

const SVG = "http://www.w3.org/2000/svg";
const W = 190;
const H = 66;
const GAP_X = 60;
const GAP_Y = 18;

function svg(tag, attrs = {}, ...children) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

/// `steps`: `[{id, tool, needs: [id]}]`; `states`: step id → status (absent: pending).
export function stepGraph(name, steps, states = {}) {
  const depth = new Map();
  const depthOf = (s, seen = new Set()) => {
    if (depth.has(s.id)) return depth.get(s.id);
    if (seen.has(s.id)) return 0;
    seen.add(s.id);
    const d = Math.max(-1, ...(s.needs ?? []).map((n) => {
      const dep = steps.find((x) => x.id === n);
      return dep ? depthOf(dep, seen) : -1;
    })) + 1;
    depth.set(s.id, d);
    return d;
  };
  steps.forEach((s) => depthOf(s));
  const columns = [];
  for (const s of steps) (columns[depth.get(s.id)] ??= []).push(s);
  const at = new Map();
  columns.forEach((col, x) => col.forEach((s, y) => at.set(s.id, { x: 10 + x * (W + GAP_X), y: 10 + y * (H + GAP_Y) })));
  const width = 20 + columns.length * (W + GAP_X) - GAP_X;
  const height = 20 + Math.max(1, ...columns.map((c) => c.length)) * (H + GAP_Y) - GAP_Y;
  const g = svg("svg", {
    class: "graph", viewBox: `0 0 ${width} ${height}`, width: String(width), height: String(height),
    role: "img", "aria-label": `Step graph of ${name}`,
  });
  g.append(svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "10", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" },
    svg("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrow" }))));
  for (const s of steps) {
    for (const n of s.needs ?? []) {
      const a = at.get(n);
      const b = at.get(s.id);
      if (!a || !b) continue;
      g.append(svg("path", {
        class: "edge", "marker-end": "url(#arrow)",
        d: `M ${a.x + W} ${a.y + H / 2} C ${a.x + W + GAP_X / 2} ${a.y + H / 2}, ${b.x - GAP_X / 2} ${b.y + H / 2}, ${b.x} ${b.y + H / 2}`,
      }));
    }
  }
  for (const s of steps) {
    const p = at.get(s.id);
    const state = states[s.id] ?? "pending";
    const node = svg("g", { class: `node node-${state}`, "data-step": s.id, "data-state": state });
    node.append(svg("rect", { x: p.x, y: p.y, width: W, height: H, rx: "6" }),
      svg("text", { x: p.x + 10, y: p.y + 20, class: "node-id" }, s.id),
      svg("text", { x: p.x + 10, y: p.y + 37, class: "node-tool" },
        s.tool.length > 26 ? `${s.tool.slice(0, 25)}…` : s.tool),
      svg("text", { x: p.x + 10, y: p.y + 55, class: "node-state" }, state));
    g.append(node);
  }
  const list = el("ul", { class: "sr-only" }, steps.map((s) => el("li", {},
    `${s.id} (${s.tool}): ${states[s.id] ?? "pending"}${s.needs?.length ? `, after ${s.needs.join(", ")}` : ""}`)));
  return el("figure", { class: "graph-figure" }, g, list);
}
