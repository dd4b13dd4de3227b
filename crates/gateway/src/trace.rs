//! Tracing: W3C Trace Context in and out, and the spans of the request path.
//!
//! **In.** A client's context comes from the HTTP `traceparent`/`tracestate` headers (read at
//! the edge into [`crate::RequestCtx::trace`]) and from `params._meta.traceparent`/`tracestate`
//! (SEP-414; the OpenTelemetry MCP conventions). The `_meta` one wins: it belongs to the MCP
//! message, the header only to the HTTP request that carried it. An invalid `traceparent` is
//! ignored (the request starts a new trace); an invalid `tracestate` is dropped alone.
//!
//! **Spans.** One request span per client request (`pipeline.rs` `dispatch`, kind server,
//! named `{method} {tool or prompt}`), children for the pipeline stages (`authorize`,
//! `rate_limit`, `validate`, `route`, `cache`) and one per upstream call (`forward.rs`, kind
//! client). Stage and upstream spans use the target [`OTEL_TARGET`], which only the
//! OpenTelemetry layer listens to: without an exporter their callsites are disabled and cost
//! nothing. The request span (target [`REQUEST_TARGET`], level INFO) also gives log lines their
//! request id, method, tool, identity and trace id.
//!
//! **Out.** Upstream requests carry the gateway's upstream span as their parent (or, with no
//! exporter, the client's own context unchanged): as `traceparent`/`tracestate` headers to HTTP
//! upstreams, and in `params._meta` for every transport. Nothing else in the payload changes.

use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use serde_json::value::RawValue;
use switchboard_protocol::{ErrorObject, RawMap};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

pub const TRACEPARENT: &str = "traceparent";
pub const TRACESTATE: &str = "tracestate";
/// Target of the spans only an exporter wants (stages, upstream calls).
pub const OTEL_TARGET: &str = "switchboard::otel";
/// Target of the request span (also seen by the log formatter).
pub const REQUEST_TARGET: &str = "switchboard::request";

static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Called once by the binary when it installs an OpenTelemetry exporter: spans then get their
/// semantic-convention attributes, and propagated contexts are the gateway's own spans.
pub fn set_exporting(on: bool) {
    EXPORTING.store(on, Ordering::Relaxed);
}

pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// A validated W3C trace context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: [u8; 16],
    /// The caller's span (`parent-id`).
    pub parent_id: [u8; 8],
    pub flags: u8,
    /// A valid `tracestate`, normalized (no empty members, no optional whitespace).
    pub state: Option<String>,
}

impl TraceContext {
    /// Parse `traceparent` (and `tracestate`, dropped alone when invalid) per W3C Trace
    /// Context: version `00` is exactly `00-<32 hex>-<16 hex>-<2 hex>` in lowercase; a higher
    /// version is read by the same first fields (and must continue with `-` if longer); `ff`,
    /// all-zero ids and anything malformed are invalid.
    pub fn parse(traceparent: &str, tracestate: Option<&str>) -> Option<Self> {
        let s = traceparent.trim_matches([' ', '\t']).as_bytes();
        if s.len() < 55 {
            return None;
        }
        let version = hex_byte(&s[0..2])?;
        if version == 0xff || (version == 0 && s.len() != 55) || (s.len() > 55 && s[55] != b'-') {
            return None;
        }
        if s[2] != b'-' || s[35] != b'-' || s[52] != b'-' {
            return None;
        }
        let mut trace_id = [0u8; 16];
        for (i, b) in trace_id.iter_mut().enumerate() {
            *b = hex_byte(&s[3 + 2 * i..5 + 2 * i])?;
        }
        let mut parent_id = [0u8; 8];
        for (i, b) in parent_id.iter_mut().enumerate() {
            *b = hex_byte(&s[36 + 2 * i..38 + 2 * i])?;
        }
        let flags = hex_byte(&s[53..55])?;
        if trace_id == [0; 16] || parent_id == [0; 8] {
            return None;
        }
        Some(Self {
            trace_id,
            parent_id,
            flags,
            state: tracestate.and_then(valid_tracestate),
        })
    }

