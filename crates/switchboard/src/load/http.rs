//! The HTTP driver of `switchboard load`: one keep-alive HTTP/1.1 connection per worker
//! (hyper's connection API: no pool lookups), each request body built from a pre-serialized
//! prefix and the request id, every response read to its end (a JSON body, or an SSE stream
//! until the server ends it) and only its `result`/`error` looked at. It costs a few µs of CPU
//! per call, so a measurement measures the target and not the driver.

use std::borrow::Cow;

use anyhow::{Context, bail};
use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE, HOST};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use serde::Deserialize;
use serde_json::value::RawValue;

const MODERN: &str = "2026-07-28";
const LEGACY: &str = "2025-11-25";

/// Where the calls go and how each request is dressed.
pub struct Target {
    /// host:port to connect to.
    authority: String,
    path: http::Uri,
    /// Sent with every request: `Host`, `Accept`, `Content-Type`, the user's `-H` headers, and
    /// the session or protocol headers of the era.
    headers: HeaderMap,
    modern: bool,
    /// What the run reports as the era.
    pub label: String,
}

/// One `tools/call`, serialized up to its id.
pub struct Prepared {
    /// `{"jsonrpc":"2.0","method":"tools/call","params":…,"id":`
    prefix: String,
    /// `Mcp-Name` (modern only).
    name: Option<HeaderValue>,
}

/// One worker's connection.
pub struct Conn {
    send: SendRequest<Full<Bytes>>,
}

#[derive(Deserialize)]
struct Answer<'a> {
    #[serde(borrow, default)]
    result: Option<&'a RawValue>,
    #[serde(borrow, default)]
    error: Option<RpcError<'a>>,
}

#[derive(Deserialize)]
struct RpcError<'a> {
    code: i64,
    #[serde(borrow)]
    message: Cow<'a, str>,
}

