//! Tool search for large catalogues (issue 17): `search_tools` and `call_tool`.
//!
//! - `index.rs`: the BM25F index over names, parameter names and descriptions;
//! - `vocabulary.rs`: terms (stemmed words) and the everyday words queries use for them;
//! - `backend.rs`: the two meta-tools behind the backend seam (the `tool_search` entry
//!   loading adds, listed without a prefix), the index kept current from the catalogue.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod backend;
pub mod index;
pub mod vocabulary;

use std::sync::Arc;

use parking_lot::RwLock;
use switchboard_config::{ServerConfig, TransportKind};
use switchboard_gateway::dispatch::DispatchSlot;
use switchboard_upstream::{Backend, BackendFactory, InitInfo, Status, UpstreamEvent};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::backend::{Current, Search};

/// Serves the `tool_search` entry; searches and calls reach the gateway through `slot`.
pub struct SearchFactory {
    slot: DispatchSlot,
}

impl SearchFactory {
    pub fn new(slot: DispatchSlot) -> Self {
        Self { slot }
    }
}

impl BackendFactory for SearchFactory {
    fn build(
        &self,
        name: &Arc<str>,
        config: &ServerConfig,
        status: watch::Sender<Status>,
        events: mpsc::UnboundedSender<UpstreamEvent>,
    ) -> Option<Arc<dyn Backend>> {
        if config.kind() != TransportKind::ToolSearch {
            return None;
        }
        let search_config = config.tool_search.clone()?;
        let current = Arc::new(RwLock::new(Arc::new(Current::default())));
        let stop = CancellationToken::new();
        backend::follow_catalogue(
            name.clone(),
            current.clone(),
            self.slot.clone(),
            events.clone(),
            stop.clone(),
        );
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
        Some(Arc::new(Search {
            name: name.clone(),
            config: search_config,
            current,
            slot: self.slot.clone(),
            status,
            stop,
        }))
    }
}
