//! The calls' HTTP client for plain `http://` upstreams: HTTP/1.1 keep-alive connections on
//! hyper's connection API, kept in a LIFO stack of idle senders.
//!
//! A general client (reqwest on hyper-util's pool) does per request what a gateway calling
//! one fixed URL does not need: a URL parse (with IDNA) and pool key, a pool checkout through
//! a shared map, client and connector clones. Here the URL is parsed once, a call takes an
//! idle connection off the stack (or opens one), and its sender goes back on the stack when the
//! response body has been read to its end; a body dropped early closes its connection (it
//! cannot be reused half-read). A request that a stale keep-alive connection never sent is
//! sent again on a new connection, as hyper-util does.
//!
//! `https://` upstreams, and every upstream while an HTTP proxy is configured in the
//! environment (`HTTP_PROXY`, `ALL_PROXY`), use reqwest (TLS, proxies).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Uri, header};
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Idle connections kept per upstream, and how long one may stay idle.
const MAX_IDLE: usize = 64;
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

struct Idle {
    tx: SendRequest<Full<Bytes>>,
    since: Instant,
}

pub(crate) struct Lean {
    /// `host:port` to connect to.
    addr: String,
    host: HeaderValue,
    /// The request target (path and query).
    path: Uri,
    idle: parking_lot::Mutex<Vec<Idle>>,
}

/// Whether reqwest would send plain HTTP through a proxy (it reads these variables).
fn proxy_configured() -> bool {
    ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()))
}

impl Lean {
    /// A client for `uri` when it is plain `http://` and no proxy is configured.
    pub(crate) fn new(uri: &Uri) -> Option<Arc<Self>> {
        if uri.scheme_str() != Some("http") || proxy_configured() {
            return None;
        }
        let authority = uri.authority()?;
        let host = authority.host();
        let port = authority.port_u16().unwrap_or(80);
        let addr = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let path = Uri::from(uri.path_and_query()?.clone());
        Some(Arc::new(Self {
            addr,
            host: HeaderValue::from_str(authority.as_str()).ok()?,
            path,
            idle: parking_lot::Mutex::new(Vec::new()),
        }))
    }

    /// Send `req` (its URI is replaced by the upstream's path); the response body hands the
    /// connection back when read to its end.
    pub(crate) async fn send(
        self: &Arc<Self>,
        mut req: http::Request<Full<Bytes>>,
    ) -> Result<http::Response<Pooled>, BoxError> {
        *req.uri_mut() = self.path.clone();
        // A `Host` set in the server's `headers` is kept (virtual hosts behind one address).
        if !req.headers().contains_key(header::HOST) {
            req.headers_mut().insert(header::HOST, self.host.clone());
        }
        let (mut tx, reused) = self.checkout().await?;
        let resp = match tx.try_send_request(req).await {
            Ok(resp) => resp,
            // A kept-alive connection the server had closed: the request never left, so it is
            // sent again on a new connection.
            Err(mut e) if reused => match e.take_message() {
                Some(req) => {
                    tx = Box::pin(self.connect()).await?;
                    tx.send_request(req).await?
                }
                None => return Err(e.into_error().into()),
            },
            Err(e) => return Err(e.into_error().into()),
        };
        Ok(resp.map(|inner| Pooled {
            inner,
            back: Some((tx, self.clone())),
        }))
    }

    /// An idle connection ready for a request (and whether it was reused), or a new one.
    async fn checkout(&self) -> Result<(SendRequest<Full<Bytes>>, bool), BoxError> {
        loop {
            let Some(mut idle) = self.idle.lock().pop() else {
                break;
            };
            if idle.since.elapsed() > IDLE_TIMEOUT || idle.tx.is_closed() {
                continue;
            }
            // Its last response was read; the connection may need a moment to settle.
            if idle.tx.ready().await.is_ok() {
                return Ok((idle.tx, true));
            }
        }
        // Boxed: connecting is rare, and its future would make every call's larger.
        Ok((Box::pin(self.connect()).await?, false))
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, BoxError> {
        let stream =
            tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(&self.addr))
                .await
                .map_err(|_| {
                    format!(
                        "connecting to {} timed out after {CONNECT_TIMEOUT:?}",
                        self.addr
                    )
                })?
                .map_err(|e| format!("connecting to {}: {e}", self.addr))?;
        stream.set_nodelay(true)?;
        let (tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "upstream connection ended with an error");
            }
        });
        Ok(tx)
    }

    fn give_back(&self, tx: SendRequest<Full<Bytes>>) {
        if tx.is_closed() {
            return;
        }
        let mut idle = self.idle.lock();
        // Expired connections are at the bottom of the stack (the oldest).
        let now = Instant::now();
        while idle
            .first()
            .is_some_and(|i| now.duration_since(i.since) > IDLE_TIMEOUT)
        {
            idle.remove(0);
        }
        if idle.len() < MAX_IDLE {
            idle.push(Idle { tx, since: now });
        }
    }
}

/// A response body on a pooled connection; the connection goes back to the pool at its end.
pub(crate) struct Pooled {
    inner: Incoming,
    back: Option<(SendRequest<Full<Bytes>>, Arc<Lean>)>,
}

