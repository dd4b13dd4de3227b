//! One step's calls: through the dispatch seam as the caller, bounded by the run's
//! `max_parallel` (and a `for_each`'s `concurrency`), each within the step's `timeout`,
//! retried with exponential backoff and jitter while the failure may pass.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use rand::Rng;
use serde_json::Value;
use switchboard_config::StepRetry;
use switchboard_gateway::dispatch::{Caller, Dispatch};
use switchboard_gateway::gateway::Gateway;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::result::{CallFailure, step_value};

/// What one step's calls came to.
pub struct StepRun {
    pub result: Result<Value, CallFailure>,
    /// Calls made (retries and `for_each` items included).
    pub calls: u32,
}

/// How one step calls its tool.
#[derive(Clone)]
pub struct Calls {
    pub gateway: Arc<Gateway>,
    pub caller: Caller,
    pub tool: Arc<str>,
    pub retry: StepRetry,
    pub timeout: Option<Duration>,
    /// The run's bound on calls in flight.
    pub run_slots: Arc<Semaphore>,
    pub cancel: CancellationToken,
}

impl Calls {
    /// One call with these arguments, retried by the rule.
    pub async fn one(&self, args: Value) -> StepRun {
        let mut calls = 0;
        let attempts = self.retry.attempts.max(1);
        loop {
            calls += 1;
            let result = self.attempt(args.clone()).await;
            match result {
                Err(e) if calls < attempts && e.retryable() && !self.cancel.is_cancelled() => {
                    tracing::info!(tool = %self.tool, attempt = calls, error = %e, "workflow step failed; retrying");
                    let wait = backoff(&self.retry, calls);
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = self.cancel.cancelled() => return StepRun { result: Err(CallFailure::Cancelled), calls },
                    }
                }
                result => return StepRun { result, calls },
            }
        }
    }

    /// One call per item (arguments already rendered), at most `concurrency` at once; the
    /// results in order. The first item that fails (after its retries) fails the step and
    /// cancels the items still in flight.
    pub async fn each(&self, items: Vec<Value>, concurrency: usize) -> StepRun {
        let local = Arc::new(Semaphore::new(concurrency.max(1)));
        let stop = self.cancel.child_token();
        let scoped = Calls {
            cancel: stop.clone(),
            ..self.clone()
        };
        let runs = join_all(items.into_iter().enumerate().map(|(i, args)| {
            let (local, scoped, stop) = (local.clone(), &scoped, stop.clone());
            async move {
                let _slot = tokio::select! {
                    slot = local.acquire() => slot.ok(),
                    _ = stop.cancelled() => return (i, StepRun { result: Err(CallFailure::Cancelled), calls: 0 }),
                };
                let run = scoped.one(args).await;
                if run.result.is_err() {
                    stop.cancel();
                }
                (i, run)
            }
        }))
        .await;
        let calls = runs.iter().map(|(_, r)| r.calls).sum();
        let mut results = Vec::with_capacity(runs.len());
        let mut first_failure: Option<(usize, CallFailure)> = None;
        for (i, run) in runs {
            match run.result {
                Ok(v) => results.push(v),
                // The item that failed first, not those it cancelled.
                Err(CallFailure::Cancelled) if first_failure.is_some() => {}
                Err(e) => {
                    if first_failure
                        .as_ref()
                        .is_none_or(|(_, f)| matches!(f, CallFailure::Cancelled))
                    {
                        first_failure = Some((i, e));
                    }
                }
            }
        }
        let result = match first_failure {
            None => Ok(Value::Array(results)),
            Some((_, CallFailure::Cancelled)) => Err(CallFailure::Cancelled),
            Some((i, e)) => Err(prefixed(i, e)),
        };
        StepRun { result, calls }
    }

    async fn attempt(&self, args: Value) -> Result<Value, CallFailure> {
        let _slot = tokio::select! {
            slot = self.run_slots.acquire() => slot.ok(),
            _ = self.cancel.cancelled() => return Err(CallFailure::Cancelled),
        };
        let call_cancel = self.cancel.child_token();
        let call = self
            .gateway
            .call_tool(&self.caller, &self.tool, args, call_cancel.clone());
        tokio::pin!(call);
        let answer = match self.timeout {
            None => call.await,
            Some(limit) => tokio::select! {
                answer = &mut call => answer,
                _ = tokio::time::sleep(limit) => {
                    // Cancelled through the pipeline, so the upstream hears of it and the
                    // audit records it.
                    call_cancel.cancel();
                    let _ = call.await;
                    return Err(CallFailure::Timeout(limit));
                }
            },
        };
        if self.cancel.is_cancelled() {
            return Err(CallFailure::Cancelled);
        }
        match answer {
            Ok(raw) => step_value(raw.get()),
            Err(e) => Err(CallFailure::Rpc(e)),
        }
    }
}

/// The wait before attempt `n + 1`: `initial_delay × backoff^(n-1)`, at most `max_delay`,
/// shortened by up to a quarter at random (so retries of parallel steps spread out).
pub fn backoff(rule: &StepRetry, n: u32) -> Duration {
    let exp = i32::try_from(n.saturating_sub(1)).unwrap_or(i32::MAX);
    let base = rule.initial_delay.0.as_secs_f64() * rule.backoff.max(1.0).powi(exp);
    let capped = base.min(rule.max_delay.0.as_secs_f64());
    let jitter = rand::rng().random_range(0.75..=1.0);
    Duration::from_secs_f64((capped * jitter).max(0.0))
}

fn prefixed(i: usize, e: CallFailure) -> CallFailure {
    match e {
        CallFailure::Tool(t) => CallFailure::Tool(format!("item {i}: {t}")),
        CallFailure::Malformed(t) => CallFailure::Malformed(format!("item {i}: {t}")),
        CallFailure::Rpc(mut o) => {
            o.message = format!("item {i}: {}", o.message);
            CallFailure::Rpc(o)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use switchboard_config::Dur;

    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered_down_only() {
        let rule = StepRetry {
            attempts: 5,
            initial_delay: Dur::millis(100),
            backoff: 2.0,
            max_delay: Dur::millis(300),
        };
        for _ in 0..50 {
            let (a, b, c) = (backoff(&rule, 1), backoff(&rule, 2), backoff(&rule, 3));
            assert!(
                a >= Duration::from_millis(75) && a <= Duration::from_millis(100),
                "{a:?}"
            );
            assert!(
                b >= Duration::from_millis(150) && b <= Duration::from_millis(200),
                "{b:?}"
            );
            assert!(
                c >= Duration::from_millis(225) && c <= Duration::from_millis(300),
                "{c:?}"
            );
        }
    }
}
