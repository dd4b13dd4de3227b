//! The CI workflow and the gateway configs the deployments ship.

use super::*;

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
