//! The deployment files (Dockerfile, deploy/compose, deploy/k8s, .github/workflows/ci.yml),
//! checked with real validators installed into tests/harness/.venv by `.ci/setup` (pinned in
//! tests/harness/requirements.txt): hadolint, check-jsonschema (compose spec, GitHub workflow
//! schema), actionlint (with shellcheck), yamllint, kubectl's kustomize, kubernetes-validate
//! (the Kubernetes OpenAPI schemas, strict), and a PromQL parser for every dashboard and alert
//! expression. Each validator is also shown a broken file, so a validator that silently
//! accepts everything fails the test. Docker cannot run here: the image is linted, not built.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

mod ci;
mod compose;
mod image;
mod k8s;
mod observability;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use serde_json::Value;

/// Every metric name the gateway exposes (issue 6); dashboards and alerts may use only these
/// (histograms by their `_bucket`, `_sum` and `_count` series), and `up` (Prometheus' own).
const COUNTERS_AND_GAUGES: &[&str] = &[
    "mcp_requests_total",
    "mcp_active_connections",
    "mcp_era_requests_total",
    "mcp_upstream_up",
    "mcp_upstream_restarts_total",
    "mcp_upstream_in_flight",
    "mcp_upstream_errors_total",
    "mcp_cache_hits_total",
    "mcp_cache_misses_total",
    "mcp_cache_remote_hits_total",
    "mcp_cache_evictions_total",
    "mcp_cache_invalidations_total",
    "mcp_cache_store_errors_total",
    "mcp_cache_entries",
    "mcp_rate_limit_rejections_total",
    "switchboard_build_info",
    "switchboard_config_reloads_total",
    "process_resident_memory_bytes",
    "process_cpu_seconds_total",
    "process_open_fds",
    "process_start_time_seconds",
];
const HISTOGRAMS: &[&str] = &[
    "mcp_request_duration_seconds",
    "mcp_upstream_request_duration_seconds",
];

fn known_metric(name: &str) -> bool {
    COUNTERS_AND_GAUGES.contains(&name)
        || HISTOGRAMS.iter().any(|h| {
            name.strip_prefix(h)
                .is_some_and(|s| ["_bucket", "_sum", "_count"].contains(&s))
        })
}

// ---------------------------------------------------------------------------------------------
// Running the validators

fn deploy() -> PathBuf {
    repo().join("deploy")
}

/// A validator from the harness venv (installed by `.ci/setup` from requirements.txt).
fn tool(name: &str) -> Command {
    let bin = harness().join(".venv/bin").join(name);
    assert!(
        bin.exists(),
        "{} is missing: run `bash .ci/setup` (tests/harness/requirements.txt installs it)",
        bin.display()
    );
    let mut cmd = Command::new(bin);
    // actionlint runs shellcheck (from the same venv) on `run:` scripts.
    let path = format!(
        "{}:{}",
        harness().join(".venv/bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    cmd.current_dir(repo())
        .env("PATH", path)
        .env("NO_COLOR", "1");
    cmd
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Run a validator; fail the test with its whole output unless it passes.
fn passes(cmd: &mut Command, what: &str) -> String {
    let o = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(o.status.success(), "{what} failed: {cmd:?}\n{}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The negative control: the validator must refuse a broken file, with `expect` in its output.
fn refuses(cmd: &mut Command, what: &str, expect: &str) {
    let o = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let all = text(&o);
    assert!(
        !o.status.success(),
        "{what}: the validator accepted a broken file: {cmd:?}\n{all}"
    );
    assert!(
        all.contains(expect),
        "{what}: expected `{expect}` in\n{all}"
    );
}

/// Every YAML document of a file, as JSON (PyYAML from the harness venv).
fn yaml_docs(path: &Path) -> Vec<Value> {
    let out = passes(
        Command::new(python()).args([
            "-c",
            "import json, sys, yaml\n\
             print(json.dumps([d for d in yaml.safe_load_all(open(sys.argv[1])) if d is not None]))",
            path.to_str().unwrap(),
        ]),
        &format!("reading {} as YAML", path.display()),
    );
    serde_json::from_str(&out).unwrap()
}

fn yaml(path: &Path) -> Value {
    let mut docs = yaml_docs(path);
    assert_eq!(
        docs.len(),
        1,
        "{}: expected one YAML document",
        path.display()
    );
    docs.remove(0)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn scratch(name: &str) -> PathBuf {
    scratch_dir(&format!("deploy-{name}"))
}

fn str_at<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {ptr} in {v:#}"))
}

/// Port of a `host:port` listen address (after `${VAR:-default}` defaults).
fn listen_port(addr: &str) -> u16 {
    let addr = match addr.split_once(":-") {
        Some((_, rest)) => rest.trim_end_matches('}'),
        None => addr,
    };
    addr.rsplit(':').next().unwrap().parse().unwrap()
}

// ---------------------------------------------------------------------------------------------
// PromQL

/// Parse every expression with promql-parser (the Rust `promql-parser` crate's Python binding,
/// from the harness venv) after replacing Grafana's template variables; returns the metric
/// names each selects, or panics with every parse error.
fn promql_metric_names(exprs: &[String]) -> Vec<BTreeSet<String>> {
    const SCRIPT: &str = r#"
import json, sys
import promql_parser as p
out, errors = [], []
for expr in json.load(sys.stdin):
    e = (expr.replace("$__rate_interval", "5m").replace("$__interval", "1m")
             .replace("$__range", "1h").replace("$job", ".*").replace("$instance", ".*"))
    try:
        ast = p.parse(e)
    except Exception as exc:
        errors.append(f"{expr!r}: {exc}")
        out.append([])
        continue
    names = set()
    p.walk(ast, lambda n: names.add(n.name) if isinstance(n, p.VectorSelector) and n.name else None)
    out.append(sorted(names))
print(json.dumps({"names": out, "errors": errors}))
"#;
    let mut child = Command::new(python())
        .args(["-c", SCRIPT])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    serde_json::to_writer(child.stdin.take().unwrap(), exprs).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "PromQL parser failed:\n{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let errors: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        errors.is_empty(),
        "PromQL that does not parse:\n{}",
        errors.join("\n")
    );
    v["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            n.as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_owned())
                .collect()
        })
        .collect()
}
