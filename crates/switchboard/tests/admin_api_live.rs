//! The admin API's live and acting parts: a tool called as the signed-in admin through the
//! whole pipeline (`POST /admin/api/call`, the dashboard's playground), the event stream
//! (`GET /admin/api/events`) ending when its key is revoked, and requests a hostile page could
//! make (no credential, a forged CSRF token, a cookie, a form body, a cross-origin preflight)
//! — each refused, saying why. Every answer is checked against the served OpenAPI document.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::admin::{call, call_with, conforms, key_id};
use common::*;
use serde_json::Value;

struct Setup {
    gw: Gateway,
    api: String,
    doc: Value,
    ops: String,
    auditor: String,
    narrow: String,
    audit: std::path::PathBuf,
}

async fn setup(dir: &std::path::Path) -> Setup {
    let audit = dir.join("audit.jsonl");
    let gw = Gateway::start(&format!(
        "auth:\n  api_keys: {{file: \"{keys}\"}}\nroles:\n  ops: {{allow: [\"*\", \"admin:*\"]}}\n  auditor: {{allow: [\"*\", \"admin:read\"]}}\n  narrow: {{allow: [\"up__echo\", \"admin:*\"]}}\nadmin: {{listen: \"127.0.0.1:0\"}}\naudit: {{sink: jsonl, path: \"{audit}\"}}\nservers:\n{up}",
        keys = dir.join("keys.json").display(),
        audit = audit.display(),
        up = stdio_entry("up", &workspace_bin("bench-upstream"), &[]),
    ));
    let key = |role: &str| keys_cli(&gw.config, &["create", "--name", role, "--role", role]);
    let (ops, auditor, narrow) = (key("ops"), key("auditor"), key("narrow"));
    let api = format!("{}/admin/api", gw.admin.as_ref().unwrap());
    let (_, _, doc) = call(
        reqwest::Method::GET,
        &format!("{api}/openapi.json"),
        Some(("x-api-key", &ops)),
    )
    .await;
    Setup {
        gw,
        api,
        doc,
        ops,
        auditor,
        narrow,
        audit,
    }
}

