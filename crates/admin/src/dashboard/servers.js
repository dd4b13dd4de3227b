// The servers: every upstream with its state, and one server's page — its state, protocol,
// restarts, its last failure (kept after it is back), and its tools with their figures.
import { bus, el, link, table, fill } from "./core.js";
import { SERVER_COLUMNS, TOOL_COLUMNS, serverRows, toolRows } from "./overview.js";

export function servers(root) {
  const list = el("div");
  root.append(el("h2", {}, "Servers"), list);
  return bus.on("servers", (v) => fill(list, 
    table("Upstream servers and their state", SERVER_COLUMNS, serverRows(v.servers), { id: "servers" })));
}

function fact(term, value, id) {
  return [el("dt", {}, term), el("dd", { id }, value ?? "—")];
}

export function serverPage(root, name) {
  const facts = el("dl", { class: "facts" });
  const tools = el("div");
  root.append(el("p", {}, link("#/servers", "← All servers")),
    el("h2", {}, `Server ${name}`), facts, el("h3", {}, "Tools"), tools);
  let server = null;
  let stats = [];
  const draw = () => {
    if (!server) {
      fill(facts, el("p", { class: "error" }, `No server named ${name} (removed by a reload?).`));
      return;
    }
    const err = server.last_error;
    fill(facts, 
      ...fact("State", el("span", { class: server.ready ? "state-ready" : "state-down" }, server.state), "server-state"),
      ...fact("Detail", server.detail, "server-detail"),
      ...fact("Protocol", server.protocol_version ? `${server.protocol_version} (${server.era})` : null),
      ...fact("Restarts in its crash loop", server.restarts == null ? null : String(server.restarts)),
      ...fact("Last failure", err ? `${new Date(err.at).toLocaleString()}: ${err.reason}` : "none seen", "server-last-error"));
    const mine = new Set(server.tools);
    const figures = new Map(stats.filter((t) => mine.has(t.tool)).map((t) => [t.tool, t]));
    const rows = toolRows(server.tools.map((t) => figures.get(t) ??
      { tool: t, calls: 0, rate: 0, errors: 0, error_rate: 0, p50_ms: null, p99_ms: null }));
    fill(tools, server.tools.length
      ? table(`Tools of ${name}, last 5 minutes`, TOOL_COLUMNS, rows, { id: "server-tools" })
      : el("p", {}, "It lists no tools now."));
  };
  const offServers = bus.on("servers", (v) => { server = v.servers.find((s) => s.name === name) ?? null; draw(); });
  const offStats = bus.on("stats", (v) => { stats = v.tools; draw(); });
  return () => { offServers(); offStats(); };
}
