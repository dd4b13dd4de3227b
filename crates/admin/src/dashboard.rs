//! The admin dashboard (`/admin/`): a page and its script and style, embedded in the binary at
//! build time — nothing is fetched from the network when it runs, and `cargo build` alone
//! builds it. It talks to the admin API with the credential the person signs in with (see
//! `dashboard/app.js`). Served with a content security policy that allows only its own files.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use switchboard_gateway::admin_view::AdminView;

const INDEX: &str = include_str!("dashboard/index.html");

/// The page's files, by name under `/admin/assets/`: (name, content, media type).
const ASSETS: &[(&str, &str, &str)] = &[
    ("app.js", include_str!("dashboard/app.js"), JS),
    ("core.js", include_str!("dashboard/core.js"), JS),
    ("overview.js", include_str!("dashboard/overview.js"), JS),
    ("servers.js", include_str!("dashboard/servers.js"), JS),
    ("playground.js", include_str!("dashboard/playground.js"), JS),
    ("audit.js", include_str!("dashboard/audit.js"), JS),
    ("tasks.js", include_str!("dashboard/tasks.js"), JS),
    ("workflows.js", include_str!("dashboard/workflows.js"), JS),
    ("graph.js", include_str!("dashboard/graph.js"), JS),
    ("routes.js", include_str!("dashboard/routes.js"), JS),
    ("keys.js", include_str!("dashboard/keys.js"), JS),
    ("config.js", include_str!("dashboard/config.js"), JS),
    (
        "app.css",
        include_str!("dashboard/app.css"),
        "text/css; charset=utf-8",
    ),
    (
        "icon.svg",
        include_str!("dashboard/icon.svg"),
        "image/svg+xml",
    ),
];
const JS: &str = "text/javascript; charset=utf-8";

/// The dashboard's routes (on the admin listener).
pub fn routes() -> Router<AdminView> {
    Router::new()
        .route("/admin", get(|| async { Redirect::permanent("/admin/") }))
        .route(
            "/admin/",
            get(|| async { page(INDEX, "text/html; charset=utf-8") }),
        )
        .route("/admin/assets/{name}", get(asset))
}

async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, body, media)) => page(body, media),
        None => (StatusCode::NOT_FOUND, "no such dashboard file").into_response(),
    }
}

fn page(body: &'static str, content_type: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; \
             img-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}
