//! The transport matrix: real clients (Python SDK, TypeScript SDK, Inspector CLI) over the
//! client transports (Streamable HTTP, stdio, and the 2024-11-05 HTTP+SSE transport when
//! `http.legacy_sse` is on), through the gateway, to real upstreams over both
//! upstream transports (stdio: Rust example server, Python SDK server, server-everything;
//! HTTP: server-everything, Python SDK server). Each exercises listing, plain calls, progress,
//! logging, sampling and elicitation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;

struct Upstreams {
    _everything: Proc,
    _py: Proc,
    yaml: String,
}

fn upstreams() -> Upstreams {
    let (everything, ev_url) = everything_http();
    let (py, py_url) = py_server_http();
    // server-everything annotates its long-running operation read-only and idempotent, so
    // the cache would answer the second client at once, without progress: these tests check
    // the relaying of progress, so that tool is kept out of the cache.
    let mut yaml = String::from(
        "cache:\n  tools:\n    \"trigger-long-running-operation\": {cache: false}\nservers:\n",
    );
    yaml += &stdio_entry("company", &workspace_bin("company-api"), &[]);
    yaml += &stdio_entry("py", &python(), &[&harness().join("servers/py_server.py")]);
    yaml += &stdio_entry(
        "everything",
        &node(),
        &[&everything_js(), std::path::Path::new("stdio")],
    );
    yaml += &format!("  evhttp:\n    url: {ev_url}\n  pyhttp:\n    url: {py_url}\n");
    Upstreams {
        _everything: everything,
        _py: py,
        yaml,
    }
}

