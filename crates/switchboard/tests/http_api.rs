//! HTTP API tools (`http_tools:`): the gateway serves a plain HTTP/JSON service's endpoints as
//! MCP tools itself. A real HTTP service (tests/harness/servers/company_http_api.py) on the
//! other side; clients through the gateway's Streamable HTTP endpoint and the Python SDK.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

fn api() -> (Proc, String) {
    let port = free_port();
    let p = spawn(
        Command::new(python())
            .arg(harness().join("servers/company_http_api.py"))
            .arg(port.to_string()),
    );
    wait_port(port, Duration::from_secs(30));
    (p, format!("http://127.0.0.1:{port}"))
}

fn config(base: &str) -> String {
    format!(
        r#"
servers:
  company:
    base_url: {base}
    headers: {{X-Api-Key: key-for-the-api}}
    max_response_bytes: 400
    timeout: 2s
    http_tools:
      get_employee_info:
        description: Employee record by id
        path: /employees/{{employee_id}}
        input_schema: {{type: object, properties: {{employee_id: {{type: string}}}}, required: [employee_id]}}
        response: '{{name, department, role, projects: .current_projects}}'
      search_employees:
        path: /employees
        input_schema: {{type: object, properties: {{department: {{type: string}}, limit: {{type: integer, minimum: 1}}}}}}
      update_project_status:
        method: POST
        path: /projects/{{project_id}}/status
        headers: {{X-Request-Source: '{{source}}'}}
        input_schema:
          type: object
          properties: {{project_id: {{type: string}}, status: {{type: string, enum: [planned, active, done]}}, note: {{type: string}}, source: {{type: string}}}}
          required: [project_id, status, source]
      search: {{path: /search, input_schema: {{type: object, properties: {{q: {{type: string}}, tag: {{type: array, items: {{type: string}}}}}}}}}}
      file: {{path: '/files/{{name}}'}}
      boom: {{path: /boom}}
      logo: {{path: /logo}}
      headers: {{path: /headers}}
      override: {{path: /headers, headers: {{X-Api-Key: '{{k}}'}}, input_schema: {{type: object, properties: {{k: {{type: string}}}}}}}}
      slow: {{path: /slow, input_schema: {{type: object, properties: {{ms: {{type: integer}}}}}}}}
  offline:
    base_url: http://127.0.0.1:1
    http_tools:
      anything: {{path: /x}}
"#
    )
}

