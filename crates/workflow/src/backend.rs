//! The backend serving the `workflows` entry: `tools/list` lists the workflows, `tools/call`
//! runs one as the caller the gateway names (`CallOptions::on_behalf_of`), its steps through
//! the dispatch seam. The run is spawned: when the client cancels or goes away, the gateway
//! drops this call, and the run — told by the cancellation — cancels its steps in flight and
//! compensates what succeeded before it ends.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use indexmap::IndexMap;
use serde_json::Value;
use serde_json::value::RawValue;
use switchboard_gateway::dispatch::{Caller, DispatchSlot};
use switchboard_protocol::{ErrorObject, methods, to_raw};
use switchboard_upstream::{Backend, CallError, CallOptions, Era, Status};
use tokio::sync::watch;

use crate::compile::Workflow;
use crate::progress::Progress;
use crate::run::{RunEnv, run};

pub struct Workflows {
    pub(crate) name: Arc<str>,
    pub(crate) workflows: IndexMap<String, Arc<Workflow>>,
    pub(crate) slot: DispatchSlot,
    pub(crate) status: watch::Sender<Status>,
}

impl Workflows {
    fn list(&self) -> Box<RawValue> {
        let tools: Vec<&Value> = self.workflows.values().map(|w| &w.tool).collect();
        to_raw(&serde_json::json!({ "tools": tools }))
    }

    async fn call_workflow(
        &self,
        params: Option<Box<RawValue>>,
        opts: CallOptions,
    ) -> Result<Box<RawValue>, CallError> {
        let params: Value = params
            .as_deref()
            .and_then(|p| serde_json::from_str(p.get()).ok())
            .unwrap_or(Value::Null);
        let name = params
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Some(wf) = self.workflows.get(name).cloned() else {
            return Err(CallError::Rpc(ErrorObject::invalid_params(format!(
                "Unknown tool: {name}"
            ))));
        };
        let inputs = match params.get("arguments") {
            None | Some(Value::Null) => Value::Object(Default::default()),
            Some(a) => a.clone(),
        };
        let Some(mut caller) = opts
            .on_behalf_of
            .clone()
            .and_then(|c| c.downcast::<Caller>().ok())
            .map(|c| (*c).clone())
        else {
            return Err(CallError::Rpc(ErrorObject::internal(
                "a workflow must be called through the gateway (no caller was given)",
            )));
        };
        let Some(gateway) = self.slot.gateway() else {
            return Err(CallError::Unavailable {
                server: self.name.to_string(),
                reason: "the gateway is starting or stopping".into(),
            });
        };
        caller.relay = opts.relay.clone();
        let env = RunEnv {
            gateway,
            caller,
            progress: Progress::of(&params, opts.relay.as_ref()),
        };
        let run = tokio::spawn(run(wf, inputs, env, opts.cancel.clone()));
        match run.await {
            Ok(result) => Ok(to_raw(&result)),
            Err(e) => Err(CallError::Failed {
                server: self.name.to_string(),
                reason: format!("the workflow run ended abnormally: {e}"),
            }),
        }
    }
}

impl Backend for Workflows {
    fn call<'a>(
        &'a self,
        method: &'a str,
        params: Option<Box<RawValue>>,
        opts: CallOptions,
        _era: Era,
        _timeout: Duration,
    ) -> BoxFuture<'a, Result<Box<RawValue>, CallError>> {
        Box::pin(async move {
            match method {
                methods::TOOLS_LIST => Ok(self.list()),
                methods::TOOLS_CALL => self.call_workflow(params, opts).await,
                methods::PING => Ok(to_raw(&serde_json::json!({}))),
                other => Err(CallError::Rpc(ErrorObject::method_not_found(other))),
            }
        })
    }

    fn notify(&self, _method: &str, _params: Option<Box<RawValue>>) {}

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        self.status.send_replace(Status::Stopped);
        Box::pin(async {})
    }
}
