//! The record stage that wraps every request: its audit record and its metrics.

use std::time::Instant;

use serde_json::value::RawValue;
use switchboard_protocol::{ErrorObject, RawMap, Request, codes, methods};

use crate::request::{RequestCtx, Transport};

/// The audit record of one answered request: who, how, what about (tool or prompt name, URI,
/// task id), the outcome (`ok`, `error`, `denied`, `rate_limited`) and its code, the latency,
/// and the arguments as `audit` keeps them (digest, redacted copy, or nothing).
pub(crate) fn audit_record(
    audit: &switchboard_audit::Audit,
    ctx: &RequestCtx,
    req: &Request,
    result: &Result<Box<RawValue>, ErrorObject>,
    started: Instant,
) -> switchboard_audit::Record {
    let params = req.params.as_deref().and_then(|p| RawMap::parse(p).ok());
    let field = |k: &str| {
        params
            .as_ref()
            .and_then(|m| m.get_str(k))
            .map(|v| v.into_owned())
    };
    let target = match req.method.as_str() {
        methods::TOOLS_CALL | methods::PROMPTS_GET => field("name"),
        methods::RESOURCES_READ | methods::RESOURCES_SUBSCRIBE | methods::RESOURCES_UNSUBSCRIBE => {
            field("uri")
        }
        m if m.starts_with("tasks/") => field("taskId"),
        _ => None,
    };
    let (outcome, code) = match result {
        Ok(_) => ("ok", None),
        Err(e) if e.code == codes::RATE_LIMITED => ("rate_limited", Some(e.code)),
        Err(e) if ctx.denied.load(std::sync::atomic::Ordering::Relaxed) => ("denied", Some(e.code)),
        Err(e) => ("error", Some(e.code)),
    };
    let identity = &ctx.identity;
    let mut record = switchboard_audit::Record {
        subject: identity.subject.to_string(),
        role: identity.role.as_deref().map(str::to_owned),
        auth: identity.method.to_owned(),
        client_ip: ctx.client_ip.map(|ip| ip.to_string()),
        transport: match (&ctx.via, ctx.transport) {
            (Some(via), _) => via.to_string(),
            (None, Transport::Http) => "http".to_owned(),
            (None, Transport::LegacySse) => "http+sse".to_owned(),
            (None, Transport::Stdio) => "stdio".to_owned(),
        },
        method: req.method.clone(),
        target,
        outcome: outcome.to_owned(),
        error_code: code,
        latency_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        ..Default::default()
    };
    let arguments = params
        .as_ref()
        .and_then(|m| m.get("arguments"))
        .and_then(|a| serde_json::from_str::<serde_json::Value>(a.get()).ok());
    audit.arguments(&mut record, arguments.as_ref());
    record
}

/// The record stage's metrics: one request answered.
pub(crate) fn record_metrics(
    ctx: &RequestCtx,
    method: &str,
    tool: Option<String>,
    result: &Result<Box<RawValue>, ErrorObject>,
    started: Instant,
) {
    let denied = ctx.denied.load(std::sync::atomic::Ordering::Relaxed);
    let tool = match tool {
        Some(t) => metrics::SharedString::from(t),
        None if method == methods::TOOLS_CALL => metrics::SharedString::const_str("_unknown"),
        None => metrics::SharedString::const_str(""),
    };
    let role = match &ctx.identity.role {
        Some(r) => metrics::SharedString::from(r.clone()),
        None => metrics::SharedString::const_str(ctx.identity.method),
    };
    crate::metrics::record_request(
        crate::metrics::method_label(method),
        tool,
        crate::metrics::status_label(method, result, denied),
        role,
        ctx.modern.is_some(),
        started.elapsed(),
    );
}

#[cfg(test)]
mod tests;
