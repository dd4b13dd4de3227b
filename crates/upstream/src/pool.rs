//! A pool of processes for one stdio server (`pool:` in its config), for servers that handle
//! one request at a time.
//!
//! Each member is a supervised [`StdioUpstream`] (restarts with backoff, crash-loop
//! detection). A call goes to the ready member with the fewest calls in flight; when every
//! ready member is busy and the pool is below `max`, another member is started (the call does
//! not wait for it). Members beyond `min` that stay idle for `idle_timeout` are stopped. The
//! first member (the primary) always runs: methods that carry per-connection state go to it,
//! it alone reports `Ready`/`Down` to the gateway, and its `InitInfo` is the pool's.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use parking_lot::RwLock;
use serde_json::value::RawValue;
use switchboard_config::{PoolConfig, ServerConfig};
use switchboard_protocol::methods;
use tokio::sync::{Notify, mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::supervisor::StdioUpstream;
use crate::{Backend, CallError, CallOptions, Era, Status, UpstreamEvent};

pub(crate) struct Pool {
    name: Arc<str>,
    cfg: ServerConfig,
    events: mpsc::UnboundedSender<UpstreamEvent>,
    /// The pool's status, as the gateway sees it.
    status: watch::Sender<Status>,
    /// The primary first; others in the order they started.
    members: RwLock<Vec<Arc<Member>>>,
    min: usize,
    max: usize,
    idle_timeout: Duration,
    acquire_timeout: Duration,
    /// Time base of `Member::last_used`.
    epoch: Instant,
    next_id: AtomicUsize,
    /// Signalled whenever a member's status changes (calls waiting for a ready member).
    changed: Notify,
    closed: CancellationToken,
    me: Weak<Pool>,
}

struct Member {
    /// 0 for the primary; counts up (for logs).
    id: usize,
    up: Arc<StdioUpstream>,
    /// Calls in flight on this member, taken while the pool's member list is read-locked, so
    /// the reaper (which write-locks it) never stops a member a call has just chosen.
    in_flight: AtomicUsize,
    /// When the last call ended, in ms since the pool's epoch.
    last_used: AtomicU64,
}

/// A call's hold on its member; gives it back however the call ends.
struct Taken {
    member: Arc<Member>,
    epoch: Instant,
}

impl Drop for Taken {
    fn drop(&mut self) {
        self.member
            .last_used
            .store(millis(self.epoch.elapsed()), Ordering::Relaxed);
        // Release: a reaper that sees the call ended sees when, too.
        self.member.in_flight.fetch_sub(1, Ordering::Release);
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Requests bound to state in one process go to the primary: methods that set state on the
/// connection they arrive on, and tasks (2026-07-28 tasks extension: a task lives in the
/// process that created it, so `tools/call`s that opt into tasks and `tasks/*` stay together).
fn is_sticky(method: &str, era: Era, params: Option<&RawValue>) -> bool {
    match method {
        methods::RESOURCES_SUBSCRIBE
        | methods::RESOURCES_UNSUBSCRIBE
        | methods::LOGGING_SET_LEVEL
        | methods::SUBSCRIPTIONS_LISTEN
        | methods::TASKS_GET
        | methods::TASKS_UPDATE
        | methods::TASKS_CANCEL => true,
        methods::TOOLS_CALL if era == Era::Modern => {
            params.is_some_and(|p| p.get().contains(methods::TASKS_EXTENSION))
        }
        _ => false,
    }
}

/// The member a call goes to — the ready one with the fewest calls in flight, the first on a
/// tie (so light traffic stays on few members and the others can idle out) — and whether to
/// start another. `loads` holds each member's calls in flight, `None` when not ready.
///
/// Another member is started when every ready member is busy, the pool is below `max`, and
/// fewer members are starting than calls are queued behind busy ones.
fn choose(loads: impl Iterator<Item = Option<usize>>, max: usize) -> Option<(usize, bool)> {
    let (mut members, mut ready, mut total) = (0usize, 0usize, 0usize);
    let mut best: Option<(usize, usize)> = None;
    for (i, load) in loads.enumerate() {
        members += 1;
        let Some(load) = load else { continue };
        ready += 1;
        total += load;
        if best.is_none_or(|(_, b)| load < b) {
            best = Some((i, load));
        }
    }
    let (i, load) = best?;
    let starting = members - ready;
    let queued = (total + 1).saturating_sub(ready);
    Some((i, load >= 1 && members < max && starting < queued))
}

/// Members to stop (indices, highest first): idle for `idle_ms` with nothing in flight, while
/// more than `min` run; never the primary (index 0). `members`: (in flight, last used).
fn idle_members(members: &[(usize, u64)], now_ms: u64, idle_ms: u64, min: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut running = members.len();
    for (i, (in_flight, last)) in members.iter().enumerate().skip(1).rev() {
        if running <= min.max(1) {
            break;
        }
        if *in_flight == 0 && now_ms.saturating_sub(*last) >= idle_ms {
            out.push(i);
            running -= 1;
        }
    }
    out
}

/// Whether two statuses say the same (so watchers are not woken for nothing).
fn same(a: &Status, b: &Status) -> bool {
    match (a, b) {
        (Status::Starting, Status::Starting) | (Status::Stopped, Status::Stopped) => true,
        (Status::Ready(x), Status::Ready(y)) => Arc::ptr_eq(x, y),
        (
            Status::Restarting {
                reason: r1,
                retry_in: t1,
            },
            Status::Restarting {
                reason: r2,
                retry_in: t2,
            },
        ) => r1 == r2 && t1 == t2,
        (
            Status::CrashLoop {
                reason: r1,
                restarts: n1,
            },
            Status::CrashLoop {
                reason: r2,
                restarts: n2,
            },
        ) => r1 == r2 && n1 == n2,
        _ => false,
    }
}

impl Pool {
    pub(crate) fn start(
        name: Arc<str>,
        cfg: ServerConfig,
        pool: &PoolConfig,
        status: watch::Sender<Status>,
        events: mpsc::UnboundedSender<UpstreamEvent>,
    ) -> Arc<dyn Backend> {
        let max = pool.max.max(1);
        let this = Arc::new_cyclic(|me| Pool {
            name,
            cfg,
            events,
            status,
            members: RwLock::new(Vec::new()),
            min: pool.min_processes(),
            max,
            idle_timeout: pool.idle_timeout.0,
            acquire_timeout: pool.acquire_timeout.0,
            epoch: Instant::now(),
            next_id: AtomicUsize::new(0),
            changed: Notify::new(),
            closed: CancellationToken::new(),
            me: me.clone(),
        });
        {
            let mut members = this.members.write();
            for _ in 0..this.min {
                this.add_member(&mut members);
            }
        }
        tracing::info!(server = %this.name, min = this.min, max = this.max, "process pool started");
        if this.max > this.min {
            tokio::spawn(reap(
                Arc::downgrade(&this),
                (this.idle_timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(1)),
                this.closed.clone(),
            ));
        }
        this
    }

    /// Start one more member (the caller holds the member list's write lock).
    fn add_member(&self, members: &mut Vec<Arc<Member>>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = watch::channel(Status::Starting);
        let up = StdioUpstream::spawn(
            self.name.clone(),
            self.cfg.clone(),
            tx,
            self.events.clone(),
            id == 0,
        );
        members.push(Arc::new(Member {
            id,
            up,
            in_flight: AtomicUsize::new(0),
            last_used: AtomicU64::new(millis(self.epoch.elapsed())),
        }));
        if id > 0 {
            tracing::info!(server = %self.name, member = id, members = members.len(), "pool: all processes busy; starting another");
        }
        tokio::spawn(watch_member(self.me.clone(), rx));
    }

    /// A member for a call, its in-flight count taken; starts another member when `choose`
    /// says so.
    fn pick(&self) -> Option<Taken> {
        let (taken, grow) = {
            let members = self.members.read();
            let loads = members
                .iter()
                .map(|m| m.up.is_live().then(|| m.in_flight.load(Ordering::Relaxed)));
            let (i, grow) = choose(loads, self.max)?;
            let member = members.get(i)?.clone();
            member.in_flight.fetch_add(1, Ordering::Relaxed);
            (
                Taken {
                    member,
                    epoch: self.epoch,
                },
                grow,
            )
        };
        if grow {
            self.grow(&taken.member);
        }
        Some(taken)
    }

    /// A ready member and its connection.
    fn take_live(&self) -> Option<(Taken, Arc<crate::mux::Mux>)> {
        loop {
            let taken = self.pick()?;
            let mux = taken.member.up.current.lock().clone();
            if let Some(mux) = mux {
                return Some((taken, mux));
            }
            // Went down since its flag was read (the flag is already lowered): choose again.
        }
    }

    /// Start another member if, looked at again under the write lock, one is still wanted
    /// (concurrent calls may have started one already).
    fn grow(&self, taken: &Arc<Member>) {
        let mut members = self.members.write();
        // Under the lock: a shutdown that follows sees any member started here.
        if self.closed.is_cancelled() {
            return;
        }
        let loads = members.iter().map(|m| {
            m.up.is_live().then(|| {
                let n = m.in_flight.load(Ordering::Relaxed);
                // The deciding call is counted already; `choose` counts it again.
                if Arc::ptr_eq(m, taken) {
                    n.saturating_sub(1)
                } else {
                    n
                }
            })
        });
        if choose(loads, self.max).is_some_and(|(_, grow)| grow) {
            self.add_member(&mut members);
        }
    }

    /// The pool's status: ready when any member is (with the primary's `InitInfo` when the
    /// primary is ready), else the primary's.
    fn publish(&self) {
        let members = self.members.read();
        let primary = members.first().map(|m| m.up.status.borrow().clone());
        let ready = match &primary {
            Some(s @ Status::Ready(_)) => Some(s.clone()),
            _ => members.iter().find_map(|m| match &*m.up.status.borrow() {
                s @ Status::Ready(_) => Some(s.clone()),
                _ => None,
            }),
        };
        drop(members);
        let now = ready.or(primary).unwrap_or(Status::Stopped);
        // Decided under the watch's lock: concurrent publishers cannot leave an older view.
        self.status.send_if_modified(|cur| {
            if same(cur, &now) {
                false
            } else {
                *cur = now;
                true
            }
        });
    }

    /// Whether some member is on its way up (a call may wait for it).
    fn any_coming(&self) -> bool {
        self.members.read().iter().any(|m| {
            m.up.is_live()
                || matches!(
                    &*m.up.status.borrow(),
                    Status::Starting | Status::Restarting { .. } | Status::Ready(_)
                )
        })
    }

    fn unavailable(&self, reason: String) -> CallError {
        CallError::Unavailable {
            server: self.name.to_string(),
            reason,
        }
    }

    async fn call_pooled(
        &self,
        method: &str,
        params: Option<Box<RawValue>>,
        opts: CallOptions,
        era: Era,
        timeout: Duration,
    ) -> Result<Box<RawValue>, CallError> {
        if is_sticky(method, era, params.as_deref()) {
            let primary = self.members.read().first().map(|m| m.up.clone());
            let Some(primary) = primary else {
                return Err(self.unavailable("the pool is stopped".into()));
            };
            return primary.call(method, params, opts, era, timeout).await;
        }
        let mut waited_since: Option<tokio::time::Instant> = None;
        let (taken, mux) = loop {
            if let Some(found) = self.take_live() {
                break found;
            }
            // None ready: listen for changes, then look again, so a member that comes up in
            // between is not missed.
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if let Some(found) = self.take_live() {
                break found;
            }
            if self.closed.is_cancelled() {
                return Err(self.unavailable("the pool is stopped".into()));
            }
            if !self.any_coming() {
                // Every member is crash-looping: fail at once, as a single process would.
                return Err(self.unavailable(self.status.borrow().describe()));
            }
            let since = *waited_since.get_or_insert_with(tokio::time::Instant::now);
            let limit = self.acquire_timeout.min(timeout);
            tokio::select! {
                _ = &mut changed => {}
                _ = tokio::time::sleep_until(since + limit) => {
                    return Err(self.unavailable(format!(
                        "no process of its pool was ready within {limit:?} ({})",
                        self.status.borrow().describe()
                    )));
                }
                _ = opts.cancel.cancelled() => return Err(CallError::Cancelled),
            }
        };
        let timeout = match waited_since {
            Some(since) => timeout.saturating_sub(since.elapsed()),
            None => timeout,
        };
        let r = mux.call(method, params, opts, timeout).await;
        drop(taken);
        r
    }
}

/// Republish the pool's status whenever this member's changes; ends with the member.
async fn watch_member(pool: Weak<Pool>, mut rx: watch::Receiver<Status>) {
    loop {
        {
            let Some(pool) = pool.upgrade() else { return };
            pool.publish();
            pool.changed.notify_waiters();
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// Stop members beyond `min` that have been idle for `idle_timeout`.
async fn reap(pool: Weak<Pool>, every: Duration, closed: CancellationToken) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = closed.cancelled() => return,
        }
        let Some(pool) = pool.upgrade() else { return };
        let stopped: Vec<Arc<Member>> = {
            let mut members = pool.members.write();
            if members.len() <= pool.min {
                continue;
            }
            let loads: Vec<(usize, u64)> = members
                .iter()
                .map(|m| {
                    (
                        m.in_flight.load(Ordering::Acquire),
                        m.last_used.load(Ordering::Relaxed),
                    )
                })
                .collect();
            let now = millis(pool.epoch.elapsed());
            idle_members(&loads, now, millis(pool.idle_timeout), pool.min)
                .into_iter()
                .map(|i| members.remove(i))
                .collect()
        };
        if stopped.is_empty() {
            continue;
        }
        let left = pool.members.read().len();
        for m in &stopped {
            tracing::info!(server = %pool.name, member = m.id, members = left, idle_for = ?pool.idle_timeout, "pool: stopping an idle process");
        }
        futures_util::future::join_all(stopped.iter().map(|m| m.up.shutdown())).await;
        pool.publish();
    }
}

impl Backend for Pool {
    fn call<'a>(
        &'a self,
        method: &'a str,
        params: Option<Box<RawValue>>,
        opts: CallOptions,
        era: Era,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Box<RawValue>, CallError>> {
        Box::pin(self.call_pooled(method, params, opts, era, timeout))
    }

    fn notify(&self, method: &str, params: Option<Box<RawValue>>) {
        for m in self.members.read().iter() {
            m.up.notify(method, params.clone());
        }
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let members: Vec<Arc<Member>> = {
                let members = self.members.write();
                self.closed.cancel();
                members.clone()
            };
            futures_util::future::join_all(members.iter().map(|m| m.up.shutdown())).await;
            self.publish();
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(loads: &[Option<usize>], max: usize) -> Option<(usize, bool)> {
        choose(loads.iter().copied(), max)
    }

    #[test]
    fn calls_go_to_the_least_busy_ready_member_and_busy_pools_grow() {
        // Idle pool: the first member, no growth.
        assert_eq!(pick(&[Some(0), Some(0)], 4), Some((0, false)));
        // The least busy ready one; members that are not ready are skipped.
        assert_eq!(pick(&[Some(2), None, Some(1), Some(3)], 8), Some((2, true)));
        assert_eq!(pick(&[Some(1), Some(0)], 4), Some((1, false)));
        // Nothing ready: no member.
        assert_eq!(pick(&[None, None], 4), None);
        assert_eq!(pick(&[], 4), None);
        // All busy, below max: grow; at max: queue on the least busy.
        assert_eq!(pick(&[Some(1)], 4), Some((0, true)));
        assert_eq!(pick(&[Some(1), Some(1)], 2), Some((0, false)));
        // One member already starting covers one queued call, not two.
        assert_eq!(pick(&[Some(1), None], 4), Some((0, false)));
        assert_eq!(pick(&[Some(2), None], 4), Some((0, true)));
    }

    #[test]
    fn only_idle_members_beyond_min_are_stopped_and_never_the_primary() {
        let now = 10_000;
        // (in flight, last used): the primary is idle too, but stays.
        let m = [(0, 0), (0, 1_000), (1, 0), (0, 9_900), (0, 2_000)];
        assert_eq!(idle_members(&m, now, 5_000, 1), vec![4, 1]);
        // min 4 of 5: only one may go, the last idle one.
        assert_eq!(idle_members(&m, now, 5_000, 4), vec![4]);
        assert!(idle_members(&m, now, 5_000, 5).is_empty());
        // min 0 still keeps one running.
        assert_eq!(idle_members(&[(0, 0), (0, 0)], now, 1, 0), vec![1]);
        assert!(idle_members(&[(0, 0)], now, 1, 0).is_empty());
    }

    #[test]
    fn sticky_methods_and_status_equality() {
        let sticky = |m: &str, era: Era, p: &str| {
            is_sticky(m, era, Some(&RawValue::from_string(p.into()).unwrap()))
        };
        for m in [
            methods::RESOURCES_SUBSCRIBE,
            methods::RESOURCES_UNSUBSCRIBE,
            methods::LOGGING_SET_LEVEL,
            methods::SUBSCRIPTIONS_LISTEN,
            methods::TASKS_GET,
        ] {
            assert!(sticky(m, Era::Legacy, "{}"), "{m}");
        }
        assert!(!sticky(methods::TOOLS_CALL, Era::Legacy, "{}"));
        assert!(!is_sticky(methods::TOOLS_CALL, Era::Modern, None));
        let opted_in = r#"{"name":"t","_meta":{"io.modelcontextprotocol/clientCapabilities":{"extensions":{"io.modelcontextprotocol/tasks":{}}}}}"#;
        assert!(sticky(methods::TOOLS_CALL, Era::Modern, opted_in));
        assert!(!sticky(methods::TOOLS_CALL, Era::Modern, r#"{"name":"t"}"#));
        assert!(same(&Status::Starting, &Status::Starting));
        assert!(!same(&Status::Starting, &Status::Stopped));
        let r = |s: &str| Status::Restarting {
            reason: s.into(),
            retry_in: Duration::ZERO,
        };
        assert!(same(&r("a"), &r("a")) && !same(&r("a"), &r("b")));
    }
}
