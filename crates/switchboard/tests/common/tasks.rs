//! Helpers of the durable-task tests (`durable_tasks*.rs`): 2026-07-28 requests that declare
//! the tasks extension, polling a task until it settles, and a PostgreSQL schema per test.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Gateway, free_port, harness, node, spawn, stdio_entry, workspace_bin};

pub const EXT: &str = "io.modelcontextprotocol/tasks";

pub fn bench() -> String {
    stdio_entry("bench", &workspace_bin("bench-upstream"), &[])
}

/// A 2026-07-28 request; `tasks` declares the tasks extension in the client capabilities.
pub async fn request(
    url: &str,
    key: Option<&str>,
    method: &str,
    name: &str,
    mut params: Value,
    tasks: bool,
) -> Value {
    let mut caps = if tasks {
        json!({"extensions": {EXT: {}}})
    } else {
        json!({})
    };
    // Capabilities a test adds (`_meta.caps`), e.g. elicitation.
    if let Some(extra) = params.get("_meta").and_then(|m| m.get("caps")).cloned() {
        for (k, v) in extra.as_object().unwrap() {
            caps[k] = v.clone();
        }
    }
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": caps,
    });
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params});
    let mut req = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method)
        .header("mcp-name", name);
    if let Some(k) = key {
        req = req.header("x-api-key", k);
    }
    let text = req
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

pub async fn call_as_task(url: &str, key: Option<&str>, tool: &str, args: Value) -> Value {
    request(
        url,
        key,
        "tools/call",
        tool,
        json!({"name": tool, "arguments": args}),
        true,
    )
    .await
}

pub async fn task_method(url: &str, key: Option<&str>, method: &str, id: &str) -> Value {
    request(url, key, method, id, json!({"taskId": id}), true).await
}

/// Poll `tasks/get` until the task is no longer working (bounded).
pub async fn settle(url: &str, key: Option<&str>, id: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let got = task_method(url, key, "tasks/get", id).await;
        let status = got["result"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if status != "working" || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn request_update(url: &str, id: &str, responses: Value) -> Value {
    request(
        url,
        None,
        "tasks/update",
        id,
        json!({"taskId": id, "inputResponses": responses}),
        true,
    )
    .await
}
/// A schema of its own on the machine's PostgreSQL, dropped at the end.
pub struct PgSchema(pub String);

pub const PG: &str = "postgres://postgres@127.0.0.1:5432/test";

impl PgSchema {
    pub fn new(stem: &str) -> Self {
        let name = format!("{stem}_{}_{}", std::process::id(), free_port());
        psql(&format!("CREATE SCHEMA {name}"));
        Self(name)
    }
    pub fn url(&self) -> String {
        format!("{PG}?options=-csearch_path%3D{}", self.0)
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        psql(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.0));
    }
}

pub fn psql(sql: &str) {
    let out = std::process::Command::new("psql")
        .args([PG, "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("psql (CI installs PostgreSQL)");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn bench_task_gateway(dir: &std::path::Path, extra: &str) -> Gateway {
    Gateway::start(&format!(
        "tasks:\n  path: \"{}\"\n  ttl: 10m\n  poll_interval: 100ms\n  tools:\n    \"bench__slow\": {{mode: optional}}\n    \"bench__fail\": {{mode: optional}}\n    \"bench__pid\": {{mode: required}}\n{extra}servers:\n{}",
        dir.join("tasks.db").display(),
        stdio_entry("bench", &workspace_bin("bench-upstream"), &[])
    ))
}

/// `ts_tasks_client.mjs` (the TypeScript SDK's `client.experimental.tasks`): its output lines
/// and whether it exited 0; bounded at 90 s.
pub fn ts_tasks(url: &str, key: Option<&str>, args: &[&str]) -> (bool, Vec<Value>) {
    let mut cmd = std::process::Command::new(node());
    cmd.current_dir(harness())
        .arg(harness().join("clients/ts_tasks_client.mjs"))
        .arg(url)
        .args(args);
    if let Some(k) = key {
        cmd.env("SB_KEY", k);
    }
    let mut p = spawn(&mut cmd);
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(s) = p.child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "{args:?} hung:\n{}", p.output());
        std::thread::sleep(Duration::from_millis(25));
    };
    std::thread::sleep(Duration::from_millis(50));
    let lines = p
        .output()
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    (status.success(), lines)
}

pub fn of_type<'a>(lines: &'a [Value], kind: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["type"] == kind).collect()
}
