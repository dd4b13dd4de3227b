//! The Dockerfile (hadolint) and YAML style everywhere (yamllint).

use super::*;

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
