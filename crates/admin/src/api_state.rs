//! The admin API's views of configuration and routing: the catalogue as a role sees it
//! (`/admin/api/catalog?role=`), the routes with their candidates' availability and circuit
//! breakers (`/admin/api/routes`), the effective config with its secrets redacted
//! (`/admin/api/config`), and the audit trail — search and chain check — (`/admin/api/audit`,
//! `/admin/api/audit/verify`).

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use switchboard_config::AuditSink;
use switchboard_gateway::admin_view::AdminView;
use switchboard_policy::roles::AdminAccess;

use super::api::{admit, refuse};
use super::json;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CatalogQuery {
    role: String,
}

pub(crate) async fn catalog(
    State(view): State<AdminView>,
    headers: HeaderMap,
    query: Result<Query<CatalogQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(r) = admit(&view, &headers, AdminAccess::Read, "admin/catalog").await {
        return r;
    }
    let q = match super::api::query(query, "name the role: ?role=NAME") {
        Ok(q) => q,
        Err(why) => return refuse(StatusCode::BAD_REQUEST, why),
    };
    match view.tools_for_role(&q.role) {
        Some(tools) => json(StatusCode::OK, &json!({"role": q.role, "tools": tools})),
        None => refuse(StatusCode::NOT_FOUND, format!("no role named `{}`", q.role)),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatsQuery {
    /// `1m`, `5m` (default) or `15m`.
    window: Option<String>,
}

pub(crate) async fn stats(
    State(view): State<AdminView>,
    headers: HeaderMap,
    query: Result<Query<StatsQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(r) = admit(&view, &headers, AdminAccess::Read, "admin/stats").await {
        return r;
    }
    let window = match query.as_ref().map(|q| q.window.as_deref()) {
        Ok(None | Some("5m")) => std::time::Duration::from_secs(300),
        Ok(Some("1m")) => std::time::Duration::from_secs(60),
        Ok(Some("15m")) => std::time::Duration::from_secs(900),
        _ => return refuse(StatusCode::BAD_REQUEST, "`window` is 1m, 5m or 15m"),
    };
    let (span, tools) = crate::stats::Sampler::get().window(window);
    json(
        StatusCode::OK,
        &json!({"window_s": span.as_secs_f64(), "tools": tools}),
    )
}

pub(crate) async fn routes(State(view): State<AdminView>, headers: HeaderMap) -> Response {
    if let Err(r) = admit(&view, &headers, AdminAccess::Read, "admin/routes").await {
        return r;
    }
    let policies = view.policies();
    let routes: Vec<Value> = policies
        .config
        .routes
        .iter()
        .map(|(name, route)| {
            let candidates: Vec<Value> = route
                .candidates
                .iter()
                .map(|c| {
                    json!({
                        "tool": c.tool,
                        "priority": c.priority,
                        "available": view.tool_available(&c.tool),
                        "breaker": if view.breaker_open(name, &c.tool) { "open" } else { "closed" },
                    })
                })
                .collect();
            json!({"name": name, "strategy": route.strategy, "candidates": candidates})
        })
        .collect();
    json(StatusCode::OK, &json!({ "routes": routes }))
}

/// Object keys whose values are secrets wherever they appear.
const SECRET_KEYS: [&str; 12] = [
    "secret",
    "token",
    "password",
    "passwd",
    "authorization",
    "cookie",
    "credential",
    "private",
    "signing",
    "api_key",
    "apikey",
    "bearer",
];

/// `config` as JSON with its secrets replaced by `[REDACTED]`: values under secret-sounding
/// keys, every header value and environment variable given to a server (they carry
/// credentials), `mrtr.keys`, and the password in any URL.
pub(crate) fn redacted(config: &switchboard_config::Config) -> Value {
    let mut v = serde_json::to_value(config).unwrap_or(Value::Null);
    redact(&mut v, None);
    if let Some(keys) = v.pointer_mut("/mrtr/keys") {
        *keys = json!("[REDACTED]");
    }
    v
}

fn redact(v: &mut Value, key: Option<&str>) {
    const HIDDEN: &str = "[REDACTED]";
    let secret_key = key.is_some_and(|k| {
        let k = k.to_ascii_lowercase();
        SECRET_KEYS.iter().any(|s| k.contains(s))
    });
    match v {
        Value::Object(map) => {
            let every_value = matches!(key, Some("headers" | "env"));
            for (k, inner) in map.iter_mut() {
                if every_value && !inner.is_null() {
                    *inner = json!(HIDDEN);
                } else {
                    redact(inner, Some(k));
                }
            }
        }
        Value::Array(items) => {
            for inner in items {
                redact(inner, key);
            }
        }
        Value::String(s) if secret_key && !s.is_empty() => *s = HIDDEN.into(),
        Value::String(s) => {
            // `scheme://user:password@host` → the password goes.
            if let Some((scheme, rest)) = s.split_once("://")
                && let Some((userinfo, host)) = rest.split_once('@')
                && let Some((user, _)) = userinfo.split_once(':')
                && !host.is_empty()
            {
                *s = format!("{scheme}://{user}:{HIDDEN}@{host}");
            }
        }
        _ => {}
    }
}

/// The configured workflows (steps, dependencies, conditions), secrets redacted: what a
/// dashboard draws a run's graph from.
pub(crate) async fn workflows(State(view): State<AdminView>, headers: HeaderMap) -> Response {
    if let Err(r) = admit(&view, &headers, AdminAccess::Read, "admin/workflows").await {
        return r;
    }
    let policies = view.policies();
    let config = redacted(&policies.config);
    let separator = &policies.config.federation.separator;
    let workflows: Vec<Value> = policies
        .config
        .workflows
        .iter()
        .map(|(name, wf)| {
            let mut w = config["workflows"][name].clone();
            w["name"] = json!(name);
            w["tool"] = json!(format!(
                "{}{separator}{name}",
                switchboard_config::WORKFLOWS_SERVER
            ));
            // What each step waits for (named in `needs` or referenced): the graph's edges.
            for (i, deps) in wf.dependencies().into_iter().enumerate() {
                let needs: Vec<&str> = deps.iter().map(|&d| wf.steps[d].id.as_str()).collect();
                if let Some(step) = w["steps"].get_mut(i) {
                    step["needs"] = json!(needs);
                }
            }
            w
        })
        .collect();
    json(StatusCode::OK, &json!({ "workflows": workflows }))
}

pub(crate) async fn config(State(view): State<AdminView>, headers: HeaderMap) -> Response {
    if let Err(r) = admit(&view, &headers, AdminAccess::Read, "admin/config").await {
        return r;
    }
    json(StatusCode::OK, &redacted(&view.policies().config))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditQuery {
    /// Records containing this text (any field).
    q: Option<String>,
    /// The newest this many (default 100, at most 1000).
    limit: Option<usize>,
}

/// The audit file, or why it cannot be read here.
fn audit_file(view: &AdminView) -> Result<std::path::PathBuf, &'static str> {
    match &view.policies().config.audit {
        None => Err("no audit trail is configured (`audit:`)"),
        Some(a) if matches!(a.sink, AuditSink::Stdout) => Err(
            "the audit trail goes to stdout (`audit.sink: stdout`): search it where the logs go",
        ),
        Some(a) => Ok(std::path::PathBuf::from(&a.path)),
    }
}

pub(crate) async fn audit(
    State(view): State<AdminView>,
    headers: HeaderMap,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(r) = admit(&view, &headers, AdminAccess::Read, "admin/audit").await {
        return r;
    }
    let q = match super::api::query(query, "") {
        Ok(q) => q,
        Err(why) => return refuse(StatusCode::BAD_REQUEST, why),
    };
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > 1000 {
        return refuse(StatusCode::BAD_REQUEST, "`limit` must be 1 to 1000");
    }
    let path = match audit_file(&view) {
        Ok(p) => p,
        Err(why) => return refuse(StatusCode::CONFLICT, why),
    };
    // Reading a large file is blocking work.
    let found = tokio::task::spawn_blocking(move || {
        switchboard_audit::read(&path, q.q.as_deref().filter(|t| !t.is_empty()))
    })
    .await;
    match found {
        Ok(Ok(records)) => {
            let matched = records.len();
            let newest = &records[matched.saturating_sub(limit)..];
            json(
                StatusCode::OK,
                &json!({"matched": matched, "records": newest}),
            )
        }
        Ok(Err(e)) => refuse(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => refuse(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

pub(crate) async fn audit_verify(State(view): State<AdminView>, headers: HeaderMap) -> Response {
    if let Err(r) = admit(&view, &headers, AdminAccess::Read, "admin/audit.verify").await {
        return r;
    }
    let path = match audit_file(&view) {
        Ok(p) => p,
        Err(why) => return refuse(StatusCode::CONFLICT, why),
    };
    let checked = tokio::task::spawn_blocking(move || {
        switchboard_audit::read(&path, None).map(|all| switchboard_audit::verify(&all))
    })
    .await;
    match checked {
        Ok(Ok(Ok((records, head)))) => json(
            StatusCode::OK,
            &json!({"intact": true, "records": records, "head": head}),
        ),
        Ok(Ok(Err(broken))) => json(
            StatusCode::OK,
            &json!({"intact": false, "broken_at": broken.seq, "why": broken.why}),
        ),
        Ok(Err(e)) => refuse(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => refuse(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_wherever_they_are() {
        let yaml = r#"
auth:
  jwt:
    - {issuer: "https://idp", audience: ["sb"], algorithm: HS256, secret: "hunter2-hunter2-hunter2-hunter2-hunter2"}
mrtr: {keys: ["0123456789abcdef0123456789abcdef0123"]}
rate_limits: {store: redis, redis_url: "redis://app:s3cret@10.0.0.5:6379/0"}
servers:
  gh:
    url: https://api.example/mcp
    headers: {Authorization: "Bearer ghp_abc", X-Trace: "on"}
  local:
    command: /bin/true
    env: {GITHUB_TOKEN: ghp_def, MODE: fast}
"#;
        let cfg =
            switchboard_config::from_str(yaml, std::path::Path::new("t.yaml"), &|_| None).unwrap();
        let text = redacted(&cfg).to_string();
        for secret in [
            "hunter2",
            "0123456789abcdef",
            "s3cret",
            "ghp_abc",
            "ghp_def",
            "fast\"",
        ] {
            assert!(!text.contains(secret), "{secret} left in {text}");
        }
        assert!(
            text.contains("redis://app:[REDACTED]@10.0.0.5:6379/0"),
            "{text}"
        );
        assert!(text.contains("https://api.example/mcp"), "{text}");
        assert!(text.contains("https://idp"), "{text}");
    }
}
