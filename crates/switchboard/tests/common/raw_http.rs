//! Raw Streamable HTTP requests for the wire-level tests (`http_transport*.rs`): a plain
//! HTTP client, a session opened by hand, and the gateway those tests run against.

use reqwest::StatusCode;
use serde_json::Value;

use super::{Gateway, stdio_entry, workspace_bin};

pub const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#;

pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    pub fn error_code(&self) -> i64 {
        self.json()["error"]["code"]
            .as_i64()
            .unwrap_or_else(|| panic!("no error in {}", self.body))
    }
}

pub async fn send(
    method: reqwest::Method,
    url: &str,
    session: Option<&str>,
    body: Option<&str>,
    extra: &[(&str, &str)],
) -> Resp {
    let client = reqwest::Client::new();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("content-type", "application/json".parse().unwrap());
    headers.insert(
        "accept",
        "application/json, text/event-stream".parse().unwrap(),
    );
    if let Some(s) = session {
        headers.insert("mcp-session-id", s.parse().unwrap());
    }
    for (k, v) in extra {
        headers.insert(
            reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    let mut req = client.request(method, url).headers(headers);
    if let Some(b) = body {
        req = req.body(b.to_owned());
    }
    let r = req.send().await.unwrap();
    Resp {
        status: r.status(),
        headers: r.headers().clone(),
        body: r.text().await.unwrap(),
    }
}

pub async fn post(url: &str, session: Option<&str>, body: &str) -> Resp {
    send(reqwest::Method::POST, url, session, Some(body), &[]).await
}

pub async fn initialize(url: &str) -> String {
    let r = post(url, None, INIT).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let sid = r.headers["mcp-session-id"].to_str().unwrap().to_owned();
    assert_eq!(
        post(
            url,
            Some(&sid),
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#
        )
        .await
        .status,
        StatusCode::ACCEPTED
    );
    sid
}

pub fn gateway() -> Gateway {
    let mut yaml = String::from("http:\n  max_body_bytes: 65536\nservers:\n");
    yaml += &stdio_entry("company", &workspace_bin("company-api"), &[]);
    yaml += &stdio_entry("conf", &workspace_bin("conformance-server"), &[]);
    Gateway::start(&yaml)
}

pub async fn still_serving(url: &str, sid: &str) {
    let r = post(url, Some(sid), r#"{"jsonrpc":"2.0","id":99,"method":"tools/call","params":{"name":"company__get_employee_info","arguments":{"employee_id":"E003"}}}"#).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(
        r.json()["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("E003"),
        "{}",
        r.body
    );
}
