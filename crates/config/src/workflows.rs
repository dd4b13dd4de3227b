//! The `workflows:` section: tools the gateway composes from other tools — steps with
//! arguments computed from the inputs and earlier results (`${{ jq }}`), run in parallel where
//! they do not depend on each other, with conditions, retries, error modes, timeouts and
//! compensation. Loading puts them in one entry of `servers` (named [`WORKFLOWS_SERVER`]),
//! so they are listed, authorized and routed like any server's tools.
//!
//! The step graph is read here, once, for the load-time checks and for the engine
//! (`crates/workflow`): [`WorkflowConfig::dependencies`].

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Dur;

/// The server entry that serves the workflows: their tools are `workflows__<name>` with the
/// default federation settings.
pub const WORKFLOWS_SERVER: &str = "workflows";

/// One workflow: an MCP tool made of steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkflowConfig {
    /// The tool's description, as clients see it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The JSON Schema of its arguments (`inputs` in expressions). Default: any object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_schema: Option<Value>,
    /// The JSON Schema of its structured result (default with `output`: any object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Value>,
    /// The steps, in any order: a step runs once the steps it references and `needs` ended.
    pub steps: Vec<StepConfig>,
    /// The result: a value whose strings may hold `${{ jq }}` (a string that is exactly one
    /// expression keeps its JSON type). Default: every step's result by id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// Steps running at once in one run (a `for_each` counts once per item in flight).
    #[serde(default = "default_max_parallel")]
    pub max_parallel: usize,
    /// Longest time a whole run may take; over it, the steps in flight are cancelled and
    /// the run fails (and compensates).
    #[serde(default = "default_run_timeout")]
    pub timeout: Dur,
    /// Always run as a durable task (needs the `tasks` section): its progress is kept per
    /// step, and after a restart the run goes on after the last finished step. Without it, a
    /// workflow is durable when a client calls it as a task (a `tasks.tools` rule matching
    /// it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub task: bool,
}

/// One step: a call of any catalogued tool (another workflow's included), as the caller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepConfig {
    /// Unique in the workflow; letters, digits and `_` (expressions name it `.steps.<id>`).
    pub id: String,
    /// The tool to call, by its catalogue name (`server__tool`).
    pub tool: String,
    /// Its arguments: an object whose strings may hold `${{ jq }}`, or one expression giving
    /// the whole object.
    #[serde(default = "empty_object")]
    pub args: Value,
    /// Run the step only when this jq expression is true (`${{ }}` around it is optional).
    /// A step without `if` runs only when every step it depends on succeeded; with `if`, it
    /// decides itself (it sees their `status`).
    #[serde(default, rename = "if", skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// Steps this one waits for besides those its expressions reference.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<String>,
    /// What a failure of the step does: `abort` the run (compensating what succeeded),
    /// `continue` (dependants see `status: failed` and the `error`), or `retry` it (with
    /// `retry`, default 3 attempts) and then abort.
    #[serde(default)]
    pub on_error: OnError,
    /// Retries of a failed call: `attempts` calls in all, exponential backoff with jitter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<StepRetry>,
    /// Longest time one call of the step may take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Dur>,
    /// Call the tool once per element of this array (a jq expression; each call sees `.item`
    /// and `.index`); the result is the array of results, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_each: Option<String>,
    /// Calls of a `for_each` in flight at once (default: the workflow's `max_parallel`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
    /// What undoes the step once it succeeded, run (in reverse order of the steps) when a
    /// later failure aborts the run. Its arguments see `.steps.<this id>.result`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compensate: Option<CompensateConfig>,
    /// Whether calling the step twice is harmless (default: the tool's `idempotentHint`);
    /// a durable run resumed after a crash calls again only such an interrupted step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotent: Option<bool>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    #[default]
    Abort,
    Continue,
    Retry,
}

/// Retries of a step: `attempts` calls in all, waiting `initial_delay`, then `backoff` times
/// longer each time (at most `max_delay`), each wait shortened by up to a quarter at random.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct StepRetry {
    pub attempts: u32,
    pub initial_delay: Dur,
    pub backoff: f64,
    pub max_delay: Dur,
}

impl Default for StepRetry {
    fn default() -> Self {
        Self {
            attempts: 3,
            initial_delay: Dur::secs(1),
            backoff: 2.0,
            max_delay: Dur::secs(30),
        }
    }
}

/// The call that undoes a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompensateConfig {
    pub tool: String,
    #[serde(default = "empty_object")]
    pub args: Value,
}

fn default_max_parallel() -> usize {
    8
}
fn default_run_timeout() -> Dur {
    Dur::secs(600)
}
fn empty_object() -> Value {
    Value::Object(Default::default())
}

impl StepConfig {
    /// The retry rule in force: the step's, or the default one for `on_error: retry`, or a
    /// single attempt.
    pub fn retry_rule(&self) -> StepRetry {
        match (&self.retry, self.on_error) {
            (Some(r), _) => r.clone(),
            (None, OnError::Retry) => StepRetry::default(),
            (None, _) => StepRetry {
                attempts: 1,
                ..StepRetry::default()
            },
        }
    }

    /// Every string of the step that may hold expressions, with its key below the step
    /// (`args.period`, `if`, `for_each`; not `compensate`, which runs after the step).
    pub fn expressions(&self) -> Vec<(String, &str)> {
        let mut out = Vec::new();
        strings(&self.args, "args".into(), &mut out);
        if let Some(c) = &self.condition {
            out.push(("if".into(), c.as_str()));
        }
        if let Some(f) = &self.for_each {
            out.push(("for_each".into(), f.as_str()));
        }
        out
    }
}

