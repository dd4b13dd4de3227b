//! The Streamable HTTP upstream's session life: connecting (`initialize` and the
//! `server/discover` probe, by the configured protocol mode), keeping the session (backing off,
//! re-initializing when the server drops it), and the standalone GET stream of unsolicited
//! messages.

use std::sync::Arc;

use http::{HeaderValue, StatusCode, header};
use switchboard_config::ProtocolMode;
use switchboard_protocol::version::{self, HEADER_PROTOCOL_VERSION, HEADER_SESSION_ID};
use switchboard_protocol::{Id, Message, methods};

use super::plain_http::from_reqwest;
use super::response::read_response;
use super::{HttpUpstream, Session, back_off, error_chain};
use crate::init::{
    Discovery, InitInfo, classify_discover, discover_params, initialize_params,
    parse_initialize_result,
};
use crate::supervisor::backoff;
use crate::{Status, UpstreamEvent};

impl HttpUpstream {
    /// Keep a session: initialize, back off on failure, re-initialize when the server drops it.
    pub(super) async fn maintain(self: Arc<Self>) {
        let mut attempt = 0u32;
        while !self.shutdown.is_cancelled() {
            match self.connect().await {
                Ok((legacy, info)) => {
                    attempt = 0;
                    // The GET stream is open before the server is called ready: servers that
                    // log about calls there must not lose the first call's messages.
                    let first = match &legacy {
                        Some(session) => Some(self.open_stream(session).await),
                        None => None,
                    };
                    *self.session.write() = legacy.clone();
                    tracing::info!(server = %self.name, name = %info.server_name, protocol = %info.protocols(), "upstream ready");
                    let _ = self.status.send(Status::Ready(info));
                    let _ = self.events.send(UpstreamEvent::Ready {
                        server: self.name.clone(),
                    });
                    let listener = match (legacy, first) {
                        (Some(session), Some(first)) => {
                            Some(tokio::spawn(self.clone().listen(session, first)))
                        }
                        _ => None,
                    };
                    let stop = || {
                        if let Some(l) = &listener {
                            l.abort();
                        }
                    };
                    tokio::select! {
                        _ = self.reconnect.notified() => {}
                        _ = self.shutdown.cancelled() => { stop(); break; }
                    }
                    stop();
                    let _ = self.events.send(UpstreamEvent::Down {
                        server: self.name.clone(),
                        reason: "session expired".into(),
                    });
                }
                Err(reason) => {
                    attempt += 1;
                    let wait = backoff(&self.cfg.restart, attempt);
                    tracing::warn!(server = %self.name, %reason, retry_in = ?wait, "cannot connect to upstream");
                    if !back_off(&self.status, &self.shutdown, reason, wait).await {
                        break;
                    }
                }
            }
        }
        let _ = self.status.send(Status::Stopped);
    }

    /// Probe with `server/discover` (unless `protocol: legacy`) and `initialize` (unless
    /// `protocol: modern`); the session, if the server took `initialize`, and what it said.
    pub(super) async fn connect(&self) -> Result<(Option<Arc<Session>>, Arc<InitInfo>), String> {
        let mut modern = None;
        if self.cfg.protocol != ProtocolMode::Legacy {
            match self.discover().await? {
                Discovery::Modern(info) => modern = Some(*info),
                Discovery::Refused(why) => return Err(why),
                Discovery::Legacy(why) if self.cfg.protocol == ProtocolMode::Modern => {
                    return Err(format!("`protocol: modern`, but {why}"));
                }
                Discovery::Legacy(why) => {
                    tracing::debug!(server = %self.name, %why, "upstream speaks session-era protocol only");
                }
            }
        }
        *self.modern.write() = modern.as_ref().map(|info| {
            Arc::new(Session {
                id: None,
                version: HeaderValue::from_static(version::MODERN_VERSIONS[0]),
                info: Arc::new(info.clone()),
            })
        });
        let mut legacy = None;
        if self.cfg.protocol != ProtocolMode::Modern {
            match self.initialize().await {
                Ok(session) => legacy = Some(session),
                // A server that answers discover but not initialize is served statelessly.
                Err(why) if modern.is_some() => {
                    tracing::debug!(server = %self.name, %why, "upstream speaks 2026-07-28 only");
                }
                Err(why) => return Err(why),
            }
        }
        let info = InitInfo::merge(legacy.as_ref().map(|s| (*s.info).clone()), modern)
            .ok_or_else(|| "neither initialize nor server/discover worked".to_owned())?;
        Ok((legacy, Arc::new(info)))
    }

