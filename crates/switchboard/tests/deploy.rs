//! The deployment files (Dockerfile, deploy/compose, deploy/k8s, .github/workflows/ci.yml),
//! checked with real validators installed into tests/harness/.venv by `.ci/setup` (pinned in
//! tests/harness/requirements.txt): hadolint, check-jsonschema (compose spec, GitHub workflow
//! schema), actionlint (with shellcheck), yamllint, kubectl's kustomize, kubernetes-validate
//! (the Kubernetes OpenAPI schemas, strict), and a PromQL parser for every dashboard and alert
//! expression. Each validator is also shown a broken file, so a validator that silently
//! accepts everything fails the test. Docker cannot run here: the image is linted, not built.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

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

#[test]
fn promql_parser_refuses_broken_expressions() {
    // The negative control for the parser the dashboard and alert checks rely on.
    for bad in [
        "sum(rate(mcp_requests_total[5m])",
        "rate(mcp_requests_total)",
        "histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m]))) >",
        "sum(rate(mcp_requests_total[5x]))",
    ] {
        let r = std::panic::catch_unwind(|| promql_metric_names(&[bad.to_owned()]));
        assert!(r.is_err(), "the PromQL parser accepted {bad:?}");
    }
    let names = promql_metric_names(&[
        "sum by (le) (rate(mcp_request_duration_seconds_bucket{job=~\"$job\"}[$__rate_interval])) / on() group_left up".into(),
    ]);
    assert_eq!(
        names[0],
        BTreeSet::from(["mcp_request_duration_seconds_bucket".into(), "up".into()])
    );
}

// ---------------------------------------------------------------------------------------------
// Dockerfile

