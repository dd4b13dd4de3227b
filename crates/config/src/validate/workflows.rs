//! `workflows`: names, step ids and references, the step graph (no cycles), every `${{ jq }}`
//! expression compiled (the key and the position in the message), the schemas, and limits.
//! Whether each step's tool exists can only be told once servers are up: the gateway warns
//! then (and `switchboard check` reports it).

use indexmap::IndexMap;
use switchboard_jq::Jq;
use switchboard_jq::template::{self, Piece};

use crate::workflows::{WORKFLOWS_SERVER, step_references, strings};
use crate::{Problem, ServerConfig, WorkflowConfig};

pub(super) fn check_workflows(
    workflows: &IndexMap<String, WorkflowConfig>,
    servers: &IndexMap<String, ServerConfig>,
    has_tasks: bool,
    federation: &crate::FederationConfig,
) -> Vec<Problem> {
    let mut p = Vec::new();
    if workflows.is_empty() {
        return p;
    }
    for (name, wf) in workflows {
        if wf.task && !has_tasks {
            p.push(
                Problem::new(
                    format!("workflows.{name}.task"),
                    "needs the `tasks` section: a durable run is kept in its task store",
                )
                .fix("add `tasks: {store: sqlite}` (or redis, postgres), or remove `task: true`"),
            );
        }
    }
    if servers.contains_key(WORKFLOWS_SERVER) {
        p.push(
            Problem::new(
                format!("servers.{WORKFLOWS_SERVER}"),
                format!("the name `{WORKFLOWS_SERVER}` is taken by the workflows"),
            )
            .fix("rename this server"),
        );
    }
    for (name, server) in servers {
        if server.prefix.as_deref() == Some(WORKFLOWS_SERVER) {
            p.push(
                Problem::new(
                    format!("servers.{name}.prefix"),
                    format!("`{WORKFLOWS_SERVER}` is the workflows' prefix"),
                )
                .fix("choose another prefix"),
            );
        }
    }
    for (name, wf) in workflows {
        p.extend(check_workflow(name, wf));
    }
    if let Some(cycle) = calling_cycle(workflows, federation) {
        p.push(
            Problem::new(
                format!("workflows.{}", cycle[0]),
                format!(
                    "workflows call each other in a cycle: {}",
                    cycle.join(" → ")
                ),
            )
            .fix("a run would never end; remove one of these calls"),
        );
    }
    p
}

