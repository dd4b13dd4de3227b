//! The admin API (`/admin/api/…` on the admin listener; issue 19, first part): JSON for a
//! person or a dashboard, behind an admin credential — an API key or a JWT whose role is
//! granted `admin:read` (see) or `admin:*` (see and act). `*` alone grants no admin access, and
//! without `auth:` nobody has any: the API answers 403 saying what to configure. Missing or bad
//! credentials get 401 with `WWW-Authenticate`; a read-only role acting gets 403. The routes
//! and their answers are described by the OpenAPI document at `/admin/api/openapi.json`
//! (`openapi.json` beside this file), which the tests check every answer against.
//!
//! Every action (`POST`) is recorded in the audit trail (transport `admin`), refused ones too.
//! Credentials travel in headers only (`Authorization: Bearer`, `X-API-Key`), never in
//! cookies, so a browser cannot be made to send them by another site: the API is not open to
//! cross-site request forgery.

use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Router};
use serde::Serialize;
use switchboard_gateway::admin_view::{AdminView, ServerState};
use switchboard_policy::roles::AdminAccess;
use switchboard_upstream::Status;

/// The OpenAPI document of these routes.
pub const OPENAPI: &str = include_str!("openapi.json");

/// The admin API's routes, to nest under `/admin/api`.
pub fn routes() -> Router<AdminView> {
    Router::new()
        .route("/openapi.json", get(openapi))
        .route("/whoami", get(whoami))
        .route("/servers", get(servers))
        .route("/events", get(crate::live::events))
        .route("/call", post(crate::api_call::call))
        .route("/reload", post(reload))
        .route(
            "/keys",
            get(crate::api_keys::list).post(crate::api_keys::create),
        )
        .route("/keys/{id}", delete(crate::api_keys::revoke))
        .route("/catalog", get(crate::api_state::catalog))
        .route("/stats", get(crate::api_state::stats))
        .route("/routes", get(crate::api_state::routes))
        .route("/config", get(crate::api_state::config))
        .route("/workflows", get(crate::api_state::workflows))
        .route("/audit", get(crate::api_state::audit))
        .route("/audit/verify", get(crate::api_state::audit_verify))
        .route("/tasks", get(crate::api_tasks::list))
        .route("/tasks/{id}", get(crate::api_tasks::get))
        .route("/tasks/{id}/cancel", post(crate::api_tasks::cancel))
        // Admin requests are small: anything larger is refused before it is read.
        .layer(DefaultBodyLimit::max(MAX_BODY))
}

/// The largest request body the admin API reads.
const MAX_BODY: usize = 16 * 1024;

/// Who is calling, with what access.
pub(crate) struct Admin {
    pub(crate) identity: std::sync::Arc<switchboard_policy::auth::Identity>,
    pub(crate) access: AdminAccess,
}

/// A refusal: status and a JSON `{error}` body (401s say how to authenticate).
pub(crate) fn refuse(status: StatusCode, why: impl Into<String>) -> Response {
    let mut r = super::json(status, &serde_json::json!({"error": why.into()}));
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"switchboard-admin\""),
        );
    }
    r
}

/// A query string read as `T`, or what was wrong with it (after `hint`, when given: how the
/// query should look), for a 400.
pub(crate) fn query<T>(
    query: Result<axum::extract::Query<T>, axum::extract::rejection::QueryRejection>,
    hint: &str,
) -> Result<T, String> {
    query.map(|q| q.0).map_err(|e| {
        let why = e.body_text();
        if hint.is_empty() {
            why
        } else {
            format!("{hint} ({why})")
        }
    })
}

