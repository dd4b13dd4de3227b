//! One run of a workflow: the scheduler. A step starts as soon as every step it waits for has
//! ended (in parallel with whatever else may run, bounded by `max_parallel`); a step without
//! `if` runs only when all of them succeeded (else it is skipped, saying which did not), a
//! step with `if` decides itself. A failure with `on_error: abort` or `retry` (once its
//! retries are spent), the run's `timeout`, or the client's cancellation stop the run: steps
//! in flight are cancelled, steps not started are not run, and the `compensate` calls of the
//! steps that succeeded run in the reverse order of their ends (a saga).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use serde_json::{Map, Value, json};
use switchboard_config::OnError;
use switchboard_gateway::dispatch::Caller;
use switchboard_gateway::gateway::Gateway;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::call::{Calls, StepRun};
use crate::compile::Workflow;
use crate::progress::Progress;
use crate::result::{CallFailure, tool_result};

/// Where a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pending,
    Running,
    Succeeded,
    Failed,
    Skipped,
    Cancelled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "not_started",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
            Self::Cancelled => "cancelled",
        }
    }
    fn ended(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::Skipped | Self::Cancelled
        )
    }
}

#[derive(Debug, Clone)]
pub(crate) struct StepState {
    pub(crate) status: Status,
    pub(crate) result: Value,
    pub(crate) error: Option<String>,
    pub(crate) calls: u32,
    pub(crate) start: Option<Duration>,
    pub(crate) end: Option<Duration>,
}

/// Why a run stopped before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    Failed(usize),
    Cancelled,
    TimedOut,
}

/// What a run needs besides its workflow and inputs.
pub struct RunEnv {
    pub gateway: Arc<Gateway>,
    /// The workflow's caller (its relay: the client the workflow call came from).
    pub caller: Caller,
    pub progress: Option<Progress>,
}

/// Run `wf` on `inputs` to its end; the tool result to answer with.
pub async fn run(
    wf: Arc<Workflow>,
    inputs: Value,
    env: RunEnv,
    cancel: CancellationToken,
) -> Value {
    Run::new(wf, inputs, env).go(cancel).await
}

pub(crate) struct Run {
    pub(crate) wf: Arc<Workflow>,
    pub(crate) id: String,
    inputs: Value,
    pub(crate) env: RunEnv,
    pub(crate) states: Vec<StepState>,
    /// Steps in the order they succeeded (compensation runs it backwards).
    pub(crate) succeeded: Vec<usize>,
    began: Instant,
    pub(crate) ended_count: usize,
    /// Something changed since the last checkpoint (durable runs).
    pub(crate) dirty: bool,
}

/// A step's spawned calls, with the step's index (also when its task ended abnormally).
type InFlight =
    FuturesUnordered<BoxFuture<'static, (usize, Result<StepRun, tokio::task::JoinError>)>>;

impl Run {
    fn new(wf: Arc<Workflow>, inputs: Value, env: RunEnv) -> Self {
        let n = wf.steps.len();
        let id = uuid::Uuid::new_v4().simple().to_string()[..16].to_owned();
        Self {
            wf,
            id,
            inputs,
            env,
            states: vec![
                StepState {
                    status: Status::Pending,
                    result: Value::Null,
                    error: None,
                    calls: 0,
                    start: None,
                    end: None,
                };
                n
            ],
            succeeded: Vec::new(),
            began: Instant::now(),
            ended_count: 0,
            dirty: false,
        }
    }

