//! `subscriptions/listen` (protocol 2026-07-28): a stateless client opens a long-lived
//! response stream naming the notifications it wants; the gateway acknowledges at once, then
//! delivers matching list changes and resource updates tagged with the subscription's id (the
//! listen request's JSON-RPC id). Resource URIs are subscribed upstream through the same
//! counted subscriptions legacy sessions use.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde::Deserialize;
use switchboard_protocol::{ErrorObject, Message, Request, to_raw};

use crate::gateway::Gateway;
use crate::listeners::{ACKNOWLEDGED, Filter, Listener, META_SUBSCRIPTION_ID};
use crate::outbound::Outbound;

/// Who listens, for task notifications: the caller's subject and whether the listen request
/// declares the tasks extension.
pub struct Listening {
    pub owner: Arc<str>,
    pub declares_tasks: bool,
}

/// Ends a listener when its stream goes away.
pub struct ListenGuard {
    gw: Arc<Gateway>,
    key: u64,
    /// Stops the watch of the listener's tasks.
    tasks: Option<tokio_util::sync::CancellationToken>,
}

impl Drop for ListenGuard {
    fn drop(&mut self) {
        if let Some(t) = &self.tasks {
            t.cancel();
        }
        let removed = self.gw.listeners.open.lock().remove(&self.key);
        if let Some(l) = removed {
            for (_, route) in l.resources {
                self.gw.release_subscription(&route);
            }
        }
    }
}

impl Gateway {
    /// Open a listener for `req` on `out`: acknowledge (with the honoured subset) at once.
    pub async fn listen(
        self: &Arc<Self>,
        req: &Request,
        out: Outbound,
        who: Listening,
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
        // Task ids: the extension must be declared; only the caller's gateway tasks are
        // watched (an upstream's tasks are not), at most 100.
        let mut tasks = Vec::new();
        if !filter.task_ids.is_empty() {
            if !who.declares_tasks {
                return Err(crate::durable::tasks_required(&format!(
                    "task notifications need the {} extension in the request's client capabilities",
                    switchboard_protocol::methods::TASKS_EXTENSION
                )));
            }
            if let Some(d) = &self.durable {
                for id in filter.task_ids.iter().take(100) {
                    if d.owns(&who.owner, id).await {
                        tasks.push(id.clone());
                    }
                }
            }
        }
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
        if !tasks.is_empty() {
            honoured.insert("taskIds".into(), serde_json::json!(tasks));
        }
        let ack_params = to_raw(&serde_json::json!({
            "_meta": { META_SUBSCRIPTION_ID: req.id },
            "notifications": honoured,
        }));
        out.send(&Message::notification(ACKNOWLEDGED, Some(ack_params)))
            .await;
        let watch = match &self.durable {
            Some(d) if !tasks.is_empty() => {
                let stop = tokio_util::sync::CancellationToken::new();
                tokio::spawn(
                    d.clone()
                        .watch(tasks, req.id.clone(), out.clone(), stop.clone()),
                );
                Some(stop)
            }
            _ => None,
        };
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
            tasks: watch,
        })
    }
}
