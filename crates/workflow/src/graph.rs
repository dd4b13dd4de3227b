//! A workflow's step graph as a Mermaid flowchart (`switchboard workflow graph NAME`): one
//! node per step (its id, tool, and what shapes its run: `if`, `for_each`, `on_error`,
//! retries, timeout), an arrow from each step to those waiting for it, and the compensation
//! of a step as a dotted arrow.

use switchboard_config::{OnError, WorkflowConfig};

/// The Mermaid text of `wf`'s graph.
pub fn mermaid(name: &str, wf: &WorkflowConfig) -> String {
    let deps = wf.dependencies();
    let mut out = format!("---\ntitle: workflow {name}\n---\nflowchart TD\n");
    out.push_str("  inputs([inputs])\n");
    for (i, step) in wf.steps.iter().enumerate() {
        let mut label = vec![format!("<b>{}</b>", escape(&step.id)), escape(&step.tool)];
        if let Some(c) = &step.condition {
            label.push(format!("if {}", escape(strip(c))));
        }
        if let Some(f) = &step.for_each {
            label.push(format!("for each of {}", escape(strip(f))));
        }
        match step.on_error {
            OnError::Abort => {}
            OnError::Continue => label.push("on error: continue".into()),
            OnError::Retry => {}
        }
        let rule = step.retry_rule();
        if rule.attempts > 1 {
            label.push(format!("retry ×{}", rule.attempts));
        }
        if let Some(t) = step.timeout {
            label.push(format!("timeout {t}"));
        }
        let shape = if step.condition.is_some() {
            ("{{", "}}")
        } else {
            ("[", "]")
        };
        out.push_str(&format!(
            "  s{i}{}\"{}\"{}\n",
            shape.0,
            label.join("<br/>"),
            shape.1
        ));
        if deps[i].is_empty() {
            out.push_str(&format!("  inputs --> s{i}\n"));
        }
        for d in &deps[i] {
            out.push_str(&format!("  s{d} --> s{i}\n"));
        }
        if let Some(c) = &step.compensate {
            out.push_str(&format!(
                "  s{i} -. compensate .-> c{i}[/\"undo: {}\"/]\n",
                escape(&c.tool)
            ));
        }
    }
    out.push_str("  output([output])\n");
    for i in 0..wf.steps.len() {
        if !deps.iter().any(|d| d.contains(&i)) {
            out.push_str(&format!("  s{i} --> output\n"));
        }
    }
    out
}

fn strip(expr: &str) -> &str {
    let t = expr.trim();
    t.strip_prefix("${{")
        .and_then(|t| t.strip_suffix("}}"))
        .map_or(t, str::trim)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_steps_edges_conditions_and_compensation() {
        let wf: WorkflowConfig = serde_json::from_value(serde_json::json!({
            "steps": [
                {"id": "a", "tool": "x__one"},
                {"id": "b", "tool": "x__two", "args": {"v": "${{ .steps.a.result }}"}},
                {"id": "c", "tool": "x__three", "if": "${{ .steps.b.result > 1 }}",
                 "compensate": {"tool": "x__undo"}}
            ]
        }))
        .unwrap();
        let m = mermaid("demo", &wf);
        assert!(m.contains("flowchart TD"), "{m}");
        assert!(m.contains("inputs --> s0"), "{m}");
        assert!(m.contains("s0 --> s1"), "{m}");
        assert!(m.contains("s1 --> s2"), "{m}");
        assert!(m.contains("s2{{"), "{m}");
        assert!(m.contains("if .steps.b.result &gt; 1"), "{m}");
        assert!(m.contains("compensate .-> c2"), "{m}");
        assert!(m.contains("s2 --> output"), "{m}");
        assert!(!m.contains("s0 --> output"), "{m}");
    }
}