    async fn go(mut self, cancel: CancellationToken) -> Value {
        tracing::info!(workflow = %self.wf.name, run = %self.id, subject = %self.env.caller.identity.subject, "workflow run started");
        // A run never calls what its caller may not: every tool it may call is checked first,
        // and a denied one fails the run before any step runs, as an unknown tool would.
        for (i, step) in self.wf.steps.iter().enumerate() {
            let tools = std::iter::once(&step.tool).chain(step.compensate.as_ref().map(|c| &c.0));
            for tool in tools {
                if let Err(e) = self.env.caller.may_call(&self.env.gateway, tool) {
                    let message = format!(
                        "workflow `{}` cannot run: step `{}` calls `{tool}`: {}",
                        self.wf.name, step.id, e.message
                    );
                    self.states[i].status = Status::Failed;
                    self.states[i].error = Some(e.message);
                    return tool_result(Err(message), self.meta("failed", &[]));
                }
            }
        }
        // A durable run (a task's) picks up where a run cut by a restart stopped.
        let mut stop: Option<Stop> = None;
        if let Some(task) = self.env.caller.task.clone() {
            match self.env.gateway.task_checkpoint(&task).await {
                Ok(Some(state)) => stop = self.resume(&state),
                Ok(None) => {}
                Err(e) => {
                    let message = format!(
                        "workflow `{}`: the run's checkpoint cannot be read, so it does not start over: {e}",
                        self.wf.name
                    );
                    return tool_result(Err(message), self.meta("failed", &[]));
                }
            }
        }
        let run_cancel = cancel.child_token();
        let slots = Arc::new(Semaphore::new(self.wf.max_parallel));
        let deadline = tokio::time::sleep(self.wf.timeout);
        tokio::pin!(deadline);
        let mut in_flight: InFlight = FuturesUnordered::new();
        if stop.is_some() {
            run_cancel.cancel();
        }
        loop {
            // A step may see the caller's cancellation (its token is a child) before the
            // select below does: the run stops for the cancellation, not as a success.
            if stop.is_none() && cancel.is_cancelled() {
                stop = Some(Stop::Cancelled);
                run_cancel.cancel();
            }
            if stop.is_none() {
                stop = self.start_ready(&slots, &run_cancel, &mut in_flight);
                if stop.is_some() {
                    run_cancel.cancel();
                }
            }
            self.save().await;
            if in_flight.is_empty() {
                break;
            }
            tokio::select! {
                biased;
                _ = cancel.cancelled(), if stop.is_none() => {
                    stop = Some(Stop::Cancelled);
                    run_cancel.cancel();
                }
                Some((i, joined)) = in_flight.next() => {
                    if let Some(failed) = self.finish(i, joined)
                        && stop.is_none()
                    {
                        stop = Some(Stop::Failed(failed));
                        run_cancel.cancel();
                    }
                }
                _ = &mut deadline, if stop.is_none() => {
                    stop = Some(Stop::TimedOut);
                    run_cancel.cancel();
                }
            }
        }
        if stop.is_none() && cancel.is_cancelled() {
            stop = Some(Stop::Cancelled);
        }
        let Some(stop) = stop else {
            let output = self.output();
            let status = if output.is_ok() {
                "succeeded"
            } else {
                "failed"
            };
            tracing::info!(workflow = %self.wf.name, run = %self.id, status, "workflow run ended");
            let meta = self.meta(status, &[]);
            return tool_result(output, meta);
        };
        let compensated = self.compensate().await;
        let status = match stop {
            Stop::Failed(_) => "failed",
            Stop::Cancelled => "cancelled",
            Stop::TimedOut => "timed_out",
        };
        let mut message = match stop {
            Stop::Failed(i) => {
                let step = &self.wf.steps[i];
                format!(
                    "workflow `{}` failed at step `{}` (tool `{}`): {}",
                    self.wf.name,
                    step.id,
                    step.tool,
                    self.states[i].error.as_deref().unwrap_or("failed")
                )
            }
            Stop::Cancelled => format!("workflow `{}` was cancelled", self.wf.name),
            Stop::TimedOut => format!(
                "workflow `{}` did not finish within its timeout of {:?}",
                self.wf.name, self.wf.timeout
            ),
        };
        if !compensated.is_empty() {
            let parts: Vec<String> = compensated
                .iter()
                .map(|c| match &c.error {
                    None => format!("`{}` undone", c.step),
                    Some(e) => format!("undoing `{}` failed: {e}", c.step),
                })
                .collect();
            message.push_str(&format!("; compensation: {}", parts.join(", ")));
        }
        tracing::warn!(workflow = %self.wf.name, run = %self.id, status, %message, "workflow run stopped");
        let meta = self.meta(status, &compensated);
        tool_result(Err(message), meta)
    }

    /// Start (or settle) every pending step whose dependencies have ended. A step that fails
    /// before any call (its `if`, `for_each` or arguments cannot be computed) ends here.
    fn start_ready(
        &mut self,
        slots: &Arc<Semaphore>,
        cancel: &CancellationToken,
        in_flight: &mut InFlight,
    ) -> Option<Stop> {
        loop {
            let mut changed = false;
            for i in 0..self.wf.steps.len() {
                if self.states[i].status != Status::Pending
                    || !self.wf.deps[i]
                        .iter()
                        .all(|&d| self.states[d].status.ended())
                {
                    continue;
                }
                changed = true;
                match self.prepare(i) {
                    Ok(Some(call)) => {
                        self.states[i].status = Status::Running;
                        self.states[i].start = Some(self.began.elapsed());
                        self.dirty = true;
                        let calls = self.calls(i, slots, cancel);
                        let concurrency = self.wf.steps[i].concurrency;
                        // Spawned: a run whose caller went away still ends its steps through
                        // the pipeline (cancelled there, so upstreams hear of it).
                        let task = tokio::spawn(async move {
                            match call {
                                Prepared::One(args) => calls.one(args).await,
                                Prepared::Each(items) => calls.each(items, concurrency).await,
                            }
                        });
                        in_flight.push(Box::pin(async move { (i, task.await) }));
                    }
                    Ok(None) => {}
                    Err(message) => {
                        self.end(i, Status::Failed, Value::Null, Some(message));
                        if self.wf.steps[i].on_error != OnError::Continue {
                            return Some(Stop::Failed(i));
                        }
                    }
                }
            }
            if !changed {
                return None;
            }
        }
    }

