//! The compose stack against the compose spec.

use super::*;
use std::time::Duration;

/// The host path mounted at `target` in `service`, if any.
fn mounted_at(
    services: &serde_json::Map<String, Value>,
    service: &str,
    target: &str,
) -> Option<PathBuf> {
    services[service]["volumes"]
        .as_array()?
        .iter()
        .filter_map(|v| v.as_str())
        .find_map(|v| {
            let parts: Vec<&str> = v.split(':').collect();
            (parts.get(1) == Some(&target)).then(|| deploy().join("compose").join(parts[0]))
        })
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
        "balancer",
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
    // Three replicas behind the balancer, the example upstream reached by name.
    assert_eq!(sb["deploy"]["replicas"], 3);
    assert_eq!(
        str_at(&services["company-api"], "/build/target"),
        "company-api"
    );
    let company_cmd: Vec<&str> = services["company-api"]["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(
        company_cmd
            .windows(2)
            .any(|w| w == ["--allow-host", "company-api"]),
        "{company_cmd:?}"
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
    // Only the balancer publishes the MCP port; replicas publish nothing (several share a name).
    assert!(sb["ports"].is_null(), "replicas must not publish ports");
    let ports: Vec<&str> = services["balancer"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(ports, ["127.0.0.1:8080:8080"]);
    // The stop grace covers leaving the balancer and the gateway's drain.
    let cfg = yaml(&dir.join("switchboard.yaml"));
    let delay = humantime::parse_duration(str_at(&cfg, "/http/shutdown_delay")).unwrap();
    let grace = humantime::parse_duration(str_at(&cfg, "/http/shutdown_grace")).unwrap();
    let stop = humantime::parse_duration(sb["stop_grace_period"].as_str().unwrap()).unwrap();
    assert!(
        stop > delay + grace,
        "stop_grace_period {stop:?} ≤ shutdown_delay {delay:?} + shutdown_grace {grace:?}"
    );
    // The replicas share state through the stack's Redis, and each writes its own audit file.
    assert!(str_at(&cfg, "/cluster/url").contains("redis://redis:6379"));
    assert!(
        str_at(&cfg, "/audit/path").contains("${HOSTNAME"),
        "replicas sharing the data volume need one audit file each"
    );

    // HAProxy: a valid config, round robin over the replicas' MCP port, ready checks on the
    // admin port, no session affinity; a delay longer than the checks take to see a replica go.
    let haproxy_cfg = dir.join("haproxy/haproxy.cfg");
    assert_eq!(
        mounted_at(services, "balancer", "/usr/local/etc/haproxy/haproxy.cfg"),
        Some(haproxy_cfg.clone())
    );
    passes(
        Command::new(common::balancer::haproxy())
            .arg("-c")
            .arg("-f")
            .arg(&haproxy_cfg),
        "haproxy -c deploy/compose/haproxy/haproxy.cfg",
    );
    let text = read(&haproxy_cfg);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .collect();
    assert!(lines.contains(&"balance roundrobin"), "{text}");
    assert!(lines.contains(&"option httpchk GET /readyz"), "{text}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("server-template") && l.contains("switchboard:8080")),
        "{text}"
    );
    for sticky in ["cookie", "stick", "balance source", "hash-type"] {
        assert!(
            !lines.iter().any(|l| l.starts_with(sticky)),
            "session affinity ({sticky}) in {text}"
        );
    }
    let check = lines
        .iter()
        .find(|l| l.starts_with("default-server"))
        .unwrap();
    assert!(check.contains("check port 9090"), "{check}");
    let word_after = |w: &str| -> u64 {
        let words: Vec<&str> = check.split_whitespace().collect();
        let i = words.iter().position(|x| *x == w).unwrap();
        words[i + 1].trim_end_matches('s').parse().unwrap()
    };
    let seen_within = Duration::from_secs(word_after("inter") * word_after("fall"));
    assert!(
        delay > seen_within,
        "shutdown_delay {delay:?} ≤ the balancer's {seen_within:?} to take a replica out"
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

/// The stack's example upstream is reached by its service name: it accepts that Host with
/// `--allow-host`, and still refuses any other (DNS rebinding protection).
#[test]
fn company_api_accepts_the_host_it_is_allowed_and_no_other() {
    use std::io::{Read, Write};
    let p = spawn(Command::new(workspace_bin("company-api")).args([
        "--http",
        "127.0.0.1:0",
        "--allow-host",
        "company-api",
    ]));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let addr = loop {
        if let Some(a) = p.output().lines().find_map(|l| {
            l.split("listening on http://")
                .nth(1)
                .map(|u| u.trim().trim_end_matches("/mcp").to_owned())
        }) {
            break a;
        }
        assert!(std::time::Instant::now() < deadline, "{}", p.output());
        std::thread::sleep(Duration::from_millis(50));
    };
    let port = addr.rsplit(':').next().unwrap();
    let status = |host: &str| -> String {
        let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        write!(
            s,
            "POST /mcp HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut head = [0u8; 12];
        s.read_exact(&mut head).unwrap();
        String::from_utf8_lossy(&head[9..12]).into_owned()
    };
    assert_eq!(status(&format!("company-api:{port}")), "200");
    assert_eq!(status(&format!("127.0.0.1:{port}")), "200");
    let evil = status(&format!("evil.example:{port}"));
    assert!(evil.starts_with('4'), "a foreign Host was served: {evil}");
}