impl Target {
    /// Parse `url`, then open the session (legacy) or check the server answers stateless
    /// requests (modern); `auto` tries a session first, then stateless.
    pub async fn open(
        url: &str,
        user: &[(String, String)],
        era: super::Era,
    ) -> anyhow::Result<Self> {
        let uri: http::Uri = url.parse().with_context(|| format!("--url {url}"))?;
        if uri.scheme_str() != Some("http") {
            bail!("the lean HTTP driver speaks plain http:// only");
        }
        let authority = uri
            .authority()
            .map(|a| a.to_string())
            .context("--url needs a host")?;
        let authority = if authority.contains(':') {
            authority
        } else {
            format!("{authority}:80")
        };
        let path: http::Uri = uri.path_and_query().map_or("/", |p| p.as_str()).parse()?;
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_str(&authority)?);
        headers.insert(
            ACCEPT,
            HeaderValue::from_static("application/json, text/event-stream"),
        );
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for (k, v) in user {
            headers.insert(
                HeaderName::from_bytes(k.as_bytes()).with_context(|| format!("header {k}"))?,
                HeaderValue::from_str(v).with_context(|| format!("header {k}"))?,
            );
        }
        let mut target = Target {
            authority,
            path,
            headers,
            modern: false,
            label: String::new(),
        };
        let legacy = match era {
            super::Era::Modern => None,
            super::Era::Legacy | super::Era::Auto => Some(target.initialize().await),
        };
        match (legacy, era) {
            (Some(Ok(label)), _) => target.label = label,
            (Some(Err(e)), super::Era::Legacy) => return Err(e),
            _ => {
                target.modern = true;
                target
                    .headers
                    .insert("mcp-protocol-version", HeaderValue::from_static(MODERN));
                target
                    .headers
                    .insert("mcp-method", HeaderValue::from_static("tools/call"));
                target.label = format!("{MODERN} stateless");
            }
        }
        Ok(target)
    }

    /// `initialize` and `notifications/initialized`; keeps the session id. Returns the label.
    async fn initialize(&mut self) -> anyhow::Result<String> {
        let mut conn = self.connect().await?;
        let body = serde_json::json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {
                "protocolVersion": LEGACY,
                "capabilities": {},
                "clientInfo": {"name": "switchboard-load", "version": env!("CARGO_PKG_VERSION")}
            }
        });
        let (status, headers, bytes) = conn.post(self, None, body.to_string()).await?;
        if status != StatusCode::OK {
            bail!("initialize answered HTTP {status}");
        }
        let result = answer_of(&headers, &bytes)
            .ok_or_else(|| anyhow::anyhow!("initialize: no JSON-RPC answer in the response"))?;
        let a: Answer = serde_json::from_str(&result)?;
        if let Some(e) = a.error {
            bail!("initialize refused: {} {}", e.code, e.message);
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Init {
            protocol_version: String,
        }
        let init: Init = serde_json::from_str(a.result.map_or("{}", RawValue::get))
            .context("initialize result")?;
        if let Some(id) = headers.get("mcp-session-id") {
            self.headers.insert("mcp-session-id", id.clone());
        }
        self.headers.insert(
            "mcp-protocol-version",
            HeaderValue::from_str(&init.protocol_version)?,
        );
        let note = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
        let (status, _, _) = conn.post(self, None, note.to_owned()).await?;
        if !status.is_success() {
            bail!("notifications/initialized answered HTTP {status}");
        }
        Ok(format!("{} session", init.protocol_version))
    }

    /// End the session, if there is one.
    pub async fn close(&self) {
        if !self.headers.contains_key("mcp-session-id") {
            return;
        }
        if let Ok(mut conn) = self.connect().await {
            let mut req = Request::new(Full::new(Bytes::new()));
            *req.method_mut() = Method::DELETE;
            *req.uri_mut() = self.path.clone();
            *req.headers_mut() = self.headers.clone();
            if conn.send.ready().await.is_ok() {
                let _ = conn.send.send_request(req).await;
            }
        }
    }

    pub async fn connect(&self) -> anyhow::Result<Conn> {
        let stream = tokio::net::TcpStream::connect(&self.authority)
            .await
            .with_context(|| format!("connect to {}", self.authority))?;
        stream.set_nodelay(true)?;
        let (send, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Conn { send })
    }

    /// A call, serialized once.
    pub fn prepare(&self, tool: &str, params: &RawValue) -> anyhow::Result<Prepared> {
        let params: Cow<'_, str> = if self.modern {
            let mut p: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(params.get())?;
            p.insert(
                "_meta".into(),
                serde_json::json!({
                    "io.modelcontextprotocol/protocolVersion": MODERN,
                    "io.modelcontextprotocol/clientCapabilities": {}
                }),
            );
            Cow::Owned(serde_json::to_string(&p)?)
        } else {
            Cow::Borrowed(params.get())
        };
        Ok(Prepared {
            prefix: format!(r#"{{"jsonrpc":"2.0","method":"tools/call","params":{params},"id":"#),
            name: if self.modern {
                Some(HeaderValue::from_str(tool)?)
            } else {
                None
            },
        })
    }
}

impl Conn {
    async fn post(
        &mut self,
        target: &Target,
        name: Option<&HeaderValue>,
        body: String,
    ) -> anyhow::Result<(StatusCode, HeaderMap, Bytes)> {
        let mut req = Request::new(Full::new(Bytes::from(body)));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = target.path.clone();
        *req.headers_mut() = target.headers.clone();
        if let Some(n) = name {
            req.headers_mut().insert("mcp-name", n.clone());
        }
        // The connection takes the next request once it has finished the last one.
        self.send.ready().await?;
        let resp = self.send.send_request(req).await?;
        let (parts, body) = resp.into_parts();
        // To its end: an SSE answer left unread would cost the connection.
        let bytes = body.collect().await?.to_bytes();
        Ok((parts.status, parts.headers, bytes))
    }

