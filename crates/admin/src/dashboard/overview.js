// The overview: servers up, calls per second, errors and the slowest p99 at a glance, then
// every server and the busiest tools — all from the live feed.
import { bus, el, fixed, link, num, row, stateCell, table, fill } from "./core.js";

export function toolRows(tools) {
  return tools.map((t) => row([
    link(`#/playground/${encodeURIComponent(t.tool)}`, t.tool, `Try ${t.tool} in the playground`),
    num(String(t.calls)), num(fixed(t.rate, 2)),
    num(`${t.errors} (${fixed(t.error_rate * 100, 1)} %)`),
    num(fixed(t.p50_ms, 1)), num(fixed(t.p99_ms, 1)),
  ], { dataset: { tool: t.tool } }));
}

export const TOOL_COLUMNS = [
  { name: "Tool" }, { name: "Calls", num: true }, { name: "Calls/s", num: true },
  { name: "Errors", num: true }, { name: "p50 ms", num: true }, { name: "p99 ms", num: true },
];

export function serverRows(servers) {
  return servers.map((s) => row([
    link(`#/servers/${encodeURIComponent(s.name)}`, s.name, `Server ${s.name}`),
    stateCell(s),
    s.protocol_version ? `${s.protocol_version} (${s.era})` : null,
    num(String(s.tools.length)),
    s.detail,
  ], { dataset: { server: s.name } }));
}

export const SERVER_COLUMNS = [
  { name: "Server" }, { name: "State" }, { name: "Protocol" }, { name: "Tools", num: true },
  { name: "Detail" },
];

function figure(label, value, id) {
  return el("div", { class: "figure" }, el("span", { class: "figure-value", id }, value),
    el("span", { class: "figure-label" }, label));
}

export function overview(root) {
  const figures = el("div", { class: "figures", "aria-live": "polite" });
  const servers = el("div");
  const tools = el("div");
  root.append(el("h2", {}, "Overview"), figures,
    el("h3", {}, "Servers"), servers,
    el("h3", {}, "Tools, last 5 minutes"), tools);
  let last = { servers: [], tools: [] };
  const draw = () => {
    const up = last.servers.filter((s) => s.ready).length;
    const rate = last.tools.reduce((a, t) => a + t.rate, 0);
    const calls = last.tools.reduce((a, t) => a + t.calls, 0);
    const errors = last.tools.reduce((a, t) => a + t.errors, 0);
    const p99 = Math.max(0, ...last.tools.map((t) => t.p99_ms ?? 0));
    fill(figures, 
      figure("servers ready", `${up} / ${last.servers.length}`, "fig-servers"),
      figure("calls/s", fixed(rate, 2), "fig-rate"),
      figure("errors", calls ? `${errors} (${fixed(errors / calls * 100, 1)} %)` : "0", "fig-errors"),
      figure("slowest p99 ms", last.tools.length ? fixed(p99, 1) : "—", "fig-p99"));
  };
  const offServers = bus.on("servers", (v) => {
    last.servers = v.servers;
    fill(servers, table("Upstream servers and their state", SERVER_COLUMNS,
      serverRows(v.servers), { id: "servers" }));
    draw();
  });
  const offStats = bus.on("stats", (v) => {
    last.tools = v.tools;
    fill(tools, v.tools.length
      ? table("Calls per tool over the last five minutes", TOOL_COLUMNS, toolRows(v.tools), { id: "tools" })
      : el("p", { id: "no-calls" }, "No tool calls in this window yet."));
    draw();
  });
  return () => { offServers(); offStats(); };
}
