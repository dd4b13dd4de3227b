//! The Kubernetes manifests, rendered with kustomize and validated against the schemas.

use super::*;

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
