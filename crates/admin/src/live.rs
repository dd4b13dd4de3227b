//! What the dashboard follows live: each server's last failure (kept after it is back up, so
//! an operator sees what happened), and `GET /admin/api/events`, a server-sent event stream of
//! the servers (at once when one changes state or the catalogue changes) and the per-tool
//! figures (every [`EVERY`](crate::stats::EVERY)).
//!
//! Nothing here runs before somebody looks: the first admin request for servers starts one
//! task per server that sleeps on its status channel (a `watch`), waking only when the status
//! changes. The request path never sees any of it.
//!
//! The stream is read with `fetch` (the credential travels in a header, which `EventSource`
//! cannot send). The credential is checked again at every tick: a key revoked while the page
//! is open ends the stream with a `signed-out` event saying why.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Extension;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use futures_util::stream::Stream;
use parking_lot::Mutex;
use serde::Serialize;
use switchboard_gateway::admin_view::{AdminView, ServerState};
use switchboard_policy::roles::AdminAccess;
use tokio::sync::watch;

use crate::api::admit;

/// A server's last failure: when, and what its status said.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LastError {
    /// RFC 3339, UTC.
    pub at: String,
    pub reason: String,
}

/// Servers' last failures, and a counter bumped whenever any server's status changes.
pub struct Live {
    /// The last `stats` event's data and when it was made: streams ticking at the same time
    /// share one computation (the figures change every 5 s anyway).
    stats: Mutex<Option<(std::time::Instant, Arc<String>)>>,
    last: Mutex<HashMap<Arc<str>, LastError>>,
    watched: Mutex<HashSet<Arc<str>>>,
    changed: watch::Sender<u64>,
}

impl Default for Live {
    fn default() -> Self {
        Self {
            stats: Mutex::default(),
            last: Mutex::default(),
            watched: Mutex::default(),
            changed: watch::Sender::new(0),
        }
    }
}

impl Live {
    /// Start following the servers not followed yet (a server a reload replaced is followed
    /// again: its old channel closed).
    pub fn follow(self: &Arc<Self>, servers: &[ServerState]) {
        for s in servers {
            if !self.watched.lock().insert(s.name.clone()) {
                continue;
            }
            let mut rx = s.watch.clone();
            self.record(&s.name, &rx.borrow_and_update());
            let (live, name) = (Arc::downgrade(self), s.name.clone());
            tokio::spawn(async move {
                while rx.changed().await.is_ok() {
                    let Some(live) = live.upgrade() else { return };
                    let status = rx.borrow_and_update().clone();
                    live.record(&name, &status);
                    live.changed.send_modify(|n| *n += 1);
                }
                if let Some(live) = live.upgrade() {
                    live.watched.lock().remove(&name);
                    live.changed.send_modify(|n| *n += 1);
                }
            });
        }
    }

    fn record(&self, name: &Arc<str>, status: &switchboard_upstream::Status) {
        use switchboard_upstream::Status;
        if matches!(status, Status::Restarting { .. } | Status::CrashLoop { .. }) {
            self.last.lock().insert(
                name.clone(),
                LastError {
                    at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
                    reason: status.describe(),
                },
            );
        }
    }

    /// Server `name`'s last failure seen since the admin API was first asked about servers.
    pub fn last_error(&self, name: &str) -> Option<LastError> {
        self.last.lock().get(name).cloned()
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// The last five minutes' figures as a `stats` event's data, computed at most once a
    /// second however many streams ask.
    fn stats_data(&self) -> Arc<String> {
        let mut memo = self.stats.lock();
        if let Some((at, data)) = memo.as_ref()
            && at.elapsed() < Duration::from_secs(1)
        {
            return data.clone();
        }
        let (span, tools) = crate::stats::Sampler::get().window(Duration::from_secs(300));
        let data = Arc::new(
            serde_json::json!({"window_s": span.as_secs_f64(), "tools": tools}).to_string(),
        );
        *memo = Some((std::time::Instant::now(), data.clone()));
        data
    }
}

/// The servers as `/admin/api/servers` answers them, following them from now on.
pub(crate) fn servers_json(view: &AdminView, live: &Arc<Live>) -> serde_json::Value {
    let servers = view.servers();
    live.follow(&servers);
    let list: Vec<_> = servers
        .iter()
        .map(|s| crate::api::server_info(s, live.last_error(&s.name)))
        .collect();
    serde_json::json!({ "servers": list })
}

fn event(name: &str, data: &serde_json::Value) -> Event {
    Event::default().event(name).data(data.to_string())
}

/// `GET /admin/api/events`: `servers` at once and on every change, `stats` (the last five
/// minutes) at once and every tick, `signed-out` (then the end) when the credential stops
/// being accepted.
pub(crate) async fn events(
    State(view): State<AdminView>,
    Extension(live): Extension<Arc<Live>>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = admit(&view, &headers, AdminAccess::Read, "admin/events").await {
        return r;
    }
    Sse::new(stream(view, live, headers))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

enum Next {
    Start,
    Wait,
    Done,
}

fn stream(
    view: AdminView,
    live: Arc<Live>,
    headers: HeaderMap,
) -> impl Stream<Item = Result<Event, std::convert::Infallible>> {
    let changes = (live.changes(), view.catalog_changes());
    let mut tick = tokio::time::interval(crate::stats::EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let state = (view, live, headers, changes, tick, Next::Start);
    futures_util::stream::unfold(state, |mut st| async move {
        let (view, live, headers, changes, tick, next) = &mut st;
        let out = match next {
            Next::Done => return None,
            Next::Start => {
                tick.tick().await;
                *next = Next::Wait;
                vec![
                    event("servers", &servers_json(view, live)),
                    Event::default()
                        .event("stats")
                        .data(live.stats_data().as_str()),
                ]
            }
            Next::Wait => {
                let (status, catalog) = changes;
                tokio::select! {
                    // A server changed state, or its tools changed: the servers again.
                    changed = status.changed() => {
                        if changed.is_err() {
                            return None;
                        }
                        status.borrow_and_update();
                        vec![event("servers", &servers_json(view, live))]
                    }
                    changed = catalog.changed() => {
                        if changed.is_err() {
                            return None;
                        }
                        catalog.borrow_and_update();
                        vec![event("servers", &servers_json(view, live))]
                    }
                    _ = tick.tick() => {
                        match admit(view, headers, AdminAccess::Read, "admin/events").await {
                            Err(refused) => {
                                *next = Next::Done;
                                vec![event("signed-out", &refusal(refused).await)]
                            }
                            Ok(_) => vec![
                                Event::default().event("stats").data(live.stats_data().as_str()),
                            ],
                        }
                    }
                }
            }
        };
        Some((futures_util::stream::iter(out.into_iter().map(Ok)), st))
    })
    .flatten()
}

/// A refusal's `{error}` body, for the `signed-out` event.
async fn refusal(r: Response) -> serde_json::Value {
    let status = r.status();
    let body = axum::body::to_bytes(r.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let mut v: serde_json::Value =
        serde_json::from_slice(&body).unwrap_or_else(|_| serde_json::json!({}));
    v["status"] = serde_json::json!(status.as_u16());
    v
}
