//! The policy stages of the pipeline (`pipeline.rs` runs them in order): authorize, rate-limit
//! errors, validate, and the audit record that wraps every request.

use std::time::Instant;

use serde_json::value::RawValue;
use switchboard_protocol::{ErrorObject, RawMap, Request, codes, methods, to_raw};

use crate::auth::Identity;
use crate::catalog::Route;
use crate::gateway::Gateway;
use crate::limits::Limits;
use crate::pipeline::{RequestCtx, Target, Transport, unknown};
use crate::policy::Subject;

impl Gateway {
    pub(crate) fn audit_record(
        &self,
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
            methods::RESOURCES_READ
            | methods::RESOURCES_SUBSCRIBE
            | methods::RESOURCES_UNSUBSCRIBE => field("uri"),
            m if m.starts_with("tasks/") => field("taskId"),
            _ => None,
        };
        let (outcome, code) = match result {
            Ok(_) => ("ok", None),
            Err(e) if e.code == codes::RATE_LIMITED => ("rate_limited", Some(e.code)),
            Err(e) if ctx.denied.load(std::sync::atomic::Ordering::Relaxed) => {
                ("denied", Some(e.code))
            }
            Err(e) => ("error", Some(e.code)),
        };
        let identity = &ctx.identity;
        let mut record = switchboard_audit::Record {
            subject: identity.subject.to_string(),
            role: identity.role.as_deref().map(str::to_owned),
            auth: identity.method.to_owned(),
            client_ip: ctx.client_ip.map(|ip| ip.to_string()),
            transport: match ctx.transport {
                Transport::Http => "http",
                Transport::Stdio => "stdio",
            }
            .to_owned(),
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
        self.audit.arguments(&mut record, arguments.as_ref());
        record
    }
}

/// Stage 4: the arguments of a `tools/call` of `tool` against its compiled `inputSchema`
/// (`None`: the schema could not be compiled, or the tool is unknown; nothing to check).
pub(crate) fn validate_arguments(
    tool: &str,
    validator: Option<&jsonschema::Validator>,
    params: Option<&RawValue>,
) -> Result<(), ErrorObject> {
    let Some(validator) = validator else {
        return Ok(());
    };
    let arguments = match params
        .and_then(|p| RawMap::parse(p).ok())
        .and_then(|m| m.get("arguments").map(|a| a.get().to_owned()))
    {
        Some(raw) => serde_json::from_str::<serde_json::Value>(&raw)
            .map_err(|e| ErrorObject::invalid_params(format!("arguments: {e}")))?,
        None => serde_json::Value::Object(Default::default()),
    };
    if validator.is_valid(&arguments) {
        return Ok(());
    }
    let errors: Vec<serde_json::Value> = validator
        .iter_errors(&arguments)
        .take(10)
        .map(|e| {
            let at = e.instance_path().as_str().to_owned();
            serde_json::json!({"path": if at.is_empty() { "/".to_owned() } else { at }, "message": e.to_string()})
        })
        .collect();
    let first = errors
        .first()
        .map(|e| {
            format!(
                "{}: {}",
                e["path"].as_str().unwrap_or("/"),
                e["message"].as_str().unwrap_or("")
            )
        })
        .unwrap_or_default();
    Err(ErrorObject::new(
        codes::INVALID_PARAMS,
        format!("Invalid arguments for tool {tool}: {first}"),
    )
    .with_data(to_raw(&serde_json::json!({"errors": errors}))))
}

/// Stage 2: whether the caller may use what the request is about; `route` is the target's
/// route when the catalogue knows it (tools and prompts). Unknown names pass here and are
/// reported by routing, with the same message a denied name gets.
pub(crate) fn authorize(
    identity: &Identity,
    target: &Target,
    route: Option<&Route>,
) -> Result<(), ErrorObject> {
    let policy = &identity.policy;
    if policy.allows_everything() {
        return Ok(());
    }
    let denied = match target {
        Target::Tool(name) => route
            .is_some_and(|r| !policy.allows(Subject::Tool, name, &r.original))
            .then(|| unknown("tool", name)),
        Target::Prompt(name) => route
            .is_some_and(|r| !policy.allows(Subject::Prompt, name, &r.original))
            .then(|| unknown("prompt", name)),
        Target::Resource(uri) => (!policy.allows(Subject::Resource, uri, uri)).then(|| {
            ErrorObject::new(
                codes::RESOURCE_NOT_FOUND,
                format!("Resource not found: {uri}"),
            )
            .with_data(to_raw(&serde_json::json!({"uri": uri})))
        }),
        Target::Gateway => None,
    };
    match denied {
        Some(e) => {
            tracing::info!(subject = %identity.subject, role = identity.role.as_deref().unwrap_or("-"), ?target, "denied");
            Err(e)
        }
        None => Ok(()),
    }
}

/// Stage 3: spend one request of the caller's budget (not for `ping`), and, for a call of a
/// known tool (`(exposed, original)`), one call of every per-tool budget naming it — all from
/// the one `limits` the request holds.
pub(crate) async fn rate_limit(
    limits: &Limits,
    identity: &Identity,
    method: &str,
    tool: Option<(&str, &str)>,
) -> Result<(), ErrorObject> {
    if method != methods::PING
        && let Err((limited, rate)) = limits.check(identity).await
    {
        return Err(rate_limited(identity, limited, rate, None));
    }
    if let Some((exposed, original)) = tool
        && let Err((limited, rate)) = limits.check_tool(identity, exposed, original).await
    {
        return Err(rate_limited(identity, limited, rate, Some(exposed)));
    }
    Ok(())
}

impl Gateway {
    /// The record stage's metrics: one request answered.
    pub(crate) fn record_metrics(
        &self,
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
}

/// The error for a spent budget: `-32007` with `retryAfterMs`.
pub(crate) fn rate_limited(
    identity: &Identity,
    limited: crate::limits::Limited,
    rate: &str,
    tool: Option<&str>,
) -> ErrorObject {
    let ms = u64::try_from(limited.retry_after.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    let what = match tool {
        Some(t) => format!(
            "{rate} for {t} with role {}",
            identity.role.as_deref().unwrap_or("-")
        ),
        None => format!(
            "{rate} for role {}",
            identity.role.as_deref().unwrap_or("-")
        ),
    };
    ErrorObject::new(
        codes::RATE_LIMITED,
        format!(
            "rate limit exceeded ({what}); retry in {:.1} s",
            ms as f64 / 1000.0
        ),
    )
    .with_data(to_raw(&serde_json::json!({"retryAfterMs": ms})))
}

#[cfg(test)]
mod tests;
