//! What replicas on one cluster store (`cluster:`, the Redis on 127.0.0.1:6379) pass to each
//! other, tried request by request against chosen replicas (the balancer tests in
//! `balancer.rs` send the same traffic through HAProxy):
//! - a 2026-07-28 client's retry of a parked call (a session-era upstream asking for input)
//!   landing on a replica other than the one holding the call reaches the call, round after
//!   round; the holder gone, the retry fails at once with an error naming it;
//! - a session-era session's resource subscription made through one replica sends its updates
//!   to the stream open on another; an unsubscribe through a third reaches the holder; a
//!   subscription whose replica was killed is taken over by the replica holding the stream;
//! - a session-era client whose answer stream broke resumes it (`Last-Event-ID`) through
//!   another replica and gets what it missed and the result; the replica keeping the stream
//!   gone, it is told so clearly (410);
//! - a call whose answer is plain JSON sends its progress, and its elicitation request, to the
//!   session's stream open on another replica, and the answer to that request, sent to a
//!   third, reaches the call;
//! - a session's log level set through one replica reaches the copy another replica holds;
//!   a write call's cache invalidation through one replica reaches another's near copy.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::session_client::*;
use common::*;
use futures_util::StreamExt;
use serde_json::{Value, json};

/// One YAML per replica: the same store and key prefix, each its own `replica_id`.
fn replicas(servers: &str, ids: &[&str]) -> Vec<Gateway> {
    replicas_with("", servers, ids)
}

