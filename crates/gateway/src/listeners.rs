//! The open `subscriptions/listen` streams of stateless clients, and delivering list changes
//! and resource updates to the ones that asked, tagged with their subscription id.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;

use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::value::RawValue;
use switchboard_protocol::{Id, Message, methods, to_raw};

use crate::catalog::{Kind, Route};
use crate::outbound::Outbound;

pub(crate) const META_SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";
pub(crate) const ACKNOWLEDGED: &str = "notifications/subscriptions/acknowledged";

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Filter {
    #[serde(default)]
    pub(crate) tools_list_changed: bool,
    #[serde(default)]
    pub(crate) prompts_list_changed: bool,
    #[serde(default)]
    pub(crate) resources_list_changed: bool,
    #[serde(default)]
    pub(crate) resource_subscriptions: Vec<String>,
    /// Tasks whose status changes the client wants (the 2026-07-28 tasks extension).
    #[serde(default)]
    pub(crate) task_ids: Vec<String>,
}

pub(crate) struct Listener {
    pub(crate) id: Id,
    pub(crate) out: Outbound,
    pub(crate) filter: Filter,
    /// Resource URIs honoured, with their routes (released when the listener ends).
    pub(crate) resources: Vec<(String, Route)>,
}

#[derive(Default)]
pub struct Listeners {
    pub(crate) next: AtomicU64,
    pub(crate) open: Mutex<HashMap<u64, Listener>>,
}

impl Listeners {
    /// Open `subscriptions/listen` streams.
    pub fn len(&self) -> usize {
        self.open.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

pub(crate) fn tagged(id: &Id, extra: Option<(&str, &RawValue)>) -> Box<RawValue> {
    let mut params = serde_json::Map::new();
    params.insert(
        "_meta".into(),
        serde_json::json!({ META_SUBSCRIPTION_ID: id }),
    );
    if let Some((k, v)) = extra
        && let Ok(v) = serde_json::from_str(v.get())
    {
        params.insert(k.into(), v);
    }
    to_raw(&params)
}

impl Listeners {
    /// Deliver a list change to the listeners that asked for it.
    pub(crate) fn announce(&self, kind: Kind) {
        let method = kind.changed_notification();
        for l in self.open.lock().values() {
            let wanted = match kind {
                Kind::Tools => l.filter.tools_list_changed,
                Kind::Prompts => l.filter.prompts_list_changed,
                Kind::Resources | Kind::Templates => l.filter.resources_list_changed,
            };
            if wanted {
                l.out
                    .notify(&Message::notification(method, Some(tagged(&l.id, None))));
            }
        }
    }

    /// Deliver a resource update (exposed URI) to the listeners subscribed to it.
    pub(crate) fn update(&self, exposed: &str) {
        let uri = to_raw(exposed);
        for l in self.open.lock().values() {
            if l.resources.iter().any(|(u, _)| u == exposed) {
                let params = tagged(&l.id, Some(("uri", &uri)));
                l.out.notify(&Message::notification(
                    methods::RESOURCES_UPDATED,
                    Some(params),
                ));
            }
        }
    }

    /// End every listener gracefully (shutdown): the listen request's result, then close.
    /// Returns the resource routes they held, for the caller to release.
    pub(crate) async fn close_all(&self) -> Vec<Route> {
        let mut held = Vec::new();
        let all: Vec<Listener> = self.open.lock().drain().map(|(_, l)| l).collect();
        for l in all {
            let result = to_raw(&serde_json::json!({
                "resultType": "complete",
                "_meta": { META_SUBSCRIPTION_ID: l.id },
            }));
            l.out
                .finish(&Message::response(l.id.clone(), Ok(result)))
                .await;
            held.extend(l.resources.into_iter().map(|(_, route)| route));
        }
        held
    }
}
