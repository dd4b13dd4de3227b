//! The backend serving the `routes` entry. `tools/list` lists each route under its own name
//! with its declared schema and description, or its first listed candidate's; a route none of
//! whose candidates is listed is not offered. A watcher follows the catalogue and says
//! `notifications/tools/list_changed` when a route's listing changes (a candidate joined, or
//! its definition changed). `tools/call` runs the route (`call.rs`) as the caller the gateway
//! names.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use indexmap::IndexMap;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use switchboard_gateway::catalog::Catalog;
use switchboard_gateway::dispatch::{Caller, DispatchSlot};
use switchboard_protocol::{ErrorObject, Notification, methods, to_raw};
use switchboard_upstream::{Backend, CallError, CallOptions, Era, Status, UpstreamEvent};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::route::Route;

pub struct Routes {
    pub(crate) name: Arc<str>,
    pub(crate) routes: Arc<IndexMap<String, Arc<Route>>>,
    pub(crate) slot: DispatchSlot,
    pub(crate) status: watch::Sender<Status>,
    pub(crate) stop: CancellationToken,
}

/// A route's `tools/list` entry, from the catalogue now.
pub fn definition(route: &Route, catalog: &Catalog) -> Option<Value> {
    let first = route
        .candidates
        .iter()
        .find_map(|c| catalog.tool_definition(&c.tool));
    let mut def = match (&route.config.input_schema, first) {
        (None, None) => return None,
        (_, Some(d)) => d,
        (Some(_), None) => json!({}),
    };
    let obj = def.as_object_mut()?;
    obj.insert("name".into(), json!(&*route.name));
    // What the gateway adds per listed tool (task support) is its own business per route.
    obj.remove("execution");
    if let Some(s) = &route.config.input_schema {
        obj.insert("inputSchema".into(), s.clone());
    }
    if let Some(d) = &route.config.description {
        obj.insert("description".into(), json!(d));
    }
    Some(def)
}

fn definitions(routes: &IndexMap<String, Arc<Route>>, catalog: &Catalog) -> Vec<Value> {
    routes
        .values()
        .filter_map(|r| definition(r, catalog))
        .collect()
}

/// Follow the catalogue; say `list_changed` for `server` when the routes' listing changes.
pub(crate) fn watch_catalogue(
    server: Arc<str>,
    routes: Arc<IndexMap<String, Arc<Route>>>,
    slot: DispatchSlot,
    events: mpsc::UnboundedSender<UpstreamEvent>,
    stop: CancellationToken,
) {
    tokio::spawn(async move {
        // The gateway is there once it started (the binary fills the slot).
        let catalog = loop {
            if let Some(gw) = slot.gateway() {
                break gw.catalog.clone();
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                _ = stop.cancelled() => return,
            }
        };
        let mut changes = catalog.changes();
        let mut last: Option<Vec<Value>> = None;
        loop {
            let now = definitions(&routes, &catalog);
            if last.as_ref() != Some(&now) {
                last = Some(now);
                let _ = events.send(UpstreamEvent::Notification {
                    server: server.clone(),
                    notification: Notification {
                        method: methods::TOOLS_LIST_CHANGED.to_owned(),
                        params: None,
                    },
                });
            }
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return },
                _ = stop.cancelled() => return,
            }
        }
    });
}

impl Routes {
    fn list(&self) -> Box<RawValue> {
        let tools = match self.slot.gateway() {
            Some(gw) => definitions(&self.routes, &gw.catalog),
            None => Vec::new(),
        };
        to_raw(&json!({ "tools": tools }))
    }

    async fn call_route(
        &self,
        params: Option<Box<RawValue>>,
        opts: CallOptions,
    ) -> Result<Box<RawValue>, CallError> {
        let params: Value = params
            .as_deref()
            .and_then(|p| serde_json::from_str(p.get()).ok())
            .unwrap_or(Value::Null);
        let name = params
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Some(route) = self.routes.get(name).cloned() else {
            return Err(CallError::Rpc(ErrorObject::invalid_params(format!(
                "Unknown tool: {name}"
            ))));
        };
        let args = match params.get("arguments") {
            None | Some(Value::Null) => json!({}),
            Some(a) => a.clone(),
        };
        let Some(mut caller) = opts
            .on_behalf_of
            .clone()
            .and_then(|c| c.downcast::<Caller>().ok())
            .map(|c| (*c).clone())
        else {
            return Err(CallError::Rpc(ErrorObject::internal(
                "a route must be called through the gateway (no caller was given)",
            )));
        };
        let Some(gw) = self.slot.gateway() else {
            return Err(CallError::Unavailable {
                server: self.name.to_string(),
                reason: "the gateway is starting or stopping".into(),
            });
        };
        caller.relay = opts.relay.clone();
        crate::call::call(&route, &gw, &caller, &args, &opts.cancel)
            .await
            .map_err(CallError::Rpc)
    }
}

impl Backend for Routes {
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
                methods::TOOLS_CALL => self.call_route(params, opts).await,
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
