//! Progress of a run to the client that called the workflow: one `notifications/progress` per
//! step that ends (succeeded, failed, skipped, cancelled), under the client's own
//! `progressToken`, counting steps ended of all steps.

use std::sync::Arc;

use serde_json::Value;
use switchboard_protocol::{Notification, methods, to_raw};
use switchboard_upstream::Relay;

pub struct Progress {
    token: Value,
    relay: Arc<dyn Relay>,
}

impl Progress {
    /// Progress for a call whose params (parsed) may carry `_meta.progressToken`, sent on
    /// `relay`.
    pub fn of(params: &Value, relay: Option<&Arc<dyn Relay>>) -> Option<Self> {
        let token = params.get("_meta")?.get("progressToken")?;
        if !(token.is_string() || token.is_number()) {
            return None;
        }
        Some(Self {
            token: token.clone(),
            relay: relay?.clone(),
        })
    }

    pub fn send(&self, done: usize, total: usize, message: &str) {
        let params = serde_json::json!({
            "progressToken": self.token,
            "progress": done,
            "total": total,
            "message": message,
        });
        self.relay.notify(Notification {
            method: methods::PROGRESS.to_owned(),
            params: Some(to_raw(&params)),
        });
    }
}
