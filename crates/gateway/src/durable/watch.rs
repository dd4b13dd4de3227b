//! `notifications/tasks` (the 2026-07-28 tasks extension) on a `subscriptions/listen` stream
//! that names `taskIds`: each watched task is sent as `tasks/get` would show it — first as it
//! is, then whenever it changes (status, message, input requests, outcome) — tagged with the
//! subscription id, until it ends or the stream closes. The store is read, so a task run by
//! any replica is seen.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use switchboard_protocol::{Id, Message, to_raw};
use switchboard_tasks::Status;
use tokio_util::sync::CancellationToken;

use super::Durable;
use crate::outbound::Outbound;

/// The notification the extension names.
const TASKS_NOTIFICATION: &str = "notifications/tasks";

impl Durable {
    /// Whether `owner` created gateway task `id`.
    pub(crate) async fn owns(&self, owner: &str, id: &str) -> bool {
        matches!(self.store.get(id).await, Ok(Some(t)) if *t.owner == *owner)
    }

    /// Watch `ids` for the listen stream `out` (subscription `sub`) until they end, the stream
    /// closes or `stop` fires.
    pub(crate) async fn watch(
        self: Arc<Self>,
        ids: Vec<String>,
        sub: Id,
        out: Outbound,
        stop: CancellationToken,
    ) {
        let every =
            Duration::from_millis(u64::try_from(self.poll_ms.clamp(100, 1000)).unwrap_or(250));
        let mut shown: HashMap<String, Value> = HashMap::new();
        let mut open = ids;
        while !open.is_empty() && !out.is_closed() {
            let mut still = Vec::new();
            for id in open {
                let task = match self.store.get(&id).await {
                    Ok(Some(t)) => t,
                    // Expired: nothing more to say.
                    Ok(None) => continue,
                    Err(e) => {
                        tracing::warn!(task = %id, error = %e, "cannot read a watched task");
                        still.push(id);
                        continue;
                    }
                };
                let mut now = self.shape(&task);
                if task.status == Status::InputRequired
                    && let Ok(requests) =
                        super::input::input_requests(self.store.as_ref(), &id).await
                {
                    now["inputRequests"] = requests;
                }
                if shown.get(&id) != Some(&now) {
                    let mut params = now.clone();
                    params["_meta"] = json!({ crate::listeners::META_SUBSCRIPTION_ID: sub });
                    out.notify(&Message::notification(
                        TASKS_NOTIFICATION,
                        Some(to_raw(&params)),
                    ));
                    shown.insert(id.clone(), now);
                }
                if !task.status.is_terminal() {
                    still.push(id);
                }
            }
            open = still;
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = stop.cancelled() => return,
            }
        }
    }
}
