//! Admitting a request: what a transport knows about it ([`RequestCtx`]), and the one
//! function every transport starts a request with ([`Gateway::admit`]) — counted in flight at
//! once, run through the pipeline, its cancellation forgotten when it is answered.

use std::future::Future;
use std::sync::Arc;

use switchboard_protocol::{Message, RawMap, Request};
use tokio_util::sync::CancellationToken;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::era::ModernMeta;
use crate::gateway::Gateway;
use crate::outbound::Outbound;
use crate::policies::Policies;
use crate::session::Session;
use switchboard_policy::auth::Identity;
use switchboard_upstream::Era;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Http,
    /// The 2024-11-05 HTTP+SSE transport (`http.legacy_sse`).
    LegacySse,
    Stdio,
}

/// Everything the pipeline knows about one request besides the message.
pub struct RequestCtx {
    /// The client's session; `None` for a stateless request.
    pub session: Option<Arc<Session>>,
    /// Where messages about this request go (its SSE stream, or stdout).
    pub out: Option<Outbound>,
    pub transport: Transport,
    pub cancel: CancellationToken,
    /// Set for a stateless 2026-07-28 request: what it declared in `_meta`.
    pub modern: Option<ModernMeta>,
    /// Who is calling (the transport authenticated them with `policies.auth`).
    pub identity: Arc<Identity>,
    /// The reloadable policies this request is judged by, read once when it was admitted.
    pub policies: Arc<Policies>,
    /// The client's address (HTTP), for the audit trail.
    pub client_ip: Option<std::net::IpAddr>,
    /// Set by authorization when it refuses the request (recorded as `denied`, answered as
    /// unknown).
    pub denied: std::sync::atomic::AtomicBool,
    /// The W3C trace context of the HTTP request (`traceparent`/`tracestate` headers); one in
    /// the message's `params._meta` takes precedence (`trace.rs`).
    pub trace: Option<crate::trace::TraceContext>,
    /// A tool call's time limit in place of the server's (a task rule's `timeout`).
    pub call_timeout: Option<std::time::Duration>,
    /// Where what an upstream says about a call goes when no client is connected to it (a
    /// task's run: its progress is recorded on the task).
    pub detached_relay: Option<Arc<dyn switchboard_upstream::Relay>>,
    /// What made this request on the caller's behalf (a workflow run's step:
    /// `workflow:<name>/<run>/<step>`); recorded as the audit record's transport.
    pub via: Option<Arc<str>>,
    /// The durable task this request is a run of (set by the task workers only): an
    /// in-process backend that can resume (a workflow) checkpoints under it.
    pub task: Option<Arc<str>>,
}

impl RequestCtx {
    /// The client's protocol era: `Modern` for a stateless 2026-07-28 request, `Legacy` inside
    /// a session, `None` for neither (the gateway's own calls).
    pub fn era(&self) -> Option<Era> {
        match (&self.modern, &self.session) {
            (Some(_), _) => Some(Era::Modern),
            (None, Some(_)) => Some(Era::Legacy),
            (None, None) => None,
        }
    }

    /// The protocol version the client speaks: its `_meta` one (modern), the one negotiated
    /// for its session (session era; empty before `initialize`), else `None`.
    pub fn protocol_version(&self) -> Option<String> {
        match (&self.modern, &self.session) {
            (Some(m), _) => Some(m.version.clone()),
            (None, Some(s)) => Some(s.protocol_version.read().clone()),
            (None, None) => None,
        }
    }
}

/// What a transport hands over to start a request.
pub struct Admission {
    pub transport: Transport,
    /// The session the request belongs to (`None`: stateless).
    pub session: Option<Arc<Session>>,
    /// The session whose table of calls in flight holds the request's cancellation (a
    /// client's `notifications/cancelled` finds it there); usually `session`, but a stateless
    /// request on stdio is tracked by the stdio connection's session. `None`: a fresh token.
    pub tracked_by: Option<Arc<Session>>,
    pub out: Option<Outbound>,
    pub modern: Option<ModernMeta>,
    pub identity: Arc<Identity>,
    pub policies: Arc<Policies>,
    pub client_ip: Option<std::net::IpAddr>,
    pub trace: Option<crate::trace::TraceContext>,
}

impl Gateway {
    /// Start `req`: it counts as in flight from now (so a drain waits for it), and the
    /// returned future runs it through the pipeline and answers it. Also returns its
    /// cancellation token. The future owns everything it needs: a transport may await it in
    /// place or spawn it.
    pub fn admit(
        self: &Arc<Self>,
        a: Admission,
        req: Request,
    ) -> (
        CancellationToken,
        impl Future<Output = Message> + Send + 'static,
    ) {
        self.admit_detached(a, req, None, None)
    }

