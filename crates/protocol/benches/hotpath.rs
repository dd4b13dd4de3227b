//! Micro-benchmarks of the per-message work on the forwarding hot path (BENCHMARKS.md,
//! "Hot-path micro-benchmarks"): parsing a message once, rewriting the few keys the gateway
//! must change, and serializing the answer.
//!
//! ```sh
//! cargo bench -p switchboard-protocol --bench hotpath -- --warm-up-time 1 --measurement-time 3
//! ```

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use switchboard_protocol::{Envelope, Id, Message, RawMap, RawValue, parse_message, to_raw};

/// A client's `tools/call` as it reaches the gateway: prefixed name, a few arguments, a
/// progress token and a vendor `_meta` key.
const CALL: &str = r#"{"jsonrpc":"2.0","id":4711,"method":"tools/call","params":{"name":"github__search_issues","arguments":{"query":"is:open label:bug","repo":"acme/widgets","limit":20,"fields":["title","url","labels"]},"_meta":{"progressToken":"c-4711","vendor.example/trace":"a1b2c3"}}}"#;

/// An upstream's `tools/call` result: one text block (~300 bytes) and structured content.
const RESULT: &str = r#"{"jsonrpc":"2.0","id":17,"result":{"content":[{"type":"text","text":"Found 3 open issues labelled bug in acme/widgets: #412 Crash when the config file is empty; #398 Retry loses the request body; #377 Progress bar stops at 99 percent on slow links. Use the url field of each item to open it."}],"structuredContent":{"count":3,"ids":[412,398,377]},"isError":false}}"#;

/// An upstream's progress notification, on its own token.
const NOTIFICATION: &str = r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"sb-17","progress":3,"total":10,"message":"fetched page 3"}}"#;

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    g.bench_function("envelope_only/tools_call", |b| {
        b.iter(|| {
            let env: Result<Envelope<'_>, _> = serde_json::from_slice(black_box(CALL.as_bytes()));
            black_box(env.map(|e| e.method.is_some()).unwrap_or(false))
        })
    });
    g.bench_function("message/tools_call", |b| {
        b.iter(|| black_box(parse_message(black_box(CALL.as_bytes())).is_ok()))
    });
    g.bench_function("message/result_response", |b| {
        b.iter(|| black_box(parse_message(black_box(RESULT.as_bytes())).is_ok()))
    });
    g.bench_function("message/notification", |b| {
        b.iter(|| black_box(parse_message(black_box(NOTIFICATION.as_bytes())).is_ok()))
    });
    g.finish();
}

/// The request's params, as `parse_message` leaves them.
fn call_params() -> Box<RawValue> {
    match parse_message(CALL.as_bytes()) {
        Ok(Message::Request(r)) => r.params.unwrap_or_default(),
        _ => Box::default(),
    }
}

/// As upstream `mux.rs`: the new params and the client's own token.
fn rewrite_progress_token(params: &RawValue, ours: &str) -> Option<(Box<RawValue>, Box<RawValue>)> {
    let mut map = RawMap::parse(params).ok()?;
    let mut meta = RawMap::parse(map.get("_meta")?).ok()?;
    let theirs = meta.get("progressToken")?.to_owned();
    meta.set_str("progressToken", ours);
    let meta = meta.to_raw();
    map.set("_meta", meta);
    Some((map.to_raw(), theirs))
}

fn rewrite(c: &mut Criterion) {
    let params = call_params();
    let mut g = c.benchmark_group("rewrite");
    // pipeline.rs `rewrite`: the exposed tool name → the upstream's own.
    g.bench_function("params_name", |b| {
        b.iter(|| {
            let params = black_box(&params);
            let mut map = RawMap::parse(params).map(Some).unwrap_or(None);
            let out = match map.as_mut() {
                Some(m) if m.get_str("name").as_deref() != Some("search_issues") => {
                    m.set_str("name", "search_issues");
                    m.to_raw()
                }
                _ => params.clone(),
            };
            black_box(out)
        })
    });
    // upstream mux.rs `rewrite_progress_token`: the client's token → the gateway's own, in
    // `params._meta`, everything else kept verbatim.
    g.bench_function("meta_progress_token", |b| {
        b.iter(|| black_box(rewrite_progress_token(black_box(&params), "sb-17")))
    });
    // The `id`: the request goes upstream under the gateway's own id (a new envelope around the
    // rewritten params; mux.rs and http/), and the answer goes back under the client's.
    let rewritten = {
        let mut m = RawMap::parse(&params).unwrap_or_default();
        m.set_str("name", "search_issues");
        m.to_raw()
    };
    g.bench_function("id_upstream_request", |b| {
        b.iter(|| {
            let msg = Message::request(
                Id::Num(black_box(17)),
                "tools/call",
                Some(black_box(&rewritten).clone()),
            );
            black_box(msg.to_vec())
        })
    });
    g.finish();
}

fn serialize(c: &mut Criterion) {
    let result = match parse_message(RESULT.as_bytes()) {
        Ok(Message::Response(r)) => r.result.unwrap_or_else(|_| Box::default()),
        _ => Box::default(),
    };
    let client_id = Id::Str("client-req-4711".into());
    let mut g = c.benchmark_group("serialize");
    // The answer to the client: `Message::response` under the client's id, then the bytes.
    g.bench_function("response/tools_call_result", |b| {
        b.iter(|| {
            let msg = Message::response(
                black_box(&client_id).clone(),
                Ok(black_box(&result).clone()),
            );
            black_box(msg.to_vec())
        })
    });
    let err = switchboard_protocol::ErrorObject::invalid_params("Unknown tool: github__nope");
    g.bench_function("response/error", |b| {
        b.iter(|| {
            let msg = Message::response(Id::Num(black_box(4711)), Err(black_box(&err).clone()));
            black_box(msg.to_vec())
        })
    });
    let small = to_raw(&serde_json::json!({"content": [{"type": "text", "text": "ok"}]}));
    g.bench_function("response/small_result", |b| {
        b.iter(|| {
            let msg = Message::response(Id::Num(black_box(1)), Ok(black_box(&small).clone()));
            black_box(msg.to_vec())
        })
    });
    g.finish();
}

criterion_group!(benches, parse, rewrite, serialize);
criterion_main!(benches);
