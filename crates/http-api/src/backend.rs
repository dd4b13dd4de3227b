//! The backend serving one HTTP API entry: `tools/list` from the tools built at start,
//! `tools/call` as one HTTP request to `base_url` (retried once on a connection failure for
//! idempotent methods), its answer read up to a hard limit and turned into a tool result.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use http::HeaderMap;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use switchboard_protocol::{ErrorObject, to_raw};
use switchboard_upstream::{Backend, CallError, CallOptions, Era, Status};
use tokio::sync::watch;

use crate::request::{BadArguments, build};
use crate::response::{Answer, error_result, result};
use crate::tool::Tool;

/// The most bytes of an answer read; a longer one is refused (the tool's error).
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// The tools of an entry, and where they call.
pub struct Tools {
    /// `base_url` without a trailing `/`.
    pub base: String,
    pub tools: Vec<Tool>,
    /// The `tools/list` result, built once.
    pub listing: Box<RawValue>,
}

impl Tools {
    pub fn new(base: String, tools: Vec<Tool>) -> Self {
        let listing = serde_json::json!({
            "tools": tools.iter().map(Tool::listing).collect::<Vec<_>>()
        });
        Self {
            base,
            tools,
            listing: to_raw(&listing),
        }
    }

    fn tool(&self, name: &str) -> Option<&Tool> {
        self.tools.iter().find(|t| t.name == name)
    }
}

pub struct HttpApi {
    pub(crate) name: Arc<str>,
    /// Set once the tools are built (at once for `http_tools`, after loading an `openapi`
    /// document); calls wait for it through the upstream's `Starting` status.
    pub(crate) tools: std::sync::OnceLock<Arc<Tools>>,
    /// `forward_identity`: headers stating the caller to the API.
    pub(crate) identity: Option<crate::identity::Forward>,
    /// The entry's `headers`, sent with every request.
    pub(crate) headers: HeaderMap,
    pub(crate) client: reqwest::Client,
    pub(crate) max_bytes: usize,
    pub(crate) status: watch::Sender<Status>,
}

impl HttpApi {
    fn loaded(&self) -> Result<&Arc<Tools>, CallError> {
        self.tools.get().ok_or_else(|| CallError::Unavailable {
            server: self.name.to_string(),
            reason: "its tools are not loaded yet".into(),
        })
    }

