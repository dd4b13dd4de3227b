//! A workflow as the engine runs it: its steps with compiled templates and retry rules, the
//! graph (who waits for whom), and its entry in `tools/list`. Built once per config; the
//! load-time checks (`switchboard_config`) already refused what cannot run, so an error
//! here is a bug's safety net, reported as the server being down with the reason.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use switchboard_config::{OnError, StepRetry, WorkflowConfig};

use crate::template::Template;

/// One workflow, ready to run.
#[derive(Debug)]
pub struct Workflow {
    /// Its name in the config (the tool's own name at the `workflows` server).
    pub name: String,
    pub steps: Vec<Step>,
    /// For each step, the steps it waits for.
    pub deps: Vec<Vec<usize>>,
    pub output: Option<Template>,
    /// Whether `tools/list` promises structured content (an `outputSchema`).
    pub structured: bool,
    pub max_parallel: usize,
    pub timeout: Duration,
    /// Its `tools/list` entry.
    pub tool: Value,
}

#[derive(Debug)]
pub struct Step {
    pub id: Arc<str>,
    pub tool: String,
    pub args: Template,
    pub condition: Option<Template>,
    pub for_each: Option<Template>,
    pub concurrency: usize,
    pub on_error: OnError,
    pub retry: StepRetry,
    pub timeout: Option<Duration>,
    pub compensate: Option<(String, Template)>,
    /// Whether the step may be called again after a restart cut it (`None`: as its tool's
    /// annotations say).
    pub idempotent: Option<bool>,
}

impl Workflow {
    pub fn compile(name: &str, cfg: &WorkflowConfig) -> Result<Self, String> {
        let key = format!("workflows.{name}");
        let steps = cfg
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let sk = format!("{key}.steps[{i}]");
                let optional = |v: &Option<String>, k: &str| {
                    v.as_ref()
                        .map(|c| {
                            Template::compile(&Value::String(c.clone()), &format!("{sk}.{k}"), true)
                        })
                        .transpose()
                };
                Ok(Step {
                    id: s.id.as_str().into(),
                    tool: s.tool.clone(),
                    args: Template::compile(&s.args, &format!("{sk}.args"), false)?,
                    condition: optional(&s.condition, "if")?,
                    for_each: optional(&s.for_each, "for_each")?,
                    concurrency: s.concurrency.unwrap_or(cfg.max_parallel).max(1),
                    on_error: s.on_error,
                    retry: s.retry_rule(),
                    timeout: s.timeout.map(|d| d.0),
                    compensate: s
                        .compensate
                        .as_ref()
                        .map(|c| {
                            Template::compile(&c.args, &format!("{sk}.compensate.args"), false)
                                .map(|t| (c.tool.clone(), t))
                        })
                        .transpose()?,
                    idempotent: s.idempotent,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let output = cfg
            .output
            .as_ref()
            .map(|o| Template::compile(o, &format!("{key}.output"), false))
            .transpose()?;
        let output_schema = match (&cfg.output_schema, &cfg.output) {
            (Some(s), _) => Some(s.clone()),
            // An output written as a mapping is an object whatever its expressions give.
            (None, Some(Value::Object(_))) => Some(json!({"type": "object"})),
            _ => None,
        };
        let mut tool = json!({
            "name": name,
            "description": cfg.description.clone().unwrap_or_else(|| describe(name, cfg)),
            "inputSchema": cfg.input_schema.clone().unwrap_or_else(|| json!({"type": "object"})),
        });
        if let Some(s) = &output_schema {
            tool["outputSchema"] = s.clone();
        }
        Ok(Self {
            name: name.to_owned(),
            deps: cfg.dependencies(),
            steps,
            output,
            structured: output_schema.is_some(),
            max_parallel: cfg.max_parallel.max(1),
            timeout: cfg.timeout.0,
            tool,
        })
    }

    /// Every tool a run may call (steps and compensations), each once.
    pub fn tools(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for s in &self.steps {
            for t in
                std::iter::once(s.tool.as_str()).chain(s.compensate.as_ref().map(|c| c.0.as_str()))
            {
                if !out.contains(&t) {
                    out.push(t);
                }
            }
        }
        out
    }
}

/// A description when the config gives none: what it calls.
fn describe(name: &str, cfg: &WorkflowConfig) -> String {
    let tools: Vec<&str> = cfg.steps.iter().map(|s| s.tool.as_str()).collect();
    format!("Workflow `{name}`: calls {}.", tools.join(", "))
}
