//! What an upstream says about a task's call while it runs: its progress notifications become
//! the task's progress (0–100, when the upstream gives a total) and status message, written to
//! the store at most every [`EVERY`] so a chatty server cannot flood it. Requests an upstream
//! makes of the client during a task (sampling, elicitation, roots) go through the task
//! (`input_required`, see `input.rs`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::value::RawValue;
use switchboard_protocol::{ErrorObject, Notification, codes, methods};
use switchboard_tasks::TaskStore;
use switchboard_tasks::model::now_ms;
use switchboard_upstream::{Relay, RelayFuture};

/// The least time between two progress writes of one task.
const EVERY: Duration = Duration::from_millis(200);

/// Where a 2025-11-25 client hears of its task's progress: its session's stream (looked up
/// when progress comes, here or, with `cluster:`, on the replica holding it; a closed session
/// is simply skipped) and its call's `progressToken`.
pub(crate) struct ClientProgress {
    pub gw: std::sync::Weak<crate::gateway::Gateway>,
    pub id: String,
    pub token: serde_json::Value,
}

impl ClientProgress {
    /// Send `params` (a progress notification's) on under the client's own token.
    fn send(&self, params: &RawValue) {
        let Some(gw) = self.gw.upgrade() else {
            return;
        };
        let Ok(mut v) = serde_json::from_str::<serde_json::Value>(params.get()) else {
            return;
        };
        v["progressToken"] = self.token.clone();
        let msg = switchboard_protocol::Message::notification(
            methods::PROGRESS,
            Some(switchboard_protocol::to_raw(&v)),
        );
        match gw.sessions.get(&self.id) {
            Some(s) => gw.tell_session(&s, &msg),
            None => gw.tell_session_id(&self.id, &msg),
        }
    }
}

pub(crate) struct TaskRelay {
    pub store: Arc<dyn TaskStore>,
    pub id: String,
    /// The capabilities the task's client declared (`sampling`, `elicitation`, `roots`).
    pub asks: Vec<String>,
    pub client: Option<ClientProgress>,
    /// Whether the run asked its client for anything (its requests are cleared at its end).
    pub asked: std::sync::atomic::AtomicBool,
    pub origin: u64,
    /// When progress was last written, and the last percentage known.
    pub last: Mutex<(Option<Instant>, f64)>,
}

#[derive(serde::Deserialize)]
struct Progress {
    progress: f64,
    #[serde(default)]
    total: Option<f64>,
    #[serde(default)]
    message: Option<String>,
}

impl TaskRelay {
    pub fn new(store: Arc<dyn TaskStore>, id: String, asks: Vec<String>) -> Self {
        Self {
            store,
            id,
            asks,
            client: None,
            asked: Default::default(),
            origin: crate::session::next_origin(),
            last: Mutex::new((None, 0.0)),
        }
    }

    /// The percentage and message to record for `p`, or `None` when it is too soon.
    fn update(&self, p: &Progress) -> Option<(f64, String)> {
        let mut last = self.last.lock().ok()?;
        let now = Instant::now();
        if last.0.is_some_and(|t| now.duration_since(t) < EVERY) {
            return None;
        }
        let pct = match p.total {
            Some(t) if t > 0.0 && p.progress.is_finite() => {
                (p.progress / t * 100.0).clamp(0.0, 100.0)
            }
            _ => last.1,
        };
        *last = (Some(now), pct);
        let message = match (&p.message, p.total) {
            (Some(m), _) => m.clone(),
            (None, Some(t)) => format!("{} of {t}", p.progress),
            (None, None) => format!("progress {}", p.progress),
        };
        Some((pct, message))
    }
}

impl Relay for TaskRelay {
    fn notify(&self, n: Notification) {
        if n.method != methods::PROGRESS {
            return;
        }
        if let (Some(client), Some(params)) = (&self.client, n.params.as_deref()) {
            client.send(params);
        }
        let Some(p) = n
            .params
            .as_deref()
            .and_then(|raw| serde_json::from_str::<Progress>(raw.get()).ok())
        else {
            return;
        };
        let Some((pct, message)) = self.update(&p) else {
            return;
        };
        let (store, id) = (self.store.clone(), self.id.clone());
        tokio::spawn(async move {
            if let Err(e) = store.set_progress(&id, pct, Some(&message), now_ms()).await {
                tracing::warn!(task = %id, error = %e, "cannot record a task's progress");
            }
        });
    }

    fn request(&self, method: String, params: Option<Box<RawValue>>) -> RelayFuture {
        // Only what the task's client declared it can answer, as for a call (`relay.rs`).
        if let Some(cap) = crate::relay::required_capability(&method)
            && !self.asks.iter().any(|a| a == cap)
        {
            return Box::pin(async move {
                Err(ErrorObject::new(
                    codes::METHOD_NOT_FOUND,
                    format!(
                        "the task's client did not declare the `{cap}` capability, so `{method}` cannot be sent to it"
                    ),
                ))
            });
        }
        self.asked.store(true, std::sync::atomic::Ordering::Relaxed);
        Box::pin(super::input::ask_client(
            self.store.clone(),
            self.id.clone(),
            method,
            params,
        ))
    }

    fn origin(&self) -> u64 {
        self.origin
    }
}
