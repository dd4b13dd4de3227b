// Drive the 2025-11-25 experimental tasks API of a server (the gateway) with the official
// TypeScript MCP SDK client (`client.experimental.tasks`), for the Rust integration tests.
//
// usage: node ts_tasks_client.mjs <mcp-url> <command> [args...]   (env SB_KEY → Authorization: Bearer)
//   tools                                   {"type":"tools","tools":[{name,execution}],"capabilities":{..}}
//   call-task <tool> <args-json> [ttl-ms]   callToolStream: taskCreated / taskStatus / progress / result | error lines
//   call-task-elicit <tool> <args-json> <answer-json>
//                                           as call-task; declares elicitation and accepts every
//                                           elicitation/create with <answer-json>, printing {"type":"elicitation","params"}
//   create <tool> <args-json>               tools/call with task:{} → {"type":"created","result":<CreateTaskResult>}
//   get|result|cancel <taskId>              {"type":"get"|"result"|"cancel","result":..} (tasks/get, tasks/result, tasks/cancel)
//   list                                    {"type":"list","pages":N,"result":{"tasks":[..all pages..]}}
//   create-and-cancel <tool> <args-json>    created, cancel and get lines
// Every stdout line is one JSON object. Errors print {"type":"error","code":<number|null>,"message":".."}.
// Exit code: 0 when the command ran, including when the server answered get/result/cancel/create
// with a JSON-RPC error; 1 for anything unexpected (bad usage, transport failure, timeout, a call-task
// stream that ended in an error).
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  CallToolResultSchema, CreateTaskResultSchema, ElicitRequestSchema, ErrorCode, GetTaskPayloadResultSchema, McpError,
} from "@modelcontextprotocol/sdk/types.js";

const [url, command, ...args] = process.argv.slice(2);
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

// McpError prefixes "MCP error <code>: "; print the server's own message.
function errorLine(e) {
  const code = typeof e?.code === "number" ? e.code : null;
  let message = String(e?.message ?? e);
  if (code !== null) message = message.replace(`MCP error ${code}: `, "");
  const line = { type: "error", code, message };
  if (e?.data !== undefined) line.data = e.data;
  return line;
}
// An error the server answered with (as opposed to one the SDK made up locally).
const isServerError = (e) => e instanceof McpError
  && !(e.code === ErrorCode.RequestTimeout && /Request timed out/.test(e.message))
  && !(e.code === ErrorCode.ConnectionClosed && /Connection closed/.test(e.message));

function fail(e) {
  emit(errorLine(e));
  process.exit(1);
}
process.on("unhandledRejection", fail);
process.on("uncaughtException", fail);

const commands = ["tools", "call-task", "call-task-elicit", "create", "get", "result", "cancel", "list", "create-and-cancel"];
const usage = `usage: ts_tasks_client.mjs <mcp-url> ${commands.join("|")} [args...]`;
if (!url || !commands.includes(command)) fail(new Error(command ? `unknown command ${command}; ${usage}` : usage));
const parseJson = (s, what) => {
  if (s === undefined) fail(new Error(`missing ${what}`));
  try { return JSON.parse(s); } catch (e) { fail(new Error(`bad ${what}: ${e.message}`)); }
};

const elicit = command === "call-task-elicit";
const client = new Client({ name: "ts-tasks-test-client", version: "1.0.0" },
  { capabilities: elicit ? { elicitation: { form: {} } } : {} });
if (elicit) {
  const answer = parseJson(args[2], "answer-content-json");
  client.setRequestHandler(ElicitRequestSchema, async (request) => {
    emit({ type: "elicitation", params: request.params });
    return { action: "accept", content: answer };
  });
}

const headers = process.env.SB_KEY ? { Authorization: `Bearer ${process.env.SB_KEY}` } : {};
const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
try {
  await client.connect(transport);
} catch (e) {
  fail(e);
}
const tasks = client.experimental.tasks;

// Run one request whose JSON-RPC error is an expected outcome: print the answer or the error line.
async function answer(type, fn) {
  try {
    const result = await fn();
    emit({ type, result });
    return result;
  } catch (e) {
    if (!isServerError(e)) throw e;
    emit(errorLine(e));
    return null;
  }
}
const createTask = (tool, toolArgs) => answer("created", () => client.request(
  { method: "tools/call", params: { name: tool, arguments: toolArgs } }, CreateTaskResultSchema, { task: {} }));

let exitCode = 0;
try {
  switch (command) {
    case "tools": {
      const { tools } = await client.listTools();
      emit({
        type: "tools",
        tools: tools.map((t) => ({ name: t.name, execution: t.execution ?? null })),
        capabilities: client.getServerCapabilities() ?? null,
      });
      break;
    }
    case "call-task":
    case "call-task-elicit": {
      const [tool, argsJson, ttl] = args;
      if (!tool) fail(new Error(usage));
      const toolArgs = parseJson(argsJson, "arguments-json");
      // List first, as a real client would: the SDK caches each tool's execution.taskSupport and
      // outputSchema from it (callToolStream validates structured results against the latter).
      await client.listTools();
      const task = elicit || ttl === undefined ? {} : { ttl: Number(ttl) };
      const stream = tasks.callToolStream({ name: tool, arguments: toolArgs }, CallToolResultSchema, {
        task,
        onprogress: (p) => emit({ type: "progress", ...p }),
      });
      for await (const message of stream) {
        if (message.type === "error") {
          emit(errorLine(message.error));
          exitCode = 1;
        } else if (message.type === "result") {
          emit({ type: "result", result: message.result });
        } else {
          emit({ type: message.type, task: message.task });
        }
      }
      break;
    }
    case "create": {
      const [tool, argsJson] = args;
      if (!tool) fail(new Error(usage));
      await createTask(tool, parseJson(argsJson, "arguments-json"));
      break;
    }
    case "get":
    case "result":
    case "cancel": {
      const [taskId] = args;
      if (!taskId) fail(new Error(usage));
      await answer(command, () => command === "get" ? tasks.getTask(taskId)
        : command === "result" ? tasks.getTaskResult(taskId, GetTaskPayloadResultSchema)
          : tasks.cancelTask(taskId));
      break;
    }
    case "list": {
      const all = [];
      let cursor, pages = 0;
      try {
        do {
          const page = await tasks.listTasks(cursor);
          pages++;
          all.push(...page.tasks);
          cursor = page.nextCursor;
        } while (cursor);
        emit({ type: "list", pages, result: { tasks: all } });
      } catch (e) {
        if (!isServerError(e)) throw e;
        emit(errorLine(e));
      }
      break;
    }
    case "create-and-cancel": {
      const [tool, argsJson] = args;
      if (!tool) fail(new Error(usage));
      const created = await createTask(tool, parseJson(argsJson, "arguments-json"));
      if (!created) break;
      const taskId = created.task.taskId;
      await answer("cancel", () => tasks.cancelTask(taskId));
      await answer("get", () => tasks.getTask(taskId));
      break;
    }
  }
} catch (e) {
  fail(e);
}
await client.close();
process.exit(exitCode);
