//! The admin listener (`admin.listen`): `GET /metrics` (Prometheus text format), `GET
//! /healthz`, `GET /readyz`, `POST /cache/invalidate` and `POST /reload`. No credential: bind it to loopback or
//! a cluster-internal address. `/healthz` and `/readyz` are also served on the client listener
//! (see [`health_routes`]).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::net::TcpListener;

use crate::gateway::Gateway;

/// The routes of the admin listener.
pub fn router(gw: Arc<Gateway>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/cache/invalidate", post(invalidate))
        .route("/reload", post(reload))
        .merge(health_routes())
        .with_state(gw)
}

/// `/healthz` and `/readyz`, for any router whose state is the gateway.
pub fn health_routes() -> Router<Arc<Gateway>> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// Serve the admin routes until the task is dropped or aborted; the caller keeps it running
/// through the drain so `/readyz` reports it (503) while calls finish.
pub async fn serve(gw: Arc<Gateway>, listener: TcpListener) -> std::io::Result<()> {
    axum::serve(listener, router(gw)).await
}

async fn metrics(State(gw): State<Arc<Gateway>>) -> Response {
    // moka counts entries lazily: bring the count up to date first.
    gw.cache().settle().await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::render(&gw),
    )
        .into_response()
}

/// Load the config file again and apply it: 200 with what changed, 422 with why the new file
/// was refused (the running config stays), 409 when the gateway was not started from a file.
async fn reload(State(gw): State<Arc<Gateway>>) -> Response {
    match gw.reload_from_source().await {
        Ok(report) => json(
            StatusCode::OK,
            &serde_json::json!({"reloaded": true, "report": report}),
        ),
        Err(e @ crate::reload::ReloadError::NoSource) => json(
            StatusCode::CONFLICT,
            &serde_json::json!({"reloaded": false, "error": e.to_string()}),
        ),
        Err(e) => json(
            StatusCode::UNPROCESSABLE_ENTITY,
            &serde_json::json!({"reloaded": false, "error": e.to_string()}),
        ),
    }
}

async fn healthz() -> Response {
    json(StatusCode::OK, &crate::health::liveness())
}

async fn readyz(State(gw): State<Arc<Gateway>>) -> Response {
    let h = crate::health::readiness(&gw).await;
    let status = if h.healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json(status, &h)
}

fn json(status: StatusCode, body: &impl serde::Serialize) -> Response {
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
async fn invalidate(State(gw): State<Arc<Gateway>>, Query(q): Query<InvalidateQuery>) -> Response {
    let mut dropped = Vec::new();
    if let Some(server) = &q.server {
        let Some(idx) = gw.catalog.server_index(server) else {
            return json(
                StatusCode::NOT_FOUND,
                &serde_json::json!({"error": format!("no server named `{server}`")}),
            );
        };
        gw.cache().invalidate_server(idx, server).await;
        dropped.push(format!("server:{server}"));
    }
    if let Some(tool) = &q.tool {
        gw.cache()
            .invalidate_tools(std::slice::from_ref(tool))
            .await;
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
