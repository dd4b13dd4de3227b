//! A session-era (2025-11-25) client by hand, for tests that send each request to a chosen
//! replica (or through a balancer): a session opened anywhere, requests sent anywhere, its
//! `GET` stream opened anywhere.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};

/// A session-era client: each request goes to the URL given with it (a replica, or a
/// balancer), whichever replica opened the session.
pub struct Session {
    pub sid: String,
    pub http: reqwest::Client,
    next: i64,
}

impl Session {
    pub async fn open(url: &str) -> Session {
        Self::open_with(url, json!({})).await
    }

    /// Open a session declaring `capabilities` (e.g. `{"elicitation": {}}`).
    pub async fn open_with(url: &str, capabilities: Value) -> Session {
        let http = reqwest::Client::new();
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": capabilities,
            "clientInfo": {"name": "replicas", "version": "1"}}});
        let r = http
            .post(url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(init.to_string())
            .send()
            .await
            .unwrap();
        let sid = r.headers()["mcp-session-id"].to_str().unwrap().to_owned();
        let session = Session { sid, http, next: 1 };
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        assert_eq!(session.send(url, initialized).await, 202);
        session
    }

    /// POST `message` to `url` in this session, accepting `accept`.
    async fn post(&self, url: &str, message: &Value, accept: &str) -> reqwest::Response {
        self.http
            .post(url)
            .header("content-type", "application/json")
            .header("accept", accept)
            .header("mcp-session-id", &self.sid)
            .header("mcp-protocol-version", "2025-11-25")
            .body(message.to_string())
            .send()
            .await
            .unwrap()
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        json!({"jsonrpc": "2.0", "id": self.next, "method": method, "params": params})
    }

    pub async fn rpc(&mut self, url: &str, method: &str, params: Value) -> Value {
        let body = self.request(method, params);
        let text = self
            .post(url, &body, "application/json")
            .await
            .text()
            .await
            .unwrap();
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    /// The same session for a concurrent task (its request ids apart from this one's).
    pub fn fork(&self) -> Session {
        Session {
            sid: self.sid.clone(),
            http: self.http.clone(),
            next: self.next + 1_000_000,
        }
    }

    /// A request answered as an event stream when it makes one (the answer's messages in
    /// order, as text).
    pub async fn rpc_stream(&mut self, url: &str, method: &str, params: Value) -> String {
        let body = self.request(method, params);
        self.post(url, &body, "application/json, text/event-stream")
            .await
            .text()
            .await
            .unwrap()
    }

    /// Send the client's `message` (a response to the gateway's request, a notification) to
    /// `url`; the HTTP status.
    pub async fn send(&self, url: &str, message: Value) -> u16 {
        self.post(url, &message, "application/json, text/event-stream")
            .await
            .status()
            .as_u16()
    }

    /// The session's GET stream on replica `url`.
    pub async fn stream(
        &self,
        url: &str,
    ) -> impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin + use<> {
        let r = self
            .http
            .get(url)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", &self.sid)
            .header("mcp-protocol-version", "2025-11-25")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.bytes_stream()
    }
}

/// Call the upstream's tool that sends an update of the watched resource (through `url`)
/// until an update shows on `stream` (the stream's hold is announced in the background);
/// panics after 15 s.
pub async fn update_arrives(
    s: &mut Session,
    url: &str,
    stream: &mut (impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
) {
    let notify = json!({"name": "conf__test_notify_resource_updated", "arguments": {}});
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut seen = String::new();
    loop {
        // `isError` while the replica has not subscribed its upstream yet (a takeover runs in
        // the background): try again.
        let r = s.rpc(url, "tools/call", notify.clone()).await;
        assert!(r["result"]["isError"].is_boolean(), "{r}");
        let wait = tokio::time::sleep(Duration::from_millis(500));
        tokio::pin!(wait);
        loop {
            tokio::select! {
                chunk = stream.next() => {
                    seen.push_str(&String::from_utf8_lossy(&chunk.unwrap().unwrap()));
                    if seen.contains("notifications/resources/updated") {
                        assert!(seen.contains("test://watched-resource"), "{seen}");
                        return;
                    }
                }
                _ = &mut wait => break,
            }
        }
        assert!(
            Instant::now() < deadline,
            "no update on the stream (last call: {r}): {seen}"
        );
    }
}

/// Read `stream` until it holds `needle` (15 s at most); everything read.
pub async fn read_until(
    stream: &mut (impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    needle: &str,
) -> String {
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !seen.contains(needle) {
        let chunk = tokio::time::timeout_at(deadline, stream.next())
            .await
            .unwrap_or_else(|_| panic!("no {needle} on the stream: {seen}"))
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    seen
}