/// As [`replicas`], with `extra` config (top-level YAML lines).
fn replicas_with(extra: &str, servers: &str, ids: &[&str]) -> Vec<Gateway> {
    let prefix = format!(
        "sbtest:{}:",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    ids.iter()
        .map(|id| {
            Gateway::start(&format!(
                "{extra}cluster: {{url: \"redis://127.0.0.1:6379\", key_prefix: \"{prefix}\", replica_id: {id}}}\ncache: {{enabled: false}}\nservers:\n{servers}"
            ))
        })
        .collect()
}

/// A raw 2026-07-28 `tools/call` of `name` declaring elicitation, with `extra` params; the
/// last JSON-RPC message of the answer and every message before it.
async fn modern_call(url: &str, name: &str, extra: Value) -> (Value, Vec<Value>) {
    let mut params = json!({"name": name, "arguments": {}, "_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}}}});
    for (k, v) in extra.as_object().unwrap() {
        params[k] = v.clone();
    }
    let body = json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": params});
    let text = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", name)
        .timeout(Duration::from_secs(60))
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut messages: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_json::from_str(d).unwrap_or_else(|e| panic!("{e}: {text}")))
        .collect();
    if messages.is_empty() {
        messages.push(serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}")));
    }
    let last = messages.pop().unwrap();
    (last, messages)
}

/// The input request key and state of an `input_required` answer.
fn asked(v: &Value) -> (String, String) {
    assert_eq!(v["result"]["resultType"], "input_required", "{v}");
    let requests = v["result"]["inputRequests"].as_object().unwrap();
    assert_eq!(requests.len(), 1, "{v}");
    let (key, request) = requests.iter().next().unwrap();
    assert_eq!(request["method"], "elicitation/create", "{v}");
    let state = v["result"]["requestState"].as_str().unwrap().to_owned();
    (key.clone(), state)
}

fn answer(key: &str, state: &str) -> Value {
    json!({"requestState": state, "inputResponses": {
        key: {"action": "accept", "content": {"name": "Ada"}}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_calls_retry_reaches_it_on_whichever_replica_it_lands() {
    let servers = format!(
        "{}    protocol: legacy\n",
        stdio_entry("py", &python(), &[&harness().join("servers/py_server.py")])
    );
    let mut gws = replicas(&servers, &["a", "b", "c"]);
    let (a, b, c) = (&gws[0].url, &gws[1].url, &gws[2].url);

    // Asked on `a`, answered through `b`: the call held by `a` finishes.
    let (first, _) = modern_call(a, "py__ask_name", json!({})).await;
    let (key, state) = asked(&first);
    let (done, _) = modern_call(b, "py__ask_name", answer(&key, &state)).await;
    assert_eq!(done["result"]["content"][0]["text"], "hello Ada", "{done}");
    // The state is spent, wherever it is tried again.
    let (again, _) = modern_call(c, "py__ask_name", answer(&key, &state)).await;
    assert_eq!(again["error"]["code"], -32602, "{again}");

    // Round after round: not answered through `b` (asked again, the new state still naming
    // `a`), then answered through `c`.
    let (first, _) = modern_call(a, "py__ask_name", json!({})).await;
    let (key, state) = asked(&first);
    let (round2, _) = modern_call(
        b,
        "py__ask_name",
        json!({"requestState": state, "inputResponses": {}}),
    )
    .await;
    let (key2, state2) = asked(&round2);
    assert_eq!(key2, key, "{round2}");
    let (done, _) = modern_call(c, "py__ask_name", answer(&key2, &state2)).await;
    assert_eq!(done["result"]["content"][0]["text"], "hello Ada", "{done}");
    // A bad answer passed on is refused by the holder, and the call stays parked there.
    let (first, _) = modern_call(a, "py__ask_name", json!({})).await;
    let (key, state) = asked(&first);
    let (bad, _) = modern_call(
        b,
        "py__ask_name",
        json!({"requestState": state, "inputResponses": {key.clone(): 12345}}),
    )
    .await;
    assert_eq!(bad["error"]["code"], -32602, "{bad}");
    assert!(
        bad["error"]["message"].as_str().unwrap().contains(&key),
        "{bad}"
    );
    let (done, _) = modern_call(c, "py__ask_name", answer(&key, &state)).await;
    assert_eq!(done["result"]["content"][0]["text"], "hello Ada", "{done}");

    // The holder killed: the retry elsewhere fails at once, naming it.
    let (first, _) = modern_call(a, "py__ask_name", json!({})).await;
    let (key, state) = asked(&first);
    let _ = gws[0].proc.child.kill();
    let _ = gws[0].proc.child.wait();
    let t = Instant::now();
    let (lost, _) = modern_call(&gws[1].url, "py__ask_name", answer(&key, &state)).await;
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
    assert_eq!(lost["error"]["code"], -32602, "{lost}");
    assert_eq!(lost["error"]["data"]["replica"], "a", "{lost}");
    assert!(
        lost["error"]["message"]
            .as_str()
            .unwrap()
            .contains("replica `a`"),
        "{lost}"
    );
    gws.truncate(3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_follow_the_sessions_stream_across_replicas() {
    let servers = stdio_entry("conf", &workspace_bin("conformance-server"), &[]);
    let mut gws = replicas(&servers, &["a", "b", "c"]);
    let (a, b, c) = (gws[0].url.clone(), gws[1].url.clone(), gws[2].url.clone());
    let watched = json!({"uri": "test://watched-resource"});
    let notify = json!({"name": "conf__test_notify_resource_updated", "arguments": {}});

    // Opened on `a`, its stream on `a`; subscribed through `b`: `b`'s upstream's update
    // reaches the stream on `a`.
    let mut s = Session::open(&a).await;
    let mut on_a = s.stream(&a).await;
    assert_eq!(
        s.rpc(&b, "resources/subscribe", watched.clone()).await["result"],
        json!({})
    );
    update_arrives(&mut s, &b, &mut on_a).await;

    // Unsubscribed through `c`: `b` lets its upstream subscription go.
    assert_eq!(
        s.rpc(&c, "resources/unsubscribe", watched.clone()).await["result"],
        json!({})
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = s.rpc(&b, "tools/call", notify.clone()).await;
        if r["result"]["isError"] == true {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "`b` still subscribed upstream after the unsubscribe through `c`: {r}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Subscribed through `b` again, and `b` is killed: the stream reopened on `c` takes the
    // subscription over (`c` subscribes its own upstream) and its updates arrive.
    assert_eq!(
        s.rpc(&b, "resources/subscribe", watched.clone()).await["result"],
        json!({})
    );
    let _ = gws[1].proc.child.kill();
    let _ = gws[1].proc.child.wait();
    let mut on_c = s.stream(&c).await;
    update_arrives(&mut s, &c, &mut on_c).await;
    // Its log is read in the background: it may trail the update by a moment.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !gws[2]
        .logs()
        .contains("took over a subscription whose replica is gone")
    {
        assert!(Instant::now() < deadline, "{}", gws[2].logs());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    gws.truncate(3);
}

/// POST `tools/call` of the upstream's slow progress tool on `url` as session `s`; reads the
/// answer's stream until its first event after the priming one, then drops the connection:
/// that event's id.
async fn lose_answer_stream(s: &Session, url: &str, id: u32) -> String {
    let resp = s
        .http
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", &s.sid)
        .header("mcp-protocol-version", "2025-11-25")
        .body(format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"conf__test_tool_with_progress","arguments":{{}},"_meta":{{"progressToken":"p"}}}}}}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut body = resp.bytes_stream();
    let mut seen = String::new();
    loop {
        let chunk = tokio::time::timeout(Duration::from_secs(10), body.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
        let ids: Vec<&str> = seen
            .lines()
            .filter_map(|l| l.strip_prefix("id: "))
            .collect();
        if seen.contains("notifications/progress") && ids.len() >= 2 {
            return ids[1].to_owned();
        }
    }
}

async fn resume_on(s: &Session, url: &str, last_id: &str) -> (u16, String) {
    let r = s
        .http
        .get(url)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &s.sid)
        .header("mcp-protocol-version", "2025-11-25")
        .header("last-event-id", last_id)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_stream_resumes_through_another_replica() {
    let servers = stdio_entry("conf", &workspace_bin("conformance-server"), &[]);
    let mut gws = replicas(&servers, &["a", "b"]);
    let (a, b) = (gws[0].url.clone(), gws[1].url.clone());
    let s = Session::open(&a).await;

    // The answer's stream is `a`'s, and its event ids say so; resumed through `b`, the client
    // gets what it missed (not what it saw) and the result.
    let last_id = lose_answer_stream(&s, &a, 40).await;
    assert!(last_id.contains("@a-"), "{last_id}");
    let (status, resumed) = resume_on(&s, &b, &last_id).await;
    assert_eq!(status, 200, "{resumed}");
    assert!(
        !resumed.contains(&format!("id: {last_id}\n")),
        "replayed the event already seen: {resumed}"
    );
    assert!(
        resumed.contains("\"id\":40") && resumed.contains("\"result\""),
        "no result after resuming through another replica: {resumed}"
    );

    // `a` killed: resuming its stream through `b` says clearly that it cannot.
    let last_id = lose_answer_stream(&s, &a, 41).await;
    let _ = gws[0].proc.child.kill();
    let _ = gws[0].proc.child.wait();
    let t = Instant::now();
    let (status, body) = resume_on(&s, &b, &last_id).await;
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
    assert_eq!(status, 410, "{body}");
    assert!(body.contains("replica `a`"), "{body}");
    gws.truncate(2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_level_set_through_one_replica_reaches_the_others_copies() {
    let servers = format!(
        "{}    protocol: legacy\n",
        stdio_entry("py", &python(), &[&harness().join("servers/py_server.py")])
    );
    let gws = replicas(&servers, &["a", "b"]);
    let (a, b) = (gws[0].url.clone(), gws[1].url.clone());
    let mut s = Session::open(&a).await;
    let count = json!({"name": "py__count_with_progress", "arguments": {"steps": 2}});
    // `b` holds a copy of the session (every level): the tool's info log comes with its
    // answer, on the same stream, before the result.
    let answer = s.rpc_stream(&b, "tools/call", count.clone()).await;
    assert!(
        answer.contains("counted to 2") && answer.contains("\"result\""),
        "{answer}"
    );
    // Errors only, set through `a`: `b`'s copy hears of it.
    let set = s
        .rpc(&a, "logging/setLevel", json!({"level": "error"}))
        .await;
    assert_eq!(set["result"], json!({}), "{set}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = s.rpc_stream(&b, "tools/call", count.clone()).await;
        assert!(answer.contains("counted 2"), "{answer}");
        if !answer.contains("counted to 2") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "`b` still sends info logs after the level was set through `a`: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_calls_invalidation_reaches_other_replicas_near_copies() {
    // `up__pid` cached for an hour, near copies kept for an hour too, dropped by any call of
    // `up__echo`: without word from the replica that invalidated, `b` would answer from its
    // near copy for the hour.
    let prefix = format!(
        "sbtest:{}:",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let cache = format!(
        "cache: {{store: redis, key_prefix: \"{prefix}cache:\", local_ttl: 1h, auto: false, tools: {{\"up__pid\": {{ttl: 1h, invalidated_by: [\"up__echo\"]}}}}}}\n"
    );
    let servers = stdio_entry("up", &workspace_bin("bench-upstream"), &[]);
    let start = |id: &str| {
        Gateway::start(&format!(
            "cluster: {{url: \"redis://127.0.0.1:6379\", key_prefix: \"{prefix}\", replica_id: {id}}}\n{cache}servers:\n{servers}"
        ))
    };
    let (a, b) = (start("a"), start("b"));
    let pid = |url: String| async move {
        let r = tool_call(&url, &[], "up__pid", json!({})).await;
        r.body["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_else(|| panic!("{}", r.body))
            .to_owned()
    };
    // `a`'s answer, shared: `b` answers the same from the store, then from its near copy.
    let first = pid(a.url.clone()).await;
    assert_eq!(pid(b.url.clone()).await, first);
    assert_eq!(pid(b.url.clone()).await, first);
    // A write through `a`: `b`'s next answer is its own upstream's.
    let w = tool_call(&a.url, &[], "up__echo", json!({"text": "write"})).await;
    assert_eq!(w.status, 200, "{}", w.body);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = pid(b.url.clone()).await;
        if now != first {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "`b` still answers from its near copy after `a` invalidated it"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_calls_messages_reach_the_sessions_stream_on_another_replica() {
    let servers = format!(
        "{}    protocol: legacy\n",
        stdio_entry("py", &python(), &[&harness().join("servers/py_server.py")])
    );
    // Plain JSON answers: what a call sends the client besides its result goes on the
    // session's GET stream — open on `a`, while the calls go to `b`.
    let gws = replicas_with("http: {response_mode: json}\n", &servers, &["a", "b", "c"]);
    let (a, b, c) = (gws[0].url.clone(), gws[1].url.clone(), gws[2].url.clone());
    let mut s = Session::open_with(&a, json!({"elicitation": {}})).await;
    let mut on_a = s.stream(&a).await;

    let r = s
        .rpc(
            &b,
            "tools/call",
            json!({"name": "py__count_with_progress", "arguments": {"steps": 2},
                   "_meta": {"progressToken": "p-1"}}),
        )
        .await;
    assert_eq!(r["result"]["content"][0]["text"], "counted 2", "{r}");
    let seen = read_until(&mut on_a, "counted to 2").await;
    assert!(
        seen.contains("notifications/progress") && seen.contains("p-1"),
        "{seen}"
    );

    // The elicitation goes out on `a`'s stream; its answer, sent to `c`, reaches the call
    // waiting on `b`.
    let ask = tokio::spawn({
        let mut s2 = s.fork();
        let b = b.clone();
        async move {
            s2.rpc(
                &b,
                "tools/call",
                json!({"name": "py__ask_name", "arguments": {}}),
            )
            .await
        }
    });
    let seen = read_until(&mut on_a, "elicitation/create").await;
    let request: Value = seen
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .find(|m| m["method"] == "elicitation/create")
        .unwrap();
    let status = s
        .send(
            &c,
            json!({"jsonrpc": "2.0", "id": request["id"],
                   "result": {"action": "accept", "content": {"name": "Ada"}}}),
        )
        .await;
    assert_eq!(status, 202);
    let done = tokio::time::timeout(Duration::from_secs(20), ask)
        .await
        .expect("the call finished once answered")
        .unwrap();
    assert_eq!(done["result"]["content"][0]["text"], "hello Ada", "{done}");
}
