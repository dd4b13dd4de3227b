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
    ErrorObject, Message, RawMap, Request, codes, empty_object, methods, to_raw,
};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::catalog::{Kind, ToolEntry};
use crate::gateway::Gateway;
use crate::hints::HintPolicy;
use switchboard_policy::stages::{Target, unknown};

pub use crate::request::{RequestCtx, Transport};
pub use switchboard_policy::auth::Identity;

impl Gateway {
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
        crate::record::record_metrics(&ctx, &req.method, tool, &result, started);
        if self.audit.enabled() && req.method != methods::PING {
            self.audit
                .log(crate::record::audit_record(
                    &self.audit,
                    &ctx,
                    &req,
                    &result,
                    started,
                ))
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
                let tasks = self.durable.is_some()
                    || self.catalog.has_upstream_tasks()
                    || self.catalog.servers().iter().any(|s| {
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
            methods::TASKS_GET
            | methods::TASKS_UPDATE
            | methods::TASKS_CANCEL
            | methods::TASKS_RESULT
            | methods::TASKS_LIST => self.task(ctx, &req.method, params).await,
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
                // A task tool (the gateway's, or an upstream's): a task when the client asks.
                if (self.durable.is_some() || entry.upstream_tasks)
                    && let Some(answer) = self.task_call(ctx, name, &entry, params).await
                {
                    return answer;
                }
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
        let param_headers = crate::param_headers::values_for(
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
                self.broadcast_invalidation(cache, Vec::new(), tools);
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
        // An API told who calls (`forward_identity`) may answer each caller differently: its
        // results are never shared between callers, whatever the rule or annotation says.
        if self
            .catalog
            .servers()
            .get(server)
            .is_some_and(|s| s.config.forward_identity.is_some())
        {
            return format!("identity:{}:{}", who.method, who.subject);
        }
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

pub(crate) fn mismatch() -> ErrorObject {
    // `target()` maps each routed method to its variant, so this is not reached.
    ErrorObject::internal("request target does not match its method")
}