/// Every string in `v`, with its dotted key under `key`.
pub fn strings<'a>(v: &'a Value, key: String, out: &mut Vec<(String, &'a str)>) {
    match v {
        Value::String(s) => out.push((key, s)),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                strings(item, format!("{key}[{i}]"), out);
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                strings(item, format!("{key}.{k}"), out);
            }
        }
        _ => {}
    }
}

/// The step ids an expression's code names as `.steps.<id>` or `.steps["<id>"]`.
pub fn step_references(code: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = code[from..].find(".steps") {
        let at = from + i;
        from = at + ".steps".len();
        // Only a path that starts at `.steps` (not `.inputs.steps`, not `$x.steps`).
        let prev = code[..at].chars().next_back();
        if prev.is_some_and(|c| c.is_alphanumeric() || "_]).\"$".contains(c)) {
            continue;
        }
        let after = &code[from..];
        let id = if let Some(tail) = after.strip_prefix('.') {
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            &tail[..end]
        } else if let Some(tail) = after.strip_prefix("[\"") {
            tail.split('"').next().unwrap_or("")
        } else {
            ""
        };
        if !id.is_empty() && !out.contains(&id) {
            out.push(id);
        }
    }
    out
}

impl WorkflowConfig {
    /// For each step (by index), the indexes of the steps it waits for: those named in
    /// `needs` and those its expressions reference. Unknown ids are left out (the load-time
    /// checks report them).
    pub fn dependencies(&self) -> Vec<Vec<usize>> {
        let index: IndexMap<&str, usize> = self
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.as_str(), i))
            .collect();
        self.steps
            .iter()
            .enumerate()
            .map(|(i, step)| {
                let mut deps: Vec<usize> = Vec::new();
                let named = step.needs.iter().map(String::as_str);
                let referenced = step
                    .expressions()
                    .into_iter()
                    .flat_map(|(_, s)| step_references(s));
                for id in named.chain(referenced) {
                    if let Some(&d) = index.get(id)
                        && d != i
                        && !deps.contains(&d)
                    {
                        deps.push(d);
                    }
                }
                deps.sort_unstable();
                deps
            })
            .collect()
    }

    /// The first cycle among the steps, as the ids around it (`a → b → a`), if any.
    pub fn cycle(&self) -> Option<Vec<String>> {
        let deps = self.dependencies();
        // 0 unvisited, 1 on the path, 2 done.
        let mut state = vec![0u8; deps.len()];
        let mut path = Vec::new();
        fn visit(
            n: usize,
            deps: &[Vec<usize>],
            state: &mut [u8],
            path: &mut Vec<usize>,
        ) -> Option<Vec<usize>> {
            state[n] = 1;
            path.push(n);
            for &d in &deps[n] {
                if state[d] == 1 {
                    let from = path.iter().position(|&p| p == d).unwrap_or(0);
                    let mut cycle = path[from..].to_vec();
                    cycle.push(d);
                    return Some(cycle);
                }
                if state[d] == 0
                    && let Some(c) = visit(d, deps, state, path)
                {
                    return Some(c);
                }
            }
            path.pop();
            state[n] = 2;
            None
        }
        (0..deps.len()).find_map(|n| {
            (state[n] == 0)
                .then(|| visit(n, &deps, &mut state, &mut path))
                .flatten()
                .map(|c| c.into_iter().map(|i| self.steps[i].id.clone()).collect())
        })
    }
}

impl crate::Config {
    /// Put the `workflows` section in the server entry that serves it ([`WORKFLOWS_SERVER`]):
    /// each workflow's tool may run for its `timeout` (and a second more, so the run's own
    /// limit, which compensates, comes first). Loading does this after the checks.
    pub fn inject_workflows(&mut self) {
        if self.workflows.is_empty() {
            return;
        }
        let mut entry = crate::ServerConfig::stdio(String::new(), Vec::new());
        entry.command = None;
        entry.workflows = self.workflows.clone();
        let grace = std::time::Duration::from_secs(1);
        entry.tool_timeouts = self
            .workflows
            .iter()
            .map(|(name, wf)| (name.clone(), Dur(wf.timeout.0 + grace)))
            .collect();
        let longest = entry
            .tool_timeouts
            .values()
            .map(|d| d.0)
            .max()
            .unwrap_or_default();
        entry.timeout = Dur(longest.max(entry.timeout.0));
        self.servers.insert(WORKFLOWS_SERVER.to_owned(), entry);
        // `task: true`: the workflow's tool is a task tool (`required`), unless a rule of the
        // config names it already.
        if let Some(tasks) = &mut self.tasks {
            for (name, wf) in self.workflows.iter().filter(|(_, wf)| wf.task) {
                let exposed = match self.federation.prefix {
                    crate::PrefixMode::Server => {
                        format!("{WORKFLOWS_SERVER}{}{name}", self.federation.separator)
                    }
                    crate::PrefixMode::None => name.clone(),
                };
                tasks
                    .tools
                    .entry(exposed)
                    .or_insert_with(|| crate::TaskRule {
                        mode: crate::TaskMode::Required,
                        timeout: Some(Dur(wf.timeout.0 + grace)),
                    });
            }
        }
    }
}