    /// Whether step `i` runs, and with what: `Ok(None)` when it was skipped.
    fn prepare(&mut self, i: usize) -> Result<Option<Prepared>, String> {
        let wf = self.wf.clone();
        let step = &wf.steps[i];
        let ctx = self.context();
        match &step.condition {
            Some(cond) => {
                if !switchboard_jq::truthy(&cond.render(&ctx)?) {
                    self.end(
                        i,
                        Status::Skipped,
                        Value::Null,
                        Some("its `if` is false".into()),
                    );
                    return Ok(None);
                }
            }
            None => {
                let unmet: Vec<String> = self.wf.deps[i]
                    .iter()
                    .filter(|&&d| self.states[d].status != Status::Succeeded)
                    .map(|&d| format!("`{}` {}", wf.steps[d].id, self.states[d].status.as_str()))
                    .collect();
                if !unmet.is_empty() {
                    let why = format!("it needs {}", unmet.join(", "));
                    self.end(i, Status::Skipped, Value::Null, Some(why));
                    return Ok(None);
                }
            }
        }
        match &step.for_each {
            None => Ok(Some(Prepared::One(object_args(
                step.args.render(&ctx)?,
                &step.id,
            )?))),
            Some(each) => {
                let items = match each.render(&ctx)? {
                    Value::Array(items) => items,
                    other => {
                        return Err(format!("`for_each` gave {}, not an array", kind_of(&other)));
                    }
                };
                let mut ctx = ctx;
                let mut calls = Vec::with_capacity(items.len());
                for (n, item) in items.into_iter().enumerate() {
                    ctx["item"] = item;
                    ctx["index"] = json!(n);
                    calls.push(object_args(step.args.render(&ctx)?, &step.id)?);
                }
                Ok(Some(Prepared::Each(calls)))
            }
        }
    }

    fn calls(&self, i: usize, slots: &Arc<Semaphore>, cancel: &CancellationToken) -> Calls {
        let step = &self.wf.steps[i];
        let mut caller = self.env.caller.clone();
        caller.via = Some(format!("workflow:{}/{}/{}", self.wf.name, self.id, step.id).into());
        Calls {
            gateway: self.env.gateway.clone(),
            caller,
            tool: step.tool.as_str().into(),
            retry: step.retry.clone(),
            timeout: step.timeout,
            run_slots: slots.clone(),
            cancel: cancel.clone(),
        }
    }

    /// Record a finished step; the index of a step whose failure stops the run.
    fn finish(
        &mut self,
        i: usize,
        joined: Result<StepRun, tokio::task::JoinError>,
    ) -> Option<usize> {
        let run = match joined {
            Ok(run) => run,
            Err(e) => {
                tracing::error!(step = %self.wf.steps[i].id, error = %e, "a workflow step's task ended abnormally");
                self.end(
                    i,
                    Status::Failed,
                    Value::Null,
                    Some("the step's task ended abnormally".into()),
                );
                return Some(i);
            }
        };
        self.states[i].calls = run.calls;
        match run.result {
            Ok(v) => {
                self.end(i, Status::Succeeded, v, None);
                self.succeeded.push(i);
                None
            }
            Err(CallFailure::Cancelled) => {
                self.end(i, Status::Cancelled, Value::Null, Some("cancelled".into()));
                None
            }
            Err(e) => {
                self.end(i, Status::Failed, Value::Null, Some(e.to_string()));
                (self.wf.steps[i].on_error != OnError::Continue).then_some(i)
            }
        }
    }

    fn end(&mut self, i: usize, status: Status, result: Value, error: Option<String>) {
        let s = &mut self.states[i];
        s.status = status;
        s.result = result;
        s.error = error;
        s.end = Some(self.began.elapsed());
        self.ended_count += 1;
        self.dirty = true;
        if let Some(p) = &self.env.progress {
            let step = &self.wf.steps[i].id;
            p.send(
                self.ended_count,
                self.wf.steps.len(),
                &format!("step `{step}` {}", status.as_str()),
            );
        }
    }

