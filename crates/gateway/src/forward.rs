//! Routing a call to its upstream in the right protocol era: the client's era when the server
//! speaks it (a relay, wrapping a 2026 upstream's `requestState` in the gateway's signed one),
//! else the other era through a bridge (`bridge.rs` for session-era clients, `parked.rs` for
//! 2026 clients).

use std::sync::Arc;

use serde_json::value::RawValue;
use switchboard_protocol::{ErrorObject, methods};
use switchboard_upstream::{CallOptions, Era, Relay};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::catalog::Route;
use crate::gateway::Gateway;
use crate::parked::{Resumed, Round, Running};
use crate::relay::CallRelay;
use crate::request::RequestCtx;
use switchboard_policy::request_state::Binding;

impl Gateway {
    pub(crate) async fn forward(
        &self,
        ctx: &RequestCtx,
        route: &Route,
        method: &str,
        params: Box<RawValue>,
    ) -> Result<Box<RawValue>, ErrorObject> {
        self.forward_with(ctx, route, method, params, Vec::new(), &ctx.cancel, None)
            .await
    }

    /// `cancel`: what cancels the upstream request (the caller's token, or none for a cached
    /// flight others may share); `asked`: set when the upstream sends the caller a request.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn forward_with(
        &self,
        ctx: &RequestCtx,
        route: &Route,
        method: &str,
        params: Box<RawValue>,
        param_headers: Vec<(String, String)>,
        cancel: &CancellationToken,
        asked: Option<Arc<std::sync::atomic::AtomicBool>>,
    ) -> Result<Box<RawValue>, ErrorObject> {
        let upstream = self
            .upstream_for(route.server, ctx.session.as_ref())
            .ok_or_else(|| ErrorObject::internal("route to a server that is gone"))?;
        let relay: Option<Arc<dyn Relay>> = match (&ctx.session, &ctx.modern) {
            (Some(s), _) => Some(Arc::new(CallRelay {
                session: s.clone(),
                out: ctx.out.clone(),
            })),
            (None, Some(meta)) => Some(Arc::new(crate::relay::StatelessRelay {
                out: ctx.out.clone(),
                log_level: meta.log_level,
                origin: crate::session::next_origin(),
            })),
            (None, None) => ctx.detached_relay.clone(),
        };
        let relay = match (relay, asked) {
            (Some(inner), Some(asked)) => {
                Some(Arc::new(crate::cache::Watched { inner, asked }) as _)
            }
            (relay, _) => relay,
        };
        // The client's era when the server speaks it (pure relay); else the other, bridged.
        let client_era = ctx.era();
        let era = match (client_era, upstream.info()) {
            (Some(Era::Modern), Some(i)) if !i.speaks(Era::Modern) => Some(Era::Legacy),
            (Some(Era::Legacy), Some(i)) if !i.speaks(Era::Legacy) => Some(Era::Modern),
            (e, _) => e,
        };
        let server = upstream.name().clone();
        // A tool's own timeout, if the server entry gives it one.
        let timeout = match method {
            methods::TOOLS_CALL if ctx.call_timeout.is_some() => ctx.call_timeout,
            methods::TOOLS_CALL => self
                .catalog
                .servers()
                .get(route.server)
                .and_then(|s| s.config.tool_timeouts.get(&route.original))
                .map(|t| t.0),
            _ => None,
        };
        // The upstream call's span; its context goes upstream (`_meta`, and headers to HTTP).
        let span = {
            let transport = match self
                .catalog
                .servers()
                .get(route.server)
                .map(|s| s.config.kind())
            {
                Some(switchboard_config::TransportKind::Http) => "http",
                Some(switchboard_config::TransportKind::Sse) => "sse",
                _ => "stdio",
            };
            let era_name = match era {
                Some(Era::Modern) => "modern",
                Some(Era::Legacy) => "legacy",
                None => "auto",
            };
            crate::trace::upstream_span(method, &route.original, &server, transport, era_name)
        };
        // An in-process backend may call other tools as this caller (the dispatch seam); the
        // built-in transports get nothing (and the check is one bool for them).
        let on_behalf_of = upstream.in_process().then(|| {
            Arc::new(crate::dispatch::Caller::of(ctx)) as Arc<dyn std::any::Any + Send + Sync>
        });
        let call = |params: Box<RawValue>| {
            let upstream = upstream.clone();
            let (params, trace_headers) =
                crate::trace::propagate(&span, ctx.trace.as_ref(), params);
            let opts = CallOptions {
                relay: relay.clone(),
                cancel: cancel.clone(),
                timeout,
                era,
                param_headers: param_headers.clone(),
                trace_headers,
                on_behalf_of: on_behalf_of.clone(),
            };
            let (span, recorded) = (span.clone(), span.clone());
            async move {
                let result = upstream.call(method, Some(params), opts).await.map_err(|e| {
                    if e.is_upstream_fault() {
                        tracing::warn!(server = %upstream.name(), method, error = %e, "upstream call failed");
                    }
                    e.to_error_object()
                });
                crate::trace::record_result(&recorded, &result);
                result
            }
            .instrument(span)
        };
        match (client_era, era) {
            (Some(Era::Modern), Some(Era::Modern)) => {
                // Relay (docs/design §5.4): the upstream's own `requestState` travels inside
                // the gateway's signed one, bound to this request.
                let binding = Binding::of(method, &route.original, &server, &params)
                    .for_principal(&ctx.identity.subject);
                let (params, state) = switchboard_policy::request_state::take_state(params)?;
                let params = match state {
                    None => params,
                    Some(token) => {
                        let claims = self.mrtr.open(&token, &binding).map_err(|e| {
                            tracing::info!(server = %server, method, reason = %e, "requestState refused");
                            switchboard_policy::request_state::invalid_state()
                        })?;
                        switchboard_policy::request_state::put_state(&params, claims.us.as_deref())
                    }
                };
                let result = call(params).await?;
                if switchboard_policy::request_state::is_input_required(&result) {
                    return Ok(switchboard_policy::request_state::rewrite_result_state(
                        &result,
                        |us| self.mrtr.seal(&binding, us),
                    ));
                }
                Ok(crate::tasks::scope_task_id(
                    &self.mrtr,
                    &ctx.identity.subject,
                    &server,
                    result,
                ))
            }
            (Some(Era::Modern), _) => {
                // A session-era upstream: the modern envelope is the gateway's, and the
                // upstream's requests to the client become `input_required` rounds (§5.5).
                let interactive = matches!(
                    method,
                    methods::TOOLS_CALL | methods::PROMPTS_GET | methods::RESOURCES_READ
                );
                let Some(meta) = ctx.modern.as_ref().filter(|_| interactive) else {
                    return call(crate::era::strip_request_meta(params)).await;
                };
                let binding = Binding::of(method, &route.original, &server, &params)
                    .for_principal(&ctx.identity.subject);
                let (params, state) = switchboard_policy::request_state::take_state(params)?;
                let (params, responses) =
                    switchboard_policy::request_state::take_responses(params)?;
                let progress_token = switchboard_policy::request_state::progress_token(&params);
                let params = crate::era::strip_request_meta(params);
                let (params, trace_headers) =
                    crate::trace::propagate(&span, ctx.trace.as_ref(), params);
                let (running, round) = match state {
                    None => {
                        let upstream = upstream.clone();
                        let span = span.clone();
                        let method = method.to_owned();
                        let param_headers = param_headers.clone();
                        // The time the client takes to answer is not the server's: a parked
                        // call may last its own timeout plus the state's lifetime.
                        let timeout = self
                            .catalog
                            .servers()
                            .get(route.server)
                            .map(|s| s.config.timeout.0 + self.mrtr.ttl());
                        let on_behalf_of = on_behalf_of.clone();
                        let start = move |relay: Arc<dyn Relay>, cancel: CancellationToken| {
                            Box::pin(async move {
                                let opts = CallOptions {
                                    relay: Some(relay),
                                    cancel,
                                    timeout,
                                    era,
                                    param_headers,
                                    trace_headers,
                                    on_behalf_of,
                                };
                                let result = upstream
                                    .call(&method, Some(params), opts)
                                    .instrument(span.clone())
                                    .await
                                    .map_err(|e| e.to_error_object());
                                crate::trace::record_result(&span, &result);
                                result
                            })
                                as futures_util::future::BoxFuture<'static, _>
                        };
                        (
                            Running::start(ctx.out.clone(), meta, progress_token, start),
                            1,
                        )
                    }
                    Some(token) => {
                        let refused = |why: &dyn std::fmt::Display| {
                            tracing::info!(server = %server, method, reason = %why, "requestState refused");
                            switchboard_policy::request_state::invalid_state()
                        };
                        let claims = self.mrtr.open(&token, &binding).map_err(|e| refused(&e))?;
                        let (Some(handle), Some(r)) = (claims.h, claims.r) else {
                            return Err(refused(&"not a parked call's state"));
                        };
                        let responses = responses.unwrap_or_default();
                        if let Some(holder) = claims
                            .o
                            .as_deref()
                            .filter(|o| Some(*o) != self.replica_id())
                        {
                            let retry = crate::parked_elsewhere::Retry {
                                handle,
                                round: r,
                                responses,
                                binding,
                                version: meta.version.clone(),
                                capabilities: meta.capabilities.clone(),
                                log_level: meta.log_level,
                                progress_token,
                            };
                            return self
                                .resume_elsewhere(holder, retry, ctx.out.clone(), cancel)
                                .await;
                        }
                        match self.parked.resume(
                            &handle,
                            r,
                            &responses,
                            ctx.out.clone(),
                            meta,
                            progress_token,
                        )? {
                            Resumed::Continue(running) => (running, r + 1),
                            Resumed::Again { running, missing } => {
                                return Ok(self.parked.repark(running, missing, r + 1, |h, r| {
                                    self.mrtr.seal_park(&binding, h, r, self.replica_id())
                                }));
                            }
                        }
                    }
                };
                let round = self
                    .parked
                    .round(running, round, cancel, self.mrtr.ttl(), |h, r| {
                        self.mrtr.seal_park(&binding, h, r, self.replica_id())
                    })
                    .await;
                match round {
                    Round::Done(result) => result,
                    Round::Input(result) => Ok(result),
                }
            }
            (Some(Era::Legacy), Some(Era::Modern)) => {
                let Some(session) = &ctx.session else {
                    return Err(ErrorObject::internal(
                        "a session-era request without a session",
                    ));
                };
                crate::bridge::drive_input_required(session, relay.as_ref(), params, call).await
            }
            _ => call(params).await,
        }
    }
}
