//! Routes (issue 17): one exposed tool served by several candidate tools, declared in the
//! `routes:` section and served behind the backend seam (`RouteFactory` serves the `routes`
//! entry loading adds, listed without a prefix). Every candidate call goes through the
//! dispatch seam as the caller — authorized, limited, validated, cached and audited
//! (transport `route:<name>`) like the caller's own.
//!
//! - `route.rs`: a route as it runs, and the order a call tries its candidates in (priority
//!   groups; `priority`, `round_robin`, `least_latency`, `adaptive` within a group);
//! - `health.rs`: what was seen of each candidate (EWMA latency and success) and its breaker;
//! - `call.rs`: one call — fallback by `fallback_on` and idempotence, breakers, hedging;
//! - `backend.rs`: the backend, and the watcher that keeps the routes' listing current.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod backend;
pub mod call;
pub mod health;
pub mod route;

use std::sync::Arc;

use indexmap::IndexMap;
use switchboard_config::{RouteConfig, ServerConfig, TransportKind};
use switchboard_gateway::Gateway;
use switchboard_gateway::dispatch::DispatchSlot;
use switchboard_upstream::{Backend, BackendFactory, Down, InitInfo, Status, UpstreamEvent};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::backend::Routes;
use crate::route::Route;

/// Serves the `routes` entry; candidate calls reach the gateway through `slot`.
pub struct RouteFactory {
    slot: DispatchSlot,
}

impl RouteFactory {
    pub fn new(slot: DispatchSlot) -> Self {
        Self { slot }
    }
}

impl BackendFactory for RouteFactory {
    fn build(
        &self,
        name: &Arc<str>,
        config: &ServerConfig,
        status: watch::Sender<Status>,
        events: mpsc::UnboundedSender<UpstreamEvent>,
    ) -> Option<Arc<dyn Backend>> {
        if config.kind() != TransportKind::Routes {
            return None;
        }
        let mut routes = IndexMap::new();
        for (route_name, cfg) in &config.routes {
            match Route::compile(route_name, cfg) {
                Ok(r) => {
                    routes.insert(route_name.clone(), Arc::new(r));
                }
                Err(reason) => return Some(Arc::new(Down::new(name, reason, status))),
            }
        }
        let routes = Arc::new(routes);
        let stop = CancellationToken::new();
        backend::watch_catalogue(
            name.clone(),
            routes.clone(),
            self.slot.clone(),
            events.clone(),
            stop.clone(),
        );
        tracing::info!(server = %name, routes = routes.len(), "routes ready");
        let info = InitInfo::in_process(
            name.to_string(),
            env!("CARGO_PKG_VERSION"),
            serde_json::json!({"tools": {"listChanged": true}}),
            None,
        )
        .and_modern();
        status.send_replace(Status::Ready(Arc::new(info)));
        let _ = events.send(UpstreamEvent::Ready {
            server: name.clone(),
        });
        Some(Arc::new(Routes {
            name: name.clone(),
            routes,
            slot: self.slot.clone(),
            status,
            stop,
        }))
    }
}

/// What is wrong with the routes now that servers are up: candidates the catalogue does not
/// list, routes left with none, candidates whose schema differs from the route's without an
/// argument mapping. `(route, problem, fatal)`: fatal when the route has no candidate.
pub fn problems(
    gateway: &Gateway,
    routes: &IndexMap<String, RouteConfig>,
) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    for (name, route) in routes {
        let listed: Vec<_> = route
            .candidates
            .iter()
            .map(|c| gateway.catalog.tool_definition(&c.tool))
            .collect();
        for (c, def) in route.candidates.iter().zip(&listed) {
            if def.is_none() {
                out.push((
                    name.clone(),
                    format!("candidate `{}` is not listed by any server", c.tool),
                    false,
                ));
            }
        }
        if listed.iter().all(Option::is_none) {
            out.push((
                name.clone(),
                "no candidate is listed: the route cannot be called".into(),
                true,
            ));
            continue;
        }
        let schema = route.input_schema.clone().or_else(|| {
            let mut sorted: Vec<_> = route.candidates.iter().zip(&listed).collect();
            sorted.sort_by_key(|(c, _)| std::cmp::Reverse(c.priority));
            sorted
                .into_iter()
                .find_map(|(_, d)| d.as_ref()?.get("inputSchema").cloned())
        });
        for (c, def) in route.candidates.iter().zip(&listed) {
            let Some(def) = def else { continue };
            if c.args.is_none() && def.get("inputSchema") != schema.as_ref() {
                out.push((
                    name.clone(),
                    format!("candidate `{}` takes other arguments than the route, and has no `args` mapping", c.tool),
                    false,
                ));
            }
        }
    }
    out
}
