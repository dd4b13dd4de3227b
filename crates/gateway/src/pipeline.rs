//! The request pipeline. Every client request takes the same ordered path:
//!
//! ```text
//! authenticate → authorize → rate limit → validate → cache → route → backend
//!        (record: audit + metrics + trace wrap the whole call)
//! ```
//!
//! Why this order: identity first, because every later decision depends on it; permission
//! before rate limiting, so a caller cannot spend someone else's budget on calls it may not
//! make and a denied call costs nothing; limits before validation, so malformed floods are
//! still limited; validation before the cache, so a bad call never reaches it; the cache after
//! authorization, so a cached answer never leaks across permissions; routing last, so a denied
//! or cached call never touches an upstream. Stages that later work fills in are seams here:
//! they pass everything through, at the place they belong.

use std::sync::Arc;
use std::time::Instant;

use serde_json::value::RawValue;
use switchboard_protocol::{
    ErrorObject, Message, Notification, RawMap, Request, Response, codes, empty_object, methods,
    to_raw, version,
};
use switchboard_upstream::CallOptions;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::catalog::{Kind, Route, ToolEntry};
use crate::gateway::Gateway;
use crate::hints::HintPolicy;
use crate::session::Session;
use switchboard_policy::roles::Subject;
use switchboard_policy::stages::{Target, unknown};
use switchboard_protocol::log_level::level_index;