    /// [`Gateway::admit`] for a request made inside the gateway (the dispatch seam): what an
    /// upstream says about it goes to `relay`, and `via` says what made it.
    pub(crate) fn admit_detached(
        self: &Arc<Self>,
        a: Admission,
        req: Request,
        relay: Option<Arc<dyn switchboard_upstream::Relay>>,
        via: Option<Arc<str>>,
    ) -> (
        CancellationToken,
        impl Future<Output = Message> + Send + 'static,
    ) {
        let in_flight = self.begin_request();
        let cancel = match &a.tracked_by {
            Some(s) => s.begin(&req.id),
            None => CancellationToken::new(),
        };
        let ctx = RequestCtx {
            session: a.session,
            out: a.out,
            transport: a.transport,
            cancel: cancel.clone(),
            modern: a.modern,
            identity: a.identity,
            policies: a.policies,
            client_ip: a.client_ip,
            denied: Default::default(),
            trace: a.trace,
            call_timeout: None,
            detached_relay: relay,
            via,
            task: None,
        };
        let gw = self.clone();
        let tracked_by = a.tracked_by;
        let run = async move {
            let _in_flight = in_flight;
            let id = req.id.clone();
            let resp = gw.handle_request(ctx, req).await;
            if let Some(s) = tracked_by {
                s.end(&id);
            }
            resp
        };
        (cancel, run)
    }
}

/// The span of one client request. Its fields (`request_id`, `method`, `tool`/`prompt`/`uri`,
/// `identity`, `role`, `session`, `trace_id`) are what log lines inside it carry; with an
/// exporter it is the MCP server span of the OpenTelemetry conventions, parented on the
/// client's context.
pub(crate) fn request_span(ctx: &RequestCtx, req: &Request) -> Span {
    use tracing::field::Empty;
    let span = tracing::info_span!(
        target: crate::trace::REQUEST_TARGET,
        "mcp.request",
        request_id = %req.id,
        method = %req.method,
        tool = Empty,
        prompt = Empty,
        uri = Empty,
        identity = %ctx.identity.subject,
        role = Empty,
        session = Empty,
        trace_id = Empty,
        otel.name = Empty,
        otel.kind = Empty,
        otel.status_code = Empty,
        otel.status_description = Empty,
    );
    if span.is_disabled() {
        return span;
    }
    if let Some(role) = &ctx.identity.role {
        span.record("role", role.as_ref());
    }
    if let Some(s) = &ctx.session {
        span.record("session", &*s.id);
    }
    if crate::trace::exporting() {
        span.record("otel.kind", "server");
        // Named before it starts (the exporter's span takes its name then).
        let target = match req.method.as_str() {
            switchboard_protocol::methods::TOOLS_CALL
            | switchboard_protocol::methods::PROMPTS_GET => req
                .params
                .as_deref()
                .and_then(|p| RawMap::parse(p).ok())
                .and_then(|m| m.get_str("name").map(|n| n.into_owned())),
            _ => None,
        };
        match target {
            Some(t) => span.record("otel.name", format!("{} {t}", req.method).as_str()),
            None => span.record("otel.name", req.method.as_str()),
        };
        span.set_attribute("mcp.method.name", req.method.clone());
        span.set_attribute("jsonrpc.request.id", req.id.to_string());
        if let Some(v) = ctx.protocol_version().filter(|v| !v.is_empty()) {
            span.set_attribute("mcp.protocol.version", v);
        }
        if let Some(s) = &ctx.session {
            span.set_attribute("mcp.session.id", s.id.to_string());
        }
        match ctx.transport {
            Transport::Http | Transport::LegacySse => {
                span.set_attribute("network.transport", "tcp");
                span.set_attribute("network.protocol.name", "http");
            }
            Transport::Stdio => span.set_attribute("network.transport", "pipe"),
        }
        if let Some(ip) = ctx.client_ip {
            span.set_attribute("client.address", ip.to_string());
        }
        span.set_attribute("switchboard.identity", ctx.identity.subject.to_string());
        span.set_attribute("switchboard.auth", ctx.identity.method);
        if let Some(role) = &ctx.identity.role {
            span.set_attribute("switchboard.role", role.to_string());
        }
    }
    let meta = crate::trace::TraceContext::from_meta(req.params.as_deref());
    if let Some(id) = crate::trace::set_parent(&span, ctx.trace.as_ref(), meta.as_ref()) {
        span.record("trace_id", id.as_str());
    }
    span
}

#[cfg(test)]
mod tests;
