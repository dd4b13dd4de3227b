//! `subscriptions/listen` (protocol 2026-07-28): a stateless client opens a long-lived
//! response stream naming the notifications it wants; the gateway acknowledges at once, then
//! delivers matching list changes and resource updates tagged with the subscription's id (the
//! listen request's JSON-RPC id). Resource URIs are subscribed upstream through the same
//! counted subscriptions legacy sessions use.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::value::RawValue;
use switchboard_protocol::{ErrorObject, Id, Message, Request, methods, to_raw};

use crate::catalog::{Kind, Route};
use crate::client::Outbound;
use crate::gateway::Gateway;

const META_SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";
const ACKNOWLEDGED: &str = "notifications/subscriptions/acknowledged";

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Filter {
    #[serde(default)]
    tools_list_changed: bool,
    #[serde(default)]
    prompts_list_changed: bool,
    #[serde(default)]
    resources_list_changed: bool,
    #[serde(default)]
    resource_subscriptions: Vec<String>,
}

struct Listener {
    id: Id,
    out: Outbound,
    filter: Filter,
    /// Resource URIs honoured, with their routes (released when the listener ends).
    resources: Vec<(String, Route)>,
}

#[derive(Default)]
pub struct Listeners {
    next: AtomicU64,
    open: Mutex<HashMap<u64, Listener>>,
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

/// Ends a listener when its stream goes away.
pub struct ListenGuard {
    gw: Arc<Gateway>,
    key: u64,
}

impl Drop for ListenGuard {
    fn drop(&mut self) {
        let removed = self.gw.listeners.open.lock().remove(&self.key);
        if let Some(l) = removed {
            for (_, route) in l.resources {
                self.gw.release_subscription(&route);
            }
        }
    }
}

fn tagged(id: &Id, extra: Option<(&str, &RawValue)>) -> Box<RawValue> {
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

impl Gateway {
    /// Open a listener for `req` on `out`: acknowledge (with the honoured subset) at once.
    pub async fn listen(
        self: &Arc<Self>,
        req: &Request,
        out: Outbound,
    ) -> Result<ListenGuard, ErrorObject> {
        #[derive(Deserialize)]
        struct Params {
            #[serde(default)]
            notifications: Option<Filter>,
        }
        let filter = req
            .params
            .as_deref()
            .map(|p| serde_json::from_str::<Params>(p.get()))
            .transpose()
            .map_err(|e| ErrorObject::invalid_params(format!("subscriptions/listen: {e}")))?
            .and_then(|p| p.notifications)
            .unwrap_or_default();
        let mut resources = Vec::new();
        for uri in &filter.resource_subscriptions {
            if let Some(route) = self.catalog.route_resource(uri) {
                self.acquire_subscription(&route).await;
                resources.push((uri.clone(), route));
            }
        }
        let mut honoured = serde_json::Map::new();
        for (key, on) in [
            ("toolsListChanged", filter.tools_list_changed),
            ("promptsListChanged", filter.prompts_list_changed),
            ("resourcesListChanged", filter.resources_list_changed),
        ] {
            if on {
                honoured.insert(key.into(), serde_json::Value::Bool(true));
            }
        }
        if !resources.is_empty() {
            let uris: Vec<&str> = resources.iter().map(|(u, _)| u.as_str()).collect();
            honoured.insert("resourceSubscriptions".into(), serde_json::json!(uris));
        }
        let ack_params = to_raw(&serde_json::json!({
            "_meta": { META_SUBSCRIPTION_ID: req.id },
            "notifications": honoured,
        }));
        out.send(&Message::notification(ACKNOWLEDGED, Some(ack_params)))
            .await;
        let key = self.listeners.next.fetch_add(1, Ordering::Relaxed);
        self.listeners.open.lock().insert(
            key,
            Listener {
                id: req.id.clone(),
                out,
                filter,
                resources,
            },
        );
        Ok(ListenGuard {
            gw: self.clone(),
            key,
        })
    }

    /// Deliver a list change to the listeners that asked for it.
    pub(crate) fn announce_to_listeners(&self, kind: Kind) {
        let method = kind.changed_notification();
        for l in self.listeners.open.lock().values() {
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
    pub(crate) fn update_listeners(&self, exposed: &str) {
        let uri = to_raw(exposed);
        for l in self.listeners.open.lock().values() {
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
    pub(crate) async fn close_listeners(&self) {
        let all: Vec<Listener> = self.listeners.open.lock().drain().map(|(_, l)| l).collect();
        for l in all {
            let result = to_raw(&serde_json::json!({
                "resultType": "complete",
                "_meta": { META_SUBSCRIPTION_ID: l.id },
            }));
            l.out
                .finish(&Message::response(l.id.clone(), Ok(result)))
                .await;
            for (_, route) in l.resources {
                self.release_subscription(&route);
            }
        }
    }
}
