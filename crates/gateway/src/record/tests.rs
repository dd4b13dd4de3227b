//! The record stage's audit record, built from a request, its context and its answer.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use switchboard_protocol::{ErrorObject, Id, Request, codes, to_raw};

use super::*;
use crate::policies::Policies;
use crate::request::Transport;

async fn ctx(transport: Transport) -> RequestCtx {
    let config = switchboard_config::from_str(
        "auth: {anonymous_role: viewer}\nroles:\n  viewer: {allow: ['get_*']}\n",
        std::path::Path::new("t.yaml"),
        &|_| None,
    )
    .unwrap();
    let policies = Arc::new(Policies::build(Arc::new(config)).await.unwrap());
    let identity = policies
        .auth
        .authenticate(&http::HeaderMap::new())
        .await
        .unwrap();
    RequestCtx {
        session: None,
        out: None,
        transport,
        cancel: Default::default(),
        modern: None,
        identity,
        policies,
        client_ip: Some(std::net::Ipv4Addr::LOCALHOST.into()),
        denied: Default::default(),
        trace: None,
        call_timeout: None,
        detached_relay: None,
        via: None,
        task: None,
    }
}

fn req(method: &str, params: serde_json::Value) -> Request {
    Request {
        id: Id::Num(1),
        method: method.into(),
        params: Some(to_raw(&params)),
    }
}

#[tokio::test]
async fn the_record_names_who_what_and_how_it_ended() {
    let audit = switchboard_audit::Audit::off();
    let started = Instant::now();
    let ctx = ctx(Transport::Http).await;
    let call = req(
        "tools/call",
        serde_json::json!({"name": "hr__get_employee", "arguments": {"id": 1}}),
    );
    let ok = Ok(to_raw(&serde_json::json!({"content": []})));
    let r = audit_record(&audit, &ctx, &call, &ok, started);
    assert_eq!(
        (r.subject.as_str(), r.role.as_deref(), r.auth.as_str()),
        ("anonymous", Some("viewer"), "anonymous")
    );
    assert_eq!(
        (r.transport.as_str(), r.method.as_str()),
        ("http", "tools/call")
    );
    assert_eq!(r.target.as_deref(), Some("hr__get_employee"));
    assert_eq!(r.client_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!((r.outcome.as_str(), r.error_code), ("ok", None));
    // Arguments are kept as a digest only (no `record_arguments`).
    assert_eq!(r.args, None);
    assert!(
        r.args_sha256.as_ref().is_some_and(|d| d.len() == 64),
        "{r:?}"
    );

    // A refusal marked by authorization is `denied`, whatever its code.
    let unknown = Err(ErrorObject::new(codes::INVALID_PARAMS, "Unknown tool: x"));
    assert_eq!(
        audit_record(&audit, &ctx, &call, &unknown, started).outcome,
        "error"
    );
    ctx.denied.store(true, Ordering::Relaxed);
    let r = audit_record(&audit, &ctx, &call, &unknown, started);
    assert_eq!(
        (r.outcome.as_str(), r.error_code),
        ("denied", Some(codes::INVALID_PARAMS))
    );
    // A spent budget is `rate_limited`, even after a denial mark.
    let limited = Err(ErrorObject::new(codes::RATE_LIMITED, "rate limit exceeded"));
    assert_eq!(
        audit_record(&audit, &ctx, &call, &limited, started).outcome,
        "rate_limited"
    );
}

#[tokio::test]
async fn the_target_is_the_name_uri_or_task_the_method_is_about() {
    let audit = switchboard_audit::Audit::off();
    let ctx = ctx(Transport::Stdio).await;
    let started = Instant::now();
    let ok = Ok(to_raw(&serde_json::json!({})));
    let target = |method: &str, params: serde_json::Value| {
        audit_record(&audit, &ctx, &req(method, params), &ok, started).target
    };
    assert_eq!(
        target(
            "resources/read",
            serde_json::json!({"uri": "company://e/1"})
        )
        .as_deref(),
        Some("company://e/1")
    );
    assert_eq!(
        target("prompts/get", serde_json::json!({"name": "docs__summary"})).as_deref(),
        Some("docs__summary")
    );
    assert_eq!(
        target("tasks/get", serde_json::json!({"taskId": "reports.42"})).as_deref(),
        Some("reports.42")
    );
    assert_eq!(target("tools/list", serde_json::json!({})), None);
    let r = audit_record(
        &audit,
        &ctx,
        &req("tools/list", serde_json::json!({})),
        &ok,
        started,
    );
    assert_eq!(r.transport, "stdio");
}
