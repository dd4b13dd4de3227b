//! A legacy HTTP+SSE upstream (protocol 2024-11-05): a long-lived GET event stream carries
//! everything the server sends; its first `endpoint` event names the URL to POST messages to.
//! It is one duplex channel, so it shares the stdio transport's multiplexer.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use http::{HeaderMap, header};
use serde_json::value::RawValue;
use switchboard_config::ServerConfig;
use switchboard_protocol::methods;
use switchboard_protocol::sse::SseParser;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::init::{initialize_params, parse_initialize_result};
use crate::mux::{Channel, Mux};
use crate::supervisor::backoff;
use crate::{Backend, CallError, CallOptions, Status, UpstreamEvent};

const MAX_EVENT: usize = 64 * 1024 * 1024;
/// Longest one message POST may take (the answer comes on the event stream, not the POST).
const POST_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) struct LegacySseUpstream {
    channel: Channel,
    shutdown: CancellationToken,
}

impl LegacySseUpstream {
    pub(crate) fn start(
        name: Arc<str>,
        cfg: ServerConfig,
        status: watch::Sender<Status>,
        events: mpsc::UnboundedSender<UpstreamEvent>,
    ) -> Arc<dyn Backend> {
        let this = Arc::new(Self {
            channel: Channel::new(name, status),
            shutdown: CancellationToken::new(),
        });
        let run = this.clone();
        tokio::spawn(async move { run.maintain(cfg, events).await });
        this
    }

    async fn maintain(
        self: Arc<Self>,
        cfg: ServerConfig,
        events: mpsc::UnboundedSender<UpstreamEvent>,
    ) {
        let client = reqwest::Client::builder()
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        let (headers, bad) = crate::http::config_headers(&cfg);
        if let Some(h) = bad {
            tracing::warn!(server = %self.name, header = %h, "header is not a valid HTTP header; left out");
        }
        let mut attempt = 0u32;
        while !self.shutdown.is_cancelled() {
            let _ = self.status.send(Status::Starting);
            let reason = match self.run_once(&client, &headers, &cfg, &events).await {
                None => break,
                Some((reason, was_ready)) => {
                    if was_ready {
                        attempt = 0;
                    }
                    reason
                }
            };
            let _ = events.send(UpstreamEvent::Down {
                server: self.name.clone(),
                reason: reason.clone(),
            });
            attempt += 1;
            let wait = backoff(&cfg.restart, attempt);
            tracing::warn!(server = %self.name, %reason, retry_in = ?wait, "legacy SSE upstream down; reconnecting");
            if !crate::http::back_off(&self.status, &self.shutdown, reason, wait).await {
                break;
            }
        }
        let _ = self.status.send(Status::Stopped);
    }

