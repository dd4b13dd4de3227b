//! The admin dashboard in real headless Chromium (Debian's `chromium`, driven by playwright-core
//! from tests/harness, one command at a time: common/browser.rs), against a real upstream
//! (server-everything over stdio): an admin signs in and sees it ready; calls a tool from the
//! playground and sees the answer, then finds the call in the audit view and verifies the
//! chain; the upstream's process is killed and the page shows it down, then back; a workflow
//! run as a task is drawn as its step graph with each step's state and is cancelled from the
//! tasks page; a key made in the page works at `/mcp` and, revoked there, is refused; an admin
//! key revoked while its page is open signs that page out; a read-only admin is offered no
//! action on any page; a key without admin access, or none, gets nothing.
//! Screenshots of the pages are kept under the test's scratch directory
//! (`$CARGO_TARGET_DIR/tmp/switchboard-tests/dashboard-*`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::admin::key_id;
use common::browser::Browser;
use common::tasks::call_as_task;
use common::*;
use serde_json::{Value, json};

/// A gateway with API keys, an audit trail, a task store, server-everything over stdio
/// (restarted 2 s after a crash, so "down" lasts long enough to be seen) and a workflow whose
/// middle step runs for 30 s. Keys: ops (`admin:*`), auditor (`admin:read`, every tool), dev (no admin).
struct Setup {
    gw: Gateway,
    admin: String,
    ops: String,
    auditor: String,
    dev: String,
}

fn setup(dir: &Path) -> Setup {
    let gw = Gateway::start(&format!(
        r#"auth:
  api_keys: {{file: "{keys}"}}
  jwt:
    - {{issuer: "https://hs.test", audience: ["switchboard"], algorithm: HS256, secret: "{JWT_SECRET}"}}
roles:
  ops: {{allow: ["*", "admin:*"]}}
  auditor: {{allow: ["*", "admin:read"]}}
  dev: {{allow: ["*"]}}
admin: {{listen: "127.0.0.1:0"}}
audit: {{path: "{audit}"}}
tasks: {{path: "{tasks}", poll_interval: 100ms}}
servers:
{everything}    restart: {{initial_backoff: 2s}}
workflows:
  slow_report:
    description: Greets, waits half a minute, greets again
    task: true
    steps:
      - id: greet
        tool: everything__echo
        args: {{message: start}}
      - id: wait
        tool: everything__trigger-long-running-operation
        needs: [greet]
        args: {{duration: 30, steps: 30}}
      - id: finish
        tool: everything__echo
        needs: [wait]
        args: {{message: done}}
"#,
        keys = dir.join("keys.json").display(),
        audit = dir.join("audit.db").display(),
        tasks = dir.join("tasks.db").display(),
        everything = stdio_entry(
            "everything",
            &node(),
            &[&everything_js(), Path::new("stdio")]
        ),
    ));
    let key =
        |name: &str, role: &str| keys_cli(&gw.config, &["create", "--name", name, "--role", role]);
    Setup {
        ops: key("ops", "ops"),
        auditor: key("aud", "auditor"),
        dev: key("dev", "dev"),
        admin: gw.admin.clone().unwrap(),
        gw,
    }
}

const JWT_SECRET: &str = "dashboard-test-secret-of-enough-length";

/// An HS256 JWT for `sub` with `role`, valid for ten minutes.
fn jwt(sub: &str, role: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"iss": "https://hs.test", "aud": "switchboard", "sub": sub, "role": role,
                "exp": now + 600, "nbf": now - 5}),
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn no_page_errors(b: &mut Browser) {
    let shot = b.run(json!({"do": "screenshot", "name": "last"}));
    assert_eq!(shot["pageErrors"], json!([]), "{shot}");
}

