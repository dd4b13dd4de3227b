//! The admin API on the admin listener (`/admin/api`): who gets in (an admin credential: an
//! API key or JWT whose role is granted `admin:read` or `admin:*`; `*` alone is not enough,
//! nobody without `auth:`), what a read-only role may not do, every action in the audit trail,
//! and every answer checked against the OpenAPI document the gateway serves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::admin::{call, call_with, conforms};
use common::tasks::{bench_task_gateway, call_as_task, task_method};
use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn the_admin_api_needs_an_admin_credential_and_answers_as_documented() {
    let dir = scratch_dir("admin-api");
    let yaml = format!(
        "auth:\n  api_keys: {{file: \"{keys}\"}}\n  anonymous_role: viewer\nroles:\n  ops: {{allow: [\"*\", \"admin:*\"]}}\n  auditor: {{allow: [\"admin:read\"]}}\n  dev: {{allow: [\"*\"]}}\n  viewer: {{allow: [\"up__echo\"]}}\nadmin: {{listen: \"127.0.0.1:0\"}}\naudit: {{sink: jsonl, path: \"{audit}\"}}\nroutes:\n  any_echo: {{candidates: [{{tool: up__echo}}]}}\nservers:\n{up}",
        keys = dir.join("keys.json").display(),
        audit = dir.join("audit.jsonl").display(),
        up = stdio_entry("up", &workspace_bin("bench-upstream"), &[]),
    );
    let gw = Gateway::start(&yaml);
    let key = |role: &str| keys_cli(&gw.config, &["create", "--name", role, "--role", role]);
    let (ops, auditor, dev) = (key("ops"), key("auditor"), key("dev"));
    let api = format!("{}/admin/api", gw.admin.as_ref().unwrap());
    let get = reqwest::Method::GET;
    let post = reqwest::Method::POST;

    // The document, for an admin that may read.
    let (status, _, doc) = call(
        get.clone(),
        &format!("{api}/openapi.json"),
        Some(("x-api-key", &auditor)),
    )
    .await;
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["openapi"], "3.1.0");

    // No credential (the anonymous role does not count), a bad one, one whose role has no
    // admin access — `*` alone is not enough.
    for (auth, expect, says) in [
        (None, 401, "needs a credential"),
        (Some(("x-api-key", "sb_not_a_key")), 401, "refused"),
        (Some(("x-api-key", dev.as_str())), 403, "no admin access"),
    ] {
        for (method, path) in [
            (get.clone(), "/servers"),
            (get.clone(), "/whoami"),
            (get.clone(), "/openapi.json"),
            (post.clone(), "/reload"),
        ] {
            let (status, headers, body) = call(method.clone(), &format!("{api}{path}"), auth).await;
            assert_eq!(status, expect, "{method} {path} with {auth:?}: {body}");
            assert!(
                body["error"].as_str().unwrap().contains(says),
                "{method} {path}: {body}"
            );
            if expect == 401 {
                assert!(headers.contains_key("www-authenticate"), "{path}");
            }
            conforms(&doc, &method.as_str().to_lowercase(), path, status, &body);
        }
    }

    // Two credentials at once are refused, not guessed between.
    let both = reqwest::Client::new()
        .get(format!("{api}/whoami"))
        .header("x-api-key", &auditor)
        .header("authorization", "Bearer sb_other")
        .send()
        .await
        .unwrap();
    assert_eq!(both.status(), 401);
    let body: Value = both.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("send one"),
        "{body}"
    );

    // A read-only admin sees, and may not act.
    let reader = Some(("x-api-key", auditor.as_str()));
    let (status, _, me) = call(get.clone(), &format!("{api}/whoami"), reader).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["role"], "auditor");
    assert_eq!(me["access"], "read");
    conforms(&doc, "get", "/whoami", status, &me);
    let (status, _, servers) = call(get.clone(), &format!("{api}/servers"), reader).await;
    assert_eq!(status, 200, "{servers}");
    conforms(&doc, "get", "/servers", status, &servers);
    let up = &servers["servers"][0];
    assert_eq!(up["name"], "up", "{servers}");
    assert_eq!(up["state"], "ready", "{servers}");
    assert_eq!(up["ready"], true, "{servers}");
    assert_eq!(up["era"], "legacy", "{servers}");
    let (status, _, body) = call(post.clone(), &format!("{api}/reload"), reader).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("not act"),
        "{body}"
    );
    conforms(&doc, "post", "/reload", status, &body);

    // A full admin acts, with the key as a bearer token too.
    let bearer = format!("Bearer {ops}");
    let (status, _, body) = call(
        post.clone(),
        &format!("{api}/reload"),
        Some(("authorization", &bearer)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["reloaded"], true, "{body}");
    conforms(&doc, "post", "/reload", status, &body);
    let (status, _, me) = call(
        get.clone(),
        &format!("{api}/whoami"),
        Some(("authorization", &bearer)),
    )
    .await;
    assert_eq!((status, me["access"].as_str()), (200, Some("full")), "{me}");

    // Every action is in the audit trail, refused ones too, with who tried.
    let trail = std::fs::read_to_string(dir.join("audit.jsonl")).unwrap();
    let reloads: Vec<Value> = trail
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["method"] == "admin/reload")
        .collect();
    let seen = |role: &str, outcome: &str| {
        reloads
            .iter()
            .any(|r| r["role"] == role && r["outcome"] == outcome && r["transport"] == "admin")
    };
    assert!(seen("ops", "ok"), "{reloads:?}");
    assert!(seen("auditor", "denied"), "{reloads:?}");
    assert!(seen("dev", "denied"), "{reloads:?}");
    assert!(
        reloads.iter().any(|r| r["outcome"] == "unauthenticated"),
        "{reloads:?}"
    );
    // Reads are not actions.
    assert!(!trail.contains("admin/servers"), "{trail}");

    // Live figures per tool: calls made after the first look show up in the next one.
    let (status, _, first) = call(get.clone(), &format!("{api}/stats?window=1m"), reader).await;
    assert_eq!(status, 200, "{first}");
    conforms(&doc, "get", "/stats", status, &first);
    for _ in 0..3 {
        let r = tool_call(
            &gw.url,
            &[("x-api-key", &ops)],
            "up__echo",
            json!({"text": "x"}),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let (status, _, later) = call(get.clone(), &format!("{api}/stats?window=1m"), reader).await;
    assert_eq!(status, 200, "{later}");
    conforms(&doc, "get", "/stats", status, &later);
    let echo = later["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tool"] == "up__echo")
        .unwrap_or_else(|| panic!("{later}"));
    assert!(echo["calls"].as_u64().unwrap() >= 3, "{later}");
    assert!(echo["p99_ms"].as_f64().unwrap() > 0.0, "{later}");
    let (status, _, bad) = call(get.clone(), &format!("{api}/stats?window=2h"), reader).await;
    assert_eq!(status, 400, "{bad}");
    conforms(&doc, "get", "/stats", status, &bad);

    // The catalogue as a role sees it.
    let (status, _, seen) = call(get.clone(), &format!("{api}/catalog?role=viewer"), reader).await;
    assert_eq!(status, 200, "{seen}");
    conforms(&doc, "get", "/catalog", status, &seen);
    let names: Vec<&str> = seen["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["up__echo"], "{seen}");
    let (status, _, all) = call(get.clone(), &format!("{api}/catalog?role=ops"), reader).await;
    assert_eq!(status, 200, "{all}");
    assert!(all["tools"].as_array().unwrap().len() > 3, "{all}");
    let (status, _, none) = call(get.clone(), &format!("{api}/catalog?role=nobody"), reader).await;
    assert_eq!(status, 404, "{none}");
    conforms(&doc, "get", "/catalog", status, &none);

    // Routes, the config (its key file path shown, no secret in it), the audit trail searched
    // and verified — for a reader.
    let (status, _, routes) = call(get.clone(), &format!("{api}/routes"), reader).await;
    assert_eq!(status, 200, "{routes}");
    conforms(&doc, "get", "/routes", status, &routes);
    let candidate = &routes["routes"][0]["candidates"][0];
    assert_eq!(routes["routes"][0]["name"], "any_echo", "{routes}");
    assert_eq!(candidate["tool"], "up__echo", "{routes}");
    assert_eq!(candidate["available"], true, "{routes}");
    assert_eq!(candidate["breaker"], "closed", "{routes}");
    let (status, _, config) = call(get.clone(), &format!("{api}/config"), reader).await;
    assert_eq!(status, 200, "{config}");
    conforms(&doc, "get", "/config", status, &config);
    assert!(config["auth"]["api_keys"]["file"].is_string(), "{config}");
    let (status, _, found) = call(
        get.clone(),
        &format!("{api}/audit?q=admin/reload&limit=2"),
        reader,
    )
    .await;
    assert_eq!(status, 200, "{found}");
    conforms(&doc, "get", "/audit", status, &found);
    assert!(found["matched"].as_u64().unwrap() >= 4, "{found}");
    assert_eq!(found["records"].as_array().unwrap().len(), 2, "{found}");
    let (status, _, bad) = call(get.clone(), &format!("{api}/audit?limit=0"), reader).await;
    assert_eq!(status, 400, "{bad}");
    conforms(&doc, "get", "/audit", status, &bad);
    let (status, _, checked) = call(get.clone(), &format!("{api}/audit/verify"), reader).await;
    assert_eq!(status, 200, "{checked}");
    conforms(&doc, "get", "/audit/verify", status, &checked);
    assert_eq!(checked["intact"], true, "{checked}");

    // The unauthenticated operator endpoints are as they were.
    let (status, _, _) = call(
        get.clone(),
        &format!("{}/metrics", gw.admin.as_ref().unwrap()),
        None,
    )
    .await;
    assert_eq!(status, 200);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn without_auth_nobody_administers_and_the_config_says_so() {
    let gw = Gateway::start(&format!(
        "admin: {{listen: \"127.0.0.1:0\"}}\nservers:\n{}",
        stdio_entry("up", &workspace_bin("bench-upstream"), &[])
    ));
    let api = format!("{}/admin/api", gw.admin.as_ref().unwrap());
    let (status, _, body) = call(reqwest::Method::GET, &format!("{api}/servers"), None).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("needs `auth:`"),
        "{body}"
    );

    // An admin permission for callers without a credential, or a misspelt one, is refused.
    let bad = tmp_file(
        "admin-anonymous.yaml",
        "auth:\n  anonymous_role: everyone\nroles:\n  everyone: {allow: [\"admin:read\"]}\n  ops: {allow: [\"admin:write\"]}\nservers: {}\n",
    );
    let out = std::process::Command::new(switchboard())
        .args(["check", "--offline", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("anyone without a credential"), "{text}");
    assert!(
        text.contains("`admin:write` is not an admin permission"),
        "{text}"
    );
}

#[tokio::test]
async fn keys_are_listed_created_and_revoked_through_the_admin_api() {
    let dir = scratch_dir("admin-api-keys");
    let yaml = format!(
        "auth:\n  api_keys: {{file: \"{keys}\"}}\nroles:\n  ops: {{allow: [\"admin:*\"]}}\n  auditor: {{allow: [\"admin:read\"]}}\n  viewer: {{allow: [\"up__echo\"]}}\nadmin: {{listen: \"127.0.0.1:0\"}}\nservers:\n{up}",
        keys = dir.join("keys.json").display(),
        up = stdio_entry("up", &workspace_bin("bench-upstream"), &[]),
    );
    let gw = Gateway::start(&yaml);
    let ops = keys_cli(&gw.config, &["create", "--name", "ops", "--role", "ops"]);
    let auditor = keys_cli(
        &gw.config,
        &["create", "--name", "aud", "--role", "auditor"],
    );
    let api = format!("{}/admin/api", gw.admin.as_ref().unwrap());
    let (_, _, doc) = call(
        reqwest::Method::GET,
        &format!("{api}/openapi.json"),
        Some(("x-api-key", &ops)),
    )
    .await;
    let as_ops = Some(("x-api-key", ops.as_str()));
    let post = |auth: Option<(&'static str, String)>, body: &str| {
        let (api, body) = (api.clone(), body.to_owned());
        async move {
            let auth = auth.as_ref().map(|(k, v)| (*k, v.as_str()));
            call_with(
                reqwest::Method::POST,
                &format!("{api}/keys"),
                auth,
                Some(body),
            )
            .await
        }
    };
    let ops_auth = Some(("x-api-key", ops.clone()));

    // Created, and usable at /mcp at once.
    let (status, _, made) = post(ops_auth.clone(), r#"{"name":"temp","role":"viewer"}"#).await;
    assert_eq!(status, 201, "{made}");
    conforms(&doc, "post", "/keys", status, &made);
    let temp = made["key"].as_str().unwrap().to_owned();
    echo_answers(&gw.url, &temp, 200, "new key not accepted").await;
    // Listed without secret or hash, for a reader too.
    let (status, _, list) = call(
        reqwest::Method::GET,
        &format!("{api}/keys"),
        Some(("x-api-key", &auditor)),
    )
    .await;
    assert_eq!(status, 200, "{list}");
    conforms(&doc, "get", "/keys", status, &list);
    assert!(!list.to_string().contains(&temp), "{list}");
    assert!(!list.to_string().contains("sha256"), "{list}");
    assert!(
        list["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["name"] == "temp")
    );

    // Refused, clearly: a reader acting, bad bodies, an unknown role, a taken name, too large.
    let reader = Some(("x-api-key", auditor.clone()));
    for (auth, body, status, says) in [
        (
            reader.clone(),
            r#"{"name":"x","role":"viewer"}"#.to_owned(),
            403,
            "not act",
        ),
        (
            ops_auth.clone(),
            "{not json".to_owned(),
            400,
            "the body must be",
        ),
        (ops_auth.clone(), r#"{"name":"x"}"#.to_owned(), 422, "role"),
        (
            ops_auth.clone(),
            r#"{"name":"x","role":"viewer","extra":1}"#.to_owned(),
            422,
            "extra",
        ),
        (
            ops_auth.clone(),
            r#"{"name":"x","role":"root"}"#.to_owned(),
            409,
            "not defined",
        ),
        (
            ops_auth.clone(),
            r#"{"name":"temp","role":"viewer"}"#.to_owned(),
            409,
            "exists",
        ),
        (
            ops_auth.clone(),
            format!(r#"{{"name":"{}","role":"viewer"}}"#, "x".repeat(20_000)),
            413,
            "the body must be",
        ),
    ] {
        let (got, _, answer) = post(auth, &body).await;
        assert_eq!(got, status, "{body:.60}: {answer}");
        assert!(answer["error"].as_str().unwrap().contains(says), "{answer}");
        conforms(&doc, "post", "/keys", got, &answer);
    }

    // Revoked: refused at /mcp within a second or so; an unknown key is a 404.
    let id = made["id"].as_str().unwrap();
    let (status, _, gone) =
        call(reqwest::Method::DELETE, &format!("{api}/keys/{id}"), as_ops).await;
    assert_eq!(status, 200, "{gone}");
    conforms(&doc, "delete", "/keys/{id}", status, &gone);
    assert!(gone["revoked"]["revoked"].is_string(), "{gone}");
    echo_answers(&gw.url, &temp, 401, "a revoked key still works").await;
    let (status, _, missing) =
        call(reqwest::Method::DELETE, &format!("{api}/keys/nope"), as_ops).await;
    assert_eq!(status, 404, "{missing}");
    conforms(&doc, "delete", "/keys/{id}", status, &missing);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn tasks_are_listed_inspected_and_cancelled_through_the_admin_api() {
    let dir = scratch_dir("admin-api-tasks");
    let gw = bench_task_gateway(
        &dir,
        &format!(
            "auth:\n  api_keys: {{file: \"{}\"}}\nroles:\n  ops: {{allow: [\"admin:*\"]}}\n  auditor: {{allow: [\"admin:read\"]}}\n  user: {{allow: [\"*\"]}}\nadmin: {{listen: \"127.0.0.1:0\"}}\n",
            dir.join("keys.json").display()
        ),
    );
    let key = |name: &str| keys_cli(&gw.config, &["create", "--name", name, "--role", name]);
    let (ops, auditor, user) = (key("ops"), key("auditor"), key("user"));
    let api = format!("{}/admin/api", gw.admin.as_ref().unwrap());
    let (_, _, doc) = call(
        reqwest::Method::GET,
        &format!("{api}/openapi.json"),
        Some(("x-api-key", &ops)),
    )
    .await;
    // The user's key is picked up from the file within a second.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let created = loop {
        let r = call_as_task(&gw.url, Some(&user), "bench__slow", json!({"ms": 30000})).await;
        if r["result"]["taskId"].is_string() {
            break r;
        }
        assert!(std::time::Instant::now() < deadline, "{r}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let id = created["result"]["taskId"].as_str().unwrap().to_owned();
    let reader = Some(("x-api-key", auditor.as_str()));
    let get = reqwest::Method::GET;

    let (status, _, page) = call(get.clone(), &format!("{api}/tasks?owner=key:user"), reader).await;
    assert_eq!(status, 200, "{page}");
    conforms(&doc, "get", "/tasks", status, &page);
    assert_eq!(page["tasks"][0]["taskId"], id.as_str(), "{page}");
    assert_eq!(page["tasks"][0]["tool"], "bench__slow", "{page}");
    let (status, _, task) = call(get.clone(), &format!("{api}/tasks/{id}"), reader).await;
    assert_eq!(status, 200, "{task}");
    conforms(&doc, "get", "/tasks/{id}", status, &task);
    assert_eq!(task["owner"], "key:user", "{task}");
    assert_eq!(task["status"], "working", "{task}");
    // Without an owner: every owner's tasks.
    let (status, _, all) = call(get.clone(), &format!("{api}/tasks"), reader).await;
    assert_eq!(status, 200, "{all}");
    conforms(&doc, "get", "/tasks", status, &all);
    assert_eq!(all["tasks"][0]["taskId"], id.as_str(), "{all}");
    for (url, status) in [
        (format!("{api}/tasks/nope"), 404),
        (format!("{api}/tasks?limit=0"), 400),
        (format!("{api}/tasks?owner=x&limit=500"), 400),
    ] {
        let (got, _, body) = call(get.clone(), &url, reader).await;
        assert_eq!(got, status, "{url}: {body}");
        let path = if url.contains("/tasks/") {
            "/tasks/{id}"
        } else {
            "/tasks"
        };
        conforms(&doc, "get", path, got, &body);
    }

    // A reader may not cancel; an admin may, and the owner sees it cancelled.
    let cancel = format!("{api}/tasks/{id}/cancel");
    let (status, _, body) = call(reqwest::Method::POST, &cancel, reader).await;
    assert_eq!(status, 403, "{body}");
    conforms(&doc, "post", "/tasks/{id}/cancel", status, &body);
    let (status, _, task) = call(reqwest::Method::POST, &cancel, Some(("x-api-key", &ops))).await;
    assert_eq!(status, 200, "{task}");
    conforms(&doc, "post", "/tasks/{id}/cancel", status, &task);
    assert_eq!(task["status"], "cancelled", "{task}");
    let seen = task_method(&gw.url, Some(&user), "tasks/get", &id).await;
    assert_eq!(seen["result"]["status"], "cancelled", "{seen}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Schemathesis (PyPI) generates requests for every route of the document — valid ones,
/// invalid ones, with and without credentials, in sequences — and checks every answer against
/// the document: status codes, content types, bodies, no server error, invalid data refused,
/// valid data accepted, bad credentials refused.
#[test]
fn schemathesis_finds_no_answer_the_document_does_not_describe() {
    let dir = scratch_dir("admin-api-schemathesis");
    let gw = Gateway::start(&format!(
        "auth:\n  api_keys: {{file: \"{keys}\"}}\nroles:\n  ops: {{allow: [\"*\", \"admin:*\"]}}\n  viewer: {{allow: [\"up__echo\"]}}\nadmin: {{listen: \"127.0.0.1:0\"}}\naudit: {{path: \"{audit}\"}}\ntasks: {{path: \"{tasks}\", tools: {{\"up__slow\": {{mode: optional}}}}}}\nroutes:\n  any_echo: {{candidates: [{{tool: up__echo}}]}}\nservers:\n{up}",
        keys = dir.join("keys.json").display(),
        audit = dir.join("audit.db").display(),
        tasks = dir.join("tasks.db").display(),
        up = stdio_entry("up", &workspace_bin("bench-upstream"), &[]),
    ));
    let key = keys_cli(&gw.config, &["create", "--name", "ops", "--role", "ops"]);
    let api = format!("{}/admin/api", gw.admin.as_ref().unwrap());
    let out = std::process::Command::new(harness().join(".venv/bin/schemathesis"))
        .current_dir(&dir)
        .args(["run", &format!("{api}/openapi.json"), "--url", &api])
        .args(["-H", &format!("X-API-Key: {key}")])
        .args(["--checks", "all", "--max-examples", "20", "--seed", "1"])
        .output()
        .unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    // Every route of the document tried but the one serving the document, which Schemathesis
    // leaves out of a run it loaded from that route (the report aligns columns with spaces).
    let words = said.split_whitespace().collect::<Vec<_>>().join(" ");
    let routes = doc_routes() - 1;
    assert!(
        words.contains(&format!("Tested: {routes}")),
        "not every one of the {routes} routes was tried: {said}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// How many operations the admin API's OpenAPI document describes.
fn doc_routes() -> usize {
    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("crates/admin/src/openapi.json")).unwrap(),
    )
    .unwrap();
    doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_object().unwrap().len())
        .sum()
}

#[tokio::test]
async fn a_workflow_runs_steps_show_through_the_admin_api() {
    let dir = scratch_dir("admin-api-workflow");
    let gw = Gateway::start(&format!(
        r#"auth:
  api_keys: {{file: "{keys}"}}
roles:
  ops: {{allow: ["*", "admin:*"]}}
admin: {{listen: "127.0.0.1:0"}}
tasks: {{path: "{tasks}", poll_interval: 100ms}}
servers:
{up}workflows:
  two:
    task: true
    steps:
      - id: first
        tool: up__echo
        args: {{text: one}}
      - id: second
        tool: up__echo
        needs: [first]
        args: {{text: "${{{{ .steps.first.result }}}}-two"}}
"#,
        keys = dir.join("keys.json").display(),
        tasks = dir.join("tasks.db").display(),
        up = stdio_entry("up", &workspace_bin("bench-upstream"), &[]),
    ));
    let ops = keys_cli(&gw.config, &["create", "--name", "ops", "--role", "ops"]);
    let api = format!("{}/admin/api", gw.admin.as_ref().unwrap());
    let auth = Some(("x-api-key", ops.as_str()));
    let (_, _, doc) = call(reqwest::Method::GET, &format!("{api}/openapi.json"), auth).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let created = loop {
        let r = call_as_task(&gw.url, Some(&ops), "workflows__two", json!({})).await;
        if r["result"]["taskId"].is_string() {
            break r;
        }
        assert!(std::time::Instant::now() < deadline, "{r}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let id = created["result"]["taskId"].as_str().unwrap().to_owned();
    // Until the run ends, then its steps, in order.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let task = loop {
        let (status, _, t) = call(reqwest::Method::GET, &format!("{api}/tasks/{id}"), auth).await;
        assert_eq!(status, 200, "{t}");
        if t["status"] == "completed" {
            break t;
        }
        assert!(std::time::Instant::now() < deadline, "{t}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    conforms(&doc, "get", "/tasks/{id}", 200, &task);
    assert_eq!(task["run"]["order"], json!(["first", "second"]), "{task}");
    assert_eq!(
        task["run"]["steps"]["second"]["status"], "succeeded",
        "{task}"
    );
    // The workflow's graph, to draw the run on.
    let (status, _, workflows) =
        call(reqwest::Method::GET, &format!("{api}/workflows"), auth).await;
    assert_eq!(status, 200, "{workflows}");
    conforms(&doc, "get", "/workflows", status, &workflows);
    let two = &workflows["workflows"][0];
    assert_eq!(two["name"], "two", "{workflows}");
    assert_eq!(two["steps"][1]["needs"], json!(["first"]), "{workflows}");
    std::fs::remove_dir_all(&dir).unwrap();
}