    /// From HTTP headers. Several `traceparent` headers make it invalid; several `tracestate`
    /// headers are one list.
    pub fn from_headers(headers: &http::HeaderMap) -> Option<Self> {
        let mut parents = headers.get_all(TRACEPARENT).iter();
        let parent = parents.next()?.to_str().ok()?;
        if parents.next().is_some() {
            return None;
        }
        let mut state = String::new();
        for v in headers.get_all(TRACESTATE) {
            let v = v.to_str().ok()?;
            if !state.is_empty() {
                state.push(',');
            }
            state.push_str(v);
        }
        Self::parse(parent, (!state.is_empty()).then_some(state.as_str()))
    }

    /// From `params._meta.traceparent`/`tracestate` (SEP-414).
    pub fn from_meta(params: Option<&RawValue>) -> Option<Self> {
        let params = params?;
        // Cheap refusal first: most requests carry no trace context.
        if !params.get().contains(TRACEPARENT) {
            return None;
        }
        let map = RawMap::parse(params).ok()?;
        let meta = RawMap::parse(map.get("_meta")?).ok()?;
        let parent = meta.get_str(TRACEPARENT)?;
        let state = meta.get_str(TRACESTATE);
        Self::parse(&parent, state.as_deref())
    }

    pub fn sampled(&self) -> bool {
        self.flags & 1 == 1
    }

    pub fn trace_id_hex(&self) -> String {
        hex(&self.trace_id)
    }

    /// The `traceparent` value (version 00; the flags this version defines).
    pub fn traceparent(&self) -> String {
        format!(
            "00-{}-{}-{:02x}",
            hex(&self.trace_id),
            hex(&self.parent_id),
            self.flags & 1
        )
    }

    /// As the remote parent of an OpenTelemetry span.
    fn to_otel(&self) -> opentelemetry::Context {
        let state = self
            .state
            .as_deref()
            .and_then(|s| s.parse::<TraceState>().ok())
            .unwrap_or_default();
        let cx = SpanContext::new(
            TraceId::from_bytes(self.trace_id),
            SpanId::from_bytes(self.parent_id),
            TraceFlags::new(self.flags & 1),
            true,
            state,
        );
        opentelemetry::Context::new().with_remote_span_context(cx)
    }

    /// The OpenTelemetry context of `span` (its own span id as the parent), if it has one.
    fn of_span(span: &Span) -> Option<Self> {
        let cx = span.context();
        let sc = cx.span().span_context().clone();
        if !sc.is_valid() {
            return None;
        }
        let state = sc.trace_state().header();
        Some(Self {
            trace_id: sc.trace_id().to_bytes(),
            parent_id: sc.span_id().to_bytes(),
            flags: sc.trace_flags().to_u8() & 1,
            state: (!state.is_empty()).then_some(state),
        })
    }

    /// The headers an HTTP upstream gets.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut h = vec![(TRACEPARENT, self.traceparent())];
        if let Some(s) = &self.state {
            h.push((TRACESTATE, s.clone()));
        }
        h
    }
}