#[test]
fn dockerfile_passes_hadolint_and_builds_a_small_non_root_image() {
    let out = passes(tool("hadolint").args(["--version"]), "hadolint --version");
    assert!(out.contains("Haskell Dockerfile Linter"), "{out}");
    // Any finding, down to style, fails.
    passes(
        tool("hadolint").args(["--failure-threshold", "style", "Dockerfile"]),
        "hadolint Dockerfile",
    );
    let bad = scratch("hadolint").join("Dockerfile");
    std::fs::write(
        &bad,
        "FROM debian:latest\nRUN apt-get update && apt-get install curl\nCMD switchboard\n",
    )
    .unwrap();
    refuses(
        tool("hadolint").arg(&bad),
        "hadolint on a broken Dockerfile",
        "DL3007",
    );

    let df = read(&repo().join("Dockerfile"));
    let froms: Vec<&str> = df.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert!(froms.len() >= 3, "not multi-stage: {froms:?}");
    let last = froms.last().unwrap();
    assert!(
        last.ends_with(" AS runtime"),
        "the default (last) stage must be the gateway runtime: {last}"
    );
    assert!(
        df.contains("cargo chef cook --release --locked"),
        "no dependency-caching layer (cargo chef cook) in the Dockerfile"
    );
    assert!(df.contains("cargo build --release --locked -p switchboard"));
    assert!(
        df.contains("FROM debian:${DEBIAN_RELEASE}-slim AS runtime-base")
            && df.contains("ARG DEBIAN_RELEASE=bookworm")
            && df.contains("FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS chef"),
        "the runtime must be the slim image of the builder's Debian release (same glibc)"
    );
    // The runtime stage: non-root, ports, entrypoint, default command.
    let runtime = df.rsplit_once(" AS runtime\n").unwrap().1;
    assert!(runtime.contains("USER 10001:10001"), "{runtime}");
    assert!(runtime.contains("EXPOSE 8080 9090"), "{runtime}");
    assert!(
        runtime.contains(r#"ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/switchboard"]"#),
        "{runtime}"
    );
    assert!(
        runtime.contains(r#"CMD ["serve", "--config", "/etc/switchboard/switchboard.yaml"]"#),
        "{runtime}"
    );
    assert!(runtime.contains("/readyz") && runtime.contains("9090"));

    // The build context keeps every workspace member and drops the heavy and secret parts.
    let ignore = read(&repo().join(".dockerignore"));
    let rules: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for must in [
        ".git",
        "target/",
        "tests/harness/node_modules",
        "tests/harness/.venv",
        ".venv",
    ] {
        assert!(
            rules.contains(&must),
            ".dockerignore lacks {must}: {rules:?}"
        );
    }
    for member in [
        "crates",
        "examples",
        "tests/fixtures",
        "tests",
        "Cargo.lock",
        "Cargo.toml",
    ] {
        assert!(
            !rules
                .iter()
                .any(|r| r.trim_end_matches('/') == member || *r == "*"),
            ".dockerignore excludes {member}, which the build needs"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// YAML style everywhere

#[test]
fn yaml_files_pass_yamllint() {
    passes(
        tool("yamllint").args([
            "--strict",
            "-c",
            "deploy/yamllint.yaml",
            "deploy",
            ".github",
        ]),
        "yamllint deploy .github",
    );
    let bad = scratch("yamllint").join("bad.yaml");
    std::fs::write(&bad, "a: 1\na: 2\nb:   [1,2]\n").unwrap();
    refuses(
        tool("yamllint")
            .args(["--strict", "-c", "deploy/yamllint.yaml"])
            .arg(&bad),
        "yamllint on a broken file",
        "duplication of key",
    );
}

// ---------------------------------------------------------------------------------------------
// Compose

#[test]
fn compose_stack_matches_the_compose_spec_and_wires_the_services() {
    let dir = deploy().join("compose");
    let file = dir.join("compose.yaml");
    passes(
        tool("check-jsonschema")
            .args(["--builtin-schema", "vendor.compose-spec"])
            .arg(&file),
        "check-jsonschema (compose spec) deploy/compose/compose.yaml",
    );
    let bad = scratch("compose").join("compose.yaml");
    std::fs::write(
        &bad,
        "services:\n  gw:\n    image: switchboard\n    ports: {a: 1}\n    restart: sometimes\n",
    )
    .unwrap();
    refuses(
        tool("check-jsonschema")
            .args(["--builtin-schema", "vendor.compose-spec"])
            .arg(&bad),
        "check-jsonschema on a broken compose file",
        "Schema validation errors",
    );

    let c = yaml(&file);
    let services = c["services"].as_object().unwrap();
    for s in [
        "switchboard",
        "redis",
        "prometheus",
        "grafana",
        "company-api",
    ] {
        assert!(services.contains_key(s), "compose has no `{s}` service");
    }
    let sb = &services["switchboard"];
    assert_eq!(str_at(sb, "/build/context"), "../..");
    assert_eq!(str_at(sb, "/build/target"), "runtime");
    assert!(
        dir.join("../..")
            .join(str_at(sb, "/build/dockerfile"))
            .exists()
    );
    assert_eq!(
        services["company-api"]["network_mode"],
        "service:switchboard"
    );
    assert_eq!(
        str_at(&services["company-api"], "/build/target"),
        "company-api"
    );
    assert_eq!(
        sb["depends_on"]["redis"]["condition"], "service_healthy",
        "the gateway does not start without its Redis"
    );
    assert_eq!(sb["read_only"], true);
    // Published ports stay on the host's loopback; the config's ports are the published ones.
    for (name, svc) in services {
        for p in svc["ports"].as_array().into_iter().flatten() {
            let p = p.as_str().unwrap();
            assert!(
                p.starts_with("127.0.0.1:"),
                "{name} publishes {p} beyond loopback"
            );
        }
    }
    let ports: Vec<&str> = sb["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(ports, ["127.0.0.1:8080:8080", "127.0.0.1:9090:9090"]);
    // The stop grace covers the gateway's drain.
    let cfg = yaml(&dir.join("switchboard.yaml"));
    let grace = humantime::parse_duration(str_at(&cfg, "/http/shutdown_grace")).unwrap();
    let stop = humantime::parse_duration(sb["stop_grace_period"].as_str().unwrap()).unwrap();
    assert!(
        stop > grace,
        "stop_grace_period {stop:?} ≤ shutdown_grace {grace:?}"
    );
    assert_eq!(listen_port(str_at(&cfg, "/http/listen")), 8080);
    assert_eq!(listen_port(str_at(&cfg, "/admin/listen")), 9090);

    // Every bind mount names a file or folder that exists, and the config is mounted where
    // the image's CMD reads it.
    let mut mounted = HashMap::new();
    for (name, svc) in services {
        for v in svc["volumes"].as_array().into_iter().flatten() {
            let v = v.as_str().unwrap();
            let parts: Vec<&str> = v.split(':').collect();
            if parts[0].starts_with("./") {
                let host = dir.join(parts[0]);
                assert!(host.exists(), "{name}: {} does not exist", host.display());
                mounted.insert(parts[1].to_owned(), host);
            }
        }
    }
    assert_eq!(
        mounted["/etc/switchboard/switchboard.yaml"],
        dir.join("./switchboard.yaml")
    );
    // Prometheus reads its config and the rule file it names from the mounts.
    let prom = yaml(&dir.join("prometheus/prometheus.yml"));
    for rf in prom["rule_files"].as_array().unwrap() {
        let rf = rf.as_str().unwrap();
        assert!(
            mounted.contains_key(rf),
            "rule file {rf} is not mounted into Prometheus"
        );
    }
    assert!(mounted.contains_key("/etc/prometheus/prometheus.yml"));
    // Grafana: provisioning and the dashboards folder its provider reads.
    let provider = yaml(&dir.join("grafana/provisioning/dashboards/switchboard.yaml"));
    let path = str_at(&provider, "/providers/0/options/path");
    assert_eq!(mounted[path], dir.join("./grafana/dashboards"));
    assert!(mounted[path].join("switchboard.json").exists());
    let ds = yaml(&dir.join("grafana/provisioning/datasources/prometheus.yaml"));
    assert_eq!(str_at(&ds, "/datasources/0/type"), "prometheus");
    assert_eq!(str_at(&ds, "/datasources/0/url"), "http://prometheus:9090");
}

// ---------------------------------------------------------------------------------------------
// Prometheus: scrape config and alert rules

#[test]
fn prometheus_scrapes_the_admin_listener_and_alert_rules_parse() {
    let dir = deploy().join("compose/prometheus");
    let prom = yaml(&dir.join("prometheus.yml"));
    let jobs = prom["scrape_configs"].as_array().unwrap();
    let sb = jobs
        .iter()
        .find(|j| j["job_name"] == "switchboard")
        .expect("no `switchboard` scrape job");
    assert_eq!(sb["metrics_path"], "/metrics");
    let targets: Vec<&str> = sb["static_configs"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["targets"].as_array().unwrap())
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(
        targets,
        ["switchboard:9090"],
        "must scrape the admin listener"
    );
    let cfg = yaml(&deploy().join("compose/switchboard.yaml"));
    assert_eq!(listen_port(str_at(&cfg, "/admin/listen")), 9090);

    let rules = yaml(&dir.join("alerts.yml"));
    let mut exprs = Vec::new();
    let mut alerts = Vec::new();
    for g in rules["groups"].as_array().unwrap() {
        assert!(g["name"].is_string());
        for r in g["rules"].as_array().unwrap() {
            let name = str_at(r, "/alert").to_owned();
            assert!(
                r["labels"]["severity"].is_string(),
                "{name}: no severity label"
            );
            assert!(
                r["annotations"]["summary"].is_string()
                    && r["annotations"]["description"].is_string(),
                "{name}: needs summary and description"
            );
            if let Some(f) = r.get("for") {
                humantime::parse_duration(f.as_str().unwrap())
                    .unwrap_or_else(|e| panic!("{name}: bad `for` ({e})"));
            }
            exprs.push(str_at(r, "/expr").to_owned());
            alerts.push(name);
        }
    }
    let names = promql_metric_names(&exprs);
    for (alert, used) in alerts.iter().zip(&names) {
        assert!(!used.is_empty(), "{alert} selects no metric");
        for m in used {
            assert!(
                known_metric(m) || m == "up",
                "alert {alert} uses {m}, which the gateway does not expose"
            );
        }
    }
    // The alerts an operator needs, each on the metric it is about.
    let uses = |alert: &str, metric: &str| {
        let i = alerts
            .iter()
            .position(|a| a == alert)
            .unwrap_or_else(|| panic!("no alert {alert}"));
        assert!(names[i].contains(metric), "{alert} does not use {metric}");
    };
    uses("SwitchboardDown", "up");
    uses("SwitchboardUpstreamDown", "mcp_upstream_up");
    uses("SwitchboardHighErrorRate", "mcp_requests_total");
    uses(
        "SwitchboardHighLatencyP99",
        "mcp_request_duration_seconds_bucket",
    );
    uses(
        "SwitchboardRateLimitRejections",
        "mcp_rate_limit_rejections_total",
    );
    assert!(exprs.iter().any(|e| e.contains("histogram_quantile(0.99")));
}

// ---------------------------------------------------------------------------------------------
// Grafana dashboard

fn dashboard() -> Value {
    let p = deploy().join("compose/grafana/dashboards/switchboard.json");
    serde_json::from_str(&read(&p)).unwrap_or_else(|e| panic!("{}: not JSON: {e}", p.display()))
}

/// Every PromQL expression in the dashboard (panels and annotations), with where it is.
fn dashboard_exprs(d: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().into_iter().flatten() {
            out.push((
                format!("panel {:?}", p["title"].as_str().unwrap_or("")),
                t["expr"].as_str().unwrap_or("").to_owned(),
            ));
        }
    }
    for a in d["annotations"]["list"].as_array().into_iter().flatten() {
        if let Some(e) = a["expr"].as_str() {
            out.push((format!("annotation {:?}", a["name"]), e.to_owned()));
        }
    }
    out
}

#[test]
fn grafana_dashboard_panels_query_metrics_the_gateway_exposes() {
    let d = dashboard();
    assert_eq!(d["uid"], "switchboard-overview");
    assert!(d["schemaVersion"].as_u64().unwrap() >= 36);
    assert!(d["title"].is_string());
    let panels = d["panels"].as_array().unwrap();
    let mut ids = BTreeSet::new();
    let mut cells = BTreeSet::new();
    let mut graphs = 0;
    for p in panels {
        let title = p["title"].as_str().unwrap_or("");
        assert!(
            ids.insert(p["id"].as_u64().unwrap()),
            "duplicate panel id at {title}"
        );
        let g = &p["gridPos"];
        let (x, y, w, h) = (
            g["x"].as_u64().unwrap(),
            g["y"].as_u64().unwrap(),
            g["w"].as_u64().unwrap(),
            g["h"].as_u64().unwrap(),
        );
        assert!(x + w <= 24 && w > 0 && h > 0, "{title}: bad gridPos {g}");
        for cx in x..x + w {
            for cy in y..y + h {
                assert!(cells.insert((cx, cy)), "{title} overlaps another panel");
            }
        }
        if p["type"] == "row" {
            continue;
        }
        graphs += 1;
        assert!(
            p["datasource"]["type"] == "prometheus" && p["datasource"]["uid"].is_string(),
            "{title}: no Prometheus datasource"
        );
        let targets = p["targets"]
            .as_array()
            .unwrap_or_else(|| panic!("{title}: no targets"));
        assert!(!targets.is_empty(), "{title}: no targets");
        for t in targets {
            assert!(
                !t["expr"].as_str().unwrap_or("").trim().is_empty(),
                "{title}: a target without a PromQL expr"
            );
            assert!(
                t["datasource"]["type"] == "prometheus",
                "{title}: a target without a Prometheus datasource"
            );
        }
    }
    assert!(graphs >= 20, "only {graphs} panels");
    // The datasource variable is a Prometheus picker, and the job/instance variables read a
    // series the gateway always exposes.
    let vars = d["templating"]["list"].as_array().unwrap();
    let var = |n: &str| {
        vars.iter()
            .find(|v| v["name"] == n)
            .unwrap_or_else(|| panic!("no ${n} variable"))
    };
    assert_eq!(var("datasource")["query"], "prometheus");
    for v in ["job", "instance"] {
        let q = var(v)["definition"].as_str().unwrap();
        let metric = q
            .strip_prefix("label_values(")
            .and_then(|r| r.split(['{', ',']).next())
            .unwrap();
        assert!(known_metric(metric), "${v} reads {metric}");
    }

    let exprs = dashboard_exprs(&d);
    let texts: Vec<String> = exprs.iter().map(|(_, e)| e.clone()).collect();
    let names = promql_metric_names(&texts);
    let mut used = BTreeSet::new();
    for ((where_, expr), ns) in exprs.iter().zip(&names) {
        assert!(!ns.is_empty(), "{where_}: {expr} selects no metric");
        for m in ns {
            assert!(
                known_metric(m),
                "{where_} uses {m}, which the gateway does not expose: {expr}"
            );
        }
        used.extend(ns.iter().cloned());
    }
    // What the dashboard must show.
    for m in [
        "mcp_requests_total",
        "mcp_request_duration_seconds_bucket",
        "mcp_active_connections",
        "mcp_era_requests_total",
        "mcp_upstream_up",
        "mcp_upstream_in_flight",
        "mcp_upstream_request_duration_seconds_bucket",
        "mcp_upstream_errors_total",
        "mcp_upstream_restarts_total",
        "mcp_cache_hits_total",
        "mcp_cache_misses_total",
        "mcp_cache_entries",
        "mcp_rate_limit_rejections_total",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
    ] {
        assert!(used.contains(m), "no panel shows {m}");
    }
    for q in ["0.5", "0.9", "0.99"] {
        assert!(
            texts
                .iter()
                .any(|e| e.contains(&format!("histogram_quantile({q},"))
                    && e.contains("mcp_request_duration_seconds_bucket")),
            "no p{q} latency panel"
        );
    }
    for by in ["status", "tool", "user_role", "era", "server"] {
        assert!(
            texts
                .iter()
                .any(|e| e.contains(&format!("by ({by}")) || e.contains(&format!(", {by})"))),
            "nothing broken down by {by}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Kubernetes

/// `kubectl kustomize DIR` (offline), validated strictly against the Kubernetes schemas of
/// the oldest and newest versions we support; returns the rendered objects.
fn render_and_validate(dir: &str) -> Vec<Value> {
    let out = passes(
        tool("kubectl").args(["kustomize", dir]),
        &format!("kubectl kustomize {dir}"),
    );
    let rendered = scratch(&dir.replace('/', "-")).join("rendered.yaml");
    std::fs::write(&rendered, &out).unwrap();
    for version in ["1.29.0", "1.37.0"] {
        passes(
            tool("kubernetes-validate")
                .args(["--strict", "--quiet", "-k", version])
                .arg(&rendered),
            &format!("kubernetes-validate (Kubernetes {version}) of {dir}"),
        );
    }
    yaml_docs(&rendered)
}

fn find<'a>(objs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objs.iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

#[test]
fn kubernetes_manifests_render_and_validate_against_the_schemas() {
    let objs = render_and_validate("deploy/k8s");
    let kinds: BTreeSet<&str> = objs.iter().map(|o| o["kind"].as_str().unwrap()).collect();
    for k in [
        "Namespace",
        "ConfigMap",
        "Secret",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    ] {
        assert!(kinds.contains(k), "no {k} in deploy/k8s: {kinds:?}");
    }
    for o in &objs {
        if o["kind"] != "Namespace" {
            assert_eq!(
                o["metadata"]["namespace"], "switchboard",
                "{}",
                o["metadata"]
            );
        }
    }

    let dep = find(&objs, "Deployment", "switchboard");
    let pod = &dep["spec"]["template"]["spec"];
    let containers = pod["containers"].as_array().unwrap();
    let gw = containers
        .iter()
        .find(|c| c["name"] == "switchboard")
        .unwrap();
    let port = |name: &str| -> u64 {
        gw["ports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no container port {name}"))["containerPort"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(port("admin"), 9090);
    assert_eq!(port("mcp"), 8080);
    // Probes: liveness /healthz and readiness /readyz, both on the admin port.
    for (probe, path) in [
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
        ("startupProbe", "/healthz"),
    ] {
        let g = &gw[probe]["httpGet"];
        assert_eq!(g["path"], path, "{probe}");
        assert!(
            g["port"] == "admin" || g["port"] == 9090,
            "{probe} is not on the admin port: {g}"
        );
    }
    // The config the pod reads: the ConfigMap made from deploy/k8s/switchboard.yaml, mounted
    // where the args point, with listen ports matching the container's.
    assert_eq!(
        gw["args"],
        serde_json::json!(["serve", "--config", "/etc/switchboard/switchboard.yaml"])
    );
    let cm_name = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "config")
        .unwrap()["configMap"]["name"]
        .as_str()
        .unwrap();
    assert!(
        cm_name.starts_with("switchboard-config-"),
        "{cm_name}: no content hash"
    );
    let cm = find(&objs, "ConfigMap", cm_name);
    let k8s_cfg_text = read(&deploy().join("k8s/switchboard.yaml"));
    assert_eq!(cm["data"]["switchboard.yaml"], k8s_cfg_text.as_str());
    assert!(
        gw["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "config" && m["mountPath"] == "/etc/switchboard")
    );
    let cfg = yaml(&deploy().join("k8s/switchboard.yaml"));
    assert_eq!(listen_port(str_at(&cfg, "/admin/listen")), 9090);
    assert_eq!(listen_port(str_at(&cfg, "/http/listen")), 8080);
    assert!(str_at(&cfg, "/admin/listen").starts_with("0.0.0.0:"));

    // Secrets reach the pod: env from the Secret, the key file mounted where the config reads it.
    let secret = find(&objs, "Secret", "switchboard-secrets");
    for k in ["REDIS_URL", "SWITCHBOARD_MRTR_KEY", "api-keys.json"] {
        assert!(secret["stringData"][k].is_string(), "Secret lacks {k}");
    }
    assert_eq!(gw["envFrom"][0]["secretRef"]["name"], "switchboard-secrets");
    let key_file = str_at(&cfg, "/auth/api_keys/file");
    let (dir, file) = key_file.rsplit_once('/').unwrap();
    assert!(
        gw["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "secrets" && m["mountPath"] == dir)
    );
    assert_eq!(
        pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == "secrets")
            .unwrap()["secret"]["items"][0]["path"],
        file
    );

    // Hardening and resources, for every container.
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["automountServiceAccountToken"], false);
    for c in containers {
        let n = c["name"].as_str().unwrap();
        let sc = &c["securityContext"];
        assert_eq!(sc["readOnlyRootFilesystem"], true, "{n}");
        assert_eq!(sc["allowPrivilegeEscalation"], false, "{n}");
        assert_eq!(sc["runAsNonRoot"], true, "{n}");
        assert_eq!(
            sc["capabilities"]["drop"],
            serde_json::json!(["ALL"]),
            "{n}"
        );
        for kind in ["requests", "limits"] {
            for r in ["cpu", "memory"] {
                assert!(c["resources"][kind][r].is_string(), "{n}: no {kind}.{r}");
            }
        }
    }
    // The drain fits in the grace period: preStop sleep + shutdown_grace (+ upstream stop).
    let grace = humantime::parse_duration(str_at(&cfg, "/http/shutdown_grace")).unwrap();
    let pre_stop: u64 = gw["lifecycle"]["preStop"]["exec"]["command"][1]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let termination = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    assert!(
        termination > pre_stop + grace.as_secs() + 6,
        "terminationGracePeriodSeconds {termination} does not cover preStop {pre_stop}s + shutdown_grace {grace:?} + upstream stop"
    );
    // readiness' memory limit sits below the container's.
    assert_eq!(str_at(&cfg, "/admin/readiness/max_memory"), "400MiB");
    assert_eq!(gw["resources"]["limits"]["memory"], "512Mi");

    // The Service selects the pods and serves the MCP port; the HPA scales this Deployment on CPU.
    let svc = find(&objs, "Service", "switchboard");
    let labels = &dep["spec"]["template"]["metadata"]["labels"];
    for (k, v) in svc["spec"]["selector"].as_object().unwrap() {
        assert_eq!(
            &labels[k], v,
            "Service selector {k} does not match the pods"
        );
    }
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], "mcp");
    let hpa = find(&objs, "HorizontalPodAutoscaler", "switchboard");
    assert_eq!(hpa["apiVersion"], "autoscaling/v2");
    assert_eq!(hpa["spec"]["scaleTargetRef"]["kind"], "Deployment");
    assert_eq!(hpa["spec"]["scaleTargetRef"]["name"], "switchboard");
    assert_eq!(hpa["spec"]["metrics"][0]["resource"]["name"], "cpu");
    assert!(hpa["spec"]["minReplicas"].as_u64().unwrap() >= 2);

    // The trial Redis renders and validates too, in the same namespace, under the name the
    // Secret's REDIS_URL uses.
    let redis = render_and_validate("deploy/k8s/redis");
    let rsvc = find(&redis, "Service", "redis");
    assert_eq!(rsvc["metadata"]["namespace"], "switchboard");
    assert!(
        secret["stringData"]["REDIS_URL"]
            .as_str()
            .unwrap()
            .starts_with("redis://redis.switchboard.svc")
    );

    // Negative control: a manifest with an unknown field and a wrong type is refused.
    let out = passes(
        tool("kubectl").args(["kustomize", "deploy/k8s"]),
        "kubectl kustomize",
    );
    let broken = out
        .replacen(
            "readOnlyRootFilesystem: true\n",
            "readOnlyRootFilesystem: true\n          readOnlyRootFileSystem: true\n",
            1,
        )
        .replacen("averageUtilization: 70", "averageUtilization: seventy", 1);
    assert_ne!(broken, out);
    let bad = scratch("k8s-bad").join("rendered.yaml");
    std::fs::write(&bad, broken).unwrap();
    refuses(
        tool("kubernetes-validate")
            .args(["--strict", "--quiet"])
            .arg(&bad),
        "kubernetes-validate on broken manifests",
        "readOnlyRootFileSystem",
    );
}

// ---------------------------------------------------------------------------------------------
// CI workflow

#[test]
fn ci_workflow_matches_the_schema_and_passes_actionlint() {
    let wf = ".github/workflows/ci.yml";
    passes(
        tool("check-jsonschema").args(["--builtin-schema", "vendor.github-workflows", wf]),
        "check-jsonschema (github-workflows) .github/workflows/ci.yml",
    );
    passes(tool("actionlint").args(["-no-color", wf]), "actionlint");
    let bad = scratch("actionlint").join("bad.yml");
    std::fs::write(
        &bad,
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo ${{ github.event.issue.title }} $UNQUOTED\n      - uses: actions/checkout@v5\n        with: {fetch-depht: 1}\n",
    )
    .unwrap();
    refuses(
        tool("actionlint").arg("-no-color").arg(&bad),
        "actionlint on a broken workflow",
        "fetch-depht",
    );

    let w = yaml(&repo().join(wf));
    let runs: Vec<String> = w["jobs"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|j| j["steps"].as_array().unwrap())
        .filter_map(|s| s["run"].as_str().map(str::to_owned))
        .collect();
    let all = runs.join("\n");
    for must in [
        "cargo fmt --all -- --check",
        "cargo clippy --workspace --all-targets --locked -- -D warnings",
        "bash scripts/test.sh",
        "cargo deny --locked check advisories",
    ] {
        assert!(all.contains(must), "the workflow never runs `{must}`");
    }
    let image = &w["jobs"]["image"];
    let build = image["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("docker/build-push-action@"))
        })
        .expect("no image build step");
    assert!(str_at(build, "/with/cache-from").contains("type=gha"));
    assert!(str_at(build, "/with/cache-to").contains("type=gha"));
    assert_eq!(str_at(build, "/with/push"), "${{ env.PUSH == 'true' }}");
    assert_eq!(
        str_at(image, "/env/PUSH"),
        "${{ github.event_name == 'push' }}",
        "push only on pushes (main and tags), never from pull requests"
    );
    let targets: Vec<&str> = image["strategy"]["matrix"]["include"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["target"].as_str().unwrap())
        .collect();
    let df = read(&repo().join("Dockerfile"));
    for t in targets {
        assert!(
            df.contains(&format!(" AS {t}\n")),
            "no Dockerfile stage {t}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The gateway configs the deployments ship

#[test]
fn deployed_gateway_configs_pass_switchboard_check() {
    // compose: its defaults need no environment.
    let o = Command::new(switchboard())
        .args(["check", "--offline", "--config"])
        .arg(deploy().join("compose/switchboard.yaml"))
        .env_remove("REDIS_URL")
        .output()
        .unwrap();
    assert!(o.status.success(), "compose config: {}", text(&o));
    // Kubernetes: the Secret's variables.
    let k8s = deploy().join("k8s/switchboard.yaml");
    let o = Command::new(switchboard())
        .args(["check", "--offline", "--config"])
        .arg(&k8s)
        .env(
            "REDIS_URL",
            "redis://redis.switchboard.svc.cluster.local:6379/0",
        )
        .env("SWITCHBOARD_MRTR_KEY", "x".repeat(48))
        .output()
        .unwrap();
    assert!(o.status.success(), "k8s config: {}", text(&o));
    // …and without them it is refused (the Deployment must provide them).
    let o = Command::new(switchboard())
        .args(["check", "--offline", "--config"])
        .arg(&k8s)
        .env_remove("REDIS_URL")
        .env_remove("SWITCHBOARD_MRTR_KEY")
        .output()
        .unwrap();
    assert!(
        !o.status.success(),
        "k8s config without its Secret: {}",
        text(&o)
    );
    assert!(text(&o).contains("REDIS_URL"), "{}", text(&o));
    // Every variable the k8s config reads without a default is in the Secret.
    let secret = yaml(&deploy().join("k8s/secret.yaml"));
    let mut rest = k8s_cfg_vars(&read(&k8s));
    rest.retain(|v| !secret["stringData"][v.as_str()].is_string());
    assert!(rest.is_empty(), "not in the Secret: {rest:?}");
}

/// `${VAR}` references without a default.
fn k8s_cfg_vars(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut s = text;
    while let Some(i) = s.find("${") {
        let after = &s[i + 2..];
        let end = after.find('}').unwrap();
        let inner = &after[..end];
        if !inner.contains(":-") && !text_is_comment(s, i) {
            out.push(inner.to_owned());
        }
        s = &after[end..];
    }
    out
}

fn text_is_comment(s: &str, i: usize) -> bool {
    let line_start = s[..i].rfind('\n').map_or(0, |n| n + 1);
    s[line_start..i].trim_start().starts_with('#')
}

// ---------------------------------------------------------------------------------------------
// The compose config, served for real on loopback: every metric the dashboard and the alert
// rules use is exposed on its admin listener.

/// Every metric name the dashboard and the alert rules select (but Prometheus' own `up`).
fn names_used_by_dashboard_and_alerts() -> BTreeSet<String> {
    let mut exprs: Vec<String> = dashboard_exprs(&dashboard())
        .into_iter()
        .map(|(_, e)| e)
        .collect();
    let rules = yaml(&deploy().join("compose/prometheus/alerts.yml"));
    for g in rules["groups"].as_array().unwrap() {
        for r in g["rules"].as_array().unwrap() {
            exprs.push(str_at(r, "/expr").to_owned());
        }
    }
    let mut names: BTreeSet<String> = promql_metric_names(&exprs).into_iter().flatten().collect();
    names.insert("switchboard_build_info".into()); // the dashboard's $job/$instance variables
    names.remove("up");
    names
}

/// The sample names of an exposition, read by prometheus_client's parser (the reference
/// Python client's, via tests/harness/clients/parse_metrics.py), which refuses a malformed
/// exposition.
fn exposed_names(exposition: &str) -> BTreeSet<String> {
    let o = output_with_stdin(
        Command::new(python()).arg(harness().join("clients/parse_metrics.py")),
        exposition.as_bytes(),
    );
    assert!(
        o.status.success(),
        "the exposition does not parse:\n{}\n{exposition}",
        text(&o)
    );
    let samples: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
    samples
        .iter()
        .filter_map(|s| s["name"].as_str().map(str::to_owned))
        .collect()
}

struct Served {
    proc: Proc,
    url: String,
    admin: String,
}

/// `switchboard serve` on deploy/compose/switchboard.yaml as it is, with the environment the
/// compose file gives it pointed at loopback: the machine's Redis, the example upstream.
fn serve_compose_config(company_url: &str, data: &Path) -> Served {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(switchboard())
        .args(["serve", "--config"])
        .arg(deploy().join("compose/switchboard.yaml"))
        .env("SWITCHBOARD_LISTEN", "127.0.0.1:0")
        .env("SWITCHBOARD_ADMIN_LISTEN", "127.0.0.1:0")
        .env("REDIS_URL", "redis://127.0.0.1:6379/7")
        .env("COMPANY_API_URL", company_url)
        .env("SWITCHBOARD_DATA_DIR", data)
        .env_remove("OTLP_ENDPOINT")
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let output = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = output.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            sink.lock().unwrap().push_str(&line);
            sink.lock().unwrap().push('\n');
            let _ = tx.send(line);
        }
    });
    let proc = Proc { child, output };
    let (mut url, mut admin) = (None, None);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while url.is_none() || admin.is_none() {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let Ok(line) = rx.recv_timeout(left) else {
            panic!("gateway did not start:\n{}", proc.output());
        };
        if let Some(rest) = line.trim().strip_prefix("switchboard listening on ") {
            url = Some(rest.to_owned());
        }
        if let Some(rest) = line.trim().strip_prefix("switchboard admin on ") {
            admin = rest.split_whitespace().next().map(str::to_owned);
        }
    }
    Served {
        proc,
        url: url.unwrap(),
        admin: admin.unwrap(),
    }
}

async fn get(url: &str) -> (u16, String) {
    let r = reqwest::get(url).await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn compose_config_serves_every_metric_the_dashboard_and_alerts_use() {
    use std::time::{Duration, Instant};
    let port = free_port();
    let mut company = spawn(
        Command::new(workspace_bin("company-api")).args(["--http", &format!("127.0.0.1:{port}")]),
    );
    wait_port(port, Duration::from_secs(30));
    let company_url = format!("http://127.0.0.1:{port}/mcp");
    let data = scratch("served");
    let mut gw = serve_compose_config(&company_url, &data);

    // Liveness at once; readiness once Redis answers and the upstream is ready.
    let (status, _) = get(&format!("{}/healthz", gw.admin)).await;
    assert_eq!(status, 200);
    let deadline = Instant::now() + Duration::from_secs(60);
    let ready = loop {
        let (status, body) = get(&format!("{}/readyz", gw.admin)).await;
        if status == 200 {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz stayed {status}: {body}\n{}",
            gw.proc.output()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let ready: Value = serde_json::from_str(&ready).unwrap();
    assert_eq!(ready["healthy"], true, "{ready}");
    assert!(
        ready["checks"].as_array().is_some_and(|c| !c.is_empty()),
        "{ready}"
    );

    let addr = gw
        .url
        .trim_start_matches("http://")
        .trim_end_matches("/mcp");
    assert!(
        std::net::TcpStream::connect(addr).is_ok(),
        "nothing on {addr}:\n{}",
        gw.proc.output()
    );
    // Traffic as the anonymous viewer: a list, the same read twice (a cache miss, then a hit),
    // a denied write.
    let list = modern(&gw.url, &[], "tools/list", None, serde_json::json!({})).await;
    assert_eq!(list.status, 200, "{}", list.body);
    tokio::time::sleep(Duration::from_millis(300)).await;
    eprintln!(
        "DEBUG gateway after list:\n{}\n{:?}",
        gw.proc.output(),
        gw.proc.child.try_wait()
    );
    for _ in 0..2 {
        let a = tool_call(
            &gw.url,
            &[],
            "company__get_employee_info",
            serde_json::json!({"employee_id": "E001"}),
        )
        .await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert!(a.body["result"]["content"].is_array(), "{}", a.body);
    }
    let denied = tool_call(
        &gw.url,
        &[],
        "company__update_project_status",
        serde_json::json!({"project_id": "P001", "status": "on_hold"}),
    )
    .await;
    assert!(denied.body["error"].is_object(), "{}", denied.body);

    // A config reload (SIGHUP), then the upstream dies (down, an error, a restart attempt).
    let sighup = Command::new("kill")
        .args(["-HUP", &gw.proc.pid().to_string()])
        .status()
        .unwrap();
    assert!(sighup.success());
    company.terminate(Duration::from_secs(10));
    let _ = tool_call(
        &gw.url,
        &[],
        "company__get_employee_info",
        serde_json::json!({"employee_id": "E002"}),
    )
    .await;

    // The viewer's budget (60/min in the shared Redis) runs out.
    let mut limited = false;
    for _ in 0..80 {
        let a = modern(&gw.url, &[], "tools/list", None, serde_json::json!({})).await;
        if a.status == 429 {
            limited = true;
            break;
        }
    }
    assert!(limited, "the viewer was never rate limited");

    // Every name the dashboard and the alerts use is exposed, and the exposition parses.
    let want = names_used_by_dashboard_and_alerts();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = get(&format!("{}/metrics", gw.admin)).await;
        assert_eq!(status, 200);
        let exposed = exposed_names(&body);
        let missing: Vec<&String> = want.iter().filter(|n| !exposed.contains(*n)).collect();
        if missing.is_empty() {
            assert!(
                body.contains("mcp_rate_limit_rejections_total{user_role=\"viewer\"}"),
                "{body}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not exposed: {missing:?}\n{body}\n--- gateway log\n{}",
            gw.proc.output()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    gw.proc.terminate(Duration::from_secs(40));
}
