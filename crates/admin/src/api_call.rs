//! `POST /admin/api/call` (`admin:*`): call a catalogued tool as the signed-in identity — the
//! dashboard's playground. The call takes the whole pipeline like a client's: the identity's
//! role must allow the tool, rate limits count it, its arguments are checked against the
//! tool's `inputSchema`, and the audit trail records it (transport `admin`). The answer is the
//! call's JSON-RPC outcome: `{"result": …}` (a tool's own `isError` result included) or
//! `{"error": {code, message, data}}`, both with status 200 — the request to the admin API
//! succeeded; what the tool said is the content.

use std::time::Duration;

use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use switchboard_gateway::admin_view::{AdminView, CallError};
use switchboard_policy::roles::AdminAccess;

use super::api::{admit, refuse};
use super::json;

/// The longest a playground call may be given.
const MAX_TIMEOUT_MS: u64 = 300_000;
const DEFAULT_TIMEOUT_MS: u64 = 60_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CallBody {
    /// The tool's exposed name.
    tool: String,
    /// Its arguments (an object; absent: `{}`).
    #[serde(default)]
    arguments: Option<serde_json::Value>,
    /// Give up (and cancel the call) after this long; default 60 000, at most 300 000. Read
    /// as a number: JSON's `132.0` is the integer 132.
    timeout_ms: Option<f64>,
}

pub(crate) async fn call(
    State(view): State<AdminView>,
    headers: HeaderMap,
    body: Result<axum::Json<CallBody>, JsonRejection>,
) -> Response {
    let admin = match admit(&view, &headers, AdminAccess::Full, "admin/call").await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let axum::Json(body) = match body {
        Ok(b) => b,
        Err(e) => {
            return refuse(
                e.status(),
                format!(
                    "the body must be {{\"tool\": NAME, \"arguments\": {{…}}}}: {}",
                    e.body_text()
                ),
            );
        }
    };
    let arguments = body.arguments.unwrap_or_else(|| json!({}));
    if !arguments.is_object() {
        return refuse(StatusCode::BAD_REQUEST, "`arguments` must be an object");
    }
    let timeout_ms = body.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS as f64);
    if timeout_ms.fract() != 0.0 || !(1.0..=MAX_TIMEOUT_MS as f64).contains(&timeout_ms) {
        return refuse(
            StatusCode::BAD_REQUEST,
            format!("`timeout_ms` must be a whole number from 1 to {MAX_TIMEOUT_MS}"),
        );
    }
    let within = Duration::from_millis(timeout_ms as u64);
    match view
        .call_tool(admin.identity, &body.tool, arguments, within)
        .await
    {
        Ok(Ok(result)) => match serde_json::from_str::<serde_json::Value>(result.get()) {
            Ok(result) => json(StatusCode::OK, &json!({ "result": result })),
            Err(e) => refuse(
                StatusCode::BAD_GATEWAY,
                format!("the tool's result is not JSON: {e}"),
            ),
        },
        Ok(Err(error)) => json(StatusCode::OK, &json!({ "error": error })),
        Err(e @ CallError::TimedOut(_)) => refuse(StatusCode::GATEWAY_TIMEOUT, e.to_string()),
        Err(e @ CallError::Stopped) => refuse(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}