    /// Make call `p` with request id `id`. `Ok(None)`: success; `Ok(Some(kind))`: the call
    /// failed (an error answer, `isError`, an HTTP status); `Err`: the connection failed.
    pub async fn call(
        &mut self,
        target: &Target,
        p: &Prepared,
        id: u64,
    ) -> anyhow::Result<Option<String>> {
        let mut body = String::with_capacity(p.prefix.len() + 24);
        body.push_str(&p.prefix);
        body.push_str(itoa(id, &mut [0u8; 20]));
        body.push('}');
        let (status, headers, bytes) = self.post(target, p.name.as_ref(), body).await?;
        if status != StatusCode::OK {
            let text = String::from_utf8_lossy(&bytes);
            return Ok(Some(format!(
                "HTTP {}: {}",
                status.as_u16(),
                super::short(text.trim())
            )));
        }
        let Some(text) = answer_of(&headers, &bytes) else {
            return Ok(Some("no JSON-RPC answer in the response".into()));
        };
        Ok(judge(&text))
    }
}

/// `n` in decimal, without allocating.
fn itoa(mut n: u64, buf: &mut [u8; 20]) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[i..]).unwrap_or("0")
}

/// The JSON-RPC answer in a response body: the body itself (JSON), or the SSE event holding
/// a `result` or an `error` (notifications before it are skipped).
fn answer_of<'a>(headers: &HeaderMap, body: &'a [u8]) -> Option<Cow<'a, str>> {
    let sse = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let text = std::str::from_utf8(body).ok()?;
    if !sse {
        return Some(Cow::Borrowed(text));
    }
    let mut data = String::new();
    for line in text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)) {
        if line.is_empty() {
            if is_answer(&data) {
                return Some(Cow::Owned(data));
            }
            data.clear();
        } else if let Some(d) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(d.strip_prefix(' ').unwrap_or(d));
        }
    }
    is_answer(&data).then_some(Cow::Owned(data))
}

fn is_answer(data: &str) -> bool {
    !data.is_empty()
        && serde_json::from_str::<Answer>(data)
            .is_ok_and(|a| a.result.is_some() || a.error.is_some())
}

/// `None` for a successful answer, else what went wrong.
fn judge(text: &str) -> Option<String> {
    match serde_json::from_str::<Answer>(text) {
        Ok(Answer { error: Some(e), .. }) => {
            Some(format!("JSON-RPC {}: {}", e.code, super::short(&e.message)))
        }
        Ok(Answer {
            result: Some(r), ..
        }) => super::is_error_result(r.get()).then(|| "tool error (isError: true)".into()),
        Ok(_) => Some("an answer with neither result nor error".into()),
        Err(e) => Some(format!("not JSON-RPC: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_answers_skip_notifications_and_join_data_lines() {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        let body = b"event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\nid: 1\r\ndata: {\"jsonrpc\":\"2.0\",\r\ndata: \"id\":1,\"result\":{}}\r\n\r\n";
        let a = answer_of(&h, body).unwrap();
        assert_eq!(judge(&a), None, "{a}");
        let none = answer_of(&h, b"data: {\"jsonrpc\":\"2.0\",\"method\":\"x\"}\n\n");
        assert!(none.is_none());
    }

    #[test]
    fn errors_and_is_error_results_are_failures() {
        assert_eq!(
            judge(r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"nope"}}"#)
                .as_deref(),
            Some("JSON-RPC -32601: nope")
        );
        assert!(judge(r#"{"jsonrpc":"2.0","id":1,"result":{"isError":true}}"#).is_some());
        assert!(judge(r#"{"jsonrpc":"2.0","id":1,"result":{"isError":false}}"#).is_none());
        assert!(judge("garbage").is_some());
    }

    #[test]
    fn ids_print_in_decimal() {
        for n in [0u64, 7, 10, 123_456_789, u64::MAX] {
            assert_eq!(itoa(n, &mut [0u8; 20]), n.to_string());
        }
    }
}