    /// One connection's life. `None` on shutdown, else why it ended and whether it got ready.
    async fn run_once(
        &self,
        client: &reqwest::Client,
        headers: &HeaderMap,
        cfg: &ServerConfig,
        events: &mpsc::UnboundedSender<UpstreamEvent>,
    ) -> Option<(String, bool)> {
        let url = cfg.url.as_deref().unwrap_or_default();
        let get = client
            .get(url)
            .headers(headers.clone())
            .header(header::ACCEPT, "text/event-stream")
            .send();
        let resp = match tokio::time::timeout(cfg.init_timeout.0, get).await {
            Ok(Ok(r)) if r.status().is_success() => r,
            Ok(Ok(r)) => return Some((format!("GET {url} answered HTTP {}", r.status()), false)),
            Ok(Err(e)) => return Some((format!("cannot connect to {url}: {e}"), false)),
            Err(_) => {
                return Some((
                    format!("no answer from {url} within {:?}", cfg.init_timeout.0),
                    false,
                ));
            }
        };
        let mut body = resp.bytes_stream();
        let mut parser = SseParser::new(MAX_EVENT);
        let mut pending = Vec::new();

        // The first event names the endpoint to POST to.
        let endpoint = loop {
            if let Some(ev) = pending
                .iter()
                .position(|e: &switchboard_protocol::sse::SseEvent| {
                    e.event.as_deref() == Some("endpoint")
                })
            {
                let ev = pending.remove(ev);
                match reqwest::Url::parse(url).and_then(|base| base.join(ev.data.trim())) {
                    Ok(u) => break u,
                    Err(e) => {
                        return Some((format!("invalid endpoint event {:?}: {e}", ev.data), false));
                    }
                }
            }
            let next = tokio::time::timeout(cfg.init_timeout.0, body.next()).await;
            match next {
                Ok(Some(Ok(chunk))) => {
                    if let Err(e) = parser.feed(&chunk, &mut pending) {
                        return Some((e.to_string(), false));
                    }
                }
                Ok(_) => {
                    return Some(("event stream ended before the endpoint event".into(), false));
                }
                Err(_) => return Some(("no endpoint event within init_timeout".into(), false)),
            }
        };

        let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(256);
        let mux = Mux::new(self.name.clone(), out_tx, events.clone());
        // Writer: POST each message in order.
        let (post_client, post_headers, name) =
            (client.clone(), headers.clone(), self.name.clone());
        let writer = tokio::spawn(async move {
            while let Some(msg) = out_rx.recv().await {
                // Bounded, so one hung POST cannot stall the connection's every later message.
                let r = post_client
                    .post(endpoint.clone())
                    .headers(post_headers.clone())
                    .header(header::CONTENT_TYPE, "application/json")
                    .timeout(POST_TIMEOUT)
                    .body(msg)
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status().is_success() => {}
                    Ok(r) => {
                        tracing::warn!(server = %name, status = %r.status(), "legacy SSE upstream refused a message")
                    }
                    Err(e) => {
                        tracing::warn!(server = %name, error = %e, "cannot POST to legacy SSE upstream")
                    }
                }
            }
        });
        // Reader: every `message` event goes to the multiplexer.
        let reader_mux = mux.clone();
        let name = self.name.clone();
        let reader = tokio::spawn(async move {
            let mut events = pending;
            loop {
                for ev in events.drain(..) {
                    if ev.event.as_deref().is_some_and(|e| e != "message")
                        || ev.data.trim().is_empty()
                    {
                        continue;
                    }
                    match switchboard_protocol::parse_message(ev.data.as_bytes()) {
                        Ok(m) => reader_mux.handle_incoming(m),
                        Err(f) => {
                            tracing::warn!(server = %name, error = %f.error.message, "invalid message on legacy SSE stream; ignored")
                        }
                    }
                }
                match body.next().await {
                    Some(Ok(chunk)) => {
                        if parser.feed(&chunk, &mut events).is_err() {
                            return "event too large".to_owned();
                        }
                    }
                    Some(Err(e)) => return format!("event stream broke: {e}"),
                    None => return "event stream closed".to_owned(),
                }
            }
        });
        let stop = |why: &str| {
            writer.abort();
            reader.abort();
            mux.fail_all(why);
        };

        let init = mux.call(
            methods::INITIALIZE,
            Some(initialize_params()),
            CallOptions::default(),
            cfg.init_timeout.0,
        );
        let info = tokio::select! {
            r = init => r.map_err(|e| e.to_string()).and_then(|raw| parse_initialize_result(&raw)),
            _ = self.shutdown.cancelled() => { stop("gateway shutting down"); return None; }
        };
        let info = match info {
            Ok(i) => Arc::new(i),
            Err(e) => {
                let why = format!("initialize failed: {e}");
                stop(&why);
                return Some((why, false));
            }
        };
        mux.notify(methods::INITIALIZED, None);
        self.set_current(Some(mux.clone()));
        tracing::info!(server = %self.name, name = %info.server_name, protocol = %info.protocol_version, "legacy SSE upstream ready");
        let _ = self.status.send(Status::Ready(info));
        let _ = events.send(UpstreamEvent::Ready {
            server: self.name.clone(),
        });

        let mut reader = reader;
        let why = tokio::select! {
            r = &mut reader => r.unwrap_or_else(|e| format!("reader failed: {e}")),
            _ = self.shutdown.cancelled() => {
                reader.abort();
                writer.abort();
                self.set_current(None);
                mux.fail_all("gateway shutting down");
                return None;
            }
        };
        let _ = self.status.send(Status::Restarting {
            reason: why.clone(),
            retry_in: Duration::ZERO,
        });
        self.set_current(None);
        writer.abort();
        mux.fail_all(&why);
        Some((why, true))
    }
}

impl Backend for LegacySseUpstream {
    fn call<'a>(
        &'a self,
        method: &'a str,
        params: Option<Box<RawValue>>,
        opts: CallOptions,
        _era: crate::Era,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Box<RawValue>, CallError>> {
        Box::pin(self.channel.call(method, params, opts, timeout))
    }

    fn notify(&self, method: &str, params: Option<Box<RawValue>>) {
        self.channel.notify(method, params)
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.shutdown.cancel();
            let mut rx = self.status.subscribe();
            let _ = tokio::time::timeout(
                Duration::from_secs(3),
                rx.wait_for(|s| matches!(s, Status::Stopped)),
            )
            .await;
        })
    }
}

impl std::ops::Deref for LegacySseUpstream {
    type Target = Channel;
    fn deref(&self) -> &Channel {
        &self.channel
    }
}
