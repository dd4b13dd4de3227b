//! The edge every client request passes first, on both HTTP transports: DNS-rebinding
//! protection, authentication (a refusal audited, answered 401/403 with a challenge), the
//! caller's policies read once and seen through the endpoint's view; and the body limit.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use switchboard_policy::auth::AuthError;

use super::{App, Caller, Reject};

/// The edge of every client request: DNS-rebinding protection, then authentication (a
/// refusal is audited), the caller's policies read once and seen through the endpoint's view.
pub(super) async fn admit_caller(
    app: &App,
    headers: &HeaderMap,
    extensions: &http::Extensions,
    method: &str,
) -> Result<Caller, Response> {
    app.edge
        .check(headers)
        .map_err(IntoResponse::into_response)?;
    let client_ip = extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    // The request is judged by one generation of the policies, read here once.
    let policies = app.gw.policies();
    let identity = match policies.auth.authenticate(headers).await {
        Ok(i) => i,
        Err(e) => {
            app.gw.audit.log_nowait(switchboard_audit::Record {
                subject: "-".into(),
                auth: "-".into(),
                client_ip: client_ip.map(|ip| ip.to_string()),
                transport: "http".into(),
                method: method.to_owned(),
                outcome: "unauthenticated".into(),
                ..Default::default()
            });
            return Err(unauthorized(&policies.auth, &e));
        }
    };
    let identity = match &app.view {
        Some(view) => Arc::new(switchboard_policy::auth::Identity {
            policy: identity.policy.within(view),
            ..(*identity).clone()
        }),
        None => identity,
    };
    Ok(Caller {
        identity,
        policies,
        client_ip,
    })
}

/// A POST's body, up to `http.max_body_bytes` (413 beyond).
pub(super) async fn read_body(app: &App, body: Body) -> Result<Bytes, Reject> {
    axum::body::to_bytes(body, app.max_body).await.map_err(|e| {
        let e = e.into_inner();
        if e.downcast_ref::<http_body_util::LengthLimitError>()
            .is_some()
        {
            Reject::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "request body exceeds {} bytes (http.max_body_bytes)",
                    app.max_body
                ),
            )
        } else {
            Reject::new(
                StatusCode::BAD_REQUEST,
                format!("cannot read request body: {e}"),
            )
        }
    })
}

/// 401 (or 403 for a missing scope) with a `WWW-Authenticate` challenge that says what was
/// wrong and, with OAuth configured, where to get a token.
fn unauthorized(auth: &switchboard_policy::auth::Authenticator, e: &AuthError) -> Response {
    let (status, challenge) = auth.challenge(e);
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::UNAUTHORIZED);
    let mut r = Reject::new(status, e.to_string()).into_response();
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}
