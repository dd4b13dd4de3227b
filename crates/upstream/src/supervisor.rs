//! Supervision of a stdio server: start, `initialize`, watch, restart with exponential backoff,
//! detect crash loops, stop gracefully.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use serde_json::value::RawValue;
use switchboard_config::{ProtocolMode, RestartPolicy, ServerConfig};
use switchboard_protocol::methods;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::init::{
    Discovery, InitInfo, classify_discover, discover_params, initialize_params,
    parse_initialize_result,
};
use crate::mux::{Channel, Mux};
use crate::{Backend, CallError, CallOptions, Era, Status, UpstreamEvent, stdio};

pub(crate) struct StdioUpstream {
    channel: Channel,
    /// Whether `Ready`/`Down` events go to the gateway: not for a pool's extra processes (the
    /// gateway would refresh its lists each time one starts; the first process speaks for
    /// the pool). Notifications always go.
    announce: bool,
    /// The process exited when probed with `server/discover`: later starts skip the probe.
    skip_probe: std::sync::atomic::AtomicBool,
    shutdown: CancellationToken,
    stopped: watch::Receiver<bool>,
}

/// Backoff for the `attempt`-th consecutive failure (1-based), doubling up to the maximum.
pub(crate) fn backoff(policy: &RestartPolicy, attempt: u32) -> Duration {
    let factor = 1u32
        .checked_shl(attempt.saturating_sub(1).min(20))
        .unwrap_or(u32::MAX);
    policy
        .initial_backoff
        .0
        .saturating_mul(factor)
        .min(policy.max_backoff.0)
}

/// Counts crashes in a sliding window.
pub(crate) struct CrashCounter {
    times: VecDeque<Instant>,
    window: Duration,
    threshold: u32,
}

impl CrashCounter {
    pub(crate) fn new(policy: &RestartPolicy) -> Self {
        Self {
            times: VecDeque::new(),
            window: policy.crash_loop_window.0,
            threshold: policy.crash_loop_restarts.max(1),
        }
    }
    /// Record a crash; returns how many fell in the window and whether that is a crash loop.
    pub(crate) fn record(&mut self, now: Instant) -> (u32, bool) {
        self.times.push_back(now);
        while self
            .times
            .front()
            .is_some_and(|t| now.duration_since(*t) > self.window)
        {
            self.times.pop_front();
        }
        let n = u32::try_from(self.times.len()).unwrap_or(u32::MAX);
        (n, n >= self.threshold)
    }
}

impl StdioUpstream {
    pub(crate) fn start(
        name: Arc<str>,
        cfg: ServerConfig,
        status: watch::Sender<Status>,
        events: mpsc::UnboundedSender<UpstreamEvent>,
    ) -> Arc<dyn Backend> {
        Self::spawn(name, cfg, status, events, true)
    }

    /// Start supervising in the background; `announce`: see the field.
    pub(crate) fn spawn(
        name: Arc<str>,
        cfg: ServerConfig,
        status: watch::Sender<Status>,
        events: mpsc::UnboundedSender<UpstreamEvent>,
        announce: bool,
    ) -> Arc<Self> {
        let (stopped_tx, stopped) = watch::channel(false);
        let this = Arc::new(Self {
            channel: Channel::new(name, status),
            announce,
            skip_probe: std::sync::atomic::AtomicBool::new(false),
            shutdown: CancellationToken::new(),
            stopped,
        });
        let run = this.clone();
        tokio::spawn(async move {
            run.supervise(cfg, events).await;
            let _ = stopped_tx.send(true);
        });
        this
    }

    async fn supervise(
        self: Arc<Self>,
        cfg: ServerConfig,
        events: mpsc::UnboundedSender<UpstreamEvent>,
    ) {
        let policy = cfg.restart.clone();
        let mut crashes = CrashCounter::new(&policy);
        let mut consecutive = 0u32;
        while !self.shutdown.is_cancelled() {
            let _ = self.status.send(Status::Starting);
            let reason = match self.run_once(&cfg, &events).await {
                RunEnd::Shutdown => break,
                RunEnd::Crashed { reason, uptime } => {
                    if uptime > policy.crash_loop_window.0 {
                        consecutive = 0;
                    }
                    reason
                }
            };
            if self.announce {
                let _ = events.send(UpstreamEvent::Down {
                    server: self.name.clone(),
                    reason: reason.clone(),
                });
            }
            consecutive += 1;
            let (restarts, looping) = crashes.record(Instant::now());
            let wait = if looping {
                tracing::error!(server = %self.name, restarts, %reason, "upstream is crash-looping; retrying at the longest backoff");
                let _ = self.status.send(Status::CrashLoop {
                    reason: reason.clone(),
                    restarts,
                });
                policy.max_backoff.0
            } else {
                let wait = backoff(&policy, consecutive);
                tracing::warn!(server = %self.name, %reason, retry_in = ?wait, "upstream down; restarting");
                let _ = self.status.send(Status::Restarting {
                    reason: reason.clone(),
                    retry_in: wait,
                });
                wait
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.shutdown.cancelled() => break,
            }
        }
        let _ = self.status.send(Status::Stopped);
    }

