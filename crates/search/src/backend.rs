//! The backend serving the `tool_search` entry: `search_tools` and `call_tool`, listed under
//! their own names. The index is rebuilt off the async threads whenever the catalogue changes
//! (the meta-tools themselves left out), and `search_tools`' description — which says what is
//! behind it: each server, its tool count and the words its tools are most about — is kept
//! current with a `list_changed` when it changes. Results are only tools the caller may call;
//! `call_tool` goes through the dispatch seam as the caller, so a tool the caller may not use
//! gets exactly the unknown-tool answer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use parking_lot::RwLock;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use switchboard_config::ToolSearchConfig;
use switchboard_config::tool_search::{CALL_TOOL, SEARCH_TOOLS};
use switchboard_gateway::dispatch::{Caller, Dispatch, DispatchSlot};
use switchboard_protocol::{ErrorObject, Notification, methods, to_raw};
use switchboard_upstream::{Backend, CallError, CallOptions, Era, Status, UpstreamEvent};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::index::Index;

/// The index in force, and the description it gives `search_tools`.
#[derive(Default)]
pub struct Current {
    pub index: Index,
    pub description: String,
}

pub struct Search {
    pub(crate) name: Arc<str>,
    pub(crate) config: ToolSearchConfig,
    pub(crate) current: Arc<RwLock<Arc<Current>>>,
    pub(crate) slot: DispatchSlot,
    pub(crate) status: watch::Sender<Status>,
    pub(crate) stop: CancellationToken,
}

/// What `search_tools` says of the catalogue: each server, how many tools, what about.
fn describe(index: &Index, separator: &str) -> String {
    let mut servers: Vec<(String, usize)> = Vec::new();
    for d in &index.docs {
        let server = d
            .name
            .split_once(separator)
            .map_or("(unprefixed)", |(s, _)| s)
            .to_owned();
        match servers.iter_mut().find(|(s, _)| *s == server) {
            Some((_, n)) => *n += 1,
            None => servers.push((server, 1)),
        }
    }
    let parts: Vec<String> = servers
        .iter()
        .map(|(s, n)| {
            let themes = if s == "(unprefixed)" {
                Vec::new()
            } else {
                index.themes(&format!("{s}{separator}"), 6)
            };
            if themes.is_empty() {
                format!("{s} ({n} tools)")
            } else {
                format!("{s} ({n} tools: {})", themes.join(", "))
            }
        })
        .collect();
    format!(
        "Find the right tool among the {} tools behind this gateway by describing what you want done \
         (e.g. \"open a bug report\"); answers the best matches you may use, each with its name, \
         description and input schema. Then call one with `{CALL_TOOL}`. Servers: {}.",
        index.docs.len(),
        parts.join("; ")
    )
}

/// Rebuild the index from the catalogue whenever it changes; say `list_changed` for `server`
/// when the description of `search_tools` changed.
pub(crate) fn follow_catalogue(
    server: Arc<str>,
    current: Arc<RwLock<Arc<Current>>>,
    slot: DispatchSlot,
    events: mpsc::UnboundedSender<UpstreamEvent>,
    stop: CancellationToken,
) {
    tokio::spawn(async move {
        let (catalog, separator) = loop {
            if let Some(gw) = slot.gateway() {
                break (gw.catalog.clone(), gw.config.federation.separator.clone());
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                _ = stop.cancelled() => return,
            }
        };
        let mut changes = catalog.changes();
        loop {
            let tools = indexable(&catalog);
            let sep = separator.clone();
            let started = Instant::now();
            // Tokenizing a large catalogue is CPU work: off the async threads.
            let built = tokio::task::spawn_blocking(move || build(tools, &sep)).await;
            if let Ok(built) = built {
                tracing::debug!(tools = built.index.docs.len(), took = ?started.elapsed(), "tool search index rebuilt");
                let changed = current.read().description != built.description;
                *current.write() = Arc::new(built);
                if changed {
                    let _ = events.send(UpstreamEvent::Notification {
                        server: server.clone(),
                        notification: Notification {
                            method: methods::TOOLS_LIST_CHANGED.to_owned(),
                            params: None,
                        },
                    });
                }
            }
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return },
                _ = stop.cancelled() => return,
            }
        }
    });
}

/// The catalogue's tools but the meta-tools.
fn indexable(catalog: &switchboard_gateway::catalog::Catalog) -> Vec<Value> {
    catalog
        .tool_definitions()
        .into_iter()
        .filter(|t| {
            let n = t.get("name").and_then(Value::as_str).unwrap_or_default();
            n != SEARCH_TOOLS && n != CALL_TOOL
        })
        .collect()
}

fn build(tools: Vec<Value>, separator: &str) -> Current {
    let index = Index::build(tools, separator);
    let description = describe(&index, separator);
    Current { index, description }
}

impl Search {
    /// The index in force; built now if the watcher has not yet (the first listing at start).
    fn current(&self) -> Arc<Current> {
        let now = self.current.read().clone();
        if !now.index.docs.is_empty() {
            return now;
        }
        let Some(gw) = self.slot.gateway() else {
            return now;
        };
        let built = Arc::new(build(
            indexable(&gw.catalog),
            &gw.config.federation.separator,
        ));
        *self.current.write() = built.clone();
        built
    }