const CALLS: &[(&str, &str)] = &[
    ("company__get_employee_info", r#"{"employee_id":"E001"}"#),
    ("py__add", r#"{"a":2,"b":40}"#),
    ("py__count_with_progress", r#"{"steps":3}"#),
    ("py__ask_model", r#"{"question":"meaning of life?"}"#),
    ("py__ask_name", "{}"),
    ("py__show_roots", "{}"),
    ("everything__echo", r#"{"message":"via stdio"}"#),
    (
        "everything__trigger-long-running-operation",
        r#"{"duration":1,"steps":2}"#,
    ),
    ("evhttp__echo", r#"{"message":"via http"}"#),
    (
        "evhttp__trigger-sampling-request",
        r#"{"prompt":"hi","maxTokens":5}"#,
    ),
    ("evhttp__trigger-elicitation-request", "{}"),
    ("pyhttp__count_with_progress", r#"{"steps":2}"#),
    ("pyhttp__ask_model", r#"{"question":"q"}"#),
    ("pyhttp__ask_name", "{}"),
    ("pyhttp__show_roots", "{}"),
];

fn check_progress(client: &str, c: &serde_json::Value, steps: u32) {
    let progress = c["progress"].as_array().unwrap();
    let total = f64::from(steps);
    if client == "typescript/stdio" || client == "typescript/sse" {
        // The TypeScript SDK's stdio client drops progress notifications of a burst (it
        // keeps the first at most, even talking to an upstream directly, without a gateway;
        // seen with SDK 1.x); its SSE client did the same in one run of two here, where the
        // Python client over the same stream got every one. So here we can only require that
        // what arrives belongs to this call; the Python client checks exact progress over
        // both transports.
        assert!(
            progress.iter().all(|p| p[1] == total),
            "{client}: progress {c}"
        );
    } else {
        assert_eq!(progress.len(), steps as usize, "{client}: progress {c}");
        assert!(
            progress
                .iter()
                .enumerate()
                .all(|(i, p)| p[0] == (i + 1) as f64 && p[1] == total),
            "{client}: progress values {c}"
        );
    }
}

fn check_calls(client: &str, out: &serde_json::Value) {
    let tools: Vec<&str> = out["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t.as_str())
        .collect();
    for prefix in ["company__", "py__", "everything__", "evhttp__", "pyhttp__"] {
        assert!(
            tools.iter().any(|t| t.starts_with(prefix)),
            "{client}: no {prefix} tools in {tools:?}"
        );
    }
    let text = |name: &str| {
        let c = call(out, name);
        assert!(
            c.get("error").is_none() && c["isError"] == false,
            "{client}: {name} failed: {c}"
        );
        c["text"].as_str().unwrap().to_owned()
    };
    assert!(
        text("company__get_employee_info").contains("María González"),
        "{client}"
    );
    assert_eq!(text("py__add"), "42", "{client}");
    assert_eq!(text("py__count_with_progress"), "counted 3");
    let c = call(out, "py__count_with_progress");
    check_progress(client, c, 3);
    assert!(
        c["logs"].to_string().contains("counted to 3"),
        "{client}: logging not relayed: {c}"
    );
    assert_eq!(
        text("py__ask_model"),
        "model said: 42",
        "{client}: sampling"
    );
    assert_eq!(text("py__ask_name"), "hello Ada", "{client}: elicitation");
    assert_eq!(
        text("py__show_roots"),
        "file:///tmp/project-a",
        "{client}: roots"
    );
    assert_eq!(
        text("pyhttp__show_roots"),
        "file:///tmp/project-a",
        "{client}: roots over HTTP upstream"
    );
    assert_eq!(text("everything__echo"), "Echo: via stdio");
    check_progress(
        client,
        call(out, "everything__trigger-long-running-operation"),
        2,
    );
    assert_eq!(text("evhttp__echo"), "Echo: via http");
    assert!(
        text("evhttp__trigger-sampling-request").contains("\"42\""),
        "{client}: sampling over HTTP upstream"
    );
    assert!(
        text("evhttp__trigger-elicitation-request").contains("Ada"),
        "{client}: elicitation over HTTP upstream"
    );
    let c = call(out, "pyhttp__count_with_progress");
    check_progress(client, c, 2);
    assert!(
        c["logs"].to_string().contains("counted to 2"),
        "{client}: logging over HTTP upstream {c}"
    );
    assert_eq!(text("pyhttp__ask_model"), "model said: 42");
    assert_eq!(text("pyhttp__ask_name"), "hello Ada");
}

#[test]
fn http_clients_reach_every_upstream_kind() {
    let up = upstreams();
    let gw = Gateway::start(&up.yaml);
    let py = py_client(&["--url", &gw.url], CALLS);
    check_calls("python/http", &py);
    // The Python SDK's default mode probes `server/discover` first and falls back to
    // `initialize`; the gateway must not break that fallback.
    let auto = py_client(
        &["--url", &gw.url, "--mode", "auto"],
        &[("py__add", r#"{"a":1,"b":1}"#)],
    );
    assert_eq!(
        auto["protocol_version"], "2026-07-28",
        "auto mode should negotiate the stateless era"
    );
    assert_eq!(call(&auto, "py__add")["text"], "2", "{auto}");
    let ts = ts_client(&["--url", &gw.url], CALLS);
    check_calls("typescript/http", &ts);
    assert_eq!(ts["protocolVersion"], "2025-11-25");

    // The Inspector CLI, as a person would run it.
    let out = inspector()
        .args([
            "--cli",
            &gw.url,
            "--transport",
            "http",
            "--method",
            "tools/call",
            "--tool-name",
            "py__add",
            "--tool-arg",
            "a=20",
            "--tool-arg",
            "b=22",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("\"text\": \"42\""),
        "inspector: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Clients that speak only the 2024-11-05 HTTP+SSE transport (`http.legacy_sse`): the SDKs'
/// SSE clients list, call, get progress and logs, and answer sampling, elicitation and roots
/// on the one stream.
#[test]
fn legacy_sse_clients_reach_every_upstream_kind() {
    let up = upstreams();
    let gw = Gateway::start(&format!(
        "http:\n  legacy_sse: {{enabled: true}}\n{}",
        up.yaml
    ));
    let sse = gw.url.replace("/mcp", "/sse");
    let py = py_client(&["--sse", &sse], CALLS);
    check_calls("python/sse", &py);
    assert_eq!(py["protocol_version"], "2025-11-25", "{py}");
    let ts = ts_client(&["--sse", &sse], CALLS);
    check_calls("typescript/sse", &ts);
}

#[test]
fn stdio_clients_reach_every_upstream_kind() {
    let up = upstreams();
    let config = tmp_file("stdio.yaml", &up.yaml);
    let sb = switchboard();
    let target = [
        "--stdio",
        sb.to_str().unwrap(),
        "stdio",
        "--config",
        config.to_str().unwrap(),
        "--",
    ];
    let py = py_client(&target, CALLS);
    check_calls("python/stdio", &py);
    assert_eq!(py["protocol_version"], "2025-11-25");
    // The same gateway over stdio serves a 2026-07-28 client statelessly, beside legacy ones.
    let mut auto_target = target.to_vec();
    auto_target.splice(0..0, ["--mode", "auto"]);
    let auto = py_client(
        &auto_target,
        &[
            ("company__get_employee_info", r#"{"employee_id":"E006"}"#),
            ("py__add", r#"{"a":3,"b":4}"#),
        ],
    );
    assert_eq!(auto["protocol_version"], "2026-07-28", "{auto}");
    assert!(
        call(&auto, "company__get_employee_info")["text"]
            .as_str()
            .unwrap()
            .contains("E006"),
        "{auto}"
    );
    assert_eq!(call(&auto, "py__add")["text"], "7", "{auto}");
    let ts = ts_client(&target, CALLS);
    check_calls("typescript/stdio", &ts);
}

/// Two clients share one stdio upstream at the same time: each sees only its own progress,
/// and each gets its own answer, even though both use the same progress token values.
#[test]
fn concurrent_sessions_on_a_shared_upstream_do_not_mix() {
    let up = upstreams();
    let gw = Gateway::start(&up.yaml);
    let url = gw.url.clone();
    let a = std::thread::spawn({
        let url = url.clone();
        move || {
            py_client(
                &["--url", &url],
                &[
                    ("py__count_with_progress", r#"{"steps":7}"#),
                    ("pyhttp__ask_model", r#"{"question":"a"}"#),
                ],
            )
        }
    });
    let b = std::thread::spawn(move || {
        ts_client(
            &["--url", &url],
            &[
                ("py__count_with_progress", r#"{"steps":4}"#),
                ("pyhttp__ask_model", r#"{"question":"b"}"#),
            ],
        )
    });
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    let pa = &call(&a, "py__count_with_progress")["progress"];
    let pb = &call(&b, "py__count_with_progress")["progress"];
    assert_eq!(pa.as_array().unwrap().len(), 7, "client a progress: {pa}");
    assert_eq!(pb.as_array().unwrap().len(), 4, "client b progress: {pb}");
    assert!(
        pa.as_array().unwrap().iter().all(|p| p[1] == 7.0),
        "a got b's progress: {pa}"
    );
    assert!(
        pb.as_array().unwrap().iter().all(|p| p[1] == 4.0),
        "b got a's progress: {pb}"
    );
    assert_eq!(call(&a, "py__count_with_progress")["text"], "counted 7");
    assert_eq!(call(&b, "py__count_with_progress")["text"], "counted 4");
    assert_eq!(call(&a, "pyhttp__ask_model")["text"], "model said: 42");
    assert_eq!(call(&b, "pyhttp__ask_model")["text"], "model said: 42");
    let _ = Duration::ZERO;
}

/// Legacy HTTP+SSE upstreams (protocol 2024-11-05 transport) behind the gateway, including
/// progress, logging and sampling.
#[test]
fn legacy_sse_upstreams_are_federated() {
    let (_ev, ev_url, _py, py_url) = legacy_sse_servers();
    let gw = Gateway::start(&format!(
        "servers:\n  evsse:\n    url: {ev_url}\n    type: sse\n  pysse:\n    url: {py_url}\n    type: sse\n"
    ));
    let out = py_client(
        &["--url", &gw.url],
        &[
            ("pysse__add", r#"{"a":1,"b":2}"#),
            ("pysse__count_with_progress", r#"{"steps":2}"#),
            ("pysse__ask_model", r#"{"question":"x"}"#),
            ("evsse__echo", r#"{"message":"legacy"}"#),
            (
                "evsse__trigger-sampling-request",
                r#"{"prompt":"hi","maxTokens":5}"#,
            ),
        ],
    );
    assert_eq!(call(&out, "pysse__add")["text"], "3", "{out}");
    check_progress("python/http", call(&out, "pysse__count_with_progress"), 2);
    assert!(
        call(&out, "pysse__count_with_progress")["logs"]
            .to_string()
            .contains("counted to 2")
    );
    assert_eq!(call(&out, "pysse__ask_model")["text"], "model said: 42");
    assert_eq!(call(&out, "evsse__echo")["text"], "Echo: legacy");
    assert!(
        call(&out, "evsse__trigger-sampling-request")["text"]
            .as_str()
            .unwrap()
            .contains("\"42\"")
    );
}

/// Two clients call a stdio server that asks the client's model (sampling) in the middle of
/// each call, at the same time. With one shared process the gateway cannot tell whose call a
/// sampling request belongs to, so it refuses rather than guess; with `isolation: session`
/// each session has its own process and both succeed.
#[test]
fn session_isolation_routes_concurrent_sampling_exactly() {
    let py = python();
    let script = harness().join("servers/py_server.py");
    let run_pair = |yaml: &str| {
        let gw = Gateway::start(yaml);
        let url = gw.url.clone();
        let a = std::thread::spawn({
            let url = url.clone();
            move || py_client(&["--url", &url], &[("py__slow_ask", r#"{"question":"a"}"#)])
        });
        let b = std::thread::spawn(move || {
            py_client(&["--url", &url], &[("py__slow_ask", r#"{"question":"b"}"#)])
        });
        let (a, b) = (a.join().unwrap(), b.join().unwrap());
        (
            call(&a, "py__slow_ask").clone(),
            call(&b, "py__slow_ask").clone(),
            gw,
        )
    };
    let (a, b, gw) = run_pair(&format!(
        "servers:\n{}    isolation: session\n",
        stdio_entry("py", &py, &[&script])
    ));
    assert_eq!(a["text"], "model said: 42", "{a}\n{}", gw.logs());
    assert_eq!(b["text"], "model said: 42", "{b}\n{}", gw.logs());
    assert!(
        gw.logs().matches("started a per-session instance").count() >= 2,
        "{}",
        gw.logs()
    );

    let (a, b, gw) = run_pair(&format!("servers:\n{}", stdio_entry("py", &py, &[&script])));
    let refused = [&a, &b]
        .iter()
        .filter(|c| c.to_string().contains("cannot route"))
        .count();
    assert!(
        refused >= 1,
        "shared process: expected a refused sampling request, got {a} / {b}"
    );
    assert!(
        gw.logs()
            .contains("unattributable server-to-client request refused"),
        "{}",
        gw.logs()
    );
}
