//! Replicas behind a real load balancer: HAProxy (Debian's package, `.ci/setup` installs it)
//! started by the test in front of gateways, round-robin, no stickiness.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::*;

/// The `haproxy` binary (Debian puts it in /usr/sbin, which may not be on PATH).
pub fn haproxy() -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"] {
        let p = PathBuf::from(dir).join("haproxy");
        if p.exists() {
            return p;
        }
    }
    panic!("haproxy is not installed: `apt-get install haproxy` (bash .ci/setup does it)");
}

/// The port of `http://127.0.0.1:PORT/...`.
pub fn port_of(url: &str) -> u16 {
    let rest = url.trim_start_matches("http://");
    let hostport = rest.split('/').next().unwrap();
    hostport.rsplit(':').next().unwrap().parse().unwrap()
}

/// HAProxy in front of `replicas` (their MCP URL and admin URL), in the foreground as this
/// test's child; its frontend URL. Checks every 100 ms, a replica out after two failures and
/// each check given 1 s (left at its default, the check's timeout is the 100 ms interval, and a
/// busy machine's slow `/readyz` could take the last replica out).
pub fn balancer(replicas: &[&Gateway]) -> (Proc, String) {
    let port = free_port();
    let servers: String = replicas
        .iter()
        .enumerate()
        .map(|(i, g)| {
            format!(
                "  server r{i} 127.0.0.1:{} check port {}\n",
                port_of(&g.url),
                port_of(g.admin.as_ref().unwrap())
            )
        })
        .collect();
    let cfg = format!(
        "global
  maxconn 512
defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  timeout check 1s
frontend mcp
  bind 127.0.0.1:{port}
  default_backend replicas
backend replicas
  balance roundrobin
  retries 3
  option redispatch
  option httpchk GET /readyz
  http-check expect status 200
  default-server inter 100ms fall 2 rise 1
{servers}"
    );
    let file = tmp_file("haproxy.cfg", &cfg);
    let child = Command::new(haproxy())
        .arg("-db")
        .arg("-f")
        .arg(&file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let proc = Proc {
        child,
        output: Default::default(),
    };
    wait_port(port, Duration::from_secs(10));
    (proc, format!("http://127.0.0.1:{port}/mcp"))
}

/// Until every replica's `/readyz` answers 200 (its upstream is up), then long enough for
/// HAProxy's checks (every 100 ms) to see it.
pub async fn wait_ready(replicas: &[Gateway]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    for g in replicas {
        let ready = format!("{}/readyz", g.admin.as_ref().unwrap());
        loop {
            let ok = reqwest::get(&ready)
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                break;
            }
            assert!(Instant::now() < deadline, "not ready:\n{}", g.logs());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
}

/// One stateless (2026-07-28) `tools/call` of `up__slow`; `Err` says how it failed.
pub async fn slow_call(client: &reqwest::Client, url: &str) -> Result<(), String> {
    slow_call_in(client, url, None).await
}

/// One `tools/call` of `up__slow`: in session-era session `sid`, or stateless (2026-07-28)
/// without one; `Err` says how it failed.
pub async fn slow_call_in(
    client: &reqwest::Client,
    url: &str,
    sid: Option<&str>,
) -> Result<(), String> {
    let mut body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "up__slow", "arguments": {"ms": 20}}});
    let mut req = client
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    match sid {
        Some(sid) => {
            req = req
                .header("mcp-session-id", sid)
                .header("mcp-protocol-version", "2025-11-25");
        }
        None => {
            body["params"]["_meta"] = json!({
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {}});
            req = req
                .header("mcp-protocol-version", "2026-07-28")
                .header("mcp-method", "tools/call")
                .header("mcp-name", "up__slow");
        }
    }
    let r = req
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| format!("send: {e}"))?;
    let status = r.status();
    let text = r.text().await.map_err(|e| format!("body: {e}"))?;
    // A JSON body, or an event stream whose last message is the response.
    let json = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .next_back()
        .unwrap_or(&text);
    let v: Value = serde_json::from_str(json).map_err(|_| format!("{status}: {text}"))?;
    if v["result"]["content"][0]["text"] == "slept 20 ms" {
        Ok(())
    } else {
        Err(format!("{status}: {text}"))
    }
}

/// A config for replicas sharing the Redis on 127.0.0.1:6379 under a key prefix of their own
/// (build it once and start every replica on it), with an admin listener and no cache.
pub fn cluster_yaml(upstream: &str) -> String {
    let prefix = format!(
        "sbtest:{}:",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    format!(
        "cluster: {{url: \"redis://127.0.0.1:6379\", key_prefix: \"{prefix}\"}}\nadmin: {{listen: \"127.0.0.1:0\"}}\ncache: {{enabled: false}}\nservers:\n{upstream}"
    )
}
