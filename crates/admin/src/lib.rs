//! Switchboard's admin listener (`admin.listen`): `GET /metrics` (Prometheus text format),
//! `GET /healthz`, `GET /readyz`, `POST /cache/invalidate` and `POST /reload`, with no
//! credential (bind it to loopback or a cluster-internal address); and the admin API under
//! `/admin/api` (`api.rs`), behind an admin credential. `/healthz` and `/readyz` are also served
//! on the client listener (see [`health_routes`]). It sees the gateway only through an
//! [`AdminView`]: read-only state and the operator actions.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod api;
mod api_call;
mod api_keys;
mod api_state;
mod api_tasks;
pub mod dashboard;
pub mod exposition;
pub mod health;
pub mod live;
pub mod stats;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::net::TcpListener;

use switchboard_gateway::admin_view::AdminView;
use switchboard_gateway::reload::ReloadError;

/// The routes of the admin listener.
pub fn router(view: AdminView) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/cache/invalidate", post(invalidate))
        .route("/reload", post(reload))
        .nest("/admin/api", api::routes())
        .merge(dashboard::routes())
        .merge(probes())
        .layer(axum::Extension(std::sync::Arc::new(live::Live::default())))
        .with_state(view)
}

/// `/healthz` and `/readyz`, also for the client listener (merged into its router).
pub fn health_routes(view: AdminView) -> Router {
    probes().with_state(view)
}

fn probes() -> Router<AdminView> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// Serve the admin routes until the task is dropped or aborted; the caller keeps it running
/// through the drain so `/readyz` reports it (503) while calls finish.
pub async fn serve(view: AdminView, listener: TcpListener) -> std::io::Result<()> {
    axum::serve(listener, router(view)).await
}

async fn metrics(State(view): State<AdminView>) -> Response {
    // moka counts entries lazily: bring the count up to date first.
    view.policies().cache.settle().await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::exposition::render(&view),
    )
        .into_response()
}

/// Load the config file again and apply it: 200 with what changed, 422 with why the new file
/// was refused (the running config stays), 409 when the gateway was not started from a file.
async fn reload(State(view): State<AdminView>) -> Response {
    let (status, body) = reload_answer(&view).await;
    json(status, &body)
}

/// Reload, and the answer: its status and body (shared with the admin API's reload).
pub(crate) async fn reload_answer(view: &AdminView) -> (StatusCode, serde_json::Value) {
    match view.reload().await {
        Ok(report) => (
            StatusCode::OK,
            serde_json::json!({"reloaded": true, "report": report}),
        ),
        Err(e @ ReloadError::NoSource) => (
            StatusCode::CONFLICT,
            serde_json::json!({"reloaded": false, "error": e.to_string()}),
        ),
        Err(e) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            serde_json::json!({"reloaded": false, "error": e.to_string()}),
        ),
    }
}

async fn healthz() -> Response {
    json(StatusCode::OK, &crate::health::liveness())
}

async fn readyz(State(view): State<AdminView>) -> Response {
    let h = crate::health::readiness(&view).await;
    let status = if h.healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json(status, &h)
}

pub(crate) fn json(status: StatusCode, body: &impl serde::Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(b) => (status, [(header::CONTENT_TYPE, "application/json")], b).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

#[derive(serde::Deserialize)]
struct InvalidateQuery {
    /// Drop every result of this server.
    server: Option<String>,
    /// Drop every result of this tool (its exposed name).
    tool: Option<String>,
}

/// `POST /cache/invalidate?server=NAME` or `?tool=EXPOSED_NAME`: drop kept results (in this
/// process and, with `store: redis`, for every replica).
async fn invalidate(State(view): State<AdminView>, Query(q): Query<InvalidateQuery>) -> Response {
    let mut dropped = Vec::new();
    if let Some(server) = &q.server {
        if !view.invalidate_server(server).await {
            return json(
                StatusCode::NOT_FOUND,
                &serde_json::json!({"error": format!("no server named `{server}`")}),
            );
        }
        dropped.push(format!("server:{server}"));
    }
    if let Some(tool) = &q.tool {
        view.invalidate_tool(tool).await;
        dropped.push(format!("tool:{tool}"));
    }
    if dropped.is_empty() {
        return json(
            StatusCode::BAD_REQUEST,
            &serde_json::json!({"error": "name what to drop: ?server=NAME or ?tool=EXPOSED_NAME"}),
        );
    }
    json(StatusCode::OK, &serde_json::json!({"invalidated": dropped}))
}
