// An MCP server of the 2025-11-25 era with the TypeScript SDK's experimental tasks, over stdio:
// the upstream whose own tasks the gateway relays to 2025-11-25 clients (tests).
//   echo {text}            a plain tool
//   slow {ms}              taskSupport optional: a task that sleeps ms, then answers "slept <ms>ms"
//   fail_slow {ms}         taskSupport required: a task that fails (isError) after ms
import * as z from "zod/v4";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import {
  InMemoryTaskMessageQueue, InMemoryTaskStore,
} from "@modelcontextprotocol/sdk/experimental/tasks/stores/in-memory.js";

const server = new McpServer({ name: "ts-tasks-server", version: "1.0.0" }, {
  capabilities: { tasks: { list: {}, cancel: {}, requests: { tools: { call: {} } } } },
  taskStore: new InMemoryTaskStore(),
  taskMessageQueue: new InMemoryTaskMessageQueue(),
});

server.registerTool("echo", { inputSchema: { text: z.string() } },
  async ({ text }) => ({ content: [{ type: "text", text }] }));

function sleeper(name, support, outcome) {
  server.experimental.tasks.registerToolTask(name, {
    description: `a task that sleeps ms (${support})`,
    inputSchema: { ms: z.number().default(500) },
    execution: { taskSupport: support },
  }, {
    async createTask({ ms }, extra) {
      const task = await extra.taskStore.createTask({ ttl: extra.taskRequestedTtl, pollInterval: 100 });
      setTimeout(() => {
        const [status, result] = outcome(ms);
        extra.taskStore.storeTaskResult(task.taskId, status, result).catch(() => {});
      }, ms);
      return { task };
    },
    async getTask(_args, { taskId, taskStore }) { return taskStore.getTask(taskId); },
    async getTaskResult(_args, { taskId, taskStore }) { return taskStore.getTaskResult(taskId); },
  });
}

sleeper("slow", "optional", (ms) => ["completed", { content: [{ type: "text", text: `slept ${ms}ms` }] }]);
sleeper("fail_slow", "required",
  (ms) => ["failed", { content: [{ type: "text", text: `failed after ${ms}ms` }], isError: true }]);

await server.connect(new StdioServerTransport());