#[test]
fn an_admin_calls_finds_the_call_in_the_audit_and_sees_an_upstream_go_down_and_back() {
    let dir = scratch_dir("dashboard");
    let s = setup(&dir);
    let rt = runtime();
    let mut b = Browser::open(&s.admin, &dir);
    let me = b.sign_in(&s.ops);
    assert_eq!(me["signedIn"], true, "{me}");
    assert!(me["who"].as_str().unwrap().contains("may act"), "{me}");
    assert_eq!(
        me["nav"],
        json!([
            "Overview",
            "Servers",
            "Playground",
            "Audit",
            "Tasks",
            "Workflows",
            "Routes",
            "API keys",
            "Config"
        ]),
        "{me}"
    );
    let seen = b.run(json!({"do": "overview"}));
    let everything = &seen["servers"][0];
    assert_eq!(everything[0], "everything", "{seen}");
    assert_eq!(everything[1], "ready", "{seen}");

    // The playground: a form made from echo's inputSchema, called as ops.
    let called = b.run(json!({"do": "playground", "tool": "everything__echo",
        "fields": {"message": "hello from the playground"}}));
    assert!(
        called["labels"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().starts_with("message")),
        "{called}"
    );
    assert!(
        called["answer"]
            .as_str()
            .unwrap_or_default()
            .contains("Echo: hello from the playground"),
        "{called}"
    );
    // Its figures reach the overview (the next 5-s tick), and the call is in the audit trail,
    // as ops, through the admin API; the chain verifies.
    let figures = b.run(json!({"do": "overview", "waitTool": "everything__echo"}));
    b.run(json!({"do": "screenshot", "name": "overview"}));
    assert!(
        figures["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t[0] == "everything__echo"),
        "{figures}"
    );
    let audit = b.run(json!({"do": "audit", "q": "everything__echo"}));
    let record = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r[5] == "tools/call")
        .unwrap_or_else(|| panic!("the call is not in the audit view: {audit}"));
    assert_eq!(record[2], "key:ops", "{audit}");
    assert_eq!(record[4], "admin", "{audit}");
    assert_eq!(record[6], "everything__echo", "{audit}");
    assert_eq!(record[7], "ok", "{audit}");
    assert!(
        audit["verdict"].as_str().unwrap().starts_with("Intact"),
        "{audit}"
    );

    // The upstream's process is killed: its page shows it down, then back, with the failure.
    let upstream = children_of(s.gw.proc.pid())
        .into_iter()
        .find(|(_, args)| args.iter().any(|a| a.contains("server-everything")))
        .map(|(pid, _)| pid)
        .expect("server-everything runs under the gateway");
    let before = b.run(json!({"do": "waitServer", "server": "everything", "state": "ready"}));
    assert_eq!(before["lastError"], "none seen", "{before}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(upstream as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let down = b.run(
        json!({"do": "waitServer", "server": "everything", "state": "down", "timeoutMs": 15000}),
    );
    assert_ne!(down["state"], "ready", "{down}");
    b.run(json!({"do": "screenshot", "name": "server-down"}));
    let back = b.run(
        json!({"do": "waitServer", "server": "everything", "state": "ready", "timeoutMs": 30000}),
    );
    assert_eq!(back["state"], "ready", "{back}");
    assert_ne!(
        back["lastError"], "none seen",
        "the failure is kept: {back}"
    );
    assert!(
        back["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t[0] == "everything__echo"),
        "{back}"
    );
    b.run(json!({"do": "screenshot", "name": "server"}));

    // Keys: one made in the page works at /mcp; revoked in the page, it is refused there.
    let made = b.run(json!({"do": "keys", "create": ["temp", "dev"]}));
    assert_eq!(made["createError"], Value::Null, "{made}");
    let temp = made["createdKey"]
        .as_str()
        .unwrap_or_else(|| panic!("{made}"))
        .to_owned();
    rt.block_on(echo_answers(
        &s.gw.url,
        &temp,
        200,
        "a key made in the page is refused",
    ));
    let revoked = b.run(json!({"do": "keys", "revoke": "temp"}));
    let row = revoked["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "temp")
        .unwrap();
    assert!(
        row["status"].as_str().unwrap().starts_with("revoked"),
        "{revoked}"
    );
    rt.block_on(echo_answers(
        &s.gw.url,
        &temp,
        401,
        "a key revoked in the page still works",
    ));

    // The config in force, and a reload from the page with what it changed.
    let config = b.run(json!({"do": "config", "reload": true}));
    assert!(
        config["config"]["servers"]["everything"].is_object(),
        "{config}"
    );
    assert!(
        config["outcome"].as_str().unwrap().starts_with("Reloaded"),
        "{config}"
    );

    // Every page, reached from the menu by keyboard: a heading, marked current, every field
    // labelled.
    let tour = b.run(json!({"do": "tour"}));
    for (name, page) in tour
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| *k != "pageErrors")
    {
        assert_eq!(page["current"], *name, "{tour}");
        assert_eq!(page["unlabelled"], json!([]), "{name}: {tour}");
    }
    b.run(json!({"do": "overview"}));
    no_page_errors(&mut b);

    // A key whose role has no admin access, and no key at all, get nothing.
    let mut other = Browser::open(&s.admin, &dir);
    let refused = other.sign_in(&s.dev);
    assert_eq!(refused["signedIn"], false, "{refused}");
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("no admin access"),
        "{refused}"
    );
    let nothing = other.sign_in("");
    assert_eq!(nothing["signedIn"], false, "{nothing}");
    no_page_errors(&mut other);
}

