//! Tools without a server: HTTP APIs the gateway serves as MCP tools itself, behind the
//! backend seam (`switchboard_upstream::BackendFactory`) — hand-declared `http_tools`, and
//! whole OpenAPI documents (`openapi/`). Every policy of the pipeline applies to them unchanged:
//! roles, rate limits, argument validation, the result cache (GET tools are read-only and
//! idempotent), audit, metrics, traces, hot reload.
//!
//! - `declared.rs`: `http_tools:` entries as tools;
//! - `openapi/`: loading a document and importing its operations (`$defs`, styles, bodies);
//! - `tool.rs`: a tool and its request template;
//! - `request.rs`: arguments → the request (path encoding, query styles, headers, body);
//! - `response.rs`: the answer → a tool result (structured JSON, text, images, errors);
//! - `shape.rs`: jq response shaping;
//! - `backend.rs`: the backend serving one entry.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod backend;
pub mod declared;
pub mod identity;
pub mod openapi;
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

use crate::backend::{HttpApi, Tools};

/// Answers longer than this are cut (with a note) unless the entry says otherwise.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 100_000;

/// Serves the config entries that are HTTP APIs (`openapi`, `http_tools`).
pub struct HttpApiFactory {
    client: reqwest::Client,
    /// Fetches OpenAPI documents (following up to 5 redirects, unlike tool calls).
    spec_client: reqwest::Client,
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
        let spec_client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::limited(5))
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client for OpenAPI documents: {e}"))?;
        Ok(Self {
            client,
            spec_client,
        })
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
        let api = match self.api(name, config, status.clone()) {
            Ok(api) => Arc::new(api),
            Err(reason) => return Some(Arc::new(Down::new(name, reason, status))),
        };
        let declared = match declared::tools(name, config) {
            Ok(t) => t,
            Err(reason) => return Some(Arc::new(Down::new(name, reason, status))),
        };
        match config.openapi.clone() {
            // Only hand-declared tools: ready at once.
            None => {
                let base = config.base_url.clone().unwrap_or_default();
                ready(&api, Tools::new(trim(&base), declared), &events);
            }
            // A document to load (a file or a URL) first; calls wait while it loads.
            Some(source) => {
                let (api2, config, client) =
                    (api.clone(), config.clone(), self.spec_client.clone());
                tokio::spawn(async move {
                    match load_openapi(&api2.name, &source, &config, declared, &client).await {
                        Ok(tools) => ready(&api2, tools, &events),
                        Err(reason) => {
                            tracing::error!(server = %api2.name, %reason, "HTTP API cannot be served");
                            api2.status.send_replace(Status::CrashLoop {
                                reason,
                                restarts: 0,
                            });
                        }
                    }
                });
            }
        }
        Some(api)
    }
}

fn trim(base: &str) -> String {
    base.trim_end_matches('/').to_owned()
}

/// Put the entry's tools in force and say it is ready (the gateway lists it then).
fn ready(api: &HttpApi, tools: Tools, events: &mpsc::UnboundedSender<UpstreamEvent>) {
    tracing::info!(server = %api.name, tools = tools.tools.len(), base_url = %backend::redact(&tools.base), "HTTP API tools ready");
    let _ = api.tools.set(Arc::new(tools));
    let info = InitInfo::in_process(
        api.name.to_string(),
        env!("CARGO_PKG_VERSION"),
        serde_json::json!({"tools": {}}),
        None,
    )
    .and_modern();
    api.status.send_replace(Status::Ready(Arc::new(info)));
    let _ = events.send(UpstreamEvent::Ready {
        server: api.name.clone(),
    });
}

/// Load and import `source` for server `name`; the declared tools join (and win a name
/// clash). The base URL: `base_url`, else the document's first server (relative ones against
/// the document's own URL).
async fn load_openapi(
    name: &str,
    source: &str,
    config: &ServerConfig,
    declared: Vec<tool::Tool>,
    client: &reqwest::Client,
) -> Result<Tools, String> {
    let doc = openapi::load(source, client)
        .await
        .map_err(|e| format!("servers.{name}.openapi: {e}"))?;
    // Importing a large document is CPU work (GitHub's: a fifth of a second): off the async
    // workers.
    let externals = if source.starts_with("http://") || source.starts_with("https://") {
        openapi::Externals::default()
    } else {
        openapi::Externals::beside(std::path::Path::new(source))
    };
    let cfg = config.clone();
    let label = source.to_owned();
    let imported =
        tokio::task::spawn_blocking(move || openapi::import_with(&doc, &cfg, &externals))
            .await
            .map_err(|e| format!("servers.{name}.openapi: the import failed: {e}"))?
            .map_err(|e| format!("servers.{name}.openapi: {label} {e}"))?;
    for s in &imported.skipped {
        tracing::warn!(server = %name, operation = %s, "OpenAPI operation skipped");
    }
    let base = match (&config.base_url, &imported.server_url) {
        (Some(b), _) => b.clone(),
        (None, Some(u)) if u.starts_with("http://") || u.starts_with("https://") => u.clone(),
        (None, Some(u))
            if u.starts_with('/')
                && (source.starts_with("http://") || source.starts_with("https://")) =>
        {
            let origin: String = source.splitn(4, '/').take(3).collect::<Vec<_>>().join("/");
            format!("{origin}{u}")
        }
        (None, found) => {
            return Err(format!(
                "servers.{name}.base_url is missing and the document's first server ({}) is not an absolute URL; set base_url",
                found.as_deref().unwrap_or("none")
            ));
        }
    };
    let mut tools = declared;
    let taken: Vec<String> = tools.iter().map(|t| t.name.clone()).collect();
    tools.extend(
        imported
            .tools
            .into_iter()
            .filter(|t| !taken.contains(&t.name)),
    );
    tracing::info!(server = %name, tools = tools.len(), skipped = imported.skipped.len(), "OpenAPI document imported");
    Ok(Tools::new(trim(&base), tools))
}

impl HttpApiFactory {
    fn api(
        &self,
        name: &Arc<str>,
        config: &ServerConfig,
        status: watch::Sender<Status>,
    ) -> Result<HttpApi, String> {
        let mut headers = HeaderMap::new();
        for (k, v) in &config.headers {
            let key = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| format!("servers.{name}.headers: `{k}` is not a header name"))?;
            let value = HeaderValue::from_str(v)
                .map_err(|_| format!("servers.{name}.headers.{k}: not a valid header value"))?;
            headers.insert(key, value);
        }
        let identity = config
            .forward_identity
            .as_ref()
            .map(|f| identity::Forward::new(name, f))
            .transpose()?;
        Ok(HttpApi {
            name: name.clone(),
            identity,
            tools: std::sync::OnceLock::new(),
            headers,
            client: self.client.clone(),
            max_bytes: config
                .max_response_bytes
                .unwrap_or(DEFAULT_MAX_RESPONSE_BYTES),
            status,
        })
    }
}
