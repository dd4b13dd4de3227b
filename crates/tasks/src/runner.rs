//! Task workers: each claims a runnable task (with a lease it renews while the task runs),
//! runs it through an executor — in the gateway, the tool call made for the task's owner —
//! and records how it ended: completed with its result; retried after a failure of the call
//! (backoff: `initial_delay × backoff^(attempt−1)`, at most `max_delay`) while attempts are
//! left, else failed with the reason; a task cancelled meanwhile stops its executor. A task
//! whose worker died (its lease ran out) is claimed again by any worker.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::model::{Outcome, Status, Task, now_ms};
use crate::store::{Ending, TaskStore};

/// How long a cancelled task's call may take to stop before it is dropped.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// How failed calls are retried.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Calls in all, the first included.
    pub attempts: u32,
    pub initial_delay: Duration,
    pub backoff: f64,
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// The wait before attempt `next` (2, 3, …).
    pub fn delay(&self, next: u32) -> Duration {
        let exp = i32::try_from(next.saturating_sub(2)).unwrap_or(i32::MAX);
        let secs = self.initial_delay.as_secs_f64() * self.backoff.max(1.0).powi(exp);
        Duration::from_secs_f64(secs.min(self.max_delay.as_secs_f64()))
    }
}

/// What running a task gave.
pub enum Ran {
    /// The call answered (a tool's own `isError` result included): the task is completed.
    Done(Outcome),
    /// The call failed in a way a retry may cure (upstream unavailable, crashed, timed out).
    Retryable { reason: String, error: Outcome },
    /// The call failed for good (a JSON-RPC error such as invalid params).
    Failed { reason: String, error: Outcome },
}

/// Runs one claimed task; `cancel` fires when the task is cancelled (the call should stop).
pub type Executor = Arc<dyn Fn(Task, CancellationToken) -> BoxFuture<'static, Ran> + Send + Sync>;

/// Called with the id of a task a worker ended.
pub type OnEnd = Arc<dyn Fn(&str) + Send + Sync>;

/// The workers' settings.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// This process's name for leases (unique per replica).
    pub name: String,
    pub workers: usize,
    pub retry: RetryPolicy,
    /// How long a claim holds without a heartbeat; heartbeats come every third of it.
    pub lease: Duration,
    /// How often an idle worker looks for work (sooner when [`Runner::kick`]ed).
    pub poll: Duration,
}

/// The workers of one process.
pub struct Runner {
    store: Arc<dyn TaskStore>,
    executor: Executor,
    config: RunnerConfig,
    wake: Notify,
    stop: CancellationToken,
    /// Told the id of each task this process's workers end (for status notifications).
    on_end: std::sync::OnceLock<OnEnd>,
    /// The tasks this process runs now, with what stops each one's call.
    running: std::sync::Mutex<std::collections::HashMap<String, CancellationToken>>,
}

/// Forgets a run in [`Runner::running`] when it ends, however it ends.
struct Running<'a> {
    runner: &'a Runner,
    id: String,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if let Ok(mut m) = self.runner.running.lock() {
            m.remove(&self.id);
        }
    }
}

impl Runner {
    pub fn new(store: Arc<dyn TaskStore>, executor: Executor, config: RunnerConfig) -> Arc<Self> {
        Arc::new(Self {
            store,
            executor,
            config,
            wake: Notify::new(),
            stop: CancellationToken::new(),
            running: Default::default(),
            on_end: std::sync::OnceLock::new(),
        })
    }

    /// Be told of every task the workers end (set once, before [`Runner::start`]).
    pub fn on_end(&self, f: OnEnd) {
        let _ = self.on_end.set(f);
    }

    /// Start the workers.
    pub fn start(self: &Arc<Self>) {
        for i in 0..self.config.workers.max(1) {
            let me = self.clone();
            tokio::spawn(async move { me.work(i).await });
        }
    }

    /// Task `id` was cancelled: if this process runs it, stop its call now rather than at the
    /// next heartbeat (other processes notice at theirs).
    pub fn stop_task(&self, id: &str) {
        if let Some(t) = self.running.lock().ok().and_then(|m| m.get(id).cloned()) {
            t.cancel();
        }
    }

    /// A task was created: an idle worker looks now.
    pub fn kick(&self) {
        self.wake.notify_one();
    }

    /// Stop claiming; tasks running go on until their executors return (their leases then lapse
    /// if the process exits first, and another worker runs them again).
    pub fn stop(&self) {
        self.stop.cancel();
        self.wake.notify_waiters();
    }

    async fn work(self: Arc<Self>, i: usize) {
        let worker = format!("{}#{i}", self.config.name);
        while !self.stop.is_cancelled() {
            let now = now_ms();
            let claimed = self
                .store
                .claim(&worker, now, now + millis(self.config.lease))
                .await;
            match claimed {
                Ok(Some(task)) => self.run(&worker, task).await,
                Ok(None) => {
                    tokio::select! {
                        _ = self.wake.notified() => {}
                        _ = tokio::time::sleep(self.config.poll) => {}
                        _ = self.stop.cancelled() => {}
                    }
                }
                Err(e) => {
                    tracing::error!(%worker, error = %e, "cannot claim tasks; retrying");
                    tokio::time::sleep(self.config.poll * 10).await;
                }
            }
        }
    }

