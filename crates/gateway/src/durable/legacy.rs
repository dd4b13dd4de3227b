//! The 2025-11-25 face of gateway-run tasks (the core spec's experimental tasks; see
//! docs/design/tasks.md §2): `initialize` declares `capabilities.tasks`, task tools are listed
//! with `execution.taskSupport`, a `tools/call` with `params.task` answers the nested
//! `CreateTaskResult`, and `tasks/get`, `tasks/result` (blocks until the task ends, then the
//! call's own answer tagged `related-task`), `tasks/list` and `tasks/cancel` answer the task's
//! owner only. The tasks are the same as the 2026-07-28 face's: one store, one set of workers.

use std::time::Duration;

use serde_json::value::RawValue;
use serde_json::{Value, json};
use switchboard_config::TaskMode;
use switchboard_protocol::{ErrorObject, RawMap, codes, methods, to_raw};
use switchboard_tasks::model::now_ms;
use switchboard_tasks::{Ending, Outcome, Status, Task};

use super::{Durable, iso};
use crate::request::RequestCtx;

/// `_meta` key tying a message to its task (2025-11-25).
pub(crate) const RELATED_TASK: &str = "io.modelcontextprotocol/related-task";

/// Tasks per `tasks/list` page.
const PAGE: usize = 50;

/// What `initialize` declares when the gateway runs tasks: listing, cancel, task-augmented
/// `tools/call`.
pub(crate) fn capability() -> Value {
    json!({"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}})
}

/// The `taskSupport` a tool is listed with: its rule's mode, or `None` (forbidden, so the key
/// is left out) when no rule names it.
pub(crate) fn task_support(mode: Option<TaskMode>) -> Option<&'static str> {
    match mode? {
        TaskMode::Optional => Some("optional"),
        TaskMode::Required => Some("required"),
    }
}

/// The `task` a legacy `tools/call` carries, if any: `Ok(Some(ttl))` with the lifetime asked
/// for (ms, `None` when not asked), `Ok(None)` without `task`.
pub(crate) fn requested(params: Option<&RawValue>) -> Result<Option<Option<i64>>, ErrorObject> {
    let Some(map) = params.and_then(|p| RawMap::parse(p).ok()) else {
        return Ok(None);
    };
    let Some(task) = map.get("task") else {
        return Ok(None);
    };
    let task: Value = serde_json::from_str(task.get()).unwrap_or(Value::Null);
    let Some(obj) = task.as_object() else {
        return Err(ErrorObject::invalid_params(format!(
            "`task` must be an object such as {{\"ttl\": 60000}}, got {task}"
        )));
    };
    match obj.get("ttl") {
        None | Some(Value::Null) => Ok(Some(None)),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(ms) if ms >= 1.0 && ms.is_finite() => {
                Ok(Some(Some(ms.min(i64::MAX as f64) as i64)))
            }
            _ => Err(ttl_out_of_range(&n.to_string())),
        },
        Some(other) => Err(ttl_out_of_range(&other.to_string())),
    }
}

fn ttl_out_of_range(got: &str) -> ErrorObject {
    ErrorObject::invalid_params(format!(
        "task.ttl must be a positive number of milliseconds, got {got}"
    ))
}

/// `-32601` for a task asked of a tool that does not run as one.
pub(crate) fn forbidden(tool: &str) -> ErrorObject {
    ErrorObject::new(
        codes::METHOD_NOT_FOUND,
        format!(
            "Tool {tool} does not run as a task (taskSupport: 'forbidden'); call it without `task`"
        ),
    )
}

/// `-32601` for a plain call of a tool that runs only as a task.
pub(crate) fn required(tool: &str) -> ErrorObject {
    ErrorObject::new(
        codes::METHOD_NOT_FOUND,
        format!(
            "Tool {tool} requires task augmentation (taskSupport: 'required'); call it with `task`"
        ),
    )
}

/// Whether a completed task's result is a tool's `isError` result (a `failed` task for
/// 2025-11-25 clients).
fn is_error_result(t: &Task) -> bool {
    match (&t.status, &t.outcome) {
        (Status::Completed, Some(Outcome::Result(r))) => serde_json::from_str::<Value>(r)
            .is_ok_and(|v| v.get("isError") == Some(&Value::Bool(true))),
        _ => false,
    }
}

impl Durable {
    /// The lifetime a task gets: what the client asked for, at most the configured `ttl`.
    pub(crate) fn ttl_for(&self, asked: Option<i64>) -> i64 {
        asked.map_or(self.ttl_ms, |a| a.min(self.ttl_ms))
    }

    /// The task as 2025-11-25 shows it (`Task`): `ttl` and `pollInterval`, no result; a tool's
    /// `isError` result is `failed`.
    pub(crate) fn legacy_shape(&self, t: &Task) -> Value {
        let failed_tool = is_error_result(t);
        let status = if failed_tool {
            "failed"
        } else {
            t.status.as_str()
        };
        let mut v = json!({
            "taskId": t.id,
            "status": status,
            "createdAt": iso(t.created_ms),
            "lastUpdatedAt": iso(t.updated_ms),
            "ttl": t.ttl_ms,
            "pollInterval": self.poll_ms,
        });
        match &t.status_message {
            Some(m) => v["statusMessage"] = json!(m),
            None if failed_tool => v["statusMessage"] = json!("the tool reported an error"),
            None => {}
        }
        v
    }