fn hex_byte(s: &[u8]) -> Option<u8> {
    let d = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    Some(d(s[0])? << 4 | d(s[1])?)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A `tracestate` list if valid (W3C: at most 32 members, unique keys of the simple or
/// `tenant@system` form, values of printable ASCII without `,` and `=`, not ending in a space),
/// normalized; `None` if empty or invalid.
fn valid_tracestate(s: &str) -> Option<String> {
    let mut members: Vec<&str> = Vec::new();
    let mut keys: Vec<&str> = Vec::new();
    for m in s.split(',') {
        let m = m.trim_matches([' ', '\t']);
        if m.is_empty() {
            continue;
        }
        let (k, v) = m.split_once('=')?;
        if !valid_key(k) || !valid_value(v) || keys.contains(&k) {
            return None;
        }
        keys.push(k);
        members.push(m);
    }
    if members.is_empty() || members.len() > 32 {
        return None;
    }
    Some(members.join(","))
}

fn valid_key(k: &str) -> bool {
    let rest_ok = |s: &str, max: usize| {
        s.len() <= max
            && s.bytes().all(|c| {
                c.is_ascii_lowercase()
                    || c.is_ascii_digit()
                    || matches!(c, b'_' | b'-' | b'*' | b'/')
            })
    };
    match k.split_once('@') {
        None => k.as_bytes().first().is_some_and(u8::is_ascii_lowercase) && rest_ok(&k[1..], 255),
        Some((tenant, system)) => {
            tenant
                .as_bytes()
                .first()
                .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                && rest_ok(&tenant[1..], 240)
                && system
                    .as_bytes()
                    .first()
                    .is_some_and(u8::is_ascii_lowercase)
                && rest_ok(&system[1..], 13)
        }
    }
}

fn valid_value(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 256
        && v.bytes()
            .all(|c| (0x20..=0x7e).contains(&c) && c != b',' && c != b'=')
        && !v.ends_with(' ')
}

/// `params` with `_meta.traceparent` (and `tracestate`, or without one) set to `cx`; every
/// other byte of the payload kept.
pub fn inject_meta(params: Box<RawValue>, cx: &TraceContext) -> Box<RawValue> {
    let Ok(mut map) = RawMap::parse(&params) else {
        return params;
    };
    let mut meta = map
        .get("_meta")
        .and_then(|m| RawMap::parse(m).ok())
        .unwrap_or_default();
    meta.set_str(TRACEPARENT, &cx.traceparent());
    match &cx.state {
        Some(s) => meta.set_str(TRACESTATE, s),
        None => {
            meta.remove(TRACESTATE);
        }
    }
    let meta = meta.to_raw();
    map.set("_meta", meta);
    map.to_raw()
}

/// What an upstream request carries: `params` with the context in `_meta`, and the headers
/// for an HTTP upstream. The context is the gateway's `span` when it is exported, else the
/// client's own (from `params._meta` as forwarded, or the edge's `header` context).
pub fn propagate(
    span: &Span,
    header: Option<&TraceContext>,
    params: Box<RawValue>,
) -> (Box<RawValue>, Vec<(&'static str, String)>) {
    if exporting()
        && let Some(ours) = TraceContext::of_span(span)
    {
        let headers = ours.headers();
        return (inject_meta(params, &ours), headers);
    }
    if let Some(theirs) = TraceContext::from_meta(Some(&params)) {
        return (params, theirs.headers());
    }
    match header {
        Some(h) => (inject_meta(params, h), h.headers()),
        None => (params, Vec::new()),
    }
}

/// Make `span` a child of the client's context: `_meta` first, else the header; the other one
/// (if different) becomes a link. Returns the trace id for logs.
pub fn set_parent(
    span: &Span,
    header: Option<&TraceContext>,
    meta: Option<&TraceContext>,
) -> Option<String> {
    if span.is_disabled() {
        return None;
    }
    let parent = meta.or(header);
    if exporting() {
        if let Some(p) = parent {
            let _ = span.set_parent(p.to_otel());
        }
        if let (Some(m), Some(h)) = (meta, header)
            && m != h
        {
            span.add_link(h.to_otel().span().span_context().clone());
        }
    }
    // A new trace's id is known once the span starts (`record_target`).
    parent.map(TraceContext::trace_id_hex)
}

/// Record on the current request span what it is about (and, exporting, a new trace's id).
pub(crate) fn record_target(target: &switchboard_policy::stages::Target) {
    use switchboard_policy::stages::Target;
    let span = Span::current();
    if span.is_disabled() {
        return;
    }
    if exporting()
        && let Some(cx) = TraceContext::of_span(&span)
    {
        span.record("trace_id", cx.trace_id_hex().as_str());
    }
    let (field, value, attr_key) = match target {
        Target::Tool(n) => ("tool", n, "gen_ai.tool.name"),
        Target::Prompt(n) => ("prompt", n, "gen_ai.prompt.name"),
        Target::Resource(u) => ("uri", u, "mcp.resource.uri"),
        Target::Gateway => return,
    };
    span.record(field, value.as_str());
    if exporting() {
        span.set_attribute(attr_key, value.clone());
        if matches!(target, Target::Tool(_)) {
            span.set_attribute("gen_ai.operation.name", "execute_tool");
        }
    }
}

/// The span of one upstream call (kind client): `{method} {original name}`, with the server,
/// its transport and the era the call is made in.
pub(crate) fn upstream_span(
    method: &str,
    original: &str,
    server: &str,
    transport: &'static str,
    era: &'static str,
) -> Span {
    use tracing::field::Empty;
    let span = tracing::info_span!(
        target: OTEL_TARGET,
        "mcp.upstream",
        otel.name = Empty,
        otel.kind = Empty,
        otel.status_code = Empty,
        otel.status_description = Empty,
    );
    if span.is_disabled() || !exporting() {
        return span;
    }
    span.record("otel.kind", "client");
    let named = matches!(
        method,
        switchboard_protocol::methods::TOOLS_CALL | switchboard_protocol::methods::PROMPTS_GET
    );
    let name = if named {
        format!("{method} {original}")
    } else {
        method.to_owned()
    };
    span.record("otel.name", name.as_str());
    span.set_attribute("mcp.method.name", method.to_owned());
    match method {
        switchboard_protocol::methods::TOOLS_CALL => {
            span.set_attribute("gen_ai.tool.name", original.to_owned());
            span.set_attribute("gen_ai.operation.name", "execute_tool");
        }
        switchboard_protocol::methods::PROMPTS_GET => {
            span.set_attribute("gen_ai.prompt.name", original.to_owned())
        }
        _ => {}
    }
    span.set_attribute("switchboard.upstream.server", server.to_owned());
    span.set_attribute("switchboard.upstream.transport", transport);
    span.set_attribute("switchboard.upstream.era", era);
    span.set_attribute(
        "network.transport",
        if transport == "stdio" { "pipe" } else { "tcp" },
    );
    span
}

/// Record an OpenTelemetry attribute (only when exporting).
pub fn attr(span: &Span, key: &'static str, value: impl Into<opentelemetry::Value>) {
    if exporting() && !span.is_disabled() {
        span.set_attribute(key, value);
    }
}

/// Record a request's or upstream call's outcome on its span: `error.type` and
/// `rpc.response.status_code` with the JSON-RPC code and an error status, or `tool_error` for
/// a `tools/call` result with `isError`.
pub fn record_result(span: &Span, result: &Result<Box<RawValue>, ErrorObject>) {
    if !exporting() || span.is_disabled() {
        return;
    }
    match result {
        Ok(r) => {
            if r.get().contains("\"isError\"")
                && RawMap::parse(r)
                    .ok()
                    .and_then(|m| m.get("isError").map(|v| v.get() == "true"))
                    .unwrap_or(false)
            {
                span.set_attribute("error.type", "tool_error");
                span.record("otel.status_code", "ERROR");
            }
        }
        Err(e) => {
            let code = e.code.to_string();
            span.set_attribute("error.type", code.clone());
            span.set_attribute("rpc.response.status_code", code);
            span.record("otel.status_code", "ERROR");
            span.record("otel.status_description", e.message.as_str());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(v: serde_json::Value) -> Box<RawValue> {
        switchboard_protocol::to_raw(&v)
    }

    const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn trace_parses_a_valid_traceparent() {
        let c = TraceContext::parse(TP, Some("rojo=00f067aa0ba902b7, congo=t61rcWkgMzE")).unwrap();
        assert_eq!(c.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(hex(&c.parent_id), "00f067aa0ba902b7");
        assert!(c.sampled());
        assert_eq!(
            c.state.as_deref(),
            Some("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")
        );
        assert_eq!(c.traceparent(), TP);
        let unsampled = TraceContext::parse(&TP.replace("-01", "-00"), None).unwrap();
        assert!(!unsampled.sampled());
    }

    #[test]
    fn trace_rejects_invalid_traceparents() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
            "0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-zz",
            "00-4bf92f3577b34da6a3ce929d0e0e4736x00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceContext::parse(bad, None), None, "{bad:?}");
        }
    }

    #[test]
    fn trace_reads_higher_versions_by_their_first_fields() {
        let future = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future";
        let c = TraceContext::parse(future, None).unwrap();
        assert_eq!(c.traceparent(), TP);
        let glued = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01what";
        assert_eq!(TraceContext::parse(glued, None), None);
    }

    #[test]
    fn trace_drops_an_invalid_tracestate_alone() {
        for bad in [
            "noequals",
            "Upper=1",
            "a=1,a=2",
            "a=x,b=with,comma=",
            "a=caf\u{e9}",
            "a=tab\tinside",
        ] {
            let c = TraceContext::parse(TP, Some(bad)).unwrap();
            assert_eq!(c.state, None, "{bad:?}");
        }
        let many: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
        assert_eq!(
            TraceContext::parse(TP, Some(&many.join(",")))
                .unwrap()
                .state,
            None
        );
        let c = TraceContext::parse(TP, Some("tenant@sys=v,,b=1")).unwrap();
        assert_eq!(c.state.as_deref(), Some("tenant@sys=v,b=1"));
    }

    #[test]
    fn trace_reads_headers() {
        let mut h = http::HeaderMap::new();
        assert_eq!(TraceContext::from_headers(&h), None);
        h.insert(TRACEPARENT, TP.parse().unwrap());
        h.append(TRACESTATE, "a=1".parse().unwrap());
        h.append(TRACESTATE, "b=2".parse().unwrap());
        let c = TraceContext::from_headers(&h).unwrap();
        assert_eq!(c.state.as_deref(), Some("a=1,b=2"));
        h.append(TRACEPARENT, TP.parse().unwrap());
        assert_eq!(TraceContext::from_headers(&h), None, "two traceparents");
    }

    #[test]
    fn trace_reads_and_writes_meta() {
        let p = raw(serde_json::json!({"name": "t", "_meta": {"traceparent": TP, "x": 1}}));
        let c = TraceContext::from_meta(Some(&p)).unwrap();
        assert_eq!(c.traceparent(), TP);
        assert_eq!(
            TraceContext::from_meta(Some(&raw(serde_json::json!({"name": "traceparent"})))),
            None
        );
        let ours = TraceContext {
            parent_id: [1; 8],
            state: None,
            ..c.clone()
        };
        let src = RawValue::from_string(
            r#"{"name":"t","arguments":{"b":1, "a":2},"_meta":{"x":1,"traceparent":"old","tracestate":"a=1"}}"#.into(),
        )
        .unwrap();
        let out = inject_meta(src, &ours);
        assert_eq!(
            out.get(),
            r#"{"name":"t","arguments":{"b":1, "a":2},"_meta":{"x":1,"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-0101010101010101-01"}}"#
        );
        let none = inject_meta(raw(serde_json::json!({"name": "t"})), &c);
        assert_eq!(
            none.get(),
            format!(r#"{{"name":"t","_meta":{{"traceparent":"{TP}"}}}}"#)
        );
    }

    #[test]
    fn trace_propagates_the_clients_context_without_an_exporter() {
        let span = Span::none();
        let header = TraceContext::parse(TP, Some("a=1")).unwrap();
        let params = raw(serde_json::json!({"name": "t"}));
        let (p, h) = propagate(&span, Some(&header), params.clone());
        assert!(p.get().contains(TP), "{}", p.get());
        assert_eq!(
            h,
            vec![(TRACEPARENT, TP.to_owned()), (TRACESTATE, "a=1".to_owned())]
        );
        let (p, h) = propagate(&span, None, params.clone());
        assert_eq!(p.get(), params.get());
        assert!(h.is_empty());
    }
}
