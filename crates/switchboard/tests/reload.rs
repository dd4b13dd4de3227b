//! Hot reload: a changed config file applied to a running gateway (file watching, SIGHUP and
//! `POST /reload`) while calls run against it: added servers start, removed ones finish their
//! calls before they stop, changed policies apply to the next call, sessions stay, and an
//! invalid file is refused with its errors while the old config keeps running.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

fn bench(name: &str, extra: &str) -> String {
    let mut entry = stdio_entry(name, &workspace_bin("bench-upstream"), &[]);
    if !extra.is_empty() {
        entry.push_str(&format!("    {extra}\n"));
    }
    entry
}

/// Replace the config file in one step (as a deploy tool would), so the watcher never sees
/// half a file.
fn rewrite(path: &Path, yaml: &str) {
    let tmp = path.with_extension("next");
    std::fs::write(&tmp, yaml).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

async fn tools(url: &str, auth: &[(&str, &str)]) -> Vec<String> {
    let a = modern(url, auth, "tools/list", None, json!({})).await;
    a.body["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("tools/list: {}", a.body))
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

/// Poll until `cond` holds on the tool list, at most `within`.
async fn until_tools(url: &str, within: Duration, cond: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = Instant::now() + within;
    loop {
        let t = tools(url, &[]).await;
        if cond(&t) || Instant::now() > deadline {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn text_of(a: &Answer) -> String {
    a.body["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text in {}", a.body))
        .to_owned()
}

fn alive(pid: u32) -> bool {
    // A zombie is not running: the gateway reaps its children, so an exited one disappears.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

async fn scrape(admin: &str) -> String {
    reqwest::get(format!("{admin}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of a sample line `name{labels} value` in an exposition.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Calls to `tool` from `workers` tasks until `stop` (bounded: 3,000 calls each, 60 s);
/// returns (calls made, failures with their answers).
fn load(
    url: &str,
    tool: &'static str,
    workers: usize,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<(usize, Vec<String>)> {
    let url = url.to_owned();
    tokio::spawn(async move {
        let calls = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..workers)
            .map(|w| {
                let (url, stop, calls) = (url.clone(), stop.clone(), calls.clone());
                tokio::spawn(async move {
                    let mut failures = Vec::new();
                    let deadline = Instant::now() + Duration::from_secs(60);
                    for i in 0..3000 {
                        if stop.load(Ordering::Relaxed) || Instant::now() > deadline {
                            break;
                        }
                        let text = format!("w{w}-{i}");
                        let a = tool_call(&url, &[], tool, json!({"text": text})).await;
                        calls.fetch_add(1, Ordering::Relaxed);
                        let ok = a.status == 200
                            && a.body["result"]["content"][0]["text"] == text.as_str();
                        if !ok {
                            failures.push(format!("{} {}", a.status, a.body));
                        }
                    }
                    failures
                })
            })
            .collect();
        let mut failures = Vec::new();
        for t in tasks {
            failures.extend(t.await.unwrap());
        }
        (calls.load(Ordering::Relaxed), failures)
    })
}

fn config_path(name: &str, yaml: &str) -> PathBuf {
    let dir = scratch_dir(&format!("reload-{name}"));
    let p = dir.join("switchboard.yaml");
    std::fs::write(&p, yaml).unwrap();
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_under_load_adds_servers_drains_removed_ones_and_fails_no_call() {
    let v1 = format!(
        "admin: {{listen: \"127.0.0.1:0\"}}\nreload: {{drain_timeout: 20s}}\nservers:\n{}{}",
        bench("steady", ""),
        bench("leaving", ""),
    );
    let config = config_path("load", &v1);
    let gw = Gateway::start_file(&config);
    let admin = gw.admin.clone().unwrap();
    let url = gw.url.clone();
    let t = tools(&url, &[]).await;
    assert!(t.contains(&"leaving__slow".to_owned()), "{t:?}");
    let leaving_pid: u32 = text_of(&tool_call(&url, &[], "leaving__pid", json!({})).await)
        .parse()
        .unwrap();
    let steady_pid = text_of(&tool_call(&url, &[], "steady__pid", json!({})).await);

    let stop = Arc::new(AtomicBool::new(false));
    let running = load(&url, "steady__echo", 6, stop.clone());
    // A long call on the server about to be removed: it must finish, not be cut.
    let slow = {
        let url = url.clone();
        tokio::spawn(
            async move { tool_call(&url, &[], "leaving__slow", json!({"ms": 2500})).await },
        )
    };
    tokio::time::sleep(Duration::from_millis(400)).await;

    // 1. File watching: `leaving` removed, `joining` added.
    let v2 = format!(
        "admin: {{listen: \"127.0.0.1:0\"}}\nreload: {{drain_timeout: 20s}}\nservers:\n{}{}",
        bench("steady", ""),
        bench("joining", ""),
    );
    rewrite(&config, &v2);
    let t = until_tools(&url, Duration::from_secs(20), |t| {
        t.iter().any(|n| n == "joining__echo") && !t.iter().any(|n| n.starts_with("leaving__"))
    })
    .await;
    assert!(
        t.contains(&"joining__echo".to_owned()),
        "{t:?}\n{}",
        gw.logs()
    );
    assert!(!t.iter().any(|n| n.starts_with("leaving__")), "{t:?}");
    // The new server answers; the removed one's tools are gone for new calls.
    let joined = tool_call(&url, &[], "joining__echo", json!({"text": "hi"})).await;
    assert_eq!(text_of(&joined), "hi");
    let gone = tool_call(&url, &[], "leaving__echo", json!({"text": "x"})).await;
    assert!(gone.body["error"].is_object(), "{}", gone.body);
    // The call in flight on the removed server finished normally...
    let slow = slow.await.unwrap();
    assert_eq!(slow.status, 200, "{}", slow.body);
    assert!(slow.body["result"].is_object(), "{}", slow.body);
    assert_ne!(slow.body["result"]["isError"], true, "{}", slow.body);
    // ...and then the server was stopped.
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(leaving_pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !alive(leaving_pid),
        "removed server still running\n{}",
        gw.logs()
    );
    assert!(
        gw.logs().contains("removed server drained and stopped"),
        "{}",
        gw.logs()
    );

    // 2. SIGHUP: `joining` changes (an env var), so a new instance replaces it, under load.
    let joining_pid = text_of(&tool_call(&url, &[], "joining__pid", json!({})).await);
    let replacing = load(&url, "joining__echo", 4, stop.clone());
    let v3 = format!(
        "admin: {{listen: \"127.0.0.1:0\"}}\nreload: {{watch: false, drain_timeout: 20s}}\nservers:\n{}{}",
        bench("steady", ""),
        bench("joining", "env: {RELOADED: \"1\"}"),
    );
    std::fs::write(&config, &v3).unwrap();
    let kill = std::process::Command::new("kill")
        .args(["-HUP", &gw.proc.pid().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut now_pid = joining_pid.clone();
    while now_pid == joining_pid && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let a = tool_call(&url, &[], "joining__pid", json!({})).await;
        assert_eq!(a.status, 200, "{}", a.body);
        now_pid = text_of(&a);
    }
    assert_ne!(
        now_pid,
        joining_pid,
        "SIGHUP did not replace the changed server\n{}",
        gw.logs()
    );

    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for (what, task) in [("steady", running), ("joining", replacing)] {
        let (calls, failures) = task.await.unwrap();
        assert!(
            calls > 20,
            "only {calls} calls to {what} ran during the reloads"
        );
        assert!(
            failures.is_empty(),
            "{} of {calls} calls to {what} failed during reloads, e.g. {:?}",
            failures.len(),
            &failures[..failures.len().min(3)]
        );
        eprintln!("{what}: {calls} calls during the reloads, none failed");
    }
    // The replaced instance was stopped once drained.
    let old: u32 = joining_pid.parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(old) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !alive(old),
        "replaced instance still running\n{}",
        gw.logs()
    );
    // The untouched server was not restarted.
    assert_eq!(
        text_of(&tool_call(&url, &[], "steady__pid", json!({})).await),
        steady_pid
    );
    let m = scrape(&admin).await;
    assert_eq!(
        metric(&m, "switchboard_config_reloads_total{result=\"success\"}"),
        Some(2.0),
        "{m}"
    );
    // A removed server is neither up nor down; the added one is up.
    assert_eq!(
        metric(&m, "mcp_upstream_up{server=\"leaving\"}"),
        None,
        "{m}"
    );
    assert_eq!(
        metric(&m, "mcp_upstream_up{server=\"joining\"}"),
        Some(1.0),
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_config_is_refused_and_the_running_one_stays() {
    let v1 = format!(
        "admin: {{listen: \"127.0.0.1:0\"}}\nservers:\n{}",
        bench("kept", "")
    );
    let config = config_path("invalid", &v1);
    let gw = Gateway::start_file(&config);
    let admin = gw.admin.clone().unwrap();
    let url = gw.url.clone();
    let reload = || async {
        let r = reqwest::Client::new()
            .post(format!("{admin}/reload"))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    // A misspelt key: refused, naming the key and the fix.
    std::fs::write(&config, format!("{v1}ratelimits: {{store: memory}}\n")).unwrap();
    let (status, body) = reload().await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["reloaded"], false);
    let err = body["error"].as_str().unwrap();
    assert!(
        err.contains("ratelimits") && err.contains("rate_limits"),
        "{err}"
    );
    // A server with neither `command` nor `url`: refused, naming the server.
    let broken = format!("{v1}  broken:\n    args: [\"x\"]\n");
    std::fs::write(&config, &broken).unwrap();
    let (status, body) = reload().await;
    assert_eq!(status, 422, "{body}");
    let err = body["error"].as_str().unwrap();
    assert!(err.contains("broken"), "{err}");
    // The watcher sees the same file: refused once, logged with its errors.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !gw.logs().contains("config reload refused") && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gw.logs().contains("config reload refused"), "{}", gw.logs());
    // The running config still serves.
    let a = tool_call(&url, &[], "kept__echo", json!({"text": "still"})).await;
    assert_eq!(text_of(&a), "still");
    let kept = tools(&url, &[]).await;
    assert!(
        kept.contains(&"kept__echo".to_owned()) && kept.len() > 5,
        "{kept:?}"
    );
    let m = scrape(&admin).await;
    assert!(
        metric(&m, "switchboard_config_reloads_total{result=\"failure\"}").unwrap_or(0.0) >= 1.0,
        "{m}"
    );
    // A section that needs a restart is reported, not applied; the rest is.
    let next = format!(
        "admin: {{listen: \"127.0.0.1:0\"}}\nhttp: {{max_body_bytes: 1024}}\ncache: {{enabled: false}}\nservers:\n{}",
        bench("kept", "")
    );
    std::fs::write(&config, &next).unwrap();
    let (status, r) = reload().await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["reloaded"], true, "{r}");
    assert_eq!(r["report"]["restart_required"], json!(["http"]), "{r}");
    assert_eq!(r["report"]["applied"], json!(["cache"]), "{r}");
    assert_eq!(r["report"]["added"], json!([]), "{r}");
    // The running body limit (the default, 4 MiB) still holds: 2 KiB is accepted.
    let big = "x".repeat(2048);
    let a = tool_call(&url, &[], "kept__echo", json!({"text": big})).await;
    assert_eq!(a.status, 200, "{}", a.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_roles_and_limits_apply_to_the_next_call_in_the_same_session() {
    let dir = scratch_dir("reload-auth");
    let keys = dir.join("keys.json");
    let yaml = |viewer: &str, rate: &str| {
        format!(
            "admin: {{listen: \"127.0.0.1:0\"}}\nauth:\n  api_keys: {{file: \"{}\"}}\nroles:\n  viewer: {{allow: [{viewer}], rate_limit: \"{rate}\"}}\nservers:\n{}",
            keys.display(),
            bench("bench", "")
        )
    };
    let config = dir.join("switchboard.yaml");
    std::fs::write(&config, yaml("\"bench__echo\"", "1000/minute")).unwrap();
    let out = std::process::Command::new(switchboard())
        .args([
            "keys", "create", "--name", "v", "--role", "viewer", "--config",
        ])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let gw = Gateway::start_file(&config);
    let url = gw.url.clone();
    let auth = [("x-api-key", key.as_str())];

    // A session-era client: its session must outlive the reload.
    let client = reqwest::Client::new();
    let post = |body: Value, sid: Option<String>| {
        let mut r = client
            .post(&url)
            .header("accept", "application/json, text/event-stream")
            .header("x-api-key", &key)
            .json(&body);
        if let Some(s) = sid {
            r = r.header("mcp-session-id", s);
        }
        async move {
            let r = r.send().await.unwrap();
            let sid = r
                .headers()
                .get("mcp-session-id")
                .map(|v| v.to_str().unwrap().to_owned());
            let text = r.text().await.unwrap();
            let json = text
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .unwrap_or(&text)
                .to_owned();
            (
                sid,
                serde_json::from_str::<Value>(&json).unwrap_or(Value::String(text)),
            )
        }
    };
    let (sid, init) = post(
        json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
            "protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}),
        None,
    )
    .await;
    assert!(init["result"].is_object(), "{init}");
    let sid = sid.unwrap();
    post(
        json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
        Some(sid.clone()),
    )
    .await;
    let call = |id: u64, tool: &str| json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":tool,"arguments":{"text":"t"}}});
    let (_, denied) = post(call(2, "bench__pid"), Some(sid.clone())).await;
    assert!(
        denied["error"].is_object(),
        "viewer may not call pid yet: {denied}"
    );

    // Allow every tool, and cut the budget to 2 calls an hour.
    std::fs::write(&config, yaml("\"*\"", "2/hour")).unwrap();
    let r: Value = client
        .post(format!("{}/reload", gw.admin.clone().unwrap()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["reloaded"], true, "{r}");
    assert_eq!(r["report"]["applied"], json!(["auth", "roles"]), "{r}");
    assert_eq!(r["report"]["restart_required"], json!([]), "{r}");
    let (_, allowed) = post(call(3, "bench__pid"), Some(sid.clone())).await;
    assert!(
        allowed["result"].is_object(),
        "same session, new policy: {allowed}"
    );
    let (_, second) = post(call(4, "bench__echo"), Some(sid.clone())).await;
    assert!(second["result"].is_object(), "{second}");
    let (_, limited) = post(call(5, "bench__echo"), Some(sid.clone())).await;
    assert!(
        limited["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("rate limit"),
        "the new limit (2/hour) applies: {limited}"
    );
    // Stateless callers get the same budget, spent.
    let a = tool_call(&url, &auth, "bench__echo", json!({"text": "t"})).await;
    assert_eq!(a.status, 429, "{}", a.body);
}
