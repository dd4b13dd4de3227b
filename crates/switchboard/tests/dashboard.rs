//! The admin dashboard in real headless Chromium (Debian's `chromium`, driven by
//! playwright-core from tests/harness): signing in with an admin key shows the upstream
//! servers and live per-tool figures; a key made in the page works at `/mcp` and, revoked in
//! the page, is refused there; a read-only admin is offered no action and the API refuses one;
//! a key without admin access, or none, gets nothing.
//! Screenshots of the pages are kept under the test's scratch directory
//! (`$CARGO_TARGET_DIR/tmp/switchboard-tests/dashboard-*`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::{Value, json};

fn browse(admin: &str, key: &str, shots: &Path, wait_tool: Option<&str>) -> Value {
    browse_with(admin, key, shots, wait_tool, &[])
}

/// `dashboard.mjs` signed in with `key`, with its further steps (`--create-key`, `--revoke`).
fn browse_with(
    admin: &str,
    key: &str,
    shots: &Path,
    wait_tool: Option<&str>,
    steps: &[&str],
) -> Value {
    let mut cmd = Command::new(node());
    cmd.current_dir(harness())
        .arg(harness().join("clients/dashboard.mjs"))
        .args([admin, key])
        .arg(shots);
    if let Some(t) = wait_tool {
        cmd.args(["--wait-tool", t]);
    }
    cmd.args(steps);
    run_json(&mut cmd, std::time::Duration::from_secs(90))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_signs_in_and_sees_servers_and_live_figures() {
    let dir = scratch_dir("dashboard");
    let gw = Gateway::start(&format!(
        "auth:\n  api_keys: {{file: \"{keys}\"}}\nroles:\n  ops: {{allow: [\"*\", \"admin:*\"]}}\n  auditor: {{allow: [\"admin:read\"]}}\n  dev: {{allow: [\"*\"]}}\nadmin: {{listen: \"127.0.0.1:0\"}}\nservers:\n{up}",
        keys = dir.join("keys.json").display(),
        up = stdio_entry("up", &workspace_bin("bench-upstream"), &[]),
    ));
    let ops = keys_cli(&gw.config, &["create", "--name", "ops", "--role", "ops"]);
    let dev = keys_cli(&gw.config, &["create", "--name", "dev", "--role", "dev"]);
    let admin = gw.admin.clone().unwrap();

    // Calls to show in the figures (the sampler starts with the first look, so the page is
    // opened once first).
    let first = {
        let (admin, ops, dir) = (admin.clone(), ops.clone(), dir.clone());
        tokio::task::spawn_blocking(move || browse(&admin, &ops, &dir, None))
            .await
            .unwrap()
    };
    assert_eq!(first["signedIn"], true, "{first}");
    for _ in 0..5 {
        let r = tool_call(
            &gw.url,
            &[("x-api-key", &ops)],
            "up__echo",
            json!({"text": "x"}),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let seen = {
        let (admin, ops, dir) = (admin.clone(), ops.clone(), dir.clone());
        tokio::task::spawn_blocking(move || browse(&admin, &ops, &dir, Some("up__echo")))
            .await
            .unwrap()
    };
    assert_eq!(seen["title"], "Switchboard — admin", "{seen}");
    assert_eq!(seen["signedIn"], true, "{seen}");
    assert!(seen["who"].as_str().unwrap().contains("may act"), "{seen}");
    let up = &seen["servers"][0];
    assert_eq!(up[0], "up", "{seen}");
    assert_eq!(up[1], "ready", "{seen}");
    let echo = seen["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t[0] == "up__echo")
        .unwrap_or_else(|| panic!("{seen}"));
    assert!(
        echo[1].as_str().unwrap().parse::<u64>().unwrap() >= 5,
        "{seen}"
    );
    assert_eq!(seen["pageErrors"], json!([]), "{seen}");
    assert!(dir.join("overview.png").exists());

    // A key made in the page works at /mcp; revoked in the page, it is refused there.
    let made = browse_with(&admin, &ops, &dir, None, &["--create-key", "temp", "dev"]);
    assert_eq!(made["createError"], Value::Null, "{made}");
    let temp = made["createdKey"]
        .as_str()
        .unwrap_or_else(|| panic!("{made}"))
        .to_owned();
    echo_answers(&gw.url, &temp, 200, "a key made in the page is refused").await;
    let revoked = {
        let (admin, ops, dir) = (admin.clone(), ops.clone(), dir.clone());
        tokio::task::spawn_blocking(move || {
            browse_with(&admin, &ops, &dir, None, &["--revoke", "temp"])
        })
        .await
        .unwrap()
    };
    let row = revoked["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "temp")
        .unwrap_or_else(|| panic!("{revoked}"));
    assert!(
        row["status"].as_str().unwrap().starts_with("revoked"),
        "{revoked}"
    );
    echo_answers(&gw.url, &temp, 401, "a key revoked in the page still works").await;

    // A read-only admin sees the keys and is offered no action.
    let auditor = keys_cli(
        &gw.config,
        &["create", "--name", "aud", "--role", "auditor"],
    );
    let read_only = browse(&admin, &auditor, &dir, None);
    assert_eq!(read_only["signedIn"], true, "{read_only}");
    assert!(
        read_only["who"].as_str().unwrap().contains("read only"),
        "{read_only}"
    );
    assert_eq!(read_only["mayCreate"], false, "{read_only}");
    assert!(
        read_only["keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["revocable"] == false),
        "{read_only}"
    );

    // A key whose role has no admin access, and no key at all, get nothing.
    let refused = browse(&admin, &dev, &dir, None);
    assert_eq!(refused["signedIn"], false, "{refused}");
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("no admin access"),
        "{refused}"
    );
    let nothing = browse(&admin, "", &dir, None);
    assert_eq!(nothing["signedIn"], false, "{nothing}");
}