/// The first cycle of workflows whose steps (or compensations) call each other, by name.
fn calling_cycle(
    workflows: &IndexMap<String, WorkflowConfig>,
    federation: &crate::FederationConfig,
) -> Option<Vec<String>> {
    let exposed = |name: &str| match federation.prefix {
        crate::PrefixMode::Server => {
            format!("{WORKFLOWS_SERVER}{}{name}", federation.separator)
        }
        crate::PrefixMode::None => name.to_owned(),
    };
    let by_tool: IndexMap<String, usize> = workflows
        .keys()
        .enumerate()
        .map(|(i, n)| (exposed(n), i))
        .collect();
    let calls: Vec<Vec<usize>> = workflows
        .values()
        .map(|wf| {
            wf.steps
                .iter()
                .flat_map(|s| {
                    std::iter::once(&s.tool).chain(s.compensate.as_ref().map(|c| &c.tool))
                })
                .filter_map(|t| by_tool.get(t).copied())
                .collect()
        })
        .collect();
    let names: Vec<&String> = workflows.keys().collect();
    for start in 0..calls.len() {
        // Depth-first from `start`, looking for a way back to it.
        let mut stack = vec![(start, vec![start])];
        let mut seen = vec![false; calls.len()];
        while let Some((n, path)) = stack.pop() {
            for &next in &calls[n] {
                if next == start {
                    let mut cycle: Vec<String> = path.iter().map(|&i| names[i].clone()).collect();
                    cycle.push(names[start].clone());
                    return Some(cycle);
                }
                if !seen[next] {
                    seen[next] = true;
                    let mut p = path.clone();
                    p.push(next);
                    stack.push((next, p));
                }
            }
        }
    }
    None
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn check_workflow(name: &str, wf: &WorkflowConfig) -> Vec<Problem> {
    let mut p = Vec::new();
    let key = format!("workflows.{name}");
    if !super::is_plain_name(name) {
        p.push(
            Problem::new(
                &key,
                "a workflow's name is its tool's name: letters, digits, `_` and `-` only",
            )
            .fix("e.g. `executive_report`"),
        );
    }
    if wf.steps.is_empty() {
        p.push(Problem::new(format!("{key}.steps"), "is empty").fix("add at least one step"));
    }
    if wf.max_parallel == 0 {
        p.push(
            Problem::new(format!("{key}.max_parallel"), "is 0, so no step would run")
                .fix("e.g. `8`"),
        );
    }
    if wf.timeout.0.is_zero() {
        p.push(Problem::new(format!("{key}.timeout"), "is 0").fix("e.g. `10m`"));
    }
    for (k, schema) in [
        ("input_schema", &wf.input_schema),
        ("output_schema", &wf.output_schema),
    ] {
        let Some(schema) = schema else { continue };
        if schema.get("type").and_then(|t| t.as_str()) != Some("object") {
            p.push(
                Problem::new(
                    format!("{key}.{k}"),
                    "must describe an object (`type: object`)",
                )
                .fix("MCP tool arguments and structured results are JSON objects"),
            );
        } else if let Err(e) = jsonschema::validator_for(schema) {
            p.push(Problem::new(
                format!("{key}.{k}"),
                format!("is not a valid JSON Schema: {e}"),
            ));
        }
    }
    let ids: Vec<&str> = wf.steps.iter().map(|s| s.id.as_str()).collect();
    for (i, step) in wf.steps.iter().enumerate() {
        let sk = format!("{key}.steps[{i}]");
        if !is_identifier(&step.id) {
            p.push(
                Problem::new(format!("{sk}.id"), format!("`{}` is not a step id", step.id))
                    .fix("letters, digits and `_`, not starting with a digit (expressions name it `.steps.<id>`)"),
            );
        } else if ids[..i].contains(&step.id.as_str()) {
            p.push(Problem::new(
                format!("{sk}.id"),
                format!("`{}` is the id of an earlier step too", step.id),
            ));
        }
        if step.tool.trim().is_empty() {
            p.push(
                Problem::new(format!("{sk}.tool"), "is empty")
                    .fix("name a catalogued tool, e.g. `github__create_issue`"),
            );
        }
        if !step.args.is_object() && !step.args.as_str().is_some_and(is_one_expression) {
            p.push(
                Problem::new(
                    format!("{sk}.args"),
                    "must be an object, or one `${{ }}` expression giving one",
                )
                .fix("e.g. `args: {period: \"${{ .inputs.period }}\"}`"),
            );
        }
        for need in &step.needs {
            if need == &step.id {
                p.push(Problem::new(format!("{sk}.needs"), "names the step itself"));
            } else if !ids.contains(&need.as_str()) {
                p.push(unknown_step(&format!("{sk}.needs"), need, &ids));
            }
        }
        if let Some(r) = &step.retry {
            if r.attempts == 0 {
                p.push(
                    Problem::new(
                        format!("{sk}.retry.attempts"),
                        "is 0, so the tool would never be called",
                    )
                    .fix("at least 1"),
                );
            }
            if !(r.backoff >= 1.0 && r.backoff.is_finite()) {
                p.push(Problem::new(
                    format!("{sk}.retry.backoff"),
                    "must be at least 1.0",
                ));
            }
        }
        if step.timeout.is_some_and(|d| d.0.is_zero()) {
            p.push(Problem::new(format!("{sk}.timeout"), "is 0").fix("e.g. `30s`"));
        }
        if step.concurrency == Some(0) {
            p.push(Problem::new(format!("{sk}.concurrency"), "is 0").fix("e.g. `4`"));
        }
        if step.concurrency.is_some() && step.for_each.is_none() {
            p.push(Problem::new(
                format!("{sk}.concurrency"),
                "applies only with `for_each`",
            ));
        }
        // Expressions: they compile, and the steps they name exist (a step may name itself
        // only in `compensate`, which runs after it).
        let mut exprs: Vec<(String, &str)> = step
            .expressions()
            .into_iter()
            .map(|(k, s)| (format!("{sk}.{k}"), s))
            .collect();
        let own_from = exprs.len();
        if let Some(c) = &step.compensate {
            if c.tool.trim().is_empty() {
                p.push(Problem::new(format!("{sk}.compensate.tool"), "is empty"));
            }
            strings(&c.args, format!("{sk}.compensate.args"), &mut exprs);
        }
        for (n, (k, s)) in exprs.iter().enumerate() {
            let bare = k.ends_with(".if") || k.ends_with(".for_each");
            for code in check_expressions(k, s, bare, &mut p) {
                for id in step_references(code) {
                    if id == step.id && n < own_from {
                        p.push(Problem::new(
                            k.clone(),
                            format!("refers to its own step `{id}`, which has no result yet"),
                        ));
                    } else if !ids.contains(&id) {
                        p.push(unknown_step(k, id, &ids));
                    }
                }
            }
        }
    }
    if let Some(out) = &wf.output {
        let mut exprs = Vec::new();
        strings(out, format!("{key}.output"), &mut exprs);
        for (k, s) in exprs {
            for code in check_expressions(&k, s, false, &mut p) {
                for id in step_references(code) {
                    if !ids.contains(&id) {
                        p.push(unknown_step(&k, id, &ids));
                    }
                }
            }
        }
    }
    if let Some(cycle) = wf.cycle() {
        p.push(
            Problem::new(
                format!("{key}.steps"),
                format!(
                    "steps wait for each other in a cycle: {}",
                    cycle.join(" → ")
                ),
            )
            .fix("remove one of these references or `needs`"),
        );
    }
    p
}

/// Whether `s` is exactly one `${{ }}` expression.
fn is_one_expression(s: &str) -> bool {
    matches!(template::split(s).as_deref(), Ok([Piece::Expr { .. }]))
}

/// Compile every expression of the string at `key`; the codes that compiled. `bare`: a
/// string without `${{ }}` is itself one expression (`if`, `for_each`).
fn check_expressions<'a>(key: &str, s: &'a str, bare: bool, p: &mut Vec<Problem>) -> Vec<&'a str> {
    let pieces = match template::split(s) {
        Ok(pieces) => pieces,
        Err(e) => {
            p.push(Problem::new(key, e.to_string()).fix("write `${{ <jq expression> }}`"));
            return Vec::new();
        }
    };
    let codes: Vec<&str> = if bare && !template::has_expression(s) {
        vec![s.trim()]
    } else {
        pieces
            .iter()
            .filter_map(|piece| match piece {
                Piece::Expr { code, .. } => Some(*code),
                Piece::Text(_) => None,
            })
            .collect()
    };
    let mut ok = Vec::new();
    for code in codes {
        // Where the code starts in the string (it is a slice of it).
        let offset = code.as_ptr() as usize - s.as_ptr() as usize;
        match Jq::compile(code) {
            Ok(_) => ok.push(code),
            Err(e) => {
                let at = e
                    .offset
                    .map(|o| format!(" (position {} of the string)", offset + o))
                    .unwrap_or_default();
                p.push(Problem::new(key, format!("{}{at}", e.message)));
            }
        }
    }
    ok
}

fn unknown_step(key: &str, id: &str, ids: &[&str]) -> Problem {
    let problem = Problem::new(
        key,
        format!("names the step `{id}`, which this workflow does not have"),
    );
    match ids.iter().min_by_key(|k| strsim::levenshtein(k, id)) {
        Some(near) if strsim::levenshtein(near, id) <= 2 => {
            problem.fix(format!("did you mean `{near}`?"))
        }
        _ => problem.fix(format!("steps: {}", ids.join(", "))),
    }
}