impl HttpBody for Pooled {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => {
                if let Some((tx, lean)) = self.back.take() {
                    lean.give_back(tx);
                }
            }
            // A broken body: the connection is not reused.
            Poll::Ready(Some(Err(_))) => self.back = None,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body from either client.
pub(crate) enum Body {
    Lean(Pooled),
    Reqwest(reqwest::Body),
}

impl HttpBody for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            Body::Lean(b) => Pin::new(b).poll_frame(cx).map_err(Into::into),
            Body::Reqwest(b) => Pin::new(b).poll_frame(cx).map_err(Into::into),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Lean(b) => b.is_end_stream(),
            Body::Reqwest(b) => b.is_end_stream(),
        }
    }
}

/// A reqwest response as an `http` one with a [`Body`].
pub(crate) fn from_reqwest(resp: reqwest::Response) -> http::Response<Body> {
    http::Response::from(resp).map(Body::Reqwest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A minimal HTTP/1.1 server on loopback: answers each request with `{"n":…}`; counts
    /// connections; with `one_shot`, closes each connection after its first answer (without
    /// saying so, like a server whose keep-alive timeout ran out).
    async fn server(one_shot: bool) -> (String, Arc<AtomicUsize>) {
        let (url, conns, _) = server_seeing_hosts(one_shot).await;
        (url, conns)
    }

    /// [`server`], also keeping the `Host` header of the last request.
    async fn server_seeing_hosts(
        one_shot: bool,
    ) -> (String, Arc<AtomicUsize>, Arc<parking_lot::Mutex<String>>) {
        let host = Arc::new(parking_lot::Mutex::new(String::new()));
        let seen = host.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/mcp", listener.local_addr().unwrap());
        let conns = Arc::new(AtomicUsize::new(0));
        let counted = conns.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let n = counted.fetch_add(1, Ordering::SeqCst) + 1;
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        // One request: head, then a body of Content-Length bytes.
                        let head_end = loop {
                            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                                break i + 4;
                            }
                            match sock.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(k) => buf.extend_from_slice(&chunk[..k]),
                            }
                        };
                        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        while buf.len() < head_end + len {
                            match sock.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(k) => buf.extend_from_slice(&chunk[..k]),
                            }
                        }
                        if let Some(h) = head.lines().find_map(|l| l.strip_prefix("host:")) {
                            *seen.lock() = h.trim().to_owned();
                        }
                        buf.drain(..head_end + len);
                        let body = format!("{{\"n\":{n}}}");
                        let resp = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if sock.write_all(resp.as_bytes()).await.is_err() {
                            return;
                        }
                        if one_shot {
                            return;
                        }
                    }
                });
            }
        });
        (url, conns, host)
    }

    fn post() -> http::Request<Full<Bytes>> {
        let mut req = http::Request::new(Full::new(Bytes::from_static(b"{}")));
        *req.method_mut() = http::Method::POST;
        req
    }

    async fn call(lean: &Arc<Lean>) -> String {
        let resp = lean.send(post()).await.unwrap();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(body.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn calls_read_to_the_end_reuse_one_connection() {
        let (url, conns) = server(false).await;
        let lean = Lean::new(&url.parse().unwrap()).unwrap();
        for _ in 0..20 {
            assert_eq!(call(&lean).await, r#"{"n":1}"#);
        }
        assert_eq!(conns.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_body_dropped_half_read_is_not_reused() {
        let (url, conns) = server(false).await;
        let lean = Lean::new(&url.parse().unwrap()).unwrap();
        drop(lean.send(post()).await.unwrap());
        assert_eq!(call(&lean).await, r#"{"n":2}"#);
        assert_eq!(conns.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_connection_the_server_closed_is_replaced_without_failing_the_call() {
        let (url, conns) = server(true).await;
        let lean = Lean::new(&url.parse().unwrap()).unwrap();
        for i in 1..=5 {
            // Right after the answer (the close may not be seen yet) and after a pause.
            assert_eq!(call(&lean).await, format!("{{\"n\":{i}}}"));
            if i % 2 == 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        assert_eq!(conns.load(Ordering::SeqCst), 5);
    }

    #[tokio::test]
    async fn host_is_the_urls_unless_the_config_sets_one() {
        let (url, _, host) = server_seeing_hosts(false).await;
        let lean = Lean::new(&url.parse().unwrap()).unwrap();
        call(&lean).await;
        assert_eq!(
            *host.lock(),
            url.trim_start_matches("http://").trim_end_matches("/mcp")
        );
        let mut req = post();
        req.headers_mut().insert(
            header::HOST,
            HeaderValue::from_static("mcp.internal.example"),
        );
        let resp = lean.send(req).await.unwrap();
        resp.into_body().collect().await.unwrap();
        assert_eq!(*host.lock(), "mcp.internal.example");
    }

    #[test]
    fn only_plain_http_is_served_here() {
        assert!(Lean::new(&"https://example.com/mcp".parse().unwrap()).is_none());
        let v6 = Lean::new(&"http://[::1]:8080/mcp?x=1".parse().unwrap()).unwrap();
        assert_eq!(v6.addr, "[::1]:8080");
        assert_eq!(v6.path, "/mcp?x=1");
        assert_eq!(v6.host, "[::1]:8080");
        let default_port = Lean::new(&"http://localhost/mcp".parse().unwrap()).unwrap();
        assert_eq!(default_port.addr, "localhost:80");
    }
}