    /// `tasks/get`, `tasks/result`, `tasks/list`, `tasks/cancel` of a 2025-11-25 client.
    pub(crate) async fn legacy_method(
        &self,
        ctx: &RequestCtx,
        method: &str,
        params: Option<&RawValue>,
    ) -> Result<Box<RawValue>, ErrorObject> {
        let map = params
            .map(RawMap::parse)
            .transpose()
            .map_err(|e| ErrorObject::invalid_params(format!("{method}: params: {e}")))?;
        if method == methods::TASKS_LIST {
            let cursor = map
                .as_ref()
                .and_then(|m| m.get_str("cursor").map(|c| c.into_owned()));
            return self.legacy_list(ctx, cursor.as_deref()).await;
        }
        let id = crate::tasks::task_id_of(method, params)?;
        let task = self.owned(ctx, &id).await?;
        match method {
            methods::TASKS_GET => Ok(to_raw(&self.legacy_shape(&task))),
            methods::TASKS_CANCEL => {
                if task.status.is_terminal() {
                    return Err(ErrorObject::new(
                        codes::INVALID_PARAMS,
                        format!(
                            "Cannot cancel task: already in terminal status '{}'",
                            self.legacy_shape(&task)["status"]
                                .as_str()
                                .unwrap_or_default()
                        ),
                    ));
                }
                self.cancel(&id).await?;
                let task = self.owned(ctx, &id).await?;
                Ok(to_raw(&self.legacy_shape(&task)))
            }
            methods::TASKS_RESULT => self.legacy_result(ctx, task).await,
            other => Err(ErrorObject::method_not_found(other)),
        }
    }

    /// `tasks/result`: wait for the task to end (or the request to be cancelled), then answer
    /// what the call answered — its result tagged `related-task`, or its error.
    async fn legacy_result(
        &self,
        ctx: &RequestCtx,
        mut task: Task,
    ) -> Result<Box<RawValue>, ErrorObject> {
        let every =
            Duration::from_millis(u64::try_from(self.poll_ms.clamp(50, 500)).unwrap_or(250));
        let mut sent = std::collections::HashSet::new();
        while !task.status.is_terminal() {
            // Input the call waits for reaches the client on this request's stream.
            if task.status == Status::InputRequired {
                super::input::deliver(&self.store, ctx, &task.id, &mut sent).await?;
            }
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = ctx.cancel.cancelled() => {
                    return Err(ErrorObject::new(codes::REQUEST_CANCELLED, "tasks/result was cancelled; the task goes on"));
                }
            }
            task = self.owned(ctx, &task.id).await?;
        }
        match (&task.status, &task.outcome) {
            (Status::Completed, Some(Outcome::Result(r))) => {
                let mut v: Value = serde_json::from_str(r).map_err(ErrorObject::internal)?;
                if let Some(obj) = v.as_object_mut() {
                    let meta = obj.entry("_meta").or_insert_with(|| json!({}));
                    if let Some(meta) = meta.as_object_mut() {
                        meta.insert(RELATED_TASK.into(), json!({"taskId": task.id}));
                    }
                }
                Ok(to_raw(&v))
            }
            (Status::Failed, Some(Outcome::Error(e))) => {
                Err(serde_json::from_str::<ErrorObject>(e)
                    .unwrap_or_else(|_| ErrorObject::internal("the task failed")))
            }
            (Status::Cancelled, _) => Err(ErrorObject::new(
                codes::INTERNAL_ERROR,
                format!("Task {} was cancelled", task.id),
            )),
            _ => Err(ErrorObject::new(
                codes::INTERNAL_ERROR,
                task.status_message
                    .clone()
                    .unwrap_or_else(|| format!("Task {} failed", task.id)),
            )),
        }
    }

    /// `tasks/list`: the caller's tasks, newest first, [`PAGE`] at a time.
    async fn legacy_list(
        &self,
        ctx: &RequestCtx,
        cursor: Option<&str>,
    ) -> Result<Box<RawValue>, ErrorObject> {
        let owner = &*ctx.identity.subject;
        if let Some(c) = cursor {
            // A cursor is the last task of the page before: one of the caller's tasks.
            if self.owned(ctx, c).await.is_err() {
                return Err(ErrorObject::invalid_params(format!(
                    "invalid cursor {c:?}; start again without a cursor"
                )));
            }
        }
        let mut tasks = self
            .store
            .list(owner, cursor, PAGE + 1)
            .await
            .map_err(super::store_failed)?;
        let more = tasks.len() > PAGE;
        tasks.truncate(PAGE);
        let mut v = json!({
            "tasks": tasks.iter().map(|t| self.legacy_shape(t)).collect::<Vec<_>>(),
        });
        if more && let Some(last) = tasks.last() {
            v["nextCursor"] = json!(last.id);
        }
        Ok(to_raw(&v))
    }

    /// End task `id` as cancelled by its client (when it has not ended meanwhile).
    pub(crate) async fn cancel(&self, id: &str) -> Result<(), ErrorObject> {
        let end = Ending {
            status: Status::Cancelled,
            message: Some("cancelled by the client".into()),
            outcome: None,
        };
        let ended = self
            .store
            .finish(id, &end, now_ms())
            .await
            .map_err(super::store_failed)?;
        if ended {
            metrics::counter!("mcp_tasks_ended_total", "status" => "cancelled").increment(1);
            if let Some(r) = self.runner.get() {
                r.stop_task(id);
            }
            if let Some(notify) = self.notifier.get() {
                notify(id);
            }
        }
        Ok(())
    }
}
