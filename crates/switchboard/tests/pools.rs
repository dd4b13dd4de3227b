//! stdio process pools and per-upstream concurrency limits, through the real gateway with the
//! real `bench-upstream` fixture (which handles one request at a time): a pool answers
//! concurrent calls faster than one process, survives a member crashing, gives idle members
//! back, and `max_concurrency` refuses a call that waited too long, naming the server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

fn bench_entry(extra: &str) -> String {
    // The result cache would merge identical concurrent `slow` calls (it is read-only and
    // idempotent): off, so every call reaches the pool.
    let mut yaml = String::from("cache:\n  enabled: false\nservers:\n");
    yaml += &stdio_entry("bench", &workspace_bin("bench-upstream"), &[]);
    yaml += extra;
    yaml
}

/// A session on the gateway's Streamable HTTP endpoint.
struct Client {
    http: reqwest::Client,
    url: String,
    sid: String,
    next: AtomicU64,
}

impl Client {
    async fn connect(url: &str) -> Client {
        let http = reqwest::Client::new();
        let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
            "protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"pools","version":"1"}}});
        let r = http
            .post(url)
            .header("accept", "application/json, text/event-stream")
            .json(&init)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
        let sid = r.headers()["mcp-session-id"].to_str().unwrap().to_owned();
        let c = Client {
            http,
            url: url.to_owned(),
            sid,
            next: AtomicU64::new(1),
        };
        c.post(&json!({"jsonrpc":"2.0","method":"notifications/initialized"}))
            .await;
        c
    }