    async fn call_tool(
        &self,
        params: Option<&RawValue>,
        on_behalf_of: Option<&Arc<dyn std::any::Any + Send + Sync>>,
    ) -> Result<Box<RawValue>, CallError> {
        let loaded = self.loaded()?.clone();
        // Who the API is told is calling: the gateway's caller, never the client's credential.
        let who = match &self.identity {
            None => HeaderMap::new(),
            Some(f) => {
                let caller = on_behalf_of
                    .and_then(|c| {
                        c.clone()
                            .downcast::<switchboard_gateway::dispatch::Caller>()
                            .ok()
                    })
                    .ok_or_else(|| CallError::Failed {
                        server: self.name.to_string(),
                        reason: "forward_identity is set but the call came without a caller".into(),
                    })?;
                f.headers(&caller.identity)
                    .map_err(|reason| CallError::Failed {
                        server: self.name.to_string(),
                        reason,
                    })?
            }
        };
        #[derive(serde::Deserialize)]
        struct P {
            name: String,
            #[serde(default)]
            arguments: Option<Map<String, Value>>,
        }
        let p: P = params
            .map(|p| serde_json::from_str(p.get()))
            .transpose()
            .map_err(|e| invalid(format!("tools/call params: {e}")))?
            .ok_or_else(|| invalid("tools/call needs params with `name`".into()))?;
        let tool = loaded
            .tool(&p.name)
            .ok_or_else(|| invalid(format!("Unknown tool: {}", p.name)))?;
        let args = p.arguments.unwrap_or_default();
        let base = loaded.base.as_str();
        let req = build(tool, base, &args).map_err(|BadArguments(why)| {
            invalid(format!("Invalid arguments for tool {}: {why}", tool.name))
        })?;
        let what = format!("{} {}", req.method, path_of(&req.url, base));
        let attempts = if tool.retryable() { 2 } else { 1 };
        let mut last = String::new();
        for attempt in 0..attempts {
            // Later header sets replace earlier ones of the same name: the arguments' headers
            // first, then the entry's own (its credentials, tenant), then who is calling.
            let mut r = self.client.request(req.method.clone(), &req.url);
            if let Some((ct, body)) = &req.body {
                r = r.header(http::header::CONTENT_TYPE, *ct).body(body.clone());
            }
            let r = r
                .headers(req.headers.clone())
                .headers(self.headers.clone())
                .headers(who.clone());
            match r.send().await {
                Ok(resp) => {
                    let url = redact(&req.url);
                    return Ok(to_raw(&self.answer(tool, &what, &url, resp).await));
                }
                Err(e) if e.is_connect() && attempt + 1 < attempts => {
                    last = error_chain(&e);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => {
                    last = error_chain(&e);
                    break;
                }
            }
        }
        tracing::warn!(server = %self.name, tool = %tool.name, error = %last, "HTTP API call failed");
        Ok(to_raw(&error_result(&format!(
            "{what}: the API at {} could not be reached: {last}",
            redact(base)
        ))))
    }

    async fn answer(
        &self,
        tool: &Tool,
        what: &str,
        url: &str,
        mut resp: reqwest::Response,
    ) -> Value {
        let status = resp.status();
        let ct = resp
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
            return error_result(&format!(
                "{what}: the answer is {} bytes, more than the {MAX_BODY} the gateway reads",
                resp.content_length().unwrap_or_default()
            ));
        }
        let mut body = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > MAX_BODY {
                        return error_result(&format!(
                            "{what}: the answer is more than the {MAX_BODY} bytes the gateway reads"
                        ));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    return error_result(&format!(
                        "{what}: the answer broke off: {}",
                        error_chain(&e)
                    ));
                }
            }
        }
        let max = self.max_bytes;
        let Some(shaper) = tool.shaper.clone() else {
            return result(
                &Answer {
                    status,
                    content_type: ct.as_deref(),
                    body: &body,
                    what,
                    url,
                },
                None,
                max,
            );
        };
        // A jq expression is CPU work of its own: off the async workers.
        let (what, url) = (what.to_owned(), url.to_owned());
        tokio::task::spawn_blocking(move || {
            result(
                &Answer {
                    status,
                    content_type: ct.as_deref(),
                    body: &body,
                    what: &what,
                    url: &url,
                },
                Some(&shaper),
                max,
            )
        })
        .await
        .unwrap_or_else(|e| error_result(&format!("shaping the answer failed: {e}")))
    }
}

fn invalid(message: String) -> CallError {
    CallError::Rpc(ErrorObject::invalid_params(message))
}

/// A URL without credentials in it (`https://user:pw@host` → `https://***@host`), for
/// messages and logs.
pub(crate) fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host_end = rest.find('/').unwrap_or(rest.len());
            match rest[..host_end].rfind('@') {
                Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
                None => url.to_owned(),
            }
        }
        None => url.to_owned(),
    }
}

/// The URL's part after the base (for messages): `/employees/E1?x=1`.
fn path_of<'a>(url: &'a str, base: &str) -> &'a str {
    url.strip_prefix(base).unwrap_or(url)
}

/// An error with its causes (`error sending request: connection refused`).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

impl Backend for HttpApi {
    fn call<'a>(
        &'a self,
        method: &'a str,
        params: Option<Box<RawValue>>,
        opts: CallOptions,
        _era: Era,
        _timeout: Duration,
    ) -> BoxFuture<'a, Result<Box<RawValue>, CallError>> {
        Box::pin(async move {
            match method {
                "tools/list" => Ok(self.loaded()?.listing.clone()),
                "tools/call" => {
                    self.call_tool(params.as_deref(), opts.on_behalf_of.as_ref())
                        .await
                }
                "ping" => Ok(switchboard_protocol::empty_object()),
                other => Err(CallError::Rpc(ErrorObject::method_not_found(other))),
            }
        })
    }

    fn notify(&self, _method: &str, _params: Option<Box<RawValue>>) {}

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        self.status.send_replace(Status::Stopped);
        Box::pin(async {})
    }
}