    fn list(&self) -> Box<RawValue> {
        let description = self.current().description.clone();
        to_raw(&json!({"tools": [
            {
                "name": SEARCH_TOOLS,
                "description": description,
                "inputSchema": {"type": "object", "properties": {
                    "query": {"type": "string", "description": "What you want done, in your words"},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 50,
                              "description": format!("How many tools to return (default {})", self.config.max_results)}
                }, "required": ["query"]},
                "annotations": {"readOnlyHint": true, "idempotentHint": true, "openWorldHint": false}
            },
            {
                "name": CALL_TOOL,
                "description": format!("Call a tool found with `{SEARCH_TOOLS}` by its name, with its arguments."),
                "inputSchema": {"type": "object", "properties": {
                    "name": {"type": "string", "description": "The tool's name, as search_tools gave it"},
                    "arguments": {"type": "object", "description": "Its arguments, as its input schema says"}
                }, "required": ["name"]}
            }
        ]}))
    }

    fn search(&self, caller: &Caller, args: &Value) -> Result<Box<RawValue>, CallError> {
        let query = args
            .get("query")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let limit = args
            .get("limit")
            .and_then(Value::as_u64)
            .map_or(self.config.max_results, |l| {
                usize::try_from(l).unwrap_or(50).clamp(1, 50)
            });
        let Some(gw) = self.slot.gateway() else {
            return Err(starting(&self.name));
        };
        let current = self.current();
        let started = Instant::now();
        let hits = current
            .index
            .search(query, limit, &|name| caller.may_call(&gw, name).is_ok());
        let tools: Vec<Value> = hits
            .iter()
            .map(|(score, d)| {
                json!({
                    "name": d.name,
                    "description": d.tool.get("description"),
                    "inputSchema": d.tool.get("inputSchema"),
                    "score": (score * 1000.0).round() / 1000.0,
                })
            })
            .collect();
        let text = if tools.is_empty() {
            format!("No tool matches \"{query}\". Try other words for what you want done.")
        } else {
            hits.iter()
                .map(|(_, d)| {
                    let summary = d
                        .tool
                        .get("description")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .lines()
                        .next()
                        .unwrap_or_default();
                    format!("{}: {summary}", d.name)
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        tracing::debug!(%query, found = tools.len(), took = ?started.elapsed(), "tool search");
        Ok(to_raw(&json!({
            "content": [{"type": "text", "text": text}],
            "structuredContent": {"tools": tools},
        })))
    }

    async fn call_other(
        &self,
        caller: &Caller,
        args: &Value,
        cancel: CancellationToken,
    ) -> Result<Box<RawValue>, CallError> {
        let Some(name) = args.get("name").and_then(Value::as_str) else {
            return Err(CallError::Rpc(ErrorObject::invalid_params(
                "call_tool needs `name`",
            )));
        };
        if name == CALL_TOOL || name == SEARCH_TOOLS {
            return Err(CallError::Rpc(ErrorObject::invalid_params(format!(
                "call `{name}` directly, not through call_tool"
            ))));
        }
        let arguments = args.get("arguments").cloned().unwrap_or_else(|| json!({}));
        let Some(gw) = self.slot.gateway() else {
            return Err(starting(&self.name));
        };
        gw.call_tool(caller, name, arguments, cancel)
            .await
            .map_err(CallError::Rpc)
    }
}

fn starting(name: &str) -> CallError {
    CallError::Unavailable {
        server: name.to_owned(),
        reason: "the gateway is starting or stopping".into(),
    }
}

impl Backend for Search {
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
                methods::TOOLS_LIST => Ok(self.list()),
                methods::TOOLS_CALL => {
                    let params: Value = params
                        .as_deref()
                        .and_then(|p| serde_json::from_str(p.get()).ok())
                        .unwrap_or(Value::Null);
                    let args = params
                        .get("arguments")
                        .cloned()
                        .unwrap_or_else(|| json!({}));
                    let Some(mut caller) = opts
                        .on_behalf_of
                        .clone()
                        .and_then(|c| c.downcast::<Caller>().ok())
                        .map(|c| (*c).clone())
                    else {
                        return Err(CallError::Rpc(ErrorObject::internal(
                            "tool search must be called through the gateway (no caller was given)",
                        )));
                    };
                    caller.relay = opts.relay.clone();
                    match params.get("name").and_then(Value::as_str) {
                        Some(SEARCH_TOOLS) => self.search(&caller, &args),
                        Some(CALL_TOOL) => {
                            caller.via = Some(Arc::from("call_tool"));
                            self.call_other(&caller, &args, opts.cancel.clone()).await
                        }
                        other => Err(CallError::Rpc(ErrorObject::invalid_params(format!(
                            "Unknown tool: {}",
                            other.unwrap_or_default()
                        )))),
                    }
                }
                methods::PING => Ok(to_raw(&json!({}))),
                other => Err(CallError::Rpc(ErrorObject::method_not_found(other))),
            }
        })
    }

    fn notify(&self, _method: &str, _params: Option<Box<RawValue>>) {}

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        self.stop.cancel();
        self.status.send_replace(Status::Stopped);
        Box::pin(async {})
    }
}
