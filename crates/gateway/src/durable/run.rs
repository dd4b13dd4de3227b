//! Running a task: the tool call made for the task's owner — routed as the catalogue routes it
//! now, with the owner's identity rebuilt from the policies in force — and its outcome
//! classified for the workers: an answer (a tool's `isError` result included) completes the
//! task; an upstream that was unavailable, crashed, timed out or was busy is worth a retry;
//! any other error fails the task. Each run is audited like a call.

use std::sync::{Arc, Weak};
use std::time::Instant;

use futures_util::future::BoxFuture;
use serde_json::value::RawValue;
use switchboard_protocol::{ErrorObject, Id, Request, codes, methods};
use switchboard_tasks::model::now_ms;
use switchboard_tasks::{Executor, Outcome, Ran, Task};
use tokio_util::sync::CancellationToken;

use super::Stored;
use crate::gateway::Gateway;
use crate::request::{RequestCtx, Transport};

/// The workers' executor for `gw` (held weakly: the gateway owns its workers).
pub(crate) fn executor(gw: Weak<Gateway>) -> Executor {
    Arc::new(
        move |task: Task, cancel: CancellationToken| -> BoxFuture<'static, Ran> {
            let gw = gw.upgrade();
            Box::pin(async move {
                match gw {
                    Some(gw) => gw.run_task(task, cancel).await,
                    None => failed(ErrorObject::new(
                        codes::SHUTTING_DOWN,
                        "the gateway is stopping",
                    )),
                }
            })
        },
    )
}

/// The call's params asking the upstream for progress (token `task:<id>`), unless the client
/// asked with a token of its own.
fn with_progress_token(call: &RawValue, id: &str) -> Box<RawValue> {
    let Ok(mut v) = serde_json::from_str::<serde_json::Value>(call.get()) else {
        return call.to_owned();
    };
    let Some(obj) = v.as_object_mut() else {
        return call.to_owned();
    };
    let meta = obj.entry("_meta").or_insert_with(|| serde_json::json!({}));
    if let Some(meta) = meta.as_object_mut() {
        meta.entry("progressToken")
            .or_insert_with(|| serde_json::json!(format!("task:{id}")));
    }
    switchboard_protocol::to_raw(&v)
}

fn failed(e: ErrorObject) -> Ran {
    Ran::Failed {
        reason: e.message.clone(),
        error: Outcome::Error(serde_json::to_string(&e).unwrap_or_default()),
    }
}

impl Gateway {
    /// Make task `task`'s call for its owner.
    pub(crate) async fn run_task(self: &Arc<Self>, task: Task, cancel: CancellationToken) -> Ran {
        let stored: Stored = match serde_json::from_str(&task.params) {
            Ok(s) => s,
            Err(e) => {
                return failed(ErrorObject::internal(format!(
                    "the task's call cannot be read: {e}"
                )));
            }
        };
        let policies = self.policies();
        let identity = policies
            .auth
            .identity_of(&task.owner, stored.role.as_deref(), &stored.auth);
        let Some(entry) = self.catalog.tool(&task.tool) else {
            return failed(ErrorObject::invalid_params(format!(
                "Unknown tool: {}",
                task.tool
            )));
        };
        // The owner's role as configured now: a tool it may no longer call fails the task.
        if let Err(e) = switchboard_policy::stages::authorize(
            &identity,
            &switchboard_policy::Target::Tool(task.tool.clone()),
            Some(&entry.route.original),
        ) {
            return failed(e);
        }
        let relay = self.durable.as_ref().map(|d| {
            let mut relay = super::progress::TaskRelay::new(
                d.store.clone(),
                task.id.clone(),
                stored.asks.clone(),
            );
            if let (Some(sid), Some(token)) = (&stored.session, &stored.progress_token) {
                relay.client = Some(super::progress::ClientProgress {
                    gw: Arc::downgrade(self),
                    id: sid.clone(),
                    token: token.clone(),
                });
            }
            Arc::new(relay)
        });
        let ctx = RequestCtx {
            session: None,
            out: None,
            transport: Transport::Http,
            cancel: cancel.clone(),
            modern: None,
            identity,
            policies,
            client_ip: None,
            denied: Default::default(),
            trace: None,
            // The rule's own limit, when it sets one, in place of the server's.
            call_timeout: self
                .durable
                .as_ref()
                .and_then(|d| d.rule(&task.tool, &entry.route.original))
                .and_then(|r| r.timeout)
                .map(|t| t.0),
            detached_relay: relay
                .clone()
                .map(|r| r as Arc<dyn switchboard_upstream::Relay>),
            via: None,
            task: Some(task.id.as_str().into()),
        };
        // Input a previous run asked for is moot: a run after the first asks afresh.
        if task.attempts > 1
            && let Some(r) = &relay
            && let Err(e) = r.store.clear_input(&task.id, now_ms()).await
        {
            tracing::warn!(task = %task.id, error = %e, "cannot clear a task's input");
        }
        let started = Instant::now();
        let call = with_progress_token(&stored.call, &task.id);
        let params = match switchboard_protocol::rawmap::with_param(
            Some(&call),
            "name",
            &entry.route.original,
        ) {
            Ok(p) => p,
            Err(e) => return failed(e),
        };
        let headers = crate::param_headers::values_for(
            entry.param_headers.as_deref().map(Vec::as_slice),
            Some(&stored.call),
        );
        let result = self
            .forward_with(
                &ctx,
                &entry.route,
                methods::TOOLS_CALL,
                params,
                headers,
                &cancel,
                None,
            )
            .await;
        // The call ended: requests it left unanswered are moot.
        if let Some(r) = &relay
            && r.asked.load(std::sync::atomic::Ordering::Relaxed)
            && let Err(e) = r.store.clear_input(&task.id, now_ms()).await
        {
            tracing::warn!(task = %task.id, error = %e, "cannot clear a task's input");
        }
        if self.audit.enabled() {
            let req = Request {
                id: Id::Str(Arc::from(format!("task:{}", task.id))),
                method: methods::TOOLS_CALL.to_owned(),
                params: Some(stored.call.clone()),
            };
            let record = crate::record::audit_record(&self.audit, &ctx, &req, &result, started);
            self.audit.log(record).await;
        }
        match result {
            Ok(raw) => Ran::Done(Outcome::Result(raw.get().to_owned())),
            Err(e)
                if matches!(
                    e.code,
                    codes::UPSTREAM_UNAVAILABLE
                        | codes::UPSTREAM_TIMEOUT
                        | codes::UPSTREAM_FAILED
                        | codes::UPSTREAM_BUSY
                ) =>
            {
                Ran::Retryable {
                    reason: e.message.clone(),
                    error: Outcome::Error(serde_json::to_string(&e).unwrap_or_default()),
                }
            }
            Err(e) => failed(e),
        }
    }
}

impl Gateway {
    /// The checkpoint a resumable run (a workflow) left for task `id`; `None` without a task
    /// store or checkpoint. A store error is returned (the run must not start over blindly).
    pub async fn task_checkpoint(&self, id: &str) -> Result<Option<String>, String> {
        match &self.durable {
            None => Ok(None),
            Some(d) => d.store.checkpoint(id).await.map_err(|e| e.to_string()),
        }
    }

    /// Keep `state` as task `id`'s checkpoint.
    pub async fn save_task_checkpoint(&self, id: &str, state: &str) -> Result<(), String> {
        match &self.durable {
            None => Ok(()),
            Some(d) => d
                .store
                .save_checkpoint(id, state, now_ms())
                .await
                .map_err(|e| e.to_string()),
        }
    }
}