    async fn run(&self, worker: &str, task: Task) {
        let id = task.id.clone();
        let attempt = task.attempts;
        let started = std::time::Instant::now();
        if attempt <= 1 {
            let waited = now_ms().saturating_sub(task.created_ms).max(0) as f64 / 1000.0;
            metrics::histogram!("mcp_task_queue_wait_seconds").record(waited);
        }
        // Claimed past its budget: a run that used the last attempt was lost with its worker
        // (a gateway killed or restarted mid-call), not failed — so it is not run again.
        if attempt > self.config.retry.attempts {
            let end = Ending {
                status: Status::Failed,
                message: Some(format!(
                    "the gateway running attempt {} of {} stopped mid-call (killed or restarted) and no attempts are left",
                    attempt - 1,
                    self.config.retry.attempts
                )),
                outcome: None,
            };
            if let Ok(true) = self.store.finish(&id, &end, now_ms()).await {
                metrics::counter!("mcp_tasks_ended_total", "status" => "failed").increment(1);
            }
            return;
        }
        let cancel = CancellationToken::new();
        if let Ok(mut m) = self.running.lock() {
            m.insert(id.clone(), cancel.clone());
        }
        let _running = Running {
            runner: self,
            id: id.clone(),
        };
        let call = (self.executor)(task, cancel.clone());
        tokio::pin!(call);
        let beat = self.config.lease / 3;
        // Run, renewing the lease, until the call ends or the task is cancelled (or lost).
        let ran = loop {
            tokio::select! {
                ran = &mut call => break Some(ran),
                // Cancelled here ([`Runner::stop_task`]): the call stops now.
                () = cancel.cancelled() => {
                    let _ = tokio::time::timeout(STOP_GRACE, &mut call).await;
                    break None;
                }
                _ = tokio::time::sleep(beat) => {
                    let until = now_ms() + millis(self.config.lease);
                    match self.store.heartbeat(&id, worker, until).await {
                        Ok(true) => {}
                        // Cancelled (or ended, or taken over): stop the call, and give it a
                        // moment to stop cleanly (it cancels its upstream request).
                        Ok(false) => {
                            cancel.cancel();
                            let _ = tokio::time::timeout(STOP_GRACE, &mut call).await;
                            break None;
                        }
                        Err(e) => tracing::warn!(task = %id, error = %e, "heartbeat failed"),
                    }
                }
            }
        };
        let ran_for = started.elapsed().as_secs_f64();
        let Some(ran) = ran else {
            metrics::histogram!("mcp_task_run_seconds", "outcome" => "stopped").record(ran_for);
            tracing::info!(task = %id, "task no longer ours (cancelled or taken over); its call stopped");
            return;
        };
        let now = now_ms();
        let retry = self.config.retry;
        let outcome = match &ran {
            Ran::Done(_) => "done",
            Ran::Retryable { .. } => "retryable",
            Ran::Failed { .. } => "failed",
        };
        metrics::histogram!("mcp_task_run_seconds", "outcome" => outcome).record(ran_for);
        let end = match ran {
            Ran::Done(outcome) => Ending {
                status: Status::Completed,
                message: None,
                outcome: Some(outcome),
            },
            Ran::Retryable { reason, .. } if attempt < retry.attempts => {
                let wait = retry.delay(attempt + 1);
                let message = format!(
                    "attempt {attempt} of {} failed ({reason}); retrying in {:.1}s",
                    retry.attempts,
                    wait.as_secs_f64()
                );
                tracing::info!(task = %id, %message);
                metrics::counter!("mcp_task_retries_total").increment(1);
                if let Err(e) = self
                    .store
                    .retry_at(&id, worker, now + millis(wait), &message, now)
                    .await
                {
                    tracing::error!(task = %id, error = %e, "cannot schedule the retry");
                }
                return;
            }
            Ran::Retryable { reason, error } => Ending {
                status: Status::Failed,
                message: Some(format!("failed after {attempt} attempts: {reason}")),
                outcome: Some(error),
            },
            Ran::Failed { reason, error } => Ending {
                status: Status::Failed,
                message: Some(reason),
                outcome: Some(error),
            },
        };
        match self.store.finish(&id, &end, now).await {
            Ok(true) => {
                metrics::counter!("mcp_tasks_ended_total", "status" => end.status.as_str())
                    .increment(1);
                if let Some(f) = self.on_end.get() {
                    f(&id);
                }
            }
            // Cancelled while the call was answering: the cancel stands.
            Ok(false) => {
                tracing::info!(task = %id, "task ended before its call did; its outcome is dropped")
            }
            Err(e) => tracing::error!(task = %id, error = %e, "cannot record how the task ended"),
        }
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