    async fn run_once(
        &self,
        cfg: &ServerConfig,
        events: &mpsc::UnboundedSender<UpstreamEvent>,
    ) -> RunEnd {
        let started = Instant::now();
        let crashed = |reason: String| RunEnd::Crashed {
            reason,
            uptime: started.elapsed(),
        };
        let mut proc = match stdio::spawn(cfg) {
            Ok(p) => p,
            Err(e) => {
                return crashed(format!(
                    "cannot start `{}`: {e}",
                    cfg.command.as_deref().unwrap_or_default()
                ));
            }
        };
        let pid = proc.child.id();
        tracing::info!(server = %self.name, pid, command = cfg.command.as_deref().unwrap_or_default(), "upstream process started");
        let (out_tx, out_rx) = mpsc::channel(256);
        let close_stdin = CancellationToken::new();
        let mux = Mux::new(self.name.clone(), out_tx, events.clone());
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        tokio::spawn(stdio::write_loop(proc.stdin, out_rx, close_stdin.clone()));
        let mut reader = tokio::spawn(stdio::read_loop(
            self.name.clone(),
            proc.stdout,
            mux.clone(),
        ));
        tokio::spawn(stdio::stderr_loop(
            self.name.clone(),
            proc.stderr,
            tail.clone(),
        ));
        let explain = |what: String| {
            let t = tail.lock();
            match t.back() {
                Some(last) => format!("{what}; last stderr line: {last}"),
                None => what,
            }
        };

        // Handshake, bounded by init_timeout, racing the process exiting.
        let probing = std::sync::atomic::AtomicBool::new(false);
        let skip_probe = self.skip_probe.load(std::sync::atomic::Ordering::Relaxed);
        let info = tokio::select! {
            r = handshake(&mux, cfg, skip_probe, &probing) => r,
            status = proc.child.wait() => {
                let during_probe = probing.load(std::sync::atomic::Ordering::Relaxed);
                if during_probe {
                    // Some session-era servers exit on a method they do not know: do not ask
                    // again, so the restart comes up.
                    self.skip_probe.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                let phase = if during_probe { "the server/discover probe" } else { "initialize" };
                let why = explain(format!("exited during {phase} ({})", exit_text(status)));
                mux.fail_all(&why);
                return crashed(why);
            }
            _ = self.shutdown.cancelled() => {
                stdio::stop(&self.name, &mut proc.child, &close_stdin, cfg.shutdown_timeout.0).await;
                return RunEnd::Shutdown;
            }
        };
        let info = match info {
            Ok(i) => Arc::new(i),
            Err(e) => {
                let why = explain(e);
                stdio::stop(
                    &self.name,
                    &mut proc.child,
                    &close_stdin,
                    cfg.shutdown_timeout.0,
                )
                .await;
                mux.fail_all(&why);
                return crashed(why);
            }
        };
        self.set_current(Some(mux.clone()));
        tracing::info!(server = %self.name, name = %info.server_name, version = %info.server_version, protocol = %info.protocols(), "upstream ready");
        let _ = self.status.send(Status::Ready(info));
        if self.announce {
            let _ = events.send(UpstreamEvent::Ready {
                server: self.name.clone(),
            });
        }

        let end = tokio::select! {
            status = proc.child.wait() => crashed(explain(format!("process exited ({})", exit_text(status)))),
            _ = &mut reader => {
                // stdout closed: usually the process is exiting; give it a moment to say how.
                match tokio::time::timeout(Duration::from_millis(500), proc.child.wait()).await {
                    Ok(status) => crashed(explain(format!("process exited ({})", exit_text(status)))),
                    Err(_) => {
                        // It lives on without stdout: it cannot talk to us any more.
                        stdio::stop(&self.name, &mut proc.child, &close_stdin, cfg.shutdown_timeout.0).await;
                        crashed(explain("process closed its stdout".into()))
                    }
                }
            }
            _ = self.shutdown.cancelled() => {
                stdio::stop(&self.name, &mut proc.child, &close_stdin, cfg.shutdown_timeout.0).await;
                RunEnd::Shutdown
            }
        };
        let why = match &end {
            RunEnd::Crashed { reason, .. } => reason.clone(),
            RunEnd::Shutdown => "gateway shutting down".into(),
        };
        // Status first, then the connection: a call never sees "ready" without one.
        let _ = self.status.send(Status::Restarting {
            reason: why.clone(),
            retry_in: Duration::ZERO,
        });
        self.set_current(None);
        let n = mux.in_flight();
        if n > 0 {
            tracing::warn!(server = %self.name, in_flight = n, reason = %why, "failing calls in flight");
        }
        mux.fail_all(&why);
        end
    }
}

/// `initialize` (unless `protocol: modern`), then the `server/discover` probe (unless
/// `protocol: legacy`): the server's answer to each decides which eras it is spoken to in.
async fn handshake(
    mux: &Mux,
    cfg: &ServerConfig,
    skip_probe: bool,
    probing: &std::sync::atomic::AtomicBool,
) -> Result<InitInfo, String> {
    let mut legacy = None;
    let mut init_problem = None;
    if cfg.protocol != ProtocolMode::Modern {
        let r = mux
            .call(
                methods::INITIALIZE,
                Some(initialize_params()),
                CallOptions::default(),
                cfg.init_timeout.0,
            )
            .await;
        match r {
            Ok(raw) => {
                let info =
                    parse_initialize_result(&raw).map_err(|e| format!("initialize failed: {e}"))?;
                mux.notify(methods::INITIALIZED, None);
                legacy = Some(info);
            }
            // A 2026-only server refuses `initialize`; the probe below may still find it.
            Err(CallError::Rpc(e)) if cfg.protocol == ProtocolMode::Auto => {
                init_problem = Some(format!("initialize failed: {e}"));
            }
            Err(e) => return Err(format!("initialize failed: {e}")),
        }
    }
    let mut modern = None;
    if cfg.protocol != ProtocolMode::Legacy && !skip_probe {
        probing.store(true, std::sync::atomic::Ordering::Relaxed);
        let wait = match cfg.protocol {
            ProtocolMode::Modern => cfg.init_timeout.0,
            _ => cfg.probe_timeout.0.min(cfg.init_timeout.0),
        };
        let r = mux
            .call(
                methods::SERVER_DISCOVER,
                Some(discover_params()),
                CallOptions::default(),
                wait,
            )
            .await;
        probing.store(false, std::sync::atomic::Ordering::Relaxed);
        match classify_discover(r) {
            Discovery::Modern(info) => modern = Some(*info),
            Discovery::Refused(why) => return Err(why),
            Discovery::Legacy(why) if cfg.protocol == ProtocolMode::Modern => {
                return Err(format!("`protocol: modern`, but {why}"));
            }
            Discovery::Legacy(why) => {
                tracing::debug!(server = %mux.server(), %why, "upstream speaks session-era protocol only");
            }
        }
    }
    InitInfo::merge(legacy, modern).ok_or_else(|| {
        init_problem.unwrap_or_else(|| "neither initialize nor server/discover worked".into())
    })
}

enum RunEnd {
    Shutdown,
    Crashed { reason: String, uptime: Duration },
}

fn exit_text(status: std::io::Result<std::process::ExitStatus>) -> String {
    match status {
        Ok(s) => s.to_string(),
        Err(e) => format!("wait failed: {e}"),
    }
}

impl Backend for StdioUpstream {
    fn call<'a>(
        &'a self,
        method: &'a str,
        params: Option<Box<RawValue>>,
        opts: CallOptions,
        _era: Era,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Box<RawValue>, CallError>> {
        // One pipe carries both eras: a modern request is told apart by its `_meta`.
        Box::pin(self.channel.call(method, params, opts, timeout))
    }

    fn notify(&self, method: &str, params: Option<Box<RawValue>>) {
        self.channel.notify(method, params)
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.shutdown.cancel();
            let mut stopped = self.stopped.clone();
            let _ = stopped.wait_for(|s| *s).await;
        })
    }
}

impl std::ops::Deref for StdioUpstream {
    type Target = Channel;
    fn deref(&self) -> &Channel {
        &self.channel
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let p = RestartPolicy::default();
        assert_eq!(backoff(&p, 1), Duration::from_millis(250));
        assert_eq!(backoff(&p, 2), Duration::from_millis(500));
        assert_eq!(backoff(&p, 4), Duration::from_secs(2));
        assert_eq!(backoff(&p, 40), Duration::from_secs(30));
    }

    #[test]
    fn crash_loop_needs_threshold_crashes_inside_the_window() {
        let p = RestartPolicy::default();
        let mut c = CrashCounter::new(&p);
        let t0 = Instant::now();
        for i in 0..4 {
            assert!(!c.record(t0 + Duration::from_secs(i)).1);
        }
        assert!(c.record(t0 + Duration::from_secs(5)).1);
        // Much later, old crashes have left the window.
        assert_eq!(c.record(t0 + Duration::from_secs(500)), (1, false));
    }
}
