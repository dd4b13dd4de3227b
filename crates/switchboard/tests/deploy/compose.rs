//! The compose stack against the compose spec.

use super::*;

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