#[tokio::test]
async fn a_tool_is_called_as_the_admin_through_the_whole_pipeline() {
    let dir = scratch_dir("admin-api-call");
    let s = setup(&dir).await;
    let url = format!("{}/call", s.api);
    let post = |key: Option<&str>, body: &str| {
        let (url, body) = (url.clone(), body.to_owned());
        let key = key.map(str::to_owned);
        async move {
            call_with(
                reqwest::Method::POST,
                &url,
                key.as_deref().map(|k| ("x-api-key", k)),
                Some(body),
            )
            .await
        }
    };

    // Called as ops: the tool's own answer.
    let (status, _, answer) = post(
        Some(&s.ops),
        r#"{"tool": "up__echo", "arguments": {"text": "from the playground"}}"#,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    conforms(&s.doc, "post", "/call", status, &answer);
    assert_eq!(
        answer["result"]["content"][0]["text"], "from the playground",
        "{answer}"
    );

    // As the identity's own role sees it: a tool its role does not allow is refused like a
    // client's call; arguments the tool's schema refuses too; an unknown tool is named.
    for (key, body, says) in [
        (&s.narrow, r#"{"tool": "up__slow"}"#, "up__slow"),
        (
            &s.ops,
            r#"{"tool": "up__slow", "arguments": {"ms": "soon"}}"#,
            "ms",
        ),
        (&s.ops, r#"{"tool": "up__nope"}"#, "up__nope"),
    ] {
        let (status, _, answer) = post(Some(key), body).await;
        assert_eq!(status, 200, "{body}: {answer}");
        conforms(&s.doc, "post", "/call", status, &answer);
        let error = &answer["error"];
        assert!(error["code"].is_i64(), "{body}: {answer}");
        assert!(
            error.to_string().contains(says),
            "{body}: {answer} does not name {says}"
        );
    }

    // No answer in time: 504, and the call is cancelled.
    let (status, _, late) = post(
        Some(&s.ops),
        r#"{"tool": "up__slow", "arguments": {"ms": 5000}, "timeout_ms": 300}"#,
    )
    .await;
    assert_eq!(status, 504, "{late}");
    conforms(&s.doc, "post", "/call", status, &late);

    // Who may not: a read-only admin (403), nobody (401). Bad bodies, each named.
    let (status, _, refused) = post(Some(&s.auditor), r#"{"tool": "up__echo"}"#).await;
    assert_eq!(status, 403, "{refused}");
    conforms(&s.doc, "post", "/call", status, &refused);
    let (status, _, refused) = post(None, r#"{"tool": "up__echo"}"#).await;
    assert_eq!(status, 401, "{refused}");
    for (body, want, says) in [
        ("{not json".to_owned(), 400, "the body must be"),
        (
            r#"{"tool": "up__echo", "arguments": "text"}"#.to_owned(),
            400,
            "object",
        ),
        (
            r#"{"tool": "up__echo", "timeout_ms": 0}"#.to_owned(),
            400,
            "timeout_ms",
        ),
        (
            r#"{"tool": "up__echo", "extra": 1}"#.to_owned(),
            422,
            "extra",
        ),
        (r#"{"arguments": {}}"#.to_owned(), 422, "tool"),
        (
            format!(
                r#"{{"tool": "up__echo", "arguments": {{"text": "{}"}}}}"#,
                "x".repeat(20_000)
            ),
            413,
            "the body must be",
        ),
    ] {
        let (status, _, answer) = post(Some(&s.ops), &body).await;
        assert_eq!(status, want, "{body:.60}: {answer}");
        assert!(answer["error"].as_str().unwrap().contains(says), "{answer}");
        conforms(&s.doc, "post", "/call", status, &answer);
    }

    // The audit trail has the call as ops, through the admin API; and the refused attempt.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let trail = std::fs::read_to_string(&s.audit).unwrap_or_default();
        let records: Vec<Value> = trail
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let called = records.iter().any(|r| {
            r["method"] == "tools/call"
                && r["target"] == "up__echo"
                && r["transport"] == "admin"
                && r["subject"] == "key:ops"
                && r["outcome"] == "ok"
        });
        let refused = records
            .iter()
            .any(|r| r["method"] == "admin/call" && r["outcome"] == "denied");
        if called && refused {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{trail}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(s.gw);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Read server-sent events from `r` until `want` of them came (or `within` passed).
async fn events(r: &mut reqwest::Response, want: usize, within: Duration) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut buf = String::new();
    let deadline = tokio::time::Instant::now() + within;
    while out.len() < want {
        let chunk = match tokio::time::timeout_at(deadline, r.chunk()).await {
            Ok(Ok(Some(c))) => c,
            _ => break,
        };
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(at) = buf.find("\n\n") {
            let block: String = buf.drain(..at + 2).collect();
            let mut name = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    name = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            if !data.is_empty() {
                out.push((name, serde_json::from_str(&data).unwrap()));
            }
        }
    }
    out
}

#[tokio::test]
async fn the_event_stream_follows_the_servers_and_ends_when_its_key_is_revoked() {
    let dir = scratch_dir("admin-api-events");
    let s = setup(&dir).await;
    let http = reqwest::Client::new();
    let url = format!("{}/events", s.api);

    let refused = http.get(&url).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let body: Value = refused.json().await.unwrap();
    conforms(&s.doc, "get", "/events", 401, &body);

    // The servers and the figures at once, each as its own route answers them.
    let spare = keys_cli(
        &s.gw.config,
        &["create", "--name", "spare", "--role", "ops"],
    );
    let mut stream = http
        .get(&url)
        .header("x-api-key", &spare)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let first = events(&mut stream, 2, Duration::from_secs(10)).await;
    assert_eq!(first.len(), 2, "{first:?}");
    assert_eq!(first[0].0, "servers", "{first:?}");
    conforms(&s.doc, "get", "/servers", 200, &first[0].1);
    assert_eq!(first[0].1["servers"][0]["name"], "up", "{first:?}");
    assert_eq!(first[1].0, "stats", "{first:?}");
    conforms(&s.doc, "get", "/stats", 200, &first[1].1);

    // Revoked while it is open: `signed-out` saying why, then the end.
    let id = key_id(&s.api, &s.ops, "spare").await;
    let (status, _, _) = call(
        reqwest::Method::DELETE,
        &format!("{}/keys/{id}", s.api),
        Some(("x-api-key", &s.ops)),
    )
    .await;
    assert_eq!(status, 200);
    let rest = events(&mut stream, 10, Duration::from_secs(15)).await;
    let (name, why) = rest
        .last()
        .unwrap_or_else(|| panic!("nothing after the revoke"));
    assert_eq!(name, "signed-out", "{rest:?}");
    assert_eq!(why["status"], 401, "{why}");
    assert!(why["error"].as_str().unwrap().contains("refused"), "{why}");
    let end = tokio::time::timeout(Duration::from_secs(5), stream.chunk()).await;
    assert!(
        matches!(end, Ok(Ok(None))),
        "the stream goes on after signed-out: {end:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn requests_a_hostile_page_could_make_are_refused() {
    let dir = scratch_dir("admin-api-csrf");
    let s = setup(&dir).await;
    let http = reqwest::Client::new();
    let keys_url = format!("{}/keys", s.api);

    // What a form on another site can send: a cookie the browser holds, a forged CSRF token,
    // a form body — never the credential header. Refused as unauthenticated; nothing made.
    let r = http
        .post(&keys_url)
        .header("cookie", format!("x-api-key={}", s.ops))
        .header("x-csrf-token", "forged")
        .header("origin", "https://evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("name=evil&role=ops")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    conforms(&s.doc, "post", "/keys", 401, &body);
    assert!(
        body["error"].as_str().unwrap().contains("send an API key"),
        "{body}"
    );

    // With the credential, still only JSON is read (a form or plain text cannot act).
    for ct in ["application/x-www-form-urlencoded", "text/plain"] {
        let r = http
            .post(&keys_url)
            .header("x-api-key", &s.ops)
            .header("content-type", ct)
            .body(r#"{"name":"evil","role":"ops"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 415, "{ct}");
        let body: Value = r.json().await.unwrap();
        conforms(&s.doc, "post", "/keys", 415, &body);
    }

    // A page on another origin cannot send the header at all: the preflight gets no
    // permission (no Access-Control-Allow-* answer), so the browser never sends the request.
    let r = http
        .request(reqwest::Method::OPTIONS, &keys_url)
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "x-api-key, content-type")
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()
            .keys()
            .all(|h| !h.as_str().starts_with("access-control-allow")),
        "{:?}",
        r.headers()
    );
    let (_, _, keys) = call(
        reqwest::Method::GET,
        &keys_url,
        Some(("x-api-key", &s.auditor)),
    )
    .await;
    assert!(
        keys["keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["name"] != "evil"),
        "{keys}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