pub use crate::request::{RequestCtx, Transport};
pub use switchboard_policy::auth::Identity;

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
        Ok(to_raw(&result))
    }

    /// Every upstream's `instructions`, each under its server's name.
    fn instructions(&self) -> Option<String> {
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

    /// Run one request through the pipeline; always returns the response message. The caller
    /// holds an [`crate::gateway::InFlight`] for it (see [`Gateway::begin_request`]).
    pub async fn handle_request(&self, ctx: RequestCtx, req: Request) -> Message {
        let started = Instant::now();
        // The catalogue name of the tool called, for the metrics (bounded: never user input
        // that names nothing).
        let mut tool = None;
        let result = if self.shutting_down.is_cancelled() {
            Err(ErrorObject::new(
                codes::SHUTTING_DOWN,
                "switchboard is shutting down; retry on another replica or later",
            ))
        } else {
            if let Some(s) = &ctx.session {
                s.touch();
            }
            self.dispatch(&ctx, &req, &mut tool).await
        };
        // Modern clients get `resultType`, cache hints and their error codes.
        let result = match ctx.modern {
            Some(_) => result
                .map(|r| self.modernize_result_for(&req.method, &ctx, r))
                .map_err(crate::era::modernize_error),
            None => result,
        };
        // record: audit and metrics wrap the call.
        self.record_metrics(&ctx, &req.method, tool, &result, started);
        if self.audit.enabled() && req.method != methods::PING {
            self.audit
                .log(self.audit_record(&ctx, &req, &result, started))
                .await;
        }
        tracing::debug!(
            method = %req.method,
            id = %req.id,
            ok = result.is_ok(),
            elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            "request"
        );
        Message::response(req.id, result)
    }

    /// [`Gateway::dispatch_in`] inside the request's span (`trace.rs`): its parent is the
    /// client's trace context; the stages and the upstream call are its children.
    async fn dispatch(
        &self,
        ctx: &RequestCtx,
        req: &Request,
        tool: &mut Option<String>,
    ) -> Result<Box<RawValue>, ErrorObject> {
        let span = crate::request::request_span(ctx, req);
        let result = self
            .dispatch_in(ctx, req, tool)
            .instrument(span.clone())
            .await;
        crate::trace::record_result(&span, &result);
        result
    }

    async fn dispatch_in(
        &self,
        ctx: &RequestCtx,
        req: &Request,
        tool: &mut Option<String>,
    ) -> Result<Box<RawValue>, ErrorObject> {
        let params = req.params.as_deref();
        let target = self.target(&req.method, params)?;
        crate::trace::record_target(&target);
        // The catalogue is read once per request: a tool's route, schema and marks together.
        let tool_entry = match &target {
            Target::Tool(name) => self.catalog.tool(name),
            _ => None,
        };
        let prompt_route = match &target {
            Target::Prompt(name) => self.catalog.route_prompt(name),
            _ => None,
        };
        if let (Target::Tool(name), Some(_)) = (&target, &tool_entry) {
            *tool = Some(name.clone());
        }
        let original = tool_entry
            .as_ref()
            .map(|t| &t.route)
            .or(prompt_route.as_ref())
            .map(|r| r.original.as_str());
        // 1. authenticate — the transport attached the caller.
        let identity = &ctx.identity;
        // 2. authorize: a denied target is answered exactly like one that does not exist.
        tracing::info_span!(target: crate::trace::OTEL_TARGET, "authorize").in_scope(|| {
            switchboard_policy::stages::authorize(identity, &target, original).inspect_err(|_| {
                ctx.denied.store(true, std::sync::atomic::Ordering::Relaxed);
            })
        })?;
        // 3. rate limit: only calls that may be made spend budget.
        let tool_route = match (&target, &tool_entry) {
            (Target::Tool(name), Some(t)) => Some((name.as_str(), t.route.original.as_str())),
            _ => None,
        };
        switchboard_policy::stages::rate_limit(
            &ctx.policies.limits,
            identity,
            &req.method,
            tool_route,
        )
        .instrument(tracing::info_span!(target: crate::trace::OTEL_TARGET, "rate_limit"))
        .await?;
        // 4. validate: a tool's arguments against its inputSchema, before any upstream sees them.
        if let Target::Tool(name) = &target {
            let validator = tool_entry.as_ref().and_then(|t| t.validator.as_deref());
            tracing::info_span!(target: crate::trace::OTEL_TARGET, "validate").in_scope(|| {
                switchboard_policy::stages::validate_arguments(name, validator, params)
            })?;
        }
        // 5. cache (`call_tool`, once the route is known) and 6. route and 7. backend.
        match req.method.as_str() {
            methods::PING => Ok(empty_object()),
            methods::SERVER_DISCOVER => {
                let tasks = self.catalog.servers().iter().any(|s| {
                    s.upstream
                        .info()
                        .is_some_and(|i| i.has_extension(methods::TASKS_EXTENSION))
                });
                let extensions: &[&str] = if tasks {
                    &[methods::TASKS_EXTENSION]
                } else {
                    &[]
                };
                Ok(crate::era::discover(self.instructions(), extensions))
            }
            methods::TASKS_GET | methods::TASKS_UPDATE | methods::TASKS_CANCEL => {
                self.task(ctx, &req.method, params).await
            }
            methods::INITIALIZE => Err(ErrorObject::invalid_request(
                "the session is already initialized",
            )),
            methods::TOOLS_LIST => self.list(Kind::Tools, params, identity),
            methods::PROMPTS_LIST => self.list(Kind::Prompts, params, identity),
            methods::RESOURCES_LIST => self.list(Kind::Resources, params, identity),
            methods::RESOURCES_TEMPLATES_LIST => self.list(Kind::Templates, params, identity),
            methods::TOOLS_CALL => {
                let Target::Tool(name) = &target else {
                    return Err(mismatch());
                };
                let entry = tracing::info_span!(target: crate::trace::OTEL_TARGET, "route")
                    .in_scope(|| tool_entry.ok_or_else(|| unknown("tool", name)))?;
                let upstream_params = switchboard_protocol::rawmap::with_param(
                    params,
                    "name",
                    &entry.route.original,
                )?;
                self.call_tool(ctx, name, &entry, params, upstream_params)
                    .await
            }
            methods::PROMPTS_GET => {
                let Target::Prompt(name) = &target else {
                    return Err(mismatch());
                };
                let route = tracing::info_span!(target: crate::trace::OTEL_TARGET, "route")
                    .in_scope(|| prompt_route.ok_or_else(|| unknown("prompt", name)))?;
                let upstream_params =
                    switchboard_protocol::rawmap::with_param(params, "name", &route.original)?;
                self.forward_with(
                    ctx,
                    &route,
                    &req.method,
                    upstream_params,
                    Vec::new(),
                    &ctx.cancel,
                    None,
                )
                .await
            }
            methods::RESOURCES_READ
            | methods::RESOURCES_SUBSCRIBE
            | methods::RESOURCES_UNSUBSCRIBE => {
                let Target::Resource(uri) = &target else {
                    return Err(mismatch());
                };
                let route = self.catalog.route_resource(uri).ok_or_else(|| {
                    ErrorObject::new(
                        codes::RESOURCE_NOT_FOUND,
                        format!("Resource not found: {uri}"),
                    )
                    .with_data(to_raw(&serde_json::json!({"uri": uri})))
                })?;
                let params =
                    switchboard_protocol::rawmap::with_param(params, "uri", &route.original)?;
                match req.method.as_str() {
                    methods::RESOURCES_SUBSCRIBE => self.subscribe(ctx, uri, route, params).await,
                    methods::RESOURCES_UNSUBSCRIBE => self.unsubscribe(ctx, uri, params).await,
                    _ => self.forward(ctx, &route, &req.method, params).await,
                }
            }
            methods::COMPLETION_COMPLETE => self.complete(ctx, params).await,
            methods::LOGGING_SET_LEVEL => self.set_level(ctx, params),
            other => Err(ErrorObject::method_not_found(other)),
        }
    }

    /// A `tools/call`: from the cache when its plan allows, else from its upstream; a
    /// successful call then drops the results it invalidates (`invalidated_by`).
    async fn call_tool(
        &self,
        ctx: &RequestCtx,
        name: &str,
        entry: &ToolEntry,
        client_params: Option<&RawValue>,
        params: Box<RawValue>,
    ) -> Result<Box<RawValue>, ErrorObject> {
        let route = &entry.route;
        let param_headers = crate::params::values_for(
            entry.param_headers.as_deref().map(Vec::as_slice),
            client_params,
        );
        // The request's cache, even if a reload replaces it meanwhile.
        let cache = &ctx.policies.cache;
        let plan = cache
            .plan(name, &route.original, || entry.read_only_idempotent)
            .filter(|_| crate::cache::eligible(client_params));
        let result = match plan {
            None => {
                self.forward_with(
                    ctx,
                    route,
                    methods::TOOLS_CALL,
                    params,
                    param_headers,
                    &ctx.cancel,
                    None,
                )
                .await
            }
            Some(plan) => {
                let scope = self.cache_scope(ctx, plan.scope, route.server);
                let era = match ctx.era() {
                    Some(switchboard_upstream::Era::Modern) => 2,
                    Some(switchboard_upstream::Era::Legacy) => 1,
                    None => 0,
                };
                let key = crate::cache::key(
                    &crate::cache::KeyParts {
                        era,
                        tool: name,
                        scope: &scope,
                    },
                    client_params,
                )?;
                let server = self
                    .catalog
                    .servers()
                    .get(route.server)
                    .map(|s| s.name.clone())
                    .unwrap_or_else(|| Arc::from(""));
                // The flight may answer other callers too: it is not cancelled with this
                // caller. A cancelled caller stops waiting; a waiting one takes the call over.
                let detached = CancellationToken::new();
                let flight = cache.get_or_call(key, plan, route.server, &server, name, |asked| {
                    self.forward_with(
                        ctx,
                        route,
                        methods::TOOLS_CALL,
                        params.clone(),
                        param_headers.clone(),
                        &detached,
                        Some(asked),
                    )
                });
                let flight = flight
                    .instrument(tracing::info_span!(target: crate::trace::OTEL_TARGET, "cache"));
                tokio::select! {
                    biased;
                    _ = ctx.cancel.cancelled() => Err(ErrorObject::new(codes::REQUEST_CANCELLED, "request cancelled")),
                    r = flight => r,
                }
            }
        };
        if result.is_ok() && cache.has_invalidators() {
            let targets = cache.invalidated_by_call(name, &route.original);
            if !targets.is_empty() {
                let tools: Vec<String> = self
                    .catalog
                    .tools()
                    .into_iter()
                    .filter(|(exposed, r)| {
                        targets.iter().any(|p| {
                            p.matches(
                                switchboard_policy::roles::Subject::Tool,
                                exposed,
                                &r.original,
                            )
                        })
                    })
                    .map(|(exposed, _)| exposed)
                    .collect();
                cache.invalidate_tools(&tools).await;
            }
        }
        result
    }

    /// What besides the arguments a cached result is shared by: the session for servers
    /// isolated per session, else the plan's scope.
    fn cache_scope(
        &self,
        ctx: &RequestCtx,
        scope: switchboard_config::CacheScope,
        server: usize,
    ) -> String {
        if self.isolated(server) {
            return match &ctx.session {
                Some(s) => format!("session:{}", s.id),
                None => "stateless".to_owned(),
            };
        }
        let who = &ctx.identity;
        match scope {
            switchboard_config::CacheScope::Shared => String::new(),
            switchboard_config::CacheScope::Role => {
                format!("role:{}", who.role.as_deref().unwrap_or(""))
            }
            switchboard_config::CacheScope::Identity => {
                format!("identity:{}:{}", who.method, who.subject)
            }
        }
    }

    fn target(&self, method: &str, params: Option<&RawValue>) -> Result<Target, ErrorObject> {
        let key = match method {
            methods::TOOLS_CALL => "name",
            methods::PROMPTS_GET => "name",
            methods::RESOURCES_READ
            | methods::RESOURCES_SUBSCRIBE
            | methods::RESOURCES_UNSUBSCRIBE => "uri",
            _ => return Ok(Target::Gateway),
        };
        let params = params.ok_or_else(|| {
            ErrorObject::invalid_params(format!("{method} needs params with `{key}`"))
        })?;
        let map = RawMap::parse(params)
            .map_err(|e| ErrorObject::invalid_params(format!("params: {e}")))?;
        let value = map
            .get_str(key)
            .ok_or_else(|| ErrorObject::invalid_params(format!("{method} needs a string `{key}`")))?
            .into_owned();
        Ok(match method {
            methods::TOOLS_CALL => Target::Tool(value),
            methods::PROMPTS_GET => Target::Prompt(value),
            _ => Target::Resource(value),
        })
    }

    fn list(
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
        if policy.allows_everything() {
            return self.catalog.page(kind, cursor.as_deref(), meta, None);
        }
        let subject = match kind {
            Kind::Tools => Subject::Tool,
            Kind::Prompts => Subject::Prompt,
            Kind::Resources | Kind::Templates => Subject::Resource,
        };
        let visible = |exposed: &str, original: &str| policy.allows(subject, exposed, original);
        self.catalog
            .page(kind, cursor.as_deref(), meta, Some(&visible))
    }

    fn isolated(&self, server: usize) -> bool {
        self.catalog
            .servers()
            .get(server)
            .is_some_and(|s| s.config.isolation == switchboard_config::Isolation::Session)
    }

    /// One upstream subscription per (server, URI), shared by the sessions that asked.
    async fn subscribe(
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
        Ok(empty_object())
    }

    async fn unsubscribe(
        &self,
        ctx: &RequestCtx,
        uri: &str,
        params: Box<RawValue>,
    ) -> Result<Box<RawValue>, ErrorObject> {
        let route = ctx
            .session
            .as_ref()
            .and_then(|s| s.subscriptions.lock().remove(uri));
        if let Some(route) = route
            && (self.isolated(route.server)
                || self.subscriptions.release(route.server, &route.original))
        {
            self.forward(ctx, &route, methods::RESOURCES_UNSUBSCRIBE, params)
                .await?;
        }
        Ok(empty_object())
    }

    async fn complete(
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

    fn set_level(
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
        }
        // Upstreams send what the most verbose client wants; each session filters for itself.
        let min = self
            .sessions
            .all()
            .iter()
            .map(|s| s.log_level())
            .min()
            .unwrap_or(idx);
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
        Ok(empty_object())
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
        if !session.resolve(&r.id, r.result) {
            tracing::debug!(id = %r.id, "client answered a request nobody waits for");
        }
    }
}