#[test]
fn a_workflow_run_is_drawn_and_cancelled_and_read_only_or_revoked_admins_cannot_act() {
    let dir = scratch_dir("dashboard-tasks");
    let s = setup(&dir);
    let rt = runtime();
    // A durable run of the workflow: its middle step runs for 30 s.
    let deadline = Instant::now() + Duration::from_secs(20);
    let created = loop {
        let r = rt.block_on(call_as_task(
            &s.gw.url,
            Some(&s.ops),
            "workflows__slow_report",
            json!({}),
        ));
        if r["result"]["taskId"].is_string() {
            break r;
        }
        assert!(Instant::now() < deadline, "{r}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let id = created["result"]["taskId"].as_str().unwrap().to_owned();

    let mut b = Browser::open(&s.admin, &dir);
    assert_eq!(b.sign_in(&s.ops)["signedIn"], true);
    let run = b.run(json!({"do": "task", "id": id, "step": "wait", "state": "running"}));
    assert_eq!(run["status"], "working", "{run}");
    assert_eq!(
        run["nodes"],
        json!({"greet": "succeeded", "wait": "running", "finish": "pending"}),
        "{run}"
    );
    assert_eq!(run["edges"], 2, "{run}");
    let graphs = b.run(json!({"do": "screenshot", "name": "workflow-run"}));
    assert_eq!(graphs["pageErrors"], json!([]), "{graphs}");

    // Signed in with a JWT instead of a key (sent as a bearer token): the same pages.
    let mut bearer = Browser::open(&s.admin, &dir);
    let me = bearer.sign_in(&jwt("alice", "ops"));
    assert_eq!(me["signedIn"], true, "{me}");
    assert!(me["who"].as_str().unwrap().contains("alice"), "{me}");
    let listed = bearer.run(json!({"do": "tasks", "waitTask": id}));
    assert!(
        listed["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == id.as_str()),
        "{listed}"
    );
    no_page_errors(&mut bearer);
    drop(bearer);

    // A read-only admin sees the running task but is offered no action anywhere, and the API
    // refuses the action anyway.
    let mut reader = Browser::open(&s.admin, &dir);
    let me = reader.sign_in(&s.auditor);
    assert!(me["who"].as_str().unwrap().contains("read only"), "{me}");
    let listed = reader.run(json!({"do": "tasks", "waitTask": id}));
    let row = listed["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id.as_str())
        .unwrap();
    assert_eq!(row["cancellable"], false, "{listed}");
    let form = reader.run(json!({"do": "playground", "tool": "everything__echo", "call": false}));
    assert_eq!(form["callEnabled"], false, "{form}");
    let keys = reader.run(json!({"do": "keys"}));
    assert_eq!(keys["mayCreate"], false, "{keys}");
    assert!(
        keys["keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["revocable"] == false),
        "{keys}"
    );
    let config = reader.run(json!({"do": "config"}));
    assert_eq!(config["mayReload"], false, "{config}");
    let tour = reader.run(json!({"do": "tour"}));
    for (name, page) in tour
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| *k != "pageErrors")
    {
        assert!(
            page["actions"]
                .as_array()
                .unwrap()
                .iter()
                .all(|a| a["enabled"] == false),
            "{name} offers a read-only admin an action: {tour}"
        );
    }
    no_page_errors(&mut reader);
    let api = format!("{}/admin/api", s.admin);
    let http = reqwest::Client::new();
    let refused = rt.block_on(async {
        http.post(format!("{api}/tasks/{id}/cancel"))
            .header("x-api-key", &s.auditor)
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(refused, 403);

    // Cancelled from the tasks page: the run stops.
    let cancelled = b.run(json!({"do": "tasks", "waitTask": id, "cancel": id}));
    let row = cancelled["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id.as_str())
        .unwrap();
    assert_eq!(row["status"], "cancelled", "{cancelled}");
    let after = b.run(json!({"do": "task", "id": id, "shot": "workflow-cancelled"}));
    assert_eq!(after["status"], "cancelled", "{after}");
    assert_eq!(after["cancellable"], false, "{after}");
    // The step the cancel cut shows cancelled; the one after it never ran.
    assert_eq!(
        after["nodes"],
        json!({"greet": "succeeded", "wait": "cancelled", "finish": "pending"}),
        "{after}"
    );
    no_page_errors(&mut b);

    // An admin key revoked while its page is open: the page signs out, saying why.
    let spare = keys_cli(
        &s.gw.config,
        &["create", "--name", "spare", "--role", "ops"],
    );
    let mut doomed = Browser::open(&s.admin, &dir);
    assert_eq!(doomed.sign_in(&spare)["signedIn"], true);
    doomed.run(json!({"do": "overview"}));
    let spare_id = rt.block_on(key_id(&api, &s.ops, "spare"));
    let gone = rt.block_on(async {
        http.delete(format!("{api}/keys/{spare_id}"))
            .header("x-api-key", &s.ops)
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(gone, 200);
    let out = doomed.run(json!({"do": "waitSignedOut", "timeoutMs": 20000}));
    assert_eq!(out["signedIn"], false, "{out}");
    assert!(out["error"].as_str().unwrap().contains("refused"), "{out}");
}
