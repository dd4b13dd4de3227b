//! Federation over the wire: namespaced tools and prompts, routable resource URIs (kept or
//! prefixed), templates, completions, merged pagination, and a failing upstream reported
//! without hiding the others.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{Value, json};

struct Client {
    url: String,
    sid: String,
    http: reqwest::Client,
    next: i64,
}

impl Client {
    async fn connect(url: &str) -> Client {
        let http = reqwest::Client::new();
        let r = http
            .post(url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"fed","version":"1"}}}"#)
            .send()
            .await
            .unwrap();
        let sid = r.headers()["mcp-session-id"].to_str().unwrap().to_owned();
        Client {
            url: url.to_owned(),
            sid,
            http,
            next: 1,
        }
    }

    async fn rpc(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let body = json!({"jsonrpc": "2.0", "id": self.next, "method": method, "params": params});
        let text = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .header("mcp-session-id", &self.sid)
            .body(body.to_string())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        serde_json::from_str(&text).unwrap()
    }

    async fn list_all(&mut self, method: &str, key: &str) -> (Vec<Value>, usize) {
        let (mut items, mut pages, mut cursor) = (Vec::new(), 0, None::<String>);
        loop {
            let params = cursor
                .as_ref()
                .map(|c| json!({"cursor": c}))
                .unwrap_or(json!({}));
            let r = self.rpc(method, params).await;
            pages += 1;
            items.extend(
                r["result"][key]
                    .as_array()
                    .unwrap_or_else(|| panic!("{r}"))
                    .iter()
                    .cloned(),
            );
            match r["result"]["nextCursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return (items, pages),
            }
            assert!(pages < 100, "pagination does not end");
        }
    }
}