impl Gateway {
    /// [`crate::era::modernize_result`] with the cache hints due to this caller: a merged list gets the
    /// combined hint of the servers behind it (see [`crate::hints::combine`]), every cacheable result the
    /// caller's scope ([`crate::hints::caller_is_private`]).
    pub fn modernize_result_for(
        &self,
        method: &str,
        ctx: &crate::request::RequestCtx,
        result: Box<RawValue>,
    ) -> Box<RawValue> {
        if !crate::era::is_cacheable(method) {
            return crate::era::modernize_result(method, result, HintPolicy::DEFAULT);
        }
        let absent = match method {
            methods::TOOLS_LIST => self.catalog.list_hint(crate::catalog::Kind::Tools),
            methods::PROMPTS_LIST => self.catalog.list_hint(crate::catalog::Kind::Prompts),
            methods::RESOURCES_LIST => self.catalog.list_hint(crate::catalog::Kind::Resources),
            methods::RESOURCES_TEMPLATES_LIST => {
                self.catalog.list_hint(crate::catalog::Kind::Templates)
            }
            _ => crate::hints::CacheHint::DEFAULT,
        };
        let policy = HintPolicy {
            absent,
            private: crate::hints::caller_is_private(
                ctx.policies.auth.enabled(),
                !ctx.identity.policy.allows_everything(),
            ),
        };
        crate::era::modernize_result(method, result, policy)
    }
}

fn mismatch() -> ErrorObject {
    // `target()` maps each routed method to its variant, so this is not reached.
    ErrorObject::internal("request target does not match its method")
}
