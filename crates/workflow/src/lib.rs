//! Workflows (issue 16): MCP tools the gateway composes from other tools' calls, declared in
//! the `workflows:` section. Behind the backend seam (`WorkflowFactory` serves the entry
//! loading adds for the section, `workflows`); every step is a call through the dispatch
//! seam *as the caller* — authorized, rate limited, validated, cached and audited like the
//! caller's own call, so a workflow never grants what its caller lacks.
//!
//! - `template.rs`: `${{ jq }}` values compiled once, rendered per run;
//! - `compile.rs`: a workflow as the engine runs it, and its `tools/list` entry;
//! - `run.rs`: the scheduler — parallel steps, conditions, error modes, run timeout,
//!   cancellation, compensation, the result and its `_meta`;
//! - `call.rs`: one step's calls — retries with backoff and jitter, step timeout, `for_each`;
//! - `result.rs`: tool results as step values, and the run's tool result;
//! - `progress.rs`: per-step progress to the calling client;
//! - `durable.rs`: checkpoints of a task's run, and resuming from them after a restart;
//! - `graph.rs`: the step graph as Mermaid (`switchboard workflow graph`);
//! - `backend.rs`: the backend.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod backend;
pub mod call;
pub mod compile;
pub mod durable;
pub mod graph;
pub mod progress;
pub mod result;
pub mod run;
pub mod template;

use std::sync::Arc;

use indexmap::IndexMap;
use switchboard_config::{ServerConfig, TransportKind, WorkflowConfig};
use switchboard_gateway::Gateway;
use switchboard_gateway::dispatch::DispatchSlot;
use switchboard_upstream::{Backend, BackendFactory, Down, InitInfo, Status, UpstreamEvent};
use tokio::sync::{mpsc, watch};

use crate::backend::Workflows;
use crate::compile::Workflow;

/// Serves the `workflows` entry. Its steps reach the gateway through `slot`, which the binary
/// fills once the gateway is up.
pub struct WorkflowFactory {
    slot: DispatchSlot,
}

impl WorkflowFactory {
    pub fn new(slot: DispatchSlot) -> Self {
        Self { slot }
    }
}

impl BackendFactory for WorkflowFactory {
    fn build(
        &self,
        name: &Arc<str>,
        config: &ServerConfig,
        status: watch::Sender<Status>,
        events: mpsc::UnboundedSender<UpstreamEvent>,
    ) -> Option<Arc<dyn Backend>> {
        if config.kind() != TransportKind::Workflows {
            return None;
        }
        let mut workflows = IndexMap::new();
        for (wf_name, wf) in &config.workflows {
            match Workflow::compile(wf_name, wf) {
                Ok(w) => {
                    workflows.insert(wf_name.clone(), Arc::new(w));
                }
                Err(reason) => return Some(Arc::new(Down::new(name, reason, status))),
            }
        }
        tracing::info!(server = %name, workflows = workflows.len(), "workflows ready");
        let info = InitInfo::in_process(
            name.to_string(),
            env!("CARGO_PKG_VERSION"),
            serde_json::json!({"tools": {}}),
            None,
        )
        .and_modern();
        status.send_replace(Status::Ready(Arc::new(info)));
        let _ = events.send(UpstreamEvent::Ready {
            server: name.clone(),
        });
        Some(Arc::new(Workflows {
            name: name.clone(),
            workflows,
            slot: self.slot.clone(),
            status,
        }))
    }
}

/// A step (or compensation) tool that the running gateway's catalogue does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingTool {
    pub workflow: String,
    pub step: String,
    pub tool: String,
}

/// The tools workflows call that the catalogue does not list now (a typo, or a server that is
/// down): a warning once servers are up, and `switchboard check` shows them.
pub fn missing_tools(
    gateway: &Gateway,
    workflows: &IndexMap<String, WorkflowConfig>,
) -> Vec<MissingTool> {
    let mut out = Vec::new();
    for (name, wf) in workflows {
        for step in &wf.steps {
            let tools =
                std::iter::once(&step.tool).chain(step.compensate.as_ref().map(|c| &c.tool));
            for tool in tools {
                if gateway.catalog.tool(tool).is_none() {
                    out.push(MissingTool {
                        workflow: name.clone(),
                        step: step.id.clone(),
                        tool: tool.clone(),
                    });
                }
            }
        }
    }
    out
}
