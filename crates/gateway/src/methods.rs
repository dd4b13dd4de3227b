//! What the gateway answers itself, or forwards with care, besides the routed calls of the
//! pipeline: `initialize`, the merged lists (filtered by role), resource subscriptions
//! (counted across sessions), `completion/complete`, `logging/setLevel`, and the client's
//! notifications and responses.

use std::sync::Arc;

use serde_json::value::RawValue;
use switchboard_protocol::{
    ErrorObject, Notification, RawMap, Response, codes, empty_object, methods, to_raw, version,
};
use switchboard_upstream::CallOptions;

use crate::catalog::{Kind, Route};
use crate::gateway::Gateway;
use crate::pipeline::mismatch;
use crate::request::RequestCtx;
use crate::session::Session;
use switchboard_policy::auth::Identity;
use switchboard_policy::roles::Subject;
use switchboard_policy::stages::{Target, unknown};
use switchboard_protocol::log_level::level_index;

impl Gateway {
    /// Answer `initialize`: negotiate the version and record the client's capabilities.
    pub fn initialize(
        &self,
        session: &Session,
        params: Option<&RawValue>,
    ) -> Result<Box<RawValue>, ErrorObject> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct P {
            protocol_version: Option<String>,
            #[serde(default)]
            capabilities: serde_json::Value,
            #[serde(default)]
            client_info: serde_json::Value,
        }
        let p: P = match params {
            Some(raw) => serde_json::from_str(raw.get())
                .map_err(|e| ErrorObject::invalid_params(format!("initialize: {e}")))?,
            None => {
                return Err(ErrorObject::invalid_params(
                    "initialize needs params with protocolVersion, capabilities and clientInfo",
                ));
            }
        };
        let version = version::negotiate(p.protocol_version.as_deref());
        session.set_client(version, p.capabilities, p.client_info);
        let instructions = self.instructions();
        let mut result = serde_json::json!({
            "protocolVersion": version,
            "capabilities": {
                "tools": {"listChanged": true},
                "resources": {"subscribe": true, "listChanged": true},
                "prompts": {"listChanged": true},
                "logging": {},
                "completions": {}
            },
            "serverInfo": {"name": "switchboard", "title": "Switchboard MCP gateway", "version": env!("CARGO_PKG_VERSION")}
        });
        if let Some(i) = instructions {
            result["instructions"] = serde_json::Value::String(i);
        }
        // Tasks the gateway runs or relays, for 2025-11-25 clients (the extension is
        // `server/discover`'s). `tasks/list` lists the gateway's own tasks only.
        if self.durable.is_some() {
            result["capabilities"]["tasks"] = crate::durable::legacy_capability();
        } else if self.catalog.has_upstream_tasks() {
            result["capabilities"]["tasks"] =
                serde_json::json!({"cancel": {}, "requests": {"tools": {"call": {}}}});
        }
        Ok(to_raw(&result))
    }

    /// Every upstream's `instructions`, each under its server's name.
    pub(crate) fn instructions(&self) -> Option<String> {
        let parts: Vec<String> = self
            .catalog
            .servers()
            .iter()
            .filter_map(|s| match s.upstream.status() {
                switchboard_upstream::Status::Ready(i) => {
                    i.instructions.as_ref().map(|t| format!("[{}] {t}", s.name))
                }
                _ => None,
            })
            .collect();
        (!parts.is_empty()).then(|| parts.join("\n\n"))
    }

    pub(crate) fn list(
        &self,
        kind: Kind,
        params: Option<&RawValue>,
        identity: &Identity,
    ) -> Result<Box<RawValue>, ErrorObject> {
        let cursor = match params {
            Some(p) => RawMap::parse(p)
                .map_err(|e| ErrorObject::invalid_params(format!("params: {e}")))?
                .get_str("cursor")
                .map(|c| c.into_owned()),
            None => None,
        };
        let problems = self.catalog.problems();
        let meta = (!problems.is_empty()).then(|| {
            let list: Vec<_> = problems
                .iter()
                .map(
                    |(name, status)| serde_json::json!({"server": name.as_ref(), "status": status}),
                )
                .collect();
            to_raw(&serde_json::json!({"io.switchboard/unavailable": list}))
        });
        let policy = &identity.policy;
        // `tool_search.mode: replace`: the tool list is the two meta-tools.
        let only_meta = kind == Kind::Tools && self.config.lists_only_meta_tools();
        if policy.allows_everything() && !only_meta {
            return self.catalog.page(kind, cursor.as_deref(), meta, None);
        }
        let subject = match kind {
            Kind::Tools => Subject::Tool,
            Kind::Prompts => Subject::Prompt,
            Kind::Resources | Kind::Templates => Subject::Resource,
        };
        let meta_tool = |exposed: &str| {
            exposed == switchboard_config::tool_search::SEARCH_TOOLS
                || exposed == switchboard_config::tool_search::CALL_TOOL
        };
        let visible = |exposed: &str, original: &str| {
            (!only_meta || meta_tool(exposed)) && policy.allows(subject, exposed, original)
        };
        self.catalog
            .page(kind, cursor.as_deref(), meta, Some(&visible))
    }

    pub(crate) fn isolated(&self, server: usize) -> bool {
        self.catalog
            .servers()
            .get(server)
            .is_some_and(|s| s.config.isolation == switchboard_config::Isolation::Session)
    }

    /// One upstream subscription per (server, URI), shared by the sessions that asked.
    pub(crate) async fn subscribe(
        &self,
        ctx: &RequestCtx,
        uri: &str,
        route: Route,
        params: Box<RawValue>,
    ) -> Result<Box<RawValue>, ErrorObject> {
        let Some(session) = &ctx.session else {
            return Err(ErrorObject::invalid_request(
                "resources/subscribe needs a session (initialize first)",
            ));
        };
        if session.subscriptions.lock().contains_key(uri) {
            return Ok(empty_object());
        }
        if self.isolated(route.server) {
            // The session's own instance: nothing shared to count.
            self.forward(ctx, &route, methods::RESOURCES_SUBSCRIBE, params)
                .await?;
            session.subscriptions.lock().insert(uri.to_owned(), route);
            return Ok(empty_object());
        }
        if self.subscriptions.acquire(route.server, &route.original)
            && let Err(e) = self
                .forward(ctx, &route, methods::RESOURCES_SUBSCRIBE, params)
                .await
        {
            self.subscriptions.release(route.server, &route.original);
            return Err(e);
        }
        session.subscriptions.lock().insert(uri.to_owned(), route);
        self.share_subscription(session, uri).await;
        Ok(empty_object())
    }

    pub(crate) async fn unsubscribe(
        &self,
        ctx: &RequestCtx,
        uri: &str,
        params: Box<RawValue>,
    ) -> Result<Box<RawValue>, ErrorObject> {
        let route = ctx
            .session
            .as_ref()
            .and_then(|s| s.subscriptions.lock().remove(uri));
        if let Some(session) = &ctx.session {
            self.unshare_subscription(session, uri).await;
        }
        if let Some(route) = route
            && (self.isolated(route.server)
                || self.subscriptions.release(route.server, &route.original))
        {
            self.forward(ctx, &route, methods::RESOURCES_UNSUBSCRIBE, params)
                .await?;
        }
        Ok(empty_object())
    }

    pub(crate) async fn complete(
        &self,
        ctx: &RequestCtx,
        params: Option<&RawValue>,
    ) -> Result<Box<RawValue>, ErrorObject> {
        let params = params
            .ok_or_else(|| ErrorObject::invalid_params("completion/complete needs params"))?;
        let mut map = RawMap::parse(params)
            .map_err(|e| ErrorObject::invalid_params(format!("params: {e}")))?;
        let reference = map
            .get("ref")
            .ok_or_else(|| ErrorObject::invalid_params("completion/complete needs `ref`"))?;
        let mut r = RawMap::parse(reference)
            .map_err(|e| ErrorObject::invalid_params(format!("ref: {e}")))?;
        let kind = r
            .get_str("type")
            .map(|t| t.into_owned())
            .unwrap_or_default();
        let (key, route) = match kind.as_str() {
            "ref/prompt" => {
                let name = r
                    .get_str("name")
                    .ok_or_else(|| ErrorObject::invalid_params("ref/prompt needs `name`"))?
                    .into_owned();
                // Completing a prompt's arguments needs permission to use the prompt.
                let route = self.catalog.route_prompt(&name);
                let target = Target::Prompt(name);
                let original = route.as_ref().map(|r| r.original.as_str());
                switchboard_policy::stages::authorize(&ctx.identity, &target, original)?;
                let Target::Prompt(name) = target else {
                    return Err(mismatch());
                };
                ("name", route.ok_or_else(|| unknown("prompt", &name))?)
            }
            "ref/resource" => {
                let uri = r
                    .get_str("uri")
                    .ok_or_else(|| ErrorObject::invalid_params("ref/resource needs `uri`"))?
                    .into_owned();
                switchboard_policy::stages::authorize(
                    &ctx.identity,
                    &Target::Resource(uri.clone()),
                    None,
                )?;
                (
                    "uri",
                    self.catalog.route_resource(&uri).ok_or_else(|| {
                        ErrorObject::new(
                            codes::RESOURCE_NOT_FOUND,
                            format!("Resource not found: {uri}"),
                        )
                    })?,
                )
            }
            other => {
                return Err(ErrorObject::invalid_params(format!(
                    "unknown completion ref type {other:?}; expected ref/prompt or ref/resource"
                )));
            }
        };
        r.set_str(key, &route.original);
        let r = r.to_raw();
        map.set("ref", r);
        self.forward(ctx, &route, methods::COMPLETION_COMPLETE, map.to_raw())
            .await
    }

    pub(crate) fn set_level(
        &self,
        ctx: &RequestCtx,
        params: Option<&RawValue>,
    ) -> Result<Box<RawValue>, ErrorObject> {
        let level = params
            .and_then(|p| RawMap::parse(p).ok())
            .and_then(|m| m.get_str("level").map(|l| l.into_owned()))
            .ok_or_else(|| ErrorObject::invalid_params("logging/setLevel needs `level`"))?;
        let idx = level_index(&level).ok_or_else(|| {
            ErrorObject::invalid_params(format!("unknown log level {level:?}; use debug, info, notice, warning, error, critical, alert or emergency"))
        })?;
        if let Some(s) = &ctx.session {
            s.set_log_level(idx);
            // Other replicas serving this session filter by the same level: the copies they
            // hold are told, and the record is for those that adopt it later.
            self.share_session_later(s);
            self.broadcast_log_level(s, idx);
        }
        self.tell_upstreams_log_level(idx);
        Ok(empty_object())
    }

    /// Upstreams send what the most verbose client wants (`fallback` with no session); each
    /// session filters for itself.
    pub(crate) fn tell_upstreams_log_level(&self, fallback: u8) {
        let min = self
            .sessions
            .all()
            .iter()
            .map(|s| s.log_level())
            .min()
            .unwrap_or(fallback);
        let level_name = switchboard_protocol::log_level::level_name(min);
        for s in self.catalog.servers().iter() {
            // Session-era servers only: 2026-07-28 requests carry their own log level.
            if matches!(s.upstream.status(), switchboard_upstream::Status::Ready(i) if i.legacy && i.has("logging"))
            {
                let up = s.upstream.clone();
                let params = to_raw(&serde_json::json!({"level": level_name}));
                tokio::spawn(async move {
                    let _ = up
                        .call(
                            methods::LOGGING_SET_LEVEL,
                            Some(params),
                            CallOptions::default(),
                        )
                        .await;
                });
            }
        }
    }

    /// A notification from the client.
    pub fn handle_notification(&self, session: Option<&Arc<Session>>, n: Notification) {
        match n.method.as_str() {
            methods::INITIALIZED => {
                if let Some(s) = session {
                    s.initialized
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                }
            }
            methods::CANCELLED => {
                #[derive(serde::Deserialize)]
                #[serde(rename_all = "camelCase")]
                struct P {
                    request_id: switchboard_protocol::Id,
                }
                if let (Some(s), Some(p)) = (
                    session,
                    n.params
                        .as_ref()
                        .and_then(|p| serde_json::from_str::<P>(p.get()).ok()),
                ) {
                    s.cancel(&p.request_id);
                }
            }
            methods::ROOTS_LIST_CHANGED => {
                for s in self.catalog.servers().iter() {
                    s.upstream.notify(methods::ROOTS_LIST_CHANGED, None);
                }
            }
            _ => tracing::debug!(method = %n.method, "client notification ignored"),
        }
    }

    /// A response from the client to one of our server→client requests.
    pub fn handle_response(&self, session: &Session, r: Response) {
        // With `cluster:`, an answer to another replica's request goes to that replica.
        if !session.is_waiting(&r.id) && self.forward_answer(session, r.clone()) {
            return;
        }
        if !session.resolve(&r.id, r.result) {
            tracing::debug!(id = %r.id, "client answered a request nobody waits for");
        }
    }
}
