//! `notifications/tasks/status` (2025-11-25): when a task ends — completed, failed, or
//! cancelled — the session of the 2025-11-25 client that created it hears of it, with the task
//! as `tasks/get` shows it, on its standalone stream (on the replica holding it, with `cluster:`).
//! Clients must not rely on it (the spec's MAY) and keep polling; 2026-07-28 clients poll.

use std::sync::{Arc, Weak};

use switchboard_protocol::{Message, methods, to_raw};

use super::Stored;
use crate::gateway::Gateway;

/// What the workers (and `tasks/cancel`) call with the id of a task that ended.
pub(crate) fn status_notifier(gw: Weak<Gateway>) -> switchboard_tasks::OnEnd {
    Arc::new(move |id: &str| {
        let Some(gw) = gw.upgrade() else { return };
        let id = id.to_owned();
        tokio::spawn(async move {
            let Some(d) = gw.durable.as_ref() else { return };
            let Ok(Some(task)) = d.store.get(&id).await else {
                return;
            };
            let Some(sid) = serde_json::from_str::<Stored>(&task.params)
                .ok()
                .and_then(|s| s.session)
            else {
                return;
            };
            let msg =
                Message::notification(methods::TASKS_STATUS, Some(to_raw(&d.legacy_shape(&task))));
            match gw.sessions.get(&sid) {
                Some(s) => gw.tell_session(&s, &msg),
                None => gw.tell_session_id(&sid, &msg),
            }
        });
    })
}