    /// What expressions see: `inputs`, every step's `status`/`result`/`error`, and `run`.
    fn context(&self) -> Value {
        let mut steps = Map::with_capacity(self.states.len());
        for (step, s) in self.wf.steps.iter().zip(&self.states) {
            steps.insert(
                step.id.to_string(),
                json!({"status": s.status.as_str(), "result": s.result, "error": s.error, "calls": s.calls}),
            );
        }
        json!({
            "inputs": self.inputs,
            "steps": steps,
            "run": {"id": self.id, "workflow": self.wf.name},
        })
    }

    /// The run's result: `output` rendered, or every step's result by id.
    fn output(&self) -> Result<Value, String> {
        let out = match &self.wf.output {
            Some(t) => t.render(&self.context()).map_err(|e| {
                format!(
                    "workflow `{}`: its output cannot be computed: {e}",
                    self.wf.name
                )
            })?,
            None => Value::Object(
                self.wf
                    .steps
                    .iter()
                    .zip(&self.states)
                    .map(|(step, s)| (step.id.to_string(), s.result.clone()))
                    .collect(),
            ),
        };
        if self.wf.structured && !out.is_object() {
            return Err(format!(
                "workflow `{}`: its output is {}, but its outputSchema promises an object",
                self.wf.name,
                kind_of(&out)
            ));
        }
        Ok(out)
    }

    /// Undo the steps that succeeded, last first. Each compensation is called as the caller,
    /// with the step's retry rule, and is not cancelled by what stopped the run.
    async fn compensate(&mut self) -> Vec<Compensated> {
        let mut out = Vec::new();
        let slots = Arc::new(Semaphore::new(1));
        for &i in self.succeeded.clone().iter().rev() {
            let step = &self.wf.steps[i];
            let Some((tool, args)) = &step.compensate else {
                continue;
            };
            let args = match args
                .render(&self.context())
                .and_then(|a| object_args(a, &step.id))
            {
                Ok(a) => a,
                Err(e) => {
                    out.push(Compensated {
                        step: step.id.clone(),
                        tool: tool.clone(),
                        error: Some(e),
                    });
                    continue;
                }
            };
            let mut caller = self.env.caller.clone();
            caller.via = Some(
                format!(
                    "workflow:{}/{}/{}:compensate",
                    self.wf.name, self.id, step.id
                )
                .into(),
            );
            let calls = Calls {
                gateway: self.env.gateway.clone(),
                caller,
                tool: tool.as_str().into(),
                retry: step.retry.clone(),
                timeout: Some(step.timeout.unwrap_or(Duration::from_secs(60))),
                run_slots: slots.clone(),
                cancel: CancellationToken::new(),
            };
            let run = calls.one(args).await;
            let error = run.result.err().map(|e| e.to_string());
            if let Some(e) = &error {
                tracing::error!(workflow = %self.wf.name, run = %self.id, step = %step.id, error = %e, "compensation failed");
            }
            out.push(Compensated {
                step: step.id.clone(),
                tool: tool.clone(),
                error,
            });
        }
        out
    }

    /// How the run went, for `_meta` and the logs.
    fn meta(&self, status: &str, compensated: &[Compensated]) -> Value {
        let ms =
            |d: Option<Duration>| d.map(|d| (d.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0);
        let steps: Vec<Value> = self
            .wf
            .steps
            .iter()
            .zip(&self.states)
            .map(|(step, s)| {
                let mut v = json!({"id": &*step.id, "tool": step.tool, "status": s.status.as_str(), "calls": s.calls,
                                   "startMs": ms(s.start), "endMs": ms(s.end)});
                if let Some(e) = &s.error {
                    v["error"] = json!(e);
                }
                v
            })
            .collect();
        let mut meta =
            json!({"workflow": self.wf.name, "run": self.id, "status": status, "steps": steps});
        if !compensated.is_empty() {
            meta["compensated"] = compensated
                .iter()
                .map(|c| json!({"step": &*c.step, "tool": c.tool, "ok": c.error.is_none(), "error": c.error}))
                .collect();
        }
        meta
    }
}

/// A compensation that ran.
struct Compensated {
    step: Arc<str>,
    tool: String,
    error: Option<String>,
}

enum Prepared {
    One(Value),
    Each(Vec<Value>),
}

fn object_args(v: Value, step: &str) -> Result<Value, String> {
    match v {
        Value::Object(_) => Ok(v),
        other => Err(format!(
            "the arguments of step `{step}` are {}, not an object",
            kind_of(&other)
        )),
    }
}

fn kind_of(v: &Value) -> String {
    let text = v.to_string();
    let short: String = text.chars().take(60).collect();
    match v {
        Value::Null => "null".into(),
        Value::Bool(_) => format!("a boolean ({short})"),
        Value::Number(_) => format!("a number ({short})"),
        Value::String(_) => format!("a string ({short})"),
        Value::Array(_) => format!("an array ({short})"),
        Value::Object(_) => format!("an object ({short})"),
    }
}