    /// `server/discover` without a session. Transport failures are errors (retried); any
    /// answer is classified.
    pub(super) async fn discover(&self) -> Result<Discovery, String> {
        let body = Message::request(
            Id::Num(0),
            methods::SERVER_DISCOVER,
            Some(discover_params()),
        )
        .to_vec();
        let req = self
            .client
            .post(self.url.clone())
            .headers(self.headers.clone())
            .header(header::ACCEPT, "application/json, text/event-stream")
            .header(header::CONTENT_TYPE, "application/json")
            .header(HEADER_PROTOCOL_VERSION, version::MODERN_VERSIONS[0])
            .header(version::HEADER_METHOD, methods::SERVER_DISCOVER)
            .body(body);
        let wait = self.cfg.probe_timeout.0.min(self.cfg.init_timeout.0);
        let resp = match tokio::time::timeout(wait, req.send()).await {
            Err(_) => return Ok(Discovery::Legacy("no answer to server/discover".into())),
            Ok(Err(e)) => {
                return Err(format!(
                    "server/discover request failed: {}",
                    error_chain(&e)
                ));
            }
            Ok(Ok(resp)) => resp,
        };
        if resp.status().is_server_error() {
            return Err(format!("server/discover got HTTP {}", resp.status()));
        }
        let r = tokio::time::timeout(wait, read_response(from_reqwest(resp), 0, None, None, self))
            .await
            .unwrap_or_else(|_| Err(self.failed("server/discover answer did not complete")));
        Ok(classify_discover(r))
    }

    pub(super) async fn initialize(&self) -> Result<Arc<Session>, String> {
        let body =
            Message::request(Id::Num(0), methods::INITIALIZE, Some(initialize_params())).to_vec();
        let req = self
            .client
            .post(self.url.clone())
            .headers(self.headers.clone())
            .header(header::ACCEPT, "application/json, text/event-stream")
            .header(header::CONTENT_TYPE, "application/json")
            .body(body);
        let resp = tokio::time::timeout(self.cfg.init_timeout.0, req.send())
            .await
            .map_err(|_| {
                format!(
                    "no answer to initialize within {:?}",
                    self.cfg.init_timeout.0
                )
            })?
            .map_err(|e| format!("initialize request failed: {}", error_chain(&e)))?;
        if !resp.status().is_success() {
            return Err(format!("initialize got HTTP {}", resp.status()));
        }
        let session_id = resp.headers().get(HEADER_SESSION_ID).cloned();
        let result = tokio::time::timeout(
            self.cfg.init_timeout.0,
            read_response(from_reqwest(resp), 0, None, None, self),
        )
        .await
        .map_err(|_| "initialize response did not complete".to_owned())?
        .map_err(|e| e.to_string())?;
        let info = parse_initialize_result(&result)?;
        let version = HeaderValue::try_from(info.protocol_version.as_str())
            .map_err(|_| "server sent an unusable protocol version".to_owned())?;
        let session = Arc::new(Session {
            id: session_id,
            version,
            info: Arc::new(info),
        });
        // notifications/initialized
        let note = Message::notification(methods::INITIALIZED, None).to_vec();
        let _ =
            tokio::time::timeout(self.cfg.init_timeout.0, self.post(&session, note).send()).await;
        Ok(session)
    }

    /// The standalone GET stream: unsolicited notifications (list changes, resource updates).
    /// Open the standalone GET stream. `Err(true)` when the server has none (405) or forgot
    /// the session (404, a reconnect is requested); `Err(false)` for a failure worth retrying.
    pub(super) async fn open_stream(&self, session: &Session) -> Result<reqwest::Response, bool> {
        let mut req = self
            .client
            .get(self.url.clone())
            .headers(self.headers.clone())
            .header(header::ACCEPT, "text/event-stream")
            .header(HEADER_PROTOCOL_VERSION, session.version.clone());
        if let Some(id) = &session.id {
            req = req.header(HEADER_SESSION_ID, id.clone());
        }
        match tokio::time::timeout(self.cfg.init_timeout.0, req.send()).await {
            Ok(Ok(resp)) if resp.status() == StatusCode::METHOD_NOT_ALLOWED => Err(true),
            Ok(Ok(resp)) if resp.status() == StatusCode::NOT_FOUND && session.id.is_some() => {
                self.reconnect.notify_one();
                Err(true)
            }
            Ok(Ok(resp)) if resp.status().is_success() => Ok(resp),
            _ => Err(false),
        }
    }

    /// Read the standalone GET stream (unsolicited notifications: list changes, resource
    /// updates, and messages some servers send there about calls), reopening it if it drops.
    pub(super) async fn listen(
        self: Arc<Self>,
        session: Arc<Session>,
        first: Result<reqwest::Response, bool>,
    ) {
        let mut attempt = 0u32;
        let mut next = Some(first);
        loop {
            let opened = match next.take() {
                Some(r) => r,
                None => self.open_stream(&session).await,
            };
            match opened {
                Ok(resp) => {
                    attempt = 0;
                    let _ = read_response(from_reqwest(resp), -1, None, None, &self).await;
                }
                Err(true) => return,
                Err(false) => {}
            }
            attempt += 1;
            tokio::time::sleep(backoff(&self.cfg.restart, attempt)).await;
        }
    }
}