/// The caller, if its credential grants at least `needed`. A refused action (`needed` =
/// `Full`: `action` names it) is recorded in the audit trail.
pub(crate) async fn admit(
    view: &AdminView,
    headers: &HeaderMap,
    needed: AdminAccess,
    action: &str,
) -> Result<Admin, Response> {
    let refused_action = |identity: Option<&switchboard_policy::auth::Identity>, outcome: &str| {
        if needed == AdminAccess::Full {
            view.audit_action(identity, action, outcome);
        }
    };
    let policies = view.policies();
    if !policies.auth.enabled() {
        refused_action(None, "denied");
        return Err(refuse(
            StatusCode::FORBIDDEN,
            "the admin API needs `auth:` (API keys or JWT) and a role granted `admin:read` or `admin:*`",
        ));
    }
    // Two credentials at once are ambiguous: which one acts? Refused, not guessed.
    if headers.contains_key(header::AUTHORIZATION) && headers.contains_key("x-api-key") {
        refused_action(None, "unauthenticated");
        return Err(refuse(
            StatusCode::UNAUTHORIZED,
            "two credentials (Authorization and X-API-Key): send one",
        ));
    }
    let identity = match policies.auth.authenticate(headers).await {
        Ok(i) => i,
        Err(e) => {
            refused_action(None, "unauthenticated");
            return Err(refuse(
                StatusCode::UNAUTHORIZED,
                format!("admin credential refused: {e}"),
            ));
        }
    };
    if identity.method == "anonymous" {
        refused_action(None, "unauthenticated");
        return Err(refuse(
            StatusCode::UNAUTHORIZED,
            "the admin API needs a credential: `Authorization: Bearer <API key or JWT>` or `X-API-Key`",
        ));
    }
    let role = identity.role.as_deref().unwrap_or("-").to_owned();
    let Some(access) = identity.policy.admin_access() else {
        refused_action(Some(&identity), "denied");
        return Err(refuse(
            StatusCode::FORBIDDEN,
            format!(
                "role `{role}` has no admin access (grant `admin:read` or `admin:*` in its `allow`)"
            ),
        ));
    };
    if access < needed {
        refused_action(Some(&identity), "denied");
        return Err(refuse(
            StatusCode::FORBIDDEN,
            format!(
                "role `{role}` may read the admin API but not act (`admin:read`; acting needs `admin:*`)"
            ),
        ));
    }
    Ok(Admin { identity, access })
}

fn access_name(a: AdminAccess) -> &'static str {
    match a {
        AdminAccess::Read => "read",
        AdminAccess::Full => "full",
    }
}

async fn openapi(State(view): State<AdminView>, headers: HeaderMap) -> Response {
    if let Err(r) = admit(&view, &headers, AdminAccess::Read, "admin/openapi").await {
        return r;
    }
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn whoami(State(view): State<AdminView>, headers: HeaderMap) -> Response {
    match admit(&view, &headers, AdminAccess::Read, "admin/whoami").await {
        Ok(a) => super::json(
            StatusCode::OK,
            &serde_json::json!({
                "subject": &*a.identity.subject,
                "role": a.identity.role.as_deref(),
                "access": access_name(a.access),
            }),
        ),
        Err(r) => r,
    }
}

/// A server as the admin API shows it.
#[derive(Serialize)]
pub(crate) struct ServerInfo {
    name: String,
    /// `starting`, `ready`, `restarting`, `crash_loop`, `failed` (never started) or `stopped`.
    state: &'static str,
    ready: bool,
    /// The status in words (the reason when it is down).
    detail: String,
    /// The protocol revision it speaks, once ready.
    protocol_version: Option<String>,
    /// `legacy` (sessions), `modern` (2026-07-28) or `both`, once ready.
    era: Option<&'static str>,
    /// Restarts counted in its crash loop, when in one.
    restarts: Option<u32>,
    /// Its last failure (kept after it is back), since the admin API was first asked.
    last_error: Option<crate::live::LastError>,
    /// The exposed names of the tools it lists now.
    tools: Vec<String>,
}

pub(crate) fn server_info(
    server: &ServerState,
    last_error: Option<crate::live::LastError>,
) -> ServerInfo {
    let status = &server.status;
    let (state, protocol_version, era, restarts) = match status {
        Status::Starting => ("starting", None, None, None),
        Status::Ready(i) => {
            let era = match (i.legacy, i.modern.is_some()) {
                (true, true) => "both",
                (false, true) => "modern",
                _ => "legacy",
            };
            ("ready", Some(i.protocol_version.clone()), Some(era), None)
        }
        Status::Restarting { .. } => ("restarting", None, None, None),
        Status::CrashLoop { restarts: 0, .. } => ("failed", None, None, None),
        Status::CrashLoop { restarts, .. } => ("crash_loop", None, None, Some(*restarts)),
        Status::Stopped => ("stopped", None, None, None),
    };
    ServerInfo {
        name: server.name.to_string(),
        state,
        ready: status.is_ready(),
        detail: status.describe(),
        protocol_version,
        era,
        restarts,
        last_error,
        tools: server.tools.clone(),
    }
}

async fn servers(
    State(view): State<AdminView>,
    Extension(live): Extension<std::sync::Arc<crate::live::Live>>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = admit(&view, &headers, AdminAccess::Read, "admin/servers").await {
        return r;
    }
    super::json(StatusCode::OK, &crate::live::servers_json(&view, &live))
}

/// Load the config file again and apply it (`admin:*`).
async fn reload(State(view): State<AdminView>, headers: HeaderMap) -> Response {
    let admin = match admit(&view, &headers, AdminAccess::Full, "admin/reload").await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let (status, body) = super::reload_answer(&view).await;
    let outcome = if status == StatusCode::OK {
        "ok"
    } else {
        "error"
    };
    view.audit_action(Some(&admin.identity), "admin/reload", outcome);
    super::json(status, &body)
}