async fn stats(base: &str) -> Value {
    reqwest::get(format!("{base}/stats"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn text(r: &Value) -> &str {
    r["content"][0]["text"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn http_tools_are_listed_called_shaped_and_fail_as_tool_results() {
    let (_api, base) = api();
    let gw = Gateway::start(&config(&base));
    let list = modern(&gw.url, &[], "tools/list", None, json!({})).await;
    let tools = list.body["result"]["tools"].as_array().unwrap();
    let get = tools
        .iter()
        .find(|t| t["name"] == "company__get_employee_info")
        .unwrap_or_else(|| panic!("{}", list.body));
    assert_eq!(get["description"], "Employee record by id");
    assert_eq!(get["annotations"]["readOnlyHint"], true);
    let update = tools
        .iter()
        .find(|t| t["name"] == "company__update_project_status")
        .unwrap();
    assert_eq!(update["annotations"]["readOnlyHint"], false);
    // A declared tool without a schema gets its path placeholders as required strings.
    let file = tools.iter().find(|t| t["name"] == "company__file").unwrap();
    assert_eq!(file["inputSchema"]["required"], json!(["name"]));

    // A GET, shaped by its jq expression: structured content without the salary.
    let r = tool_call(
        &gw.url,
        &[],
        "company__get_employee_info",
        json!({"employee_id": "E001"}),
    )
    .await;
    let result = &r.body["result"];
    assert_eq!(
        result["structuredContent"],
        json!({"name": "Ada Lovelace", "department": "engineering", "role": "staff engineer", "projects": ["analytical-engine", "notes-g"]}),
        "{}",
        r.body
    );
    assert!(!text(result).contains("185000"));
    // The second identical call is the cache's (GET tools are read-only and idempotent).
    tool_call(
        &gw.url,
        &[],
        "company__get_employee_info",
        json!({"employee_id": "E001"}),
    )
    .await;
    assert_eq!(stats(&base).await["GET /employees/E001"], 1);

    // An unknown employee: the API's 404 is the tool's error, with what it said.
    let r = tool_call(
        &gw.url,
        &[],
        "company__get_employee_info",
        json!({"employee_id": "E999"}),
    )
    .await;
    assert_eq!(r.body["result"]["isError"], true, "{}", r.body);
    assert!(
        text(&r.body["result"]).contains("HTTP 404 Not Found from GET /employees/E999"),
        "{}",
        r.body
    );

    // Arguments that break the schema never reach the API.
    let before = stats(&base).await;
    let r = tool_call(
        &gw.url,
        &[],
        "company__search_employees",
        json!({"limit": 0}),
    )
    .await;
    assert_eq!(r.body["error"]["code"], -32602, "{}", r.body);
    assert_eq!(stats(&base).await, before);

    // Query arguments, and answers cut at max_response_bytes with a note.
    let r = tool_call(
        &gw.url,
        &[],
        "company__search_employees",
        json!({"department": "research"}),
    )
    .await;
    assert_eq!(
        r.body["result"]["structuredContent"]["count"], 1,
        "{}",
        r.body
    );
    let r = tool_call(&gw.url, &[], "company__search_employees", json!({})).await;
    assert!(
        text(&r.body["result"]).contains("max_response_bytes"),
        "{}",
        r.body
    );
    let r = tool_call(
        &gw.url,
        &[],
        "company__search",
        json!({"q": "a b&c", "tag": ["x", "y"]}),
    )
    .await;
    assert_eq!(
        r.body["result"]["structuredContent"],
        json!({"q": "a b&c", "tags": ["x", "y"]})
    );

    // A POST: JSON body from the other arguments, a header from an argument.
    let r = tool_call(
        &gw.url,
        &[],
        "company__update_project_status",
        json!({"project_id": "p 1", "status": "done", "note": "shipped", "source": "agent"}),
    )
    .await;
    assert_eq!(
        r.body["result"]["structuredContent"],
        json!({"project": "p 1", "status": "done", "note": "shipped", "source": "agent", "updated": true}),
        "{}",
        r.body
    );
    assert_eq!(stats(&base).await["POST /projects/p%201/status"], 1);

    // A path value cannot leave its segment.
    let r = tool_call(
        &gw.url,
        &[],
        "company__file",
        json!({"name": "../../stats"}),
    )
    .await;
    assert_eq!(
        r.body["result"]["structuredContent"]["name"], "../../stats",
        "{}",
        r.body
    );

    // HTML 500, an image, and what the API receives: its configured key, not the client's.
    let r = tool_call(&gw.url, &[], "company__boom", json!({})).await;
    assert_eq!(r.body["result"]["isError"], true);
    assert!(
        text(&r.body["result"]).contains("HTTP 500 Internal Server Error from GET /boom: <html>")
    );
    let r = tool_call(&gw.url, &[], "company__logo", json!({})).await;
    assert_eq!(r.body["result"]["content"][0]["type"], "image");
    assert_eq!(r.body["result"]["content"][0]["mimeType"], "image/png");
    let r = tool_call(
        &gw.url,
        &[("authorization", "Bearer the-clients-own-token")],
        "company__headers",
        json!({}),
    )
    .await;
    let seen = &r.body["result"]["structuredContent"];
    assert_eq!(seen["x-api-key"], "key-for-the-api", "{}", r.body);
    assert!(seen.get("authorization").is_none(), "{seen}");
    // An argument cannot replace a header the entry sets (its credentials, its tenant).
    let r = tool_call(
        &gw.url,
        &[],
        "company__override",
        json!({"k": "attackers-key"}),
    )
    .await;
    assert_eq!(
        r.body["result"]["structuredContent"]["x-api-key"], "key-for-the-api",
        "{}",
        r.body
    );

    // An API that is down: the tool's error names it; a slow one: the server's timeout.
    let r = tool_call(&gw.url, &[], "offline__anything", json!({})).await;
    assert_eq!(r.body["result"]["isError"], true, "{}", r.body);
    assert!(
        text(&r.body["result"]).contains("could not be reached"),
        "{}",
        r.body
    );
    let r = tool_call(&gw.url, &[], "company__slow", json!({"ms": 5000})).await;
    assert_eq!(r.body["error"]["code"], -32003, "{}", r.body);
    // …and every other tool still answers.
    let r = tool_call(&gw.url, &[], "company__search", json!({"q": "still here"})).await;
    assert_eq!(r.body["result"]["structuredContent"]["q"], "still here");
}

#[test]
fn the_python_sdk_lists_and_calls_http_tools() {
    let (_api, base) = api();
    let gw = Gateway::start(&config(&base));
    let out = py_client(
        &["--url", &gw.url],
        &[("company__get_employee_info", r#"{"employee_id": "E002"}"#)],
    );
    let tools: Vec<&str> = out["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t.as_str().or_else(|| t["name"].as_str()))
        .collect();
    assert!(tools.contains(&"company__get_employee_info"), "{out}");
    let c = call(&out, "company__get_employee_info");
    assert!(c.to_string().contains("Grace Hopper"), "{c}");
    assert!(!c.to_string().contains("210000"), "{c}");
}

#[test]
fn a_bad_http_tool_entry_is_refused_at_check_with_its_key() {
    let bad = tmp_file(
        "bad-http-api.yaml",
        "servers:\n  api:\n    http_tools:\n      t: {path: 'employees/{id', method: FETCH}\n",
    );
    let out = Command::new(switchboard())
        .args(["check", "--offline", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    for needle in [
        "servers.api.base_url",
        "servers.api.http_tools.t.method",
        "servers.api.http_tools.t.path",
    ] {
        assert!(err.contains(needle), "{needle} not in:\n{err}");
    }
}

#[tokio::test]
async fn an_openapi_document_is_served_as_tools_and_broken_ones_do_not_stop_the_rest() {
    let (_api, base) = api();
    let spec = repo().join("examples/specs/company.openapi.yaml");
    let refs = tmp_file(
        "refs.openapi.yaml",
        "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /employees/{id}:\n    get:\n      operationId: good\n      parameters: [{name: id, in: path, required: true, schema: {type: string}}]\n      responses: {'200': {description: ok}}\n  /x:\n    get:\n      operationId: bad\n      parameters: [{$ref: '#/components/parameters/Missing'}]\n      responses: {'200': {description: ok}}\n",
    );
    let gw = Gateway::start(&format!(
        "servers:
  company: {{openapi: '{}', base_url: '{base}'}}
  refs: {{openapi: '{}', base_url: '{base}'}}
  missing: {{openapi: /nonexistent/spec.yaml, base_url: '{base}'}}
  unreachable: {{openapi: 'http://127.0.0.1:1/spec.yaml', base_url: '{base}'}}
",
        spec.display(),
        refs.display()
    ));
    let list = modern(&gw.url, &[], "tools/list", None, json!({})).await;
    let result = &list.body["result"];
    let names: Vec<&str> = result["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "company__get_employee_info",
            "company__search_employees",
            "company__update_project_status",
            "refs__good"
        ],
        "{}",
        list.body
    );
    // The broken entries are reported, each with what is wrong, and named by their key.
    let down = result["_meta"]["io.switchboard/unavailable"].to_string();
    assert!(
        down.contains("missing") && down.contains("/nonexistent/spec.yaml"),
        "{down}"
    );
    assert!(
        down.contains("unreachable") && down.contains("cannot fetch it"),
        "{down}"
    );
    // Shared definitions travel under $defs.
    let search = &result["tools"][1];
    assert_eq!(
        search["outputSchema"]["properties"]["employees"]["items"]["$ref"],
        "#/$defs/Employee"
    );
    assert_eq!(
        search["outputSchema"]["$defs"]["Employee"]["required"],
        json!(["id", "name"])
    );

    // The spec's own constraints are checked before any request.
    let before = stats(&base).await;
    let r = tool_call(
        &gw.url,
        &[],
        "company__get_employee_info",
        json!({"employee_id": "X1"}),
    )
    .await;
    assert_eq!(r.body["error"]["code"], -32602, "{}", r.body);
    let r = tool_call(
        &gw.url,
        &[],
        "company__search_employees",
        json!({"limit": 500}),
    )
    .await;
    assert_eq!(r.body["error"]["code"], -32602, "{}", r.body);
    assert_eq!(stats(&base).await, before);

    let r = tool_call(
        &gw.url,
        &[],
        "company__get_employee_info",
        json!({"employee_id": "E003"}),
    )
    .await;
    assert_eq!(
        r.body["result"]["structuredContent"]["name"], "Katherine Johnson",
        "{}",
        r.body
    );
    let r = tool_call(
        &gw.url,
        &[],
        "company__search_employees",
        json!({"department": "engineering", "limit": 1}),
    )
    .await;
    assert_eq!(
        r.body["result"]["structuredContent"]["count"], 1,
        "{}",
        r.body
    );
    // A header parameter and a JSON body merged into the arguments.
    let r = tool_call(
        &gw.url,
        &[],
        "company__update_project_status",
        json!({"project_id": "p9", "X-Request-Source": "test", "status": "active"}),
    )
    .await;
    assert_eq!(
        r.body["result"]["structuredContent"],
        json!({"project": "p9", "status": "active", "note": null, "source": "test", "updated": true}),
        "{}",
        r.body
    );
    let r = tool_call(&gw.url, &[], "refs__good", json!({"id": "E001"})).await;
    assert_eq!(
        r.body["result"]["structuredContent"]["id"], "E001",
        "{}",
        r.body
    );
    // A broken entry has no tools (an unknown name, like any other); the rest keep answering.
    let r = tool_call(&gw.url, &[], "missing__anything", json!({})).await;
    assert_eq!(r.body["error"]["code"], -32602, "{}", r.body);
    assert!(
        gw.logs().contains("OpenAPI operation skipped"),
        "{}",
        gw.logs()
    );
}

#[test]
fn check_reports_what_each_document_yields_and_why_one_cannot_load() {
    let bad = tmp_file(
        "check-openapi.yaml",
        &format!(
            "servers:\n  company: {{openapi: '{}', base_url: 'http://127.0.0.1:1'}}\n  missing: {{openapi: /nonexistent/spec.yaml, base_url: 'http://127.0.0.1:1'}}\n",
            repo().join("examples/specs/company.openapi.yaml").display()
        ),
    );
    let out = Command::new(switchboard())
        .args(["check", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{all}");
    assert!(all.contains("company") && all.contains("3 tools"), "{all}");
    assert!(
        all.contains("down: servers.missing.openapi: /nonexistent/spec.yaml"),
        "{all}"
    );
}

#[tokio::test]
async fn a_changed_openapi_document_is_picked_up_by_a_watching_reload() {
    let (_api, base) = api();
    let dir = scratch_dir("openapi-reload");
    let spec = dir.join("api.yaml");
    let op = |id: &str, path: &str| {
        format!(
            "  {path}:\n    get:\n      operationId: {id}\n      responses: {{'200': {{description: ok}}}}\n"
        )
    };
    let doc =
        |ops: &str| format!("openapi: 3.0.3\ninfo: {{title: t, version: '1'}}\npaths:\n{ops}");
    std::fs::write(&spec, doc(&op("stats", "/stats"))).unwrap();
    let config = dir.join("gateway.yaml");
    std::fs::write(
        &config,
        format!(
            "reload: {{watch: true}}\nservers:\n  api: {{openapi: api.yaml, base_url: '{base}'}}\n"
        ),
    )
    .unwrap();
    let gw = Gateway::start_file(&config);
    let names = || async {
        let list = modern(&gw.url, &[], "tools/list", None, json!({})).await;
        list.body["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(names().await, ["api__stats"]);
    // The document changes; the config file does not.
    std::fs::write(
        &spec,
        doc(&format!("{}{}", op("stats", "/stats"), op("boom", "/boom"))),
    )
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while names().await.len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "not reloaded:\n{}",
            gw.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(names().await, ["api__stats", "api__boom"]);
    let r = tool_call(&gw.url, &[], "api__boom", json!({})).await;
    assert_eq!(r.body["result"]["isError"], true, "{}", r.body);
}

#[tokio::test]
async fn the_api_is_told_who_calls_by_a_signed_token_never_the_clients_key() {
    use jsonwebtoken::{DecodingKey, Validation, decode};
    const SECRET: &str = "a-secret-for-the-api-that-is-long-enough-0123";
    let (_api, base) = api();
    let dir = scratch_dir("forward-identity");
    let config = dir.join("gateway.yaml");
    std::fs::write(
        &config,
        format!(
            "auth: {{api_keys: {{file: '{}'}}}}
roles:
  analyst: {{allow: ['*']}}
servers:
  company:
    base_url: '{base}'
    forward_identity:
      jwt: {{issuer: switchboard, audience: company-api, secret: '{SECRET}', ttl: 2m}}
      header: X-Switchboard-User
      role_header: X-Switchboard-Role
    http_tools:
      headers: {{path: /headers}}
",
            dir.join("keys.json").display()
        ),
    )
    .unwrap();
    let key = keys_cli(&config, &["create", "--name", "alice", "--role", "analyst"]);
    let gw = Gateway::start_file(&config);
    let r = tool_call(
        &gw.url,
        &[("x-api-key", &key)],
        "company__headers",
        json!({}),
    )
    .await;
    let seen = &r.body["result"]["structuredContent"];
    assert_eq!(seen["x-switchboard-user"], "key:alice", "{}", r.body);
    assert_eq!(seen["x-switchboard-role"], "analyst");
    // The client's own key stays at the gateway.
    assert!(seen.get("x-api-key").is_none(), "{seen}");
    let bearer = seen["authorization"].as_str().unwrap();
    let token = bearer.strip_prefix("Bearer ").unwrap();
    let mut v = Validation::new(jsonwebtoken::Algorithm::HS256);
    v.set_audience(&["company-api"]);
    v.set_issuer(&["switchboard"]);
    let claims = decode::<Value>(token, &DecodingKey::from_secret(SECRET.as_bytes()), &v)
        .unwrap()
        .claims;
    assert_eq!(
        (
            claims["sub"].as_str(),
            claims["role"].as_str(),
            claims["auth"].as_str()
        ),
        (Some("key:alice"), Some("analyst"), Some("api_key"))
    );
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        120
    );
    // A token signed with another secret would not verify.
    assert!(
        decode::<Value>(
            token,
            &DecodingKey::from_secret(b"another-secret-another-secret-000"),
            &v
        )
        .is_err()
    );
}
