//! Traces through the real gateway: `switchboard serve` exporting over OTLP/HTTP to a minimal
//! OTLP receiver in this test (protobuf, decoded with `opentelemetry-proto`; no collector
//! binary is installable here), `bench-upstream` over Streamable HTTP reporting the
//! `traceparent` it received (header and `_meta`), and clients sending W3C trace context.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::convert::Infallible;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::{Value, json};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";
const KIND_SERVER: i32 = 2;
const KIND_CLIENT: i32 = 3;

fn traceparent() -> String {
    format!("00-{TRACE}-{PARENT}-01")
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A minimal OTLP/HTTP trace receiver: `POST /v1/traces` with a protobuf
/// `ExportTraceServiceRequest`; keeps every span with its resource's `service.name`.
struct Collector {
    url: String,
    spans: Arc<Mutex<Vec<(String, Span)>>>,
    problems: Arc<Mutex<Vec<String>>>,
}

async fn collector() -> Collector {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let spans = Arc::new(Mutex::new(Vec::new()));
    let problems = Arc::new(Mutex::new(Vec::new()));
    let (sink, errs) = (spans.clone(), problems.clone());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (sink, errs) = (sink.clone(), errs.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let (sink, errs) = (sink.clone(), errs.clone());
                        async move {
                            let path = req.uri().path().to_owned();
                            let ct = req
                                .headers()
                                .get("content-type")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default()
                                .to_owned();
                            let body = http_body_util::BodyExt::collect(req.into_body())
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let status = match ExportTraceServiceRequest::decode(body) {
                                Ok(export)
                                    if path == "/v1/traces" && ct == "application/x-protobuf" =>
                                {
                                    let mut sink = sink.lock().unwrap();
                                    for rs in export.resource_spans {
                                        let service = rs
                                            .resource
                                            .as_ref()
                                            .and_then(|r| {
                                                r.attributes
                                                    .iter()
                                                    .find(|a| a.key == "service.name")
                                            })
                                            .and_then(|a| string(a.value.as_ref()?.value.as_ref()?))
                                            .unwrap_or_default();
                                        for ss in rs.scope_spans {
                                            for s in ss.spans {
                                                sink.push((service.clone(), s));
                                            }
                                        }
                                    }
                                    200
                                }
                                other => {
                                    errs.lock()
                                        .unwrap()
                                        .push(format!("{path} {ct}: {:?}", other.err()));
                                    400
                                }
                            };
                            Ok::<_, Infallible>(
                                hyper::Response::builder()
                                    .status(status)
                                    .header("content-type", "application/x-protobuf")
                                    .body(http_body_util::Full::new(bytes::Bytes::new()))
                                    .unwrap(),
                            )
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Collector {
        url,
        spans,
        problems,
    }
}

fn string(v: &Any) -> Option<String> {
    match v {
        Any::StringValue(s) => Some(s.clone()),
        Any::IntValue(i) => Some(i.to_string()),
        Any::BoolValue(b) => Some(b.to_string()),
        _ => None,
    }
}

fn attr(s: &Span, key: &str) -> Option<String> {
    s.attributes
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| string(a.value.as_ref()?.value.as_ref()?))
}

impl Collector {
    /// The spans of trace `trace` once one named `last` arrived (the request span ends last).
    async fn trace(&self, trace: &str, last: &str) -> Vec<(String, Span)> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let spans: Vec<_> = self
                .spans
                .lock()
                .unwrap()
                .iter()
                .filter(|(_, s)| hex(&s.trace_id) == trace)
                .cloned()
                .collect();
            if spans.iter().any(|(_, s)| s.name == last) {
                return spans;
            }
            assert!(
                Instant::now() < deadline,
                "no span {last:?} in trace {trace} after 20 s; received: {:#?}; problems: {:?}",
                self.spans
                    .lock()
                    .unwrap()
                    .iter()
                    .map(|(_, s)| (s.name.clone(), hex(&s.trace_id)))
                    .collect::<Vec<_>>(),
                self.problems.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// `bench-upstream` over Streamable HTTP (it reports the `traceparent` it receives).
fn bench_http() -> (Proc, String) {
    let p = spawn(Command::new(workspace_bin("bench-upstream")).args(["--http", "127.0.0.1:0"]));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(url) = p
            .output()
            .lines()
            .find_map(|l| l.split("listening on ").nth(1).map(|u| u.trim().to_owned()))
        {
            return (p, url);
        }
        assert!(Instant::now() < deadline, "bench-upstream: {}", p.output());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `switchboard serve` with `yaml`, exporting its span batches every 50 ms.
fn gateway(yaml: &str) -> Gateway {
    let config = tmp_file("gateway.yaml", yaml);
    let proc = spawn(
        Command::new(switchboard())
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&config)
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info")
            .env("OTEL_BSP_SCHEDULE_DELAY", "50")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT"),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(url) = proc.output().lines().find_map(|l| {
            l.trim()
                .strip_prefix("switchboard listening on ")
                .map(str::to_owned)
        }) {
            return Gateway {
                proc,
                url,
                config,
                admin: None,
            };
        }
        assert!(
            Instant::now() < deadline,
            "gateway did not start: {}",
            proc.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The `{header, meta}` that `bench-upstream`'s `trace` tool reports, from a call's answer.
fn reported(answer: &Value) -> (Option<String>, Option<String>) {
    let text = answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("not a trace result: {answer}"));
    let v: Value = serde_json::from_str(text).unwrap();
    (
        v["header"].as_str().map(str::to_owned),
        v["meta"].as_str().map(str::to_owned),
    )
}

/// A session-era client over HTTP.
struct Session {
    url: String,
    id: String,
    http: reqwest::Client,
}

impl Session {
    async fn open(url: &str) -> Session {
        let http = reqwest::Client::new();
        let r = http
            .post(url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(
                json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                    "protocolVersion": "2025-11-25", "capabilities": {},
                    "clientInfo": {"name": "tracing-test", "version": "1"}}})
                .to_string(),
            )
            .send()
            .await
            .unwrap();
        let id = r.headers()["mcp-session-id"].to_str().unwrap().to_owned();
        let s = Session {
            url: url.to_owned(),
            id,
            http,
        };
        s.post(
            json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
            &[],
        )
        .await;
        s
    }

    async fn post(&self, body: Value, headers: &[(&str, &str)]) -> Value {
        let mut req = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", &self.id)
            .header("mcp-protocol-version", "2025-11-25");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let text = req
            .body(body.to_string())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if let Ok(v) = serde_json::from_str(&text) {
            return v;
        }
        // An SSE answer: the message with a result or an error.
        text.lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
            .find(|m| m.get("result").is_some() || m.get("error").is_some())
            .unwrap_or(Value::String(text))
    }

    async fn call(&self, tool: &str, meta: Option<Value>, headers: &[(&str, &str)]) -> Value {
        let mut params = json!({"name": tool, "arguments": {}});
        if let Some(m) = meta {
            params["_meta"] = m;
        }
        self.post(
            json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": params}),
            headers,
        )
        .await
    }
}

fn exporting_config(upstream: &str, otlp: &str) -> String {
    format!(
        "servers:\n  bench:\n    url: {upstream}\n\
         telemetry:\n  otlp_endpoint: {otlp}\n  service_name: sb-trace-test\n\
         log:\n  format: json\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_is_exported_as_one_trace_under_the_clients_span() {
    let otlp = collector().await;
    let (_up, up_url) = bench_http();
    let gw = gateway(&exporting_config(&up_url, &otlp.url));

    // A stateless 2026-07-28 call (the upstream is session-era: the gateway's parked path).
    let tp = traceparent();
    let answer = tool_call(
        &gw.url,
        &[
            ("traceparent", &tp),
            ("tracestate", "rojo=00f067aa0ba902b7"),
        ],
        "bench__trace",
        json!({}),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let (header, meta) = reported(&answer.body);

    let spans = otlp.trace(TRACE, "tools/call bench__trace").await;
    let named = |n: &str| {
        spans
            .iter()
            .find(|(_, s)| s.name == n)
            .map(|(svc, s)| (svc.clone(), s.clone()))
            .unwrap_or_else(|| {
                panic!(
                    "no span {n:?} in {:?}",
                    spans.iter().map(|(_, s)| &s.name).collect::<Vec<_>>()
                )
            })
    };
    // The request span: the client's span is its parent.
    let (service, request) = named("tools/call bench__trace");
    assert_eq!(service, "sb-trace-test");
    assert_eq!(request.kind, KIND_SERVER);
    assert_eq!(
        hex(&request.parent_span_id),
        PARENT,
        "parent: the client's span"
    );
    assert_eq!(
        attr(&request, "mcp.method.name").as_deref(),
        Some("tools/call")
    );
    assert_eq!(
        attr(&request, "gen_ai.tool.name").as_deref(),
        Some("bench__trace")
    );
    assert_eq!(
        attr(&request, "gen_ai.operation.name").as_deref(),
        Some("execute_tool")
    );
    assert_eq!(attr(&request, "jsonrpc.request.id").as_deref(), Some("1"));
    assert_eq!(
        attr(&request, "mcp.protocol.version").as_deref(),
        Some("2026-07-28")
    );
    assert_eq!(attr(&request, "network.transport").as_deref(), Some("tcp"));
    assert_eq!(
        attr(&request, "switchboard.identity").as_deref(),
        Some("anonymous")
    );
    assert_eq!(attr(&request, "error.type"), None);
    // The pipeline stages, children of the request span.
    for stage in ["authorize", "rate_limit", "validate", "route"] {
        let (_, s) = named(stage);
        assert_eq!(
            s.parent_span_id, request.span_id,
            "{stage} is a child of the request span"
        );
    }
    // The upstream call: a client span under the request, named by the upstream's tool name.
    let (_, upstream) = named("tools/call trace");
    assert_eq!(upstream.kind, KIND_CLIENT);
    assert_eq!(upstream.parent_span_id, request.span_id);
    assert_eq!(
        attr(&upstream, "switchboard.upstream.server").as_deref(),
        Some("bench")
    );
    assert_eq!(
        attr(&upstream, "switchboard.upstream.transport").as_deref(),
        Some("http")
    );
    assert_eq!(
        attr(&upstream, "switchboard.upstream.era").as_deref(),
        Some("legacy")
    );
    assert_eq!(
        attr(&upstream, "gen_ai.tool.name").as_deref(),
        Some("trace")
    );
    // Every span of the call is in the client's trace.
    assert!(spans.len() >= 6, "{} spans", spans.len());
    // The upstream got the gateway's upstream span as its parent, in the header and `_meta`.
    let expected = format!("00-{TRACE}-{}-01", hex(&upstream.span_id));
    assert_eq!(
        header.as_deref(),
        Some(expected.as_str()),
        "traceparent header"
    );
    assert_eq!(
        meta.as_deref(),
        Some(expected.as_str()),
        "_meta.traceparent"
    );
    // JSON logs: nothing went wrong, the exporter did not complain.
    assert!(otlp.problems.lock().unwrap().is_empty());
    assert!(
        !gw.logs().contains("OTLP trace export is off"),
        "{}",
        gw.logs()
    );

    // A session-era call with the context in `params._meta` only (SEP-414): the relay path.
    let other = "0af7651916cd43dd8448eb211c80319c";
    let s = Session::open(&gw.url).await;
    let answer = s
        .call(
            "bench__trace",
            Some(json!({"traceparent": format!("00-{other}-b7ad6b7169203331-01")})),
            &[],
        )
        .await;
    let (header, meta) = reported(&answer);
    let spans = otlp.trace(other, "tools/call bench__trace").await;
    let request = spans
        .iter()
        .find(|(_, s)| s.name == "tools/call bench__trace")
        .unwrap()
        .1
        .clone();
    assert_eq!(hex(&request.parent_span_id), "b7ad6b7169203331");
    assert_eq!(
        attr(&request, "mcp.session.id").as_deref(),
        Some(s.id.as_str())
    );
    let upstream = spans
        .iter()
        .find(|(_, s)| s.name == "tools/call trace")
        .unwrap()
        .1
        .clone();
    assert_eq!(
        attr(&upstream, "switchboard.upstream.era").as_deref(),
        Some("legacy")
    );
    let expected = format!("00-{other}-{}-01", hex(&upstream.span_id));
    assert_eq!(header.as_deref(), Some(expected.as_str()));
    assert_eq!(meta.as_deref(), Some(expected.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_traceparent_is_ignored_and_a_new_trace_starts() {
    let otlp = collector().await;
    let (_up, up_url) = bench_http();
    let gw = gateway(&exporting_config(&up_url, &otlp.url));
    let s = Session::open(&gw.url).await;
    // All-zero parent id: invalid per W3C.
    let bad = format!("00-{TRACE}-0000000000000000-01");
    let answer = s.call("bench__trace", None, &[("traceparent", &bad)]).await;
    let (header, meta) = reported(&answer);
    let header = header.expect("the upstream still gets the gateway's context");
    assert_eq!(meta.as_deref(), Some(header.as_str()));
    let trace = header.split('-').nth(1).unwrap().to_owned();
    assert_ne!(trace, TRACE, "a new trace, not the invalid one");
    let spans = otlp.trace(&trace, "tools/call bench__trace").await;
    let request = spans
        .iter()
        .find(|(_, s)| s.name == "tools/call bench__trace")
        .unwrap()
        .1
        .clone();
    assert!(request.parent_span_id.is_empty(), "a root span");
    assert!(
        otlp.spans
            .lock()
            .unwrap()
            .iter()
            .all(|(_, s)| hex(&s.trace_id) != TRACE),
        "nothing exported in the invalid context's trace"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_exporter_the_clients_context_goes_upstream_and_into_json_logs() {
    let (_up, up_url) = bench_http();
    let yaml = format!(
        "servers:\n  bench:\n    url: {up_url}\n{}log:\n  format: json\n",
        stdio_entry("local", &workspace_bin("bench-upstream"), &[])
    );
    let gw = gateway(&yaml);
    let s = Session::open(&gw.url).await;
    let tp = traceparent();
    // Forwarded unchanged: the header to the HTTP upstream, and into `_meta`.
    let answer = s
        .call(
            "bench__trace",
            None,
            &[("traceparent", &tp), ("tracestate", "rojo=1")],
        )
        .await;
    assert_eq!(reported(&answer), (Some(tp.clone()), Some(tp.clone())));
    // A failing call logs inside its request: the JSON line names the request.
    let answer = s.call("local__crash", None, &[("traceparent", &tp)]).await;
    assert!(answer.get("error").is_some(), "{answer}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let line = loop {
        let logs = gw.logs();
        if let Some(l) = logs
            .lines()
            .find(|l| l.contains("upstream call failed"))
            .map(str::to_owned)
        {
            break l;
        }
        assert!(Instant::now() < deadline, "no failure logged: {logs}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    let span = &v["span"];
    assert_eq!(span["name"], "mcp.request", "{line}");
    assert_eq!(span["request_id"], "7", "{line}");
    assert_eq!(span["method"], "tools/call", "{line}");
    assert_eq!(span["tool"], "local__crash", "{line}");
    assert_eq!(span["identity"], "anonymous", "{line}");
    assert_eq!(span["session"], s.id.as_str(), "{line}");
    assert_eq!(span["trace_id"], TRACE, "{line}");
    assert_eq!(v["level"], "WARN", "{line}");
    // No stage spans in logs, and no exporter.
    assert!(!gw.logs().contains("rate_limit"), "{}", gw.logs());
}
