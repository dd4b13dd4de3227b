//! Durable runs: a workflow run that is a task's run (the caller names the task) keeps a
//! checkpoint in the task store each time a step starts or ends — every step's status, result,
//! error and calls, and the order steps succeeded in — and a later run of the same task (the
//! task workers run it again after a restart) resumes from it: finished steps are not called
//! again; a step that was in flight is called again only when it is idempotent (its
//! `idempotent`, else its tool's `readOnlyHint` + `idempotentHint`), otherwise it fails,
//! saying why, and its `on_error` applies (an abort compensates what succeeded).

use serde_json::{Map, Value, json};
use switchboard_config::OnError;

use crate::run::{Run, Status, Stop};

/// What a step failed with when a restart cut it and it may not be called twice.
pub const NOT_RERUN: &str = "it was running when the gateway stopped, and is not called again: \
     calling it twice may not be safe (mark the step `idempotent: true` if it is)";

impl Run {
    /// The checkpoint: the run's id, each step's state by id, the order of successes.
    pub(crate) fn checkpoint_state(&self) -> String {
        let mut steps = Map::new();
        for (step, s) in self.wf.steps.iter().zip(&self.states) {
            if s.status == Status::Pending {
                continue;
            }
            steps.insert(
                step.id.to_string(),
                json!({"status": s.status.as_str(), "result": s.result, "error": s.error, "calls": s.calls}),
            );
        }
        let order: Vec<&str> = self
            .succeeded
            .iter()
            .map(|&i| &*self.wf.steps[i].id)
            .collect();
        json!({"run": self.id, "steps": steps, "order": order}).to_string()
    }

    /// Keep the checkpoint when something changed (a durable run only). A store that cannot
    /// take it is logged: the run goes on, and only a resume after a crash would lose it.
    pub(crate) async fn save(&mut self) {
        let Some(task) = self.env.caller.task.clone() else {
            return;
        };
        if !std::mem::take(&mut self.dirty) {
            return;
        }
        let state = self.checkpoint_state();
        if let Err(e) = self.env.gateway.save_task_checkpoint(&task, &state).await {
            tracing::warn!(workflow = %self.wf.name, run = %self.id, %task, error = %e, "cannot keep the workflow run's checkpoint");
        }
    }

    /// Take up a checkpoint: steps that ended keep their state; a step that was in flight
    /// runs again if it is idempotent, else fails. The stop it causes, if any.
    pub(crate) fn resume(&mut self, state: &str) -> Option<Stop> {
        let Ok(cp) = serde_json::from_str::<Value>(state) else {
            tracing::warn!(workflow = %self.wf.name, "a workflow checkpoint that is not JSON is ignored");
            return None;
        };
        if let Some(run) = cp["run"].as_str() {
            self.id = run.to_owned();
        }
        let mut stop = None;
        let wf = self.wf.clone();
        for (i, step) in wf.steps.iter().enumerate() {
            let Some(saved) = cp["steps"].get(&*step.id) else {
                continue;
            };
            let status = match saved["status"].as_str() {
                Some("succeeded") => Status::Succeeded,
                Some("failed") => Status::Failed,
                Some("skipped") => Status::Skipped,
                Some("cancelled") => Status::Cancelled,
                Some("running") => Status::Running,
                _ => continue,
            };
            let s = &mut self.states[i];
            s.calls = saved["calls"]
                .as_u64()
                .map_or(0, |c| u32::try_from(c).unwrap_or(u32::MAX));
            if status != Status::Running {
                s.status = status;
                s.result = saved["result"].clone();
                s.error = saved["error"].as_str().map(str::to_owned);
                self.ended_count += 1;
                continue;
            }
            let idempotent = step.idempotent.unwrap_or_else(|| {
                self.env
                    .gateway
                    .catalog
                    .tool(&step.tool)
                    .is_some_and(|t| t.read_only_idempotent)
            });
            if idempotent {
                tracing::info!(workflow = %wf.name, run = %self.id, step = %step.id, "resuming: the step cut by the restart runs again");
                continue;
            }
            s.status = Status::Failed;
            s.error = Some(NOT_RERUN.to_owned());
            self.ended_count += 1;
            self.dirty = true;
            if step.on_error != OnError::Continue && stop.is_none() {
                stop = Some(Stop::Failed(i));
            }
        }
        self.succeeded = cp["order"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter_map(|id| wf.steps.iter().position(|s| &*s.id == id))
            .filter(|&i| self.states[i].status == Status::Succeeded)
            .collect();
        tracing::info!(workflow = %wf.name, run = %self.id, done = self.ended_count, "workflow run resumed from its checkpoint");
        stop
    }
}
