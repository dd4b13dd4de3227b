//! The calls in flight on an HTTP upstream that have a relay, by upstream request id, so that
//! what a server sends about a call on its GET stream (log messages, server→client requests)
//! reaches the client that made it. Ended calls linger briefly for late log messages and are
//! forgotten by whoever touches the table next: no timer or task per call.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::Relay;

/// How long an ended call still receives log messages from the GET stream: they travel on a
/// different stream than the result and may arrive just after it.
const LINGER: Duration = Duration::from_secs(2);

/// A call registered for attribution of GET-stream messages.
struct InFlightCall {
    relay: Arc<dyn Relay>,
    started: Instant,
    /// Ended calls linger briefly (see [`LINGER`]) for late log messages.
    ended: bool,
    /// A GET-stream message was attributed to this call: the server logs out of band.
    out_of_band: bool,
}

/// The calls, and the ended ones in the order they ended.
#[derive(Default)]
struct Table {
    calls: HashMap<i64, InFlightCall>,
    ended: VecDeque<(Instant, i64)>,
}

impl Table {
    /// Forget the calls that ended [`LINGER`] or more before `now`.
    fn sweep(&mut self, now: Instant) {
        while let Some(&(at, id)) = self.ended.front() {
            if now.duration_since(at) < LINGER {
                break;
            }
            self.ended.pop_front();
            self.calls.remove(&id);
        }
    }

    fn end(&mut self, id: i64, now: Instant) {
        if let Some(entry) = self.calls.get_mut(&id) {
            entry.ended = true;
            self.ended.push_back((now, id));
        }
        self.sweep(now);
    }
}

#[derive(Default)]
pub(super) struct Calls(parking_lot::Mutex<Table>);

impl Calls {
    /// Register call `id` (before it is sent: the server may log about it on its GET stream
    /// before the POST's response headers arrive); it ends when the guard is dropped.
    pub(super) fn register(&self, id: i64, relay: &Arc<dyn Relay>) -> Registered<'_> {
        let now = Instant::now();
        let mut table = self.0.lock();
        table.sweep(now);
        table.calls.insert(
            id,
            InFlightCall {
                relay: relay.clone(),
                started: now,
                ended: false,
                out_of_band: false,
            },
        );
        Registered { calls: self, id }
    }

    /// Whether a GET-stream message was attributed to call `id`.
    pub(super) fn out_of_band(&self, id: i64) -> bool {
        self.0.lock().calls.get(&id).is_some_and(|c| c.out_of_band)
    }

    /// The relay for a message on the GET stream. Log messages may go to a call that just
    /// ended; server→client requests (`requests`) only to calls still running.
    pub(super) fn attribute(&self, requests: bool) -> Option<Arc<dyn Relay>> {
        let mut table = self.0.lock();
        table.sweep(Instant::now());
        let calls = &mut table.calls;
        let any_running = calls.values().any(|c| !c.ended);
        // Running calls first; with none running, a late log of a call that just ended.
        let eligible = |c: &InFlightCall| {
            if requests || any_running {
                !c.ended
            } else {
                true
            }
        };
        let mut origin = None;
        let mut newest: Option<(i64, Instant)> = None;
        for (id, c) in calls.iter().filter(|(_, c)| eligible(c)) {
            match origin {
                None => origin = Some(c.relay.origin()),
                Some(o) if o != c.relay.origin() => return None,
                Some(_) => {}
            }
            if newest.is_none_or(|(_, t)| c.started > t) {
                newest = Some((*id, c.started));
            }
        }
        let call = calls.get_mut(&newest?.0)?;
        call.out_of_band = true;
        Some(call.relay.clone())
    }
}

/// Ends a registered call, however the call ends.
pub(super) struct Registered<'a> {
    calls: &'a Calls,
    id: i64,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.calls.0.lock().end(self.id, Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::value::RawValue;
    use switchboard_protocol::Notification;

    struct Quiet;

    impl Relay for Quiet {
        fn notify(&self, _: Notification) {}
        fn request(&self, _: String, _: Option<Box<RawValue>>) -> crate::RelayFuture {
            Box::pin(async { Ok(switchboard_protocol::empty_object()) })
        }
        fn origin(&self) -> u64 {
            1
        }
    }

    fn call(started: Instant) -> InFlightCall {
        InFlightCall {
            relay: Arc::new(Quiet),
            started,
            ended: false,
            out_of_band: false,
        }
    }

    #[test]
    fn ended_calls_are_forgotten_after_lingering_and_running_ones_never() {
        let t0 = Instant::now();
        let mut table = Table::default();
        for id in 1..=3 {
            table.calls.insert(id, call(t0));
        }
        // 1 and 2 end, 3 runs on.
        for id in [1, 2] {
            if let Some(c) = table.calls.get_mut(&id) {
                c.ended = true;
            }
            table.ended.push_back((t0, id));
        }
        table.sweep(t0 + LINGER / 2);
        assert_eq!(table.calls.len(), 3, "still lingering");
        table.sweep(t0 + LINGER);
        assert_eq!(table.calls.keys().copied().collect::<Vec<_>>(), vec![3]);
        assert!(table.ended.is_empty());
        table.sweep(t0 + LINGER * 100);
        assert!(table.calls.contains_key(&3));
    }
}
