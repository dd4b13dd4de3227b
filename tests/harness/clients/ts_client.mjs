// Drive a server (the gateway) with the official TypeScript MCP SDK client and print what
// happened as one JSON object, for the Rust integration tests to assert on.
//
// usage: node ts_client.mjs (--url URL | --sse URL | --stdio CMD [ARG...] --) [--call NAME JSON]...
// (--sse: the 2024-11-05 HTTP+SSE transport, URL the GET stream's)
// Sampling answers "42", elicitation accepts {"name": "Ada"}, roots are [file:///tmp/project-a];
// progress is recorded per call.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { CreateMessageRequestSchema, ElicitRequestSchema, ListRootsRequestSchema, LoggingMessageNotificationSchema } from "@modelcontextprotocol/sdk/types.js";

const argv = process.argv.slice(2);
let url = null, sse = null, stdio = null;
const calls = [];
for (let i = 0; i < argv.length;) {
  if (argv[i] === "--url") { url = argv[i + 1]; i += 2; }
  else if (argv[i] === "--sse") { sse = argv[i + 1]; i += 2; }
  else if (argv[i] === "--stdio") { const j = argv.indexOf("--", i); stdio = argv.slice(i + 1, j); i = j + 1; }
  else if (argv[i] === "--call") { calls.push([argv[i + 1], JSON.parse(argv[i + 2])]); i += 3; }
  else { throw new Error(`unknown argument ${argv[i]}`); }
}

const client = new Client({ name: "ts-test-client", version: "1.0.0" },
  { capabilities: { sampling: {}, elicitation: {}, roots: { listChanged: true } } });
client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: [{ uri: "file:///tmp/project-a", name: "project-a" }] }));
client.setRequestHandler(CreateMessageRequestSchema, async () => ({
  role: "assistant", content: { type: "text", text: "42" }, model: "test-model",
}));
client.setRequestHandler(ElicitRequestSchema, async () => ({ action: "accept", content: { name: "Ada" } }));
const logs = [];
client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => { logs.push(n.params); });

const transport = url
  ? new StreamableHTTPClientTransport(new URL(url))
  : sse ? new SSEClientTransport(new URL(sse))
  : new StdioClientTransport({ command: stdio[0], args: stdio.slice(1), stderr: "inherit" });
await client.connect(transport);
const out = { protocolVersion: transport.protocolVersion ?? null, tools: [], calls: [] };
const tools = await client.listTools();
out.tools = tools.tools.map((t) => t.name);
for (const [name, args] of calls) {
  const progress = [];
  logs.length = 0;
  const entry = { name };
  try {
    const r = await client.callTool({ name, arguments: args }, undefined, {
      onprogress: (p) => progress.push([p.progress, p.total ?? null, p.message ?? null]),
    });
    entry.isError = !!r.isError;
    entry.text = (r.content ?? []).filter((c) => c.type === "text").map((c) => c.text).join("\n");
  } catch (e) {
    entry.error = String(e?.message ?? e);
  }
  entry.progress = progress;
  entry.logs = [...logs];
  out.calls.push(entry);
}
console.log(JSON.stringify(out));
await client.close();