fn names(items: &[Value], key: &str) -> Vec<String> {
    items
        .iter()
        .map(|i| i[key].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn namespaced_catalogue_with_pagination_resources_prompts_and_completion() {
    let mut yaml = String::from("federation:\n  page_size: 2\nservers:\n");
    yaml += &stdio_entry("company", &workspace_bin("company-api"), &[]);
    yaml += &stdio_entry("conf", &workspace_bin("conformance-server"), &[]);
    yaml += "  broken:\n    command: /nonexistent/mcp-server\n    restart: {initial_backoff: 50ms, max_backoff: 100ms, crash_loop_restarts: 2}\n";
    let gw = Gateway::start(&yaml);
    let mut c = Client::connect(&gw.url).await;

    // Pagination: pages of 2, every tool once, every name namespaced.
    let (tools, pages) = c.list_all("tools/list", "tools").await;
    let tool_names = names(&tools, "name");
    assert!(
        pages >= tools.len() / 2,
        "{pages} pages for {} tools",
        tools.len()
    );
    let mut dedup = tool_names.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(
        dedup.len(),
        tool_names.len(),
        "duplicates across pages: {tool_names:?}"
    );
    assert!(
        tool_names
            .iter()
            .all(|n| n.starts_with("company__") || n.starts_with("conf__")),
        "{tool_names:?}"
    );
    assert!(tool_names.contains(&"company__search_documents".to_owned()));
    // Unknown fields of a tool (annotations, outputSchema, …) survive federation.
    let search = tools
        .iter()
        .find(|t| t["name"] == "company__search_documents")
        .unwrap();
    assert_eq!(search["annotations"]["readOnlyHint"], true, "{search}");

    // The broken server is reported next to the listing, the others keep serving.
    let r = c.rpc("tools/list", json!({})).await;
    let unavailable = r["result"]["_meta"]["io.switchboard/unavailable"].to_string();
    assert!(unavailable.contains("broken"), "{r}");

    // Resources keep their URIs and route back; templates route reads of unlisted URIs.
    let (resources, _) = c.list_all("resources/list", "resources").await;
    let uris = names(&resources, "uri");
    assert!(
        uris.contains(&"company://documents/D001".to_owned())
            && uris.contains(&"test://static-text".to_owned()),
        "{uris:?}"
    );
    let r = c
        .rpc("resources/read", json!({"uri": "company://documents/D001"}))
        .await;
    assert!(r["result"]["contents"][0]["text"].is_string(), "{r}");
    let r = c
        .rpc("resources/read", json!({"uri": "test://template/42/data"}))
        .await;
    assert!(
        r["result"]["contents"][0]["text"]
            .as_str()
            .unwrap()
            .contains("42"),
        "{r}"
    );
    let r = c.rpc("resources/read", json!({"uri": "nowhere://x"})).await;
    assert_eq!(r["error"]["code"], -32002, "{r}");
    let (templates, _) = c
        .list_all("resources/templates/list", "resourceTemplates")
        .await;
    assert!(
        names(&templates, "uriTemplate").contains(&"company://documents/{id}".to_owned()),
        "{templates:?}"
    );

    // Prompts are namespaced like tools; completion refs are rewritten to the original name.
    let (prompts, _) = c.list_all("prompts/list", "prompts").await;
    assert!(
        names(&prompts, "name").contains(&"company__weekly_status_report".to_owned()),
        "{prompts:?}"
    );
    let r = c
        .rpc(
            "prompts/get",
            json!({"name": "company__weekly_status_report", "arguments": {"project_id": "P001"}}),
        )
        .await;
    assert!(r["result"]["messages"].is_array(), "{r}");
    let r = c
        .rpc(
            "completion/complete",
            json!({"ref": {"type": "ref/prompt", "name": "conf__test_prompt_with_arguments"}, "argument": {"name": "arg1", "value": ""}}),
        )
        .await;
    assert!(r["result"]["completion"]["values"].is_array(), "{r}");
    let r = c
        .rpc("prompts/get", json!({"name": "weekly_status_report"}))
        .await;
    assert_eq!(
        r["error"]["code"], -32602,
        "unprefixed name must not route: {r}"
    );
}

#[tokio::test]
async fn prefixed_uris_let_two_servers_share_a_uri() {
    let mut yaml = String::from("federation:\n  resource_uris: prefix\nservers:\n");
    yaml += &stdio_entry("a", &workspace_bin("conformance-server"), &[]);
    yaml += &stdio_entry("b", &workspace_bin("conformance-server"), &[]);
    let gw = Gateway::start(&yaml);
    let mut c = Client::connect(&gw.url).await;
    let (resources, _) = c.list_all("resources/list", "resources").await;
    let uris = names(&resources, "uri");
    assert!(
        uris.contains(&"a+test://static-text".to_owned())
            && uris.contains(&"b+test://static-text".to_owned()),
        "{uris:?}"
    );
    for uri in [
        "a+test://static-text",
        "b+test://static-text",
        "b+test://template/7/data",
    ] {
        let r = c.rpc("resources/read", json!({"uri": uri})).await;
        assert!(r["result"]["contents"][0]["text"].is_string(), "{uri}: {r}");
    }
}

/// Two sessions subscribe to one upstream resource: the upstream is subscribed once, stays
/// subscribed until the last session lets go (by unsubscribing or ending), and updates reach
/// only the sessions still subscribed.
#[tokio::test]
async fn subscriptions_are_shared_counted_and_routed() {
    use futures_util::StreamExt;
    let gw = Gateway::start(&format!(
        "servers:\n{}",
        stdio_entry("conf", &workspace_bin("conformance-server"), &[])
    ));
    let mut a = Client::connect(&gw.url).await;
    let mut b = Client::connect(&gw.url).await;
    let uri = json!({"uri": "test://watched-resource"});
    let notify = json!({"name": "conf__test_notify_resource_updated", "arguments": {}});
    let open_stream = |c: &Client| {
        c.http
            .get(&c.url)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", &c.sid)
            .send()
    };
    let mut a_stream = open_stream(&a).await.unwrap().bytes_stream();
    let mut b_stream = open_stream(&b).await.unwrap().bytes_stream();

    assert_eq!(
        a.rpc("resources/subscribe", uri.clone()).await["result"],
        json!({})
    );
    assert_eq!(
        b.rpc("resources/subscribe", uri.clone()).await["result"],
        json!({})
    );
    assert_eq!(
        a.rpc("resources/unsubscribe", uri.clone()).await["result"],
        json!({})
    );
    // B still holds the upstream subscription, so the upstream sends an update; only B gets it.
    let r = b.rpc("tools/call", notify.clone()).await;
    assert_eq!(
        r["result"]["isError"], false,
        "upstream lost the subscription B still holds: {r}"
    );
    let mut seen_b = String::new();
    while !seen_b.contains("notifications/resources/updated") {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), b_stream.next())
            .await
            .unwrap_or_else(|_| panic!("no update on B's stream: {seen_b}"))
            .unwrap()
            .unwrap();
        seen_b.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen_b.contains("test://watched-resource"), "{seen_b}");
    let a_got = tokio::time::timeout(std::time::Duration::from_millis(500), a_stream.next()).await;
    if let Ok(Some(Ok(chunk))) = a_got {
        let text = String::from_utf8_lossy(&chunk).into_owned();
        assert!(
            !text.contains("resources/updated"),
            "A unsubscribed but got: {text}"
        );
    }
    // The last subscriber ending its session releases the upstream subscription.
    let del = b
        .http
        .delete(&b.url)
        .header("mcp-session-id", &b.sid)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 204);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let r = a.rpc("tools/call", notify).await;
    assert_eq!(
        r["result"]["isError"], true,
        "upstream still subscribed after the last session ended: {r}"
    );
}
