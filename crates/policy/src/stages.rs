//! The policy stages of the pipeline, each a function of narrow inputs — the caller's
//! identity, what the request is about, its resolved route, the request's policies — so each
//! is tested alone. The gateway's pipeline runs them in order: authorize → rate limit →
//! validate (why this order: ARCHITECTURE.md).

use serde_json::value::RawValue;
use switchboard_protocol::{ErrorObject, RawMap, codes, methods, to_raw};

use crate::auth::Identity;
use crate::rate_limits::{Limited, Limits};
use crate::roles::Subject;

/// What a request is about, for the policy stages.
#[derive(Debug)]
pub enum Target {
    Tool(String),
    Prompt(String),
    Resource(String),
    Gateway,
}

/// The answer for a name that does not exist — and, the same, for one the caller may not see.
pub fn unknown(what: &str, name: &str) -> ErrorObject {
    // The same answer whether the name never existed or the caller may not see it.
    ErrorObject::new(codes::INVALID_PARAMS, format!("Unknown {what}: {name}"))
}

/// Stage 4: the arguments of a `tools/call` of `tool` against its compiled `inputSchema`
/// (`None`: the schema could not be compiled, or the tool is unknown; nothing to check).
pub fn validate_arguments(
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

/// Stage 2: whether the caller may use what the request is about; `original` is the name its
/// server knows a tool or prompt by, when the catalogue knows it. Unknown names pass here and
/// are reported by routing, with the same message a denied name gets.
pub fn authorize(
    identity: &Identity,
    target: &Target,
    original: Option<&str>,
) -> Result<(), ErrorObject> {
    let policy = &identity.policy;
    if policy.allows_everything() {
        return Ok(());
    }
    let denied = match target {
        Target::Tool(name) => original
            .is_some_and(|o| !policy.allows(Subject::Tool, name, o))
            .then(|| unknown("tool", name)),
        Target::Prompt(name) => original
            .is_some_and(|o| !policy.allows(Subject::Prompt, name, o))
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
pub async fn rate_limit(
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

/// The error for a spent budget: `-32007` with `retryAfterMs`.
pub fn rate_limited(
    identity: &Identity,
    limited: Limited,
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
