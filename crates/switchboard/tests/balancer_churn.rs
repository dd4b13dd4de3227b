//! One run of everything behind the balancer (HAProxy, round robin, no affinity; three
//! replicas on one Redis): a session-era client's resource subscription whose updates reach
//! its stream wherever the balancer put each request; bounded load from stateless
//! (2026-07-28) and session-era clients; the official Python SDK in both eras and the
//! TypeScript SDK calling tools with progress and elicitation (a 2026-07-28 client's
//! elicitation is a parked call whose retry may land on any replica); while one replica is
//! stopped with SIGTERM — nothing fails: it drains — and then another is killed with SIGKILL —
//! only calls in flight on it may fail; every call made once the balancer has seen it go
//! succeeds, and the session-era session goes on under its id.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::balancer::*;
use common::session_client::*;
use common::*;
use serde_json::json;

/// One call of the load: when it started and ended (since the test's start), and how it
/// failed, if it did.
struct Outcome {
    start: Duration,
    end: Duration,
    error: Option<String>,
}

/// The SDK clients, one after the other in a blocking thread: the Python SDK in the session
/// era and in the 2026-07-28 era, and the TypeScript SDK; each calls a tool with progress and
/// one that elicits. Panics on any failure, naming the client.
async fn sdk_round(url: &str) {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || {
        let calls = [
            ("py__count_with_progress", r#"{"steps":3}"#),
            ("py__ask_name", "{}"),
        ];
        for (who, out) in [
            ("python, 2025-11-25", py_client(&["--url", &url], &calls)),
            (
                "python, 2026-07-28",
                py_client(&["--url", &url, "--mode", "auto"], &calls),
            ),
            ("typescript", ts_client(&["--url", &url], &calls)),
        ] {
            let counted = call(&out, "py__count_with_progress");
            assert_eq!(counted["text"], "counted 3", "{who}: {out}");
            assert_eq!(
                counted["progress"].as_array().map(Vec::len),
                Some(3),
                "{who}: {out}"
            );
            assert_eq!(
                call(&out, "py__ask_name")["text"],
                "hello Ada",
                "{who}: {out}"
            );
        }
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_eras_through_the_balancer_survive_a_sigterm_and_a_sigkill() {
    let upstreams = format!(
        "{}    protocol: legacy\n{}{}",
        stdio_entry("py", &python(), &[&harness().join("servers/py_server.py")]),
        stdio_entry(
            "up",
            &workspace_bin("bench-upstream"),
            &[std::path::Path::new("--concurrent")]
        ),
        stdio_entry("conf", &workspace_bin("conformance-server"), &[]),
    );
    let yaml = format!(
        "http: {{shutdown_delay: 1500ms}}\n{}",
        cluster_yaml(&upstreams)
    );
    let mut replicas: Vec<Gateway> = (0..3).map(|_| Gateway::start(&yaml)).collect();
    let (_haproxy, url) = balancer(&replicas.iter().collect::<Vec<_>>());
    wait_ready(&replicas).await;
    let client = reqwest::Client::new();

    // A resource subscription: the session opened, its stream opened, the subscription made
    // and the updates triggered, each through the balancer (so on whichever replica it puts
    // them); the updates reach the stream.
    let mut watcher = Session::open(&url).await;
    let mut stream = watcher.stream(&url).await;
    let watched = json!({"uri": "test://watched-resource"});
    let subscribed = watcher.rpc(&url, "resources/subscribe", watched).await;
    assert_eq!(subscribed["result"], json!({}), "{subscribed}");
    update_arrives(&mut watcher, &url, &mut stream).await;
    drop(stream);

    let t0 = Instant::now();

    // Bounded load: 3 stateless workers and one session-era session, until told to stop or
    // 40 s have passed (at most 20,000 calls).
    let stop = Arc::new(AtomicBool::new(false));
    let outcomes: Arc<Mutex<Vec<Outcome>>> = Arc::default();
    let sid = Session::open(&url).await.sid;
    let mut workers = Vec::new();
    for w in 0..4 {
        let (client, url, stop, outcomes, sid) = (
            client.clone(),
            url.clone(),
            stop.clone(),
            outcomes.clone(),
            sid.clone(),
        );
        workers.push(tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(40);
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                if outcomes.lock().unwrap().len() >= 20_000 {
                    break;
                }
                let start = t0.elapsed();
                let session = (w == 0).then_some(sid.as_str());
                let r = slow_call_in(&client, &url, session).await;
                outcomes.lock().unwrap().push(Outcome {
                    start,
                    end: t0.elapsed(),
                    error: r.err(),
                });
            }
        }));
    }

    // The SDKs while every replica is up, then while one leaves on SIGTERM.
    sdk_round(&url).await;
    let leaving = replicas.remove(1);
    let _ = Command::new("kill")
        .args(["-TERM", &leaving.proc.pid().to_string()])
        .status();
    sdk_round(&url).await;
    let exited = tokio::task::spawn_blocking(move || {
        let mut leaving = leaving;
        let until = Instant::now() + Duration::from_secs(30);
        let mut s = None;
        while s.is_none() && Instant::now() < until {
            s = leaving.proc.child.try_wait().unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
        (s, leaving)
    })
    .await
    .unwrap();
    assert!(
        exited.0.is_some_and(|s| s.success()),
        "{:?}\n{}",
        exited.0,
        exited.1.logs()
    );

    // Another one killed outright.
    let killed_at = t0.elapsed();
    let _ = Command::new("kill")
        .args(["-KILL", &replicas[0].proc.pid().to_string()])
        .status();
    // HAProxy's checks (every 100 ms) take it out; then the SDKs again, on the one left.
    tokio::time::sleep(Duration::from_millis(500)).await;
    sdk_round(&url).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }

    let outcomes = outcomes.lock().unwrap();
    let seen_by_balancer = killed_at + Duration::from_millis(300);
    let failed_before: Vec<&String> = outcomes
        .iter()
        .filter(|o| o.end < killed_at)
        .filter_map(|o| o.error.as_ref())
        .collect();
    let in_flight = outcomes
        .iter()
        .filter(|o| o.start < killed_at && o.end >= killed_at)
        .count();
    let failed_later: Vec<&String> = outcomes
        .iter()
        .filter(|o| o.start >= seen_by_balancer)
        .filter_map(|o| o.error.as_ref())
        .collect();
    let total = outcomes.len();
    let after = outcomes
        .iter()
        .filter(|o| o.start >= seen_by_balancer)
        .count();
    assert!(
        failed_before.is_empty(),
        "{} of the calls that ended before the SIGKILL failed (the SIGTERM lost calls): {:?}",
        failed_before.len(),
        &failed_before[..failed_before.len().min(5)]
    );
    assert!(
        failed_later.is_empty(),
        "{} of {after} calls made after the balancer saw the SIGKILL failed: {:?}",
        failed_later.len(),
        &failed_later[..failed_later.len().min(5)]
    );
    assert!(
        total > 200 && after > 20,
        "too little load to say anything: {total} calls, {after} after the kill"
    );
    eprintln!("{total} calls; {in_flight} in flight at the SIGKILL; {after} after it, none failed");
    // The session-era session was served to the end under its one id (its calls after the
    // kill succeeded above, on the replica left), continued from its record by replicas that
    // had not opened it.
    let logs = [&replicas[0], &replicas[1], &exited.1]
        .iter()
        .map(|g| g.logs())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        logs.lines()
            .any(|l| l.contains("session continued on this replica") && l.contains(&sid)),
        "{logs}"
    );
    eprintln!(
        "parked calls continued for a retry another replica received: {}",
        logs.matches("a parked call continued for a retry another replica received")
            .count()
    );
}
