//! Tools without a server: HTTP APIs the gateway serves as MCP tools itself, behind the
//! backend seam (`switchboard_upstream::BackendFactory`) — hand-declared `http_tools`, and
//! (next) whole OpenAPI documents. Every policy of the pipeline applies to them unchanged:
//! roles, rate limits, argument validation, the result cache (GET tools are read-only and
//! idempotent), audit, metrics, traces, hot reload.
//!
//! - `declared.rs`: `http_tools:` entries as tools;
//! - `tool.rs`: a tool and its request template;
//! - `request.rs`: arguments → the request (path encoding, query styles, headers, body);
//! - `response.rs`: the answer → a tool result (structured JSON, text, images, errors);
//! - `shape.rs`: jq response shaping;
//! - `backend.rs`: the backend serving one entry.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod backend;
pub mod declared;
pub mod request;
pub mod response;
pub mod shape;
pub mod tool;

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};
use switchboard_config::{ServerConfig, TransportKind};
use switchboard_upstream::{Backend, BackendFactory, Down, InitInfo, Status, UpstreamEvent};
use tokio::sync::{mpsc, watch};

use crate::backend::HttpApi;

/// Answers longer than this are cut (with a note) unless the entry says otherwise.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 100_000;

/// Serves the config entries that are HTTP APIs (`openapi`, `http_tools`).
pub struct HttpApiFactory {
    client: reqwest::Client,
}

impl HttpApiFactory {
    /// One keep-alive HTTP client for every HTTP API entry. Redirects are not followed: a
    /// call goes to `base_url` and nowhere else.
    pub fn new() -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client for HTTP API tools: {e}"))?;
        Ok(Self { client })
    }
}

impl BackendFactory for HttpApiFactory {
    fn build(
        &self,
        name: &Arc<str>,
        config: &ServerConfig,
        status: watch::Sender<Status>,
        events: mpsc::UnboundedSender<UpstreamEvent>,
    ) -> Option<Arc<dyn Backend>> {
        if config.kind() != TransportKind::HttpApi {
            return None;
        }
        Some(match self.api(name, config, status.clone()) {
            Ok(api) => {
                let info = InitInfo::in_process(
                    name.to_string(),
                    env!("CARGO_PKG_VERSION"),
                    serde_json::json!({"tools": {}}),
                    None,
                )
                .and_modern();
                status.send_replace(Status::Ready(Arc::new(info)));
                let _ = events.send(UpstreamEvent::Ready {
                    server: name.clone(),
                });
                tracing::info!(server = %name, tools = api.tools.len(), base_url = %api.base, "HTTP API tools ready");
                Arc::new(api)
            }
            Err(reason) => Arc::new(Down::new(name, reason, status)),
        })
    }
}

impl HttpApiFactory {
    fn api(
        &self,
        name: &Arc<str>,
        config: &ServerConfig,
        status: watch::Sender<Status>,
    ) -> Result<HttpApi, String> {
        let base = config
            .base_url
            .as_deref()
            .ok_or_else(|| format!("servers.{name}.base_url is missing"))?
            .trim_end_matches('/')
            .to_owned();
        let tools = declared::tools(name, config)?;
        let mut headers = HeaderMap::new();
        for (k, v) in &config.headers {
            let key = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| format!("servers.{name}.headers: `{k}` is not a header name"))?;
            let value = HeaderValue::from_str(v)
                .map_err(|_| format!("servers.{name}.headers.{k}: not a valid header value"))?;
            headers.insert(key, value);
        }
        let listing = serde_json::json!({
            "tools": tools.iter().map(tool::Tool::listing).collect::<Vec<_>>()
        });
        Ok(HttpApi {
            name: name.clone(),
            base,
            tools,
            listing: switchboard_protocol::to_raw(&listing),
            headers,
            client: self.client.clone(),
            max_bytes: config
                .max_response_bytes
                .unwrap_or(DEFAULT_MAX_RESPONSE_BYTES),
            status,
        })
    }
}
