//! Prometheus (scrape config, alert rules), the Grafana dashboard, and the metrics they use served by the compose config.

use super::*;

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
    // Every replica: Docker's DNS answers the service name with each replica's address.
    let sd = &sb["dns_sd_configs"][0];
    assert_eq!(sd["names"], serde_json::json!(["switchboard"]), "{sb}");
    assert_eq!(sd["type"], "A", "{sb}");
    assert_eq!(sd["port"], 9090, "must scrape the admin listener: {sb}");
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
