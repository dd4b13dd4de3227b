//! Replicas behind a real load balancer: HAProxy (Debian's package, started by the test),
//! round-robin, no stickiness, health-checking each replica's `/readyz`.
//!
//! - A replica stopped with SIGTERM under load leaves the balancer without a call lost: with
//!   `http.shutdown_delay` it answers 503 on `/readyz` at once, keeps serving with
//!   `Connection: close` on every answer while HAProxy takes it out, then drains and exits 0.
//! - With `cluster:` (Redis), a session-era client's one session is served by every replica
//!   in turn, and goes on under the same id when a replica is killed (SIGKILL); answers to
//!   elicitation and sampling reach the waiting call through any replica (Python and
//!   TypeScript SDKs).
//! - A rate limit on Redis is exact over three replicas behind the balancer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::balancer::*;
use common::*;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_stopped_with_sigterm_under_load_loses_no_call() {
    let bin = workspace_bin("bench-upstream");
    let yaml = format!(
        "http: {{shutdown_delay: 1500ms}}\nadmin: {{listen: \"127.0.0.1:0\"}}\ncache: {{enabled: false}}\nservers:\n{}",
        stdio_entry("up", &bin, &[std::path::Path::new("--concurrent")])
    );
    let mut replicas: Vec<Gateway> = (0..3).map(|_| Gateway::start(&yaml)).collect();
    let (_haproxy, url) = balancer(&replicas.iter().collect::<Vec<_>>());
    // Every replica up in HAProxy's eyes before the load starts.
    wait_ready(&replicas).await;
    let client = reqwest::Client::new();
    slow_call(&client, &url).await.unwrap();

    // Bounded load: 4 workers, until 4 s have passed or 4,000 calls are done.
    let done = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(4);
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (client, url, done) = (client.clone(), url.clone(), done.clone());
            tokio::spawn(async move {
                let mut failures = Vec::new();
                while Instant::now() < deadline && done.load(Ordering::Relaxed) < 4000 {
                    if let Err(e) = slow_call(&client, &url).await {
                        failures.push(e);
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
                failures
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let before = done.load(Ordering::Relaxed);
    let mut leaving = replicas.remove(1);
    let admin = leaving.admin.clone().unwrap();
    let pid = leaving.proc.pid();
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    // Not ready at once, while it still serves.
    let ready = reqwest::get(format!("{admin}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 503);
    let status = tokio::task::spawn_blocking(move || {
        // Waits without signalling again (a second signal would cut the delay short).
        let until = Instant::now() + Duration::from_secs(20);
        let mut s = None;
        while s.is_none() && Instant::now() < until {
            s = leaving.proc.child.try_wait().unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
        (s, leaving)
    });
    let mut failures = Vec::new();
    for w in workers {
        failures.extend(w.await.unwrap());
    }
    let total = done.load(Ordering::Relaxed);
    let (status, leaving) = status.await.unwrap();
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}\n{}",
        leaving.logs()
    );
    assert!(
        failures.is_empty(),
        "{} of {total} calls failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(
        leaving.logs().contains("still serving until the balancer"),
        "{}",
        leaving.logs()
    );
    assert!(
        before > 20 && total > before + 20,
        "too little load to say anything: {before} before the stop, {total} in all"
    );
    // The two left carry on.
    slow_call(&client, &url).await.unwrap();
}

/// `py_session_hop.py URL TOOL N` through the balancer: N calls, `between()`, N more; the
/// client's JSON report.
async fn session_hop(
    url: &str,
    tool: &str,
    n: usize,
    between: impl FnOnce(),
    logs: &dyn Fn() -> String,
) -> Value {
    use std::io::{BufRead, BufReader, Write};
    // Its stderr goes to a file: a pipe nobody reads until the end could fill and stall it.
    let err_file = tmp_file("py_session_hop.err", "");
    let mut client = Command::new(python())
        .arg(harness().join("clients/py_session_hop.py"))
        .args([url, tool, &n.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&err_file).unwrap())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(client.stdout.take().unwrap());
    let mut line = String::new();
    let paused = tokio::task::spawn_blocking(move || {
        out.read_line(&mut line).unwrap();
        (line, out)
    });
    let Ok(paused) = tokio::time::timeout(Duration::from_secs(60), paused).await else {
        panic!(
            "the client did not pause within 60 s:\n{}\n{}",
            std::fs::read_to_string(&err_file).unwrap_or_default(),
            logs()
        );
    };
    let (line, mut out) = paused.unwrap();
    assert_eq!(line.trim(), "PAUSE", "{line}");
    between();
    tokio::time::sleep(Duration::from_millis(500)).await;
    client.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    let report = tokio::task::spawn_blocking(move || {
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
        let status = client.wait().unwrap();
        (
            rest,
            status,
            std::fs::read_to_string(&err_file).unwrap_or_default(),
        )
    });
    let (rest, status, err) = tokio::time::timeout(Duration::from_secs(60), report)
        .await
        .expect("the client finished within 60 s")
        .unwrap();
    assert!(status.success(), "{rest}\n{err}");
    serde_json::from_str(rest.trim()).unwrap_or_else(|_| panic!("{rest}\n{err}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_session_is_served_by_every_replica_and_survives_a_killed_one() {
    let bin = workspace_bin("bench-upstream");
    let yaml = cluster_yaml(&stdio_entry("up", &bin, &[]));
    let mut replicas: Vec<Gateway> = (0..3).map(|_| Gateway::start(&yaml)).collect();
    let (_haproxy, url) = balancer(&replicas.iter().collect::<Vec<_>>());
    wait_ready(&replicas).await;

    // The official Python SDK, session era: one session, 6 calls of `pid` (each replica has
    // its own upstream process, so the pids say which replica answered); one replica killed
    // outright between the two halves (HAProxy's checks take it out).
    let killed = replicas.remove(0);
    let logs = replicas
        .iter()
        .map(|g| g.logs())
        .collect::<Vec<_>>()
        .join("\n");
    let v = session_hop(
        &url,
        "up__pid",
        6,
        move || {
            let _ = Command::new("kill")
                .args(["-KILL", &killed.proc.pid().to_string()])
                .status();
        },
        &move || logs.clone(),
    )
    .await;
    assert_eq!(v["protocol_version"], "2025-11-25", "{v}");
    let pids = |calls: &Value| -> Vec<String> {
        calls
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                assert!(c["error"].is_null() && c["isError"] == false, "{v}");
                c["text"].as_str().unwrap().to_owned()
            })
            .collect()
    };
    let before = pids(&v["before"]);
    let after = pids(&v["after"]);
    let distinct = |p: &[String]| {
        let mut d = p.to_vec();
        d.sort();
        d.dedup();
        d.len()
    };
    // Round-robin, no affinity: the one session was served by several replicas, before the
    // kill and after it (by the two left).
    assert!(distinct(&before) >= 2, "{before:?}");
    assert_eq!(distinct(&after), 2, "{after:?}");
    // The replicas that had not opened the session continued it from its record, under the
    // one id the client had.
    let continued: Vec<String> = replicas
        .iter()
        .flat_map(|g| {
            g.logs()
                .lines()
                .filter(|l| l.contains("session continued on this replica"))
                .filter_map(|l| {
                    l.split_whitespace()
                        .find_map(|w| w.strip_prefix("session="))
                        .map(str::to_owned)
                })
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(!continued.is_empty(), "{}", replicas[0].logs());
    // /readyz reports the shared store.
    let store = readyz_check(&replicas[0], "store:cluster").await;
    assert_eq!(store["healthy"], true, "{store}");
    assert_eq!(store["required"], false, "{store}");
    assert!(
        continued.iter().all(|s| *s == continued[0]),
        "{continued:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_to_elicitation_and_sampling_reach_the_waiting_call_through_any_replica() {
    // A Python SDK upstream whose `ask_name` elicits a name during the call. The client's
    // answer is a new POST, which round-robin sends to another replica than the call's. The
    // Python and TypeScript SDKs, one after the other.
    let server = harness().join("servers/py_server.py");
    let upstream = stdio_entry("up", &python(), &[server.as_path()]);
    // One config for the three: the same store and key prefix.
    let yaml = cluster_yaml(&upstream);
    let replicas: Vec<Gateway> = (0..3).map(|_| Gateway::start(&yaml)).collect();
    let (_haproxy, url) = balancer(&replicas.iter().collect::<Vec<_>>());
    wait_ready(&replicas).await;
    let v = session_hop(&url, "up__ask_name", 3, || {}, &|| {
        replicas
            .iter()
            .map(|g| g.logs())
            .collect::<Vec<_>>()
            .join("\n")
    })
    .await;
    for call in v["before"]
        .as_array()
        .unwrap()
        .iter()
        .chain(v["after"].as_array().unwrap())
    {
        assert_eq!(call["text"], "hello Ada", "{v}");
    }
    // The official TypeScript SDK through the same balancer: elicitation, sampling, progress.
    let url2 = url.clone();
    let ts = tokio::task::spawn_blocking(move || {
        ts_client(
            &["--url", &url2],
            &[
                ("up__ask_name", "{}"),
                ("up__ask_model", r#"{"question":"q"}"#),
                ("up__count_with_progress", r#"{"steps":3}"#),
                ("up__ask_name", "{}"),
            ],
        )
    })
    .await
    .unwrap();
    assert_eq!(ts["protocolVersion"], "2025-11-25", "{ts}");
    let calls = ts["calls"].as_array().unwrap();
    assert_eq!(calls[0]["text"], "hello Ada", "{ts}");
    assert_eq!(calls[1]["text"], "model said: 42", "{ts}");
    assert_eq!(calls[2]["text"], "counted 3", "{ts}");
    assert_eq!(calls[2]["progress"].as_array().unwrap().len(), 3, "{ts}");
    assert_eq!(calls[3]["text"], "hello Ada", "{ts}");
    let passed: usize = replicas
        .iter()
        .map(|g| {
            g.logs()
                .matches("answer passed to the replica waiting for it")
                .count()
        })
        .sum();
    assert!(
        passed >= 1,
        "no answer crossed replicas:\n{}",
        replicas[1].logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_is_exact_over_three_replicas_behind_the_balancer() {
    let dir = scratch_dir("balancer-limits");
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let yaml = format!(
        "auth:\n  api_keys: {{file: \"{keys}\"}}\nroles:\n  metered: {{allow: [\"*\"], rate_limit: 10/hour}}\nrate_limits: {{store: redis, redis_url: \"redis://127.0.0.1:6379\", key_prefix: \"sbtest:limits:{nanos}:\"}}\nadmin: {{listen: \"127.0.0.1:0\"}}\ncache: {{enabled: false}}\nservers:\n{up}",
        keys = dir.join("keys.json").display(),
        up = stdio_entry("up", &workspace_bin("bench-upstream"), &[]),
    );
    let replicas: Vec<Gateway> = (0..3).map(|_| Gateway::start(&yaml)).collect();
    let key = keys_cli(
        &replicas[0].config,
        &["create", "--name", "metered", "--role", "metered"],
    );
    let (_haproxy, url) = balancer(&replicas.iter().collect::<Vec<_>>());
    wait_ready(&replicas).await;
    // 30 calls at once through the balancer, round-robin over the three: exactly the role's
    // 10 are admitted, whichever replica each lands on.
    let calls = (0..30).map(|_| {
        let (url, key) = (url.clone(), key.clone());
        tokio::spawn(
            async move { tool_call(&url, &[("x-api-key", &key)], "up__pid", json!({})).await },
        )
    });
    let (mut pids, mut limited) = (Vec::new(), 0);
    for a in futures_util::future::join_all(calls).await {
        let a = a.unwrap();
        match a.status {
            200 => pids.push(a.body["result"]["content"][0]["text"].to_string()),
            429 => limited += 1,
            other => panic!("{other}: {}", a.body),
        }
    }
    assert_eq!((pids.len(), limited), (10, 20), "{pids:?}");
    pids.sort();
    pids.dedup();
    assert!(
        pids.len() >= 2,
        "admitted calls all on one replica: {pids:?}"
    );
}