    async fn post(&self, body: &Value) -> String {
        self.http
            .post(&self.url)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", &self.sid)
            .json(body)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// `tools/call` of `bench__<tool>`: the JSON-RPC response (from JSON or an SSE stream).
    async fn call(&self, tool: &str, args: Value) -> Value {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let body = self
            .post(&json!({"jsonrpc":"2.0","id":id,"method":"tools/call",
                "params":{"name":format!("bench__{tool}"),"arguments":args}}))
            .await;
        let found = std::iter::once(body.as_str())
            .chain(body.lines().filter_map(|l| l.strip_prefix("data:")))
            .filter_map(|t| serde_json::from_str::<Value>(t.trim()).ok())
            .find(|v| v["id"] == id);
        found.unwrap_or_else(|| panic!("no response to call {id} ({tool}) in: {body}"))
    }

    /// The text of a successful call; panics with the response otherwise.
    async fn text(&self, tool: &str, args: Value) -> String {
        let r = self.call(tool, args).await;
        r["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_else(|| panic!("{tool} failed: {r}"))
            .to_owned()
    }
}

/// Running `bench-upstream` processes started by the gateway (its children, from /proc).
fn members(gateway: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = &stat[open + 1..close];
        let mut rest = stat[close + 1..].split_whitespace();
        let (state, ppid) = (rest.next(), rest.next().and_then(|p| p.parse::<u32>().ok()));
        if comm == "bench-upstream" && ppid == Some(gateway) && state != Some("Z") {
            out.push(pid);
        }
    }
    out.sort_unstable();
    out
}

async fn wait_until(what: &str, within: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Wait until `n` processes of the pool have finished `initialize`.
async fn wait_ready(gw: &Gateway, n: usize) {
    wait_until(
        &format!("{n} ready processes"),
        Duration::from_secs(30),
        || gw.logs().matches("upstream ready").count() >= n,
    )
    .await;
}

/// 32 concurrent `slow` calls (50 ms each) with 8 `pid` calls among them; returns the time
/// they took and the pids that answered.
async fn burst(c: &Client) -> (Duration, Vec<u32>) {
    let started = Instant::now();
    let calls = (0..40).map(|i| async move {
        if i % 5 == 4 {
            Some(c.text("pid", json!({})).await.parse::<u32>().unwrap())
        } else {
            assert_eq!(c.text("slow", json!({"ms": 50})).await, "slept 50 ms");
            None
        }
    });
    let pids: Vec<u32> = futures_util::future::join_all(calls)
        .await
        .into_iter()
        .flatten()
        .collect();
    (started.elapsed(), pids)
}

fn distinct(pids: &[u32]) -> Vec<u32> {
    let mut d = pids.to_vec();
    d.sort_unstable();
    d.dedup();
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_answer_concurrent_calls_faster_than_one() {
    let single = Gateway::start(&bench_entry(""));
    let pooled = Gateway::start(&bench_entry("    pool: {min: 4, max: 4}\n"));
    wait_ready(&pooled, 4).await;
    assert_eq!(members(single.proc.pid()).len(), 1);
    assert_eq!(members(pooled.proc.pid()).len(), 4);

    let (c1, c4) = (
        Client::connect(&single.url).await,
        Client::connect(&pooled.url).await,
    );
    // Warm up both paths (connections, first calls), then measure.
    burst(&c1).await;
    burst(&c4).await;
    let (one, pids1) = burst(&c1).await;
    let (four, pids4) = burst(&c4).await;
    let ratio = one.as_secs_f64() / four.as_secs_f64();
    eprintln!(
        "32 slow(50ms) + 8 pid calls at once: 1 process {one:?}, pool of 4 {four:?} ({ratio:.2}x); pids answering: {:?}",
        distinct(&pids4)
    );
    assert_eq!(distinct(&pids1).len(), 1, "one process: {pids1:?}");
    assert!(
        ratio >= 1.5,
        "a pool of 4 should be at least 1.5x faster: 1 process {one:?}, 4 processes {four:?}"
    );
    let running = members(pooled.proc.pid());
    let answered = distinct(&pids4);
    assert!(
        answered.len() >= 2,
        "calls should land on several processes: {pids4:?}"
    );
    assert!(
        answered.iter().all(|p| running.contains(p)),
        "pids {answered:?} are not the pool's processes {running:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_member_is_replaced_while_the_others_keep_answering() {
    let gw = Gateway::start(&bench_entry(
        "    pool: {min: 4, max: 4}\n    restart: {initial_backoff: 100ms}\n",
    ));
    wait_ready(&gw, 4).await;
    let before = members(gw.proc.pid());
    assert_eq!(before.len(), 4, "{before:?}");
    let c = Client::connect(&gw.url).await;

    // Three members busy for a while; the crash goes to the idle fourth.
    let busy = futures_util::future::join_all((0..3).map(|_| c.text("slow", json!({"ms": 800}))));
    let (busy, after_crash) = tokio::join!(busy, async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let crash = c.call("crash", json!({})).await;
        // More calls while the crashed member restarts.
        let more = futures_util::future::join_all(
            (0..6).map(|i| c.text("echo", json!({"text": format!("during {i}")}))),
        )
        .await;
        (crash, more)
    });
    let (crash, more) = after_crash;
    assert_eq!(
        crash["error"]["code"], -32004,
        "the crash call fails as a crash: {crash}"
    );
    assert!(
        crash["error"]["message"]
            .as_str()
            .unwrap()
            .contains("'bench'"),
        "{crash}"
    );
    assert!(busy.iter().all(|t| t == "slept 800 ms"), "{busy:?}");
    for (i, t) in more.iter().enumerate() {
        assert_eq!(*t, format!("during {i}"));
    }

    // The supervisor replaces the member: four processes again, one of them new.
    let pid = gw.proc.pid();
    wait_until(
        "the crashed member's replacement",
        Duration::from_secs(20),
        || {
            let now = members(pid);
            now.len() == 4 && now.iter().any(|p| !before.contains(p))
        },
    )
    .await;
    wait_ready(&gw, 5).await;
    let now = members(pid);
    let fresh: Vec<u32> = now
        .iter()
        .copied()
        .filter(|p| !before.contains(p))
        .collect();
    assert_eq!(
        fresh.len(),
        1,
        "exactly one replacement: {before:?} → {now:?}"
    );

    // Later calls succeed, and the new process answers some: with every member busy for a
    // moment, `pid` calls spread over all four.
    let mut seen = Vec::new();
    for _ in 0..5 {
        let slow =
            futures_util::future::join_all((0..4).map(|_| c.text("slow", json!({"ms": 300}))));
        let pids = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            futures_util::future::join_all((0..4).map(|_| c.text("pid", json!({})))).await
        };
        let (slow, pids) = tokio::join!(slow, pids);
        assert!(slow.iter().all(|t| t == "slept 300 ms"));
        seen.extend(pids.iter().map(|p| p.parse::<u32>().unwrap()));
        if seen.contains(&fresh[0]) {
            break;
        }
    }
    assert!(
        seen.contains(&fresh[0]),
        "the replacement {} never answered: {seen:?}",
        fresh[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_pool_grows_and_idle_members_above_min_are_stopped() {
    let gw = Gateway::start(&bench_entry(
        "    pool: {min: 1, max: 4, idle_timeout: 500ms}\n",
    ));
    wait_ready(&gw, 1).await;
    let pid = gw.proc.pid();
    let first = members(pid);
    assert_eq!(first.len(), 1, "min 1: {first:?}");
    let c = Client::connect(&gw.url).await;

    // Load: more processes start (up to max), and every call is answered.
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let watcher = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(members(pid).len(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let texts =
        futures_util::future::join_all((0..8).map(|_| c.text("slow", json!({"ms": 200})))).await;
    assert!(texts.iter().all(|t| t == "slept 200 ms"));
    watcher.abort();
    let peak = peak.load(Ordering::Relaxed);
    assert!(
        (2..=4).contains(&peak),
        "a busy pool should grow, up to max 4: peak {peak}"
    );

    // Idle: back to min, and the process that stays is the first one.
    wait_until("idle members to stop", Duration::from_secs(15), || {
        members(pid).len() == 1
    })
    .await;
    assert_eq!(members(pid), first);
    assert!(
        gw.logs().contains("pool: stopping an idle process"),
        "{}",
        gw.logs()
    );
    assert_eq!(
        c.text("echo", json!({"text": "still here"})).await,
        "still here"
    );
    // It stays at min afterwards.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(members(pid), first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_concurrency_refuses_a_call_that_waited_too_long() {
    let gw = Gateway::start(&bench_entry(
        "    max_concurrency: 1\n    queue_timeout: 200ms\n",
    ));
    let c = Client::connect(&gw.url).await;
    let first = c.text("slow", json!({"ms": 1000}));
    let second = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = Instant::now();
        (c.call("slow", json!({"ms": 1000})).await, started.elapsed())
    };
    let (first, (second, waited)) = tokio::join!(first, second);
    assert_eq!(first, "slept 1000 ms");
    assert_eq!(second["error"]["code"], -32008, "{second}");
    let msg = second["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("'bench'") && msg.contains("busy") && msg.contains("200ms"),
        "the error names the server, the state and the wait: {msg}"
    );
    assert!(
        msg.contains("1 call already in flight"),
        "the error names the limit: {msg}"
    );
    assert!(
        waited >= Duration::from_millis(150) && waited < Duration::from_millis(900),
        "refused after queueing about 200ms, not after the first call: {waited:?}"
    );
    // The turn is given back: the next call goes through.
    assert_eq!(c.text("echo", json!({"text": "next"})).await, "next");
    // A call that waits less than the queue timeout gets its turn.
    let (a, b) = tokio::join!(c.text("slow", json!({"ms": 50})), async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        c.text("echo", json!({"text": "queued"})).await
    });
    assert_eq!((a.as_str(), b.as_str()), ("slept 50 ms", "queued"));
}

/// A tool's own timeout ends the call with an error naming it, the server is told
/// (`notifications/cancelled`), and the server's other tools keep the server's timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_timeout_ends_the_call_and_cancels_it_upstream() {
    let mut yaml = String::from("cache:\n  enabled: false\nservers:\n");
    yaml += &stdio_entry(
        "bench",
        &workspace_bin("bench-upstream"),
        &[std::path::Path::new("--concurrent")],
    );
    yaml += "    tool_timeouts: {slow: 300ms}\n";
    let gw = Gateway::start(&yaml);
    let c = Client::connect(&gw.url).await;
    let started = Instant::now();
    let r = c.call("slow", json!({"ms": 5000})).await;
    let took = started.elapsed();
    let msg = r["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("300ms"), "a timeout naming the limit: {r}");
    assert!(
        took < Duration::from_secs(3),
        "ended at the tool's timeout: {took:?}"
    );
    assert_eq!(c.text("cancelled", json!({})).await, "1");
    assert_eq!(c.text("slow", json!({"ms": 10})).await, "slept 10 ms");
    assert_eq!(c.text("echo", json!({"text": "ok"})).await, "ok");
}
