//! OpenAPI tools against Stoplight Prism (`prism mock SPEC --errors`), which serves a real
//! document as a mock API and validates every request against it: a request the gateway builds
//! wrongly (path, query style, a missing header, a body that breaks the schema, the wrong
//! content type) gets a 4xx naming the violation, which the tool result would carry as an
//! error. GitHub's whole document (`@octokit/openapi`) and the company API's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

fn prism(spec: &Path) -> (Proc, String) {
    let port = free_port();
    let p = spawn(
        Command::new(node())
            .current_dir(harness())
            .arg(harness().join("node_modules/.bin/prism"))
            .args([
                "mock",
                "--errors",
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .arg(spec),
    );
    // Prism reads GitHub's 10 MB document before it listens.
    wait_port(port, Duration::from_secs(90));
    (p, format!("http://127.0.0.1:{port}"))
}

fn github_spec() -> std::path::PathBuf {
    harness().join("node_modules/@octokit/openapi/generated/api.github.com.json")
}

/// A tool result Prism accepted: no `isError` (a request violation would be a 4xx result).
fn accepted(r: &Answer, what: &str) -> Value {
    let result = &r.body["result"];
    assert!(
        result.is_object() && result.get("isError").is_none(),
        "{what}: {}",
        r.body
    );
    result.clone()
}

#[tokio::test]
async fn requests_built_from_githubs_document_conform_to_it() {
    let (_prism, base) = prism(&github_spec());
    // Prism itself refuses a request that breaks the document (here: `q` is required).
    let direct = reqwest::get(format!("{base}/search/repositories?per_page=5"))
        .await
        .unwrap();
    assert_eq!(
        direct.status().as_u16(),
        422,
        "Prism does not validate requests"
    );

    let gw = Gateway::start(&format!(
        "servers:
  github:
    openapi: '{}'
    base_url: '{base}'
    headers: {{Authorization: 'Bearer not-a-real-token'}}
    init_timeout: 2m
    operations:
      include: [search/repos, users/get-by-username, repos/list-for-org, issues/create, markdown/render-raw, issues/list-for-repo]
",
        github_spec().display()
    ));
    let r = tool_call(
        &gw.url,
        &[],
        "github__search_repos",
        json!({"q": "gateway language:rust", "sort": "stars", "order": "desc", "per_page": 5}),
    )
    .await;
    let result = accepted(&r, "search/repos");
    assert!(
        result["structuredContent"].get("total_count").is_some(),
        "{result}"
    );
    let r = tool_call(
        &gw.url,
        &[],
        "github__users_get-by-username",
        json!({"username": "octocat"}),
    )
    .await;
    accepted(&r, "users/get-by-username");
    let r = tool_call(
        &gw.url,
        &[],
        "github__repos_list-for-org",
        json!({"org": "rust-lang", "type": "public", "per_page": 2, "page": 1}),
    )
    .await;
    accepted(&r, "repos/list-for-org");
    // Query arrays, enums and a comma-joined list in GitHub's style.
    let r = tool_call(
        &gw.url,
        &[],
        "github__issues_list-for-repo",
        json!({"owner": "octo", "repo": "hello", "state": "open", "labels": "bug,ui", "per_page": 10}),
    )
    .await;
    accepted(&r, "issues/list-for-repo");
    // A JSON body merged from the arguments.
    let r = tool_call(
        &gw.url,
        &[],
        "github__issues_create",
        json!({"owner": "octo", "repo": "hello", "title": "Found a bug", "body": "steps…", "labels": ["bug"]}),
    )
    .await;
    accepted(&r, "issues/create");
    // A text body, sent as the type the document names.
    let r = tool_call(
        &gw.url,
        &[],
        "github__markdown_render-raw",
        json!({"body": "# Hello"}),
    )
    .await;
    accepted(&r, "markdown/render-raw");
}

#[tokio::test]
async fn requests_built_from_the_company_document_conform_to_it() {
    let spec = repo().join("examples/specs/company.openapi.yaml");
    let (_prism, base) = prism(&spec);
    let gw = Gateway::start(&format!(
        "servers:\n  company: {{openapi: '{}', base_url: '{base}'}}\n",
        spec.display()
    ));
    let r = tool_call(
        &gw.url,
        &[],
        "company__get_employee_info",
        json!({"employee_id": "E001"}),
    )
    .await;
    let result = accepted(&r, "get_employee_info");
    assert!(
        result["structuredContent"].get("name").is_some(),
        "{result}"
    );
    let r = tool_call(
        &gw.url,
        &[],
        "company__search_employees",
        json!({"department": "research", "limit": 3}),
    )
    .await;
    accepted(&r, "search_employees");
    let r = tool_call(
        &gw.url,
        &[],
        "company__update_project_status",
        json!({"project_id": "p1", "X-Request-Source": "agent", "status": "done", "note": "shipped"}),
    )
    .await;
    accepted(&r, "update_project_status");
}
