//! Protocol eras at the client edge. A 2026-07-28 ("modern") request is stateless: it names
//! its version and capabilities in `_meta`, needs no session, and gets `resultType` (and cache
//! hints on lists) on its result. This module tells the eras apart, runs the spec's validation
//! ladder (the transport-independent rungs), answers `server/discover`, and adapts results and
//! errors for modern clients. See docs/design/protocol-2026-07-28.md.

use serde_json::value::RawValue;
use switchboard_protocol::{
    ErrorObject, RawMap, Request, codes, methods, to_raw,
    version::{
        self, META_CLIENT_CAPABILITIES, META_LOG_LEVEL, META_PROTOCOL_VERSION, META_SERVER_INFO,
    },
};

use switchboard_protocol::log_level::level_index;

use crate::hints::{CacheHint, CacheScope, HintPolicy};

/// Whether a modern request's client capabilities declare extension `name`.
pub fn declares_extension(meta: &ModernMeta, name: &str) -> bool {
    meta.capabilities
        .get("extensions")
        .and_then(|e| e.get(name))
        .is_some_and(|v| !v.is_null())
}

/// What a modern request declares about itself.
#[derive(Debug, Clone)]
pub struct ModernMeta {
    pub version: String,
    pub capabilities: serde_json::Value,
    /// Log messages at or above this level may be sent for this request; none without it.
    pub log_level: Option<u8>,
}

impl ModernMeta {
    pub fn has_capability(&self, name: &str) -> bool {
        self.capabilities.get(name).is_some_and(|v| !v.is_null())
    }
}

/// The `_meta` protocol version of a request, if it carries one.
pub fn meta_version(req: &Request) -> Option<String> {
    let params = req.params.as_deref()?;
    let map = RawMap::parse(params).ok()?;
    let meta = RawMap::parse(map.get("_meta")?).ok()?;
    meta.get_str(META_PROTOCOL_VERSION).map(|v| v.into_owned())
}

/// Whether a request is modern: a `_meta` version, a version header that is not a handshake
/// revision, or a method only modern clients use.
pub fn is_modern(req: &Request, header_version: Option<&str>) -> bool {
    meta_version(req).is_some()
        || header_version.is_some_and(|h| !version::is_supported(h))
        || matches!(
            req.method.as_str(),
            methods::SERVER_DISCOVER | methods::SUBSCRIPTIONS_LISTEN
        )
}

/// Rung 1: the required `_meta` keys, well-formed.
pub fn read_meta(req: &Request) -> Result<ModernMeta, ErrorObject> {
    let missing =
        |what: &str| ErrorObject::invalid_params(format!("params._meta is missing {what}"));
    let params = req
        .params
        .as_deref()
        .ok_or_else(|| missing(META_PROTOCOL_VERSION))?;
    let map =
        RawMap::parse(params).map_err(|e| ErrorObject::invalid_params(format!("params: {e}")))?;
    let meta = map
        .get("_meta")
        .ok_or_else(|| missing(META_PROTOCOL_VERSION))?;
    let meta = RawMap::parse(meta)
        .map_err(|e| ErrorObject::invalid_params(format!("params._meta: {e}")))?;
    let version = meta
        .get_str(META_PROTOCOL_VERSION)
        .ok_or_else(|| missing(META_PROTOCOL_VERSION))?
        .into_owned();
    let capabilities: serde_json::Value = meta
        .get(META_CLIENT_CAPABILITIES)
        .and_then(|c| serde_json::from_str(c.get()).ok())
        .filter(serde_json::Value::is_object)
        .ok_or_else(|| missing(META_CLIENT_CAPABILITIES))?;
    let log_level = match meta.get(META_LOG_LEVEL) {
        None => None,
        Some(raw) => {
            let name: String = serde_json::from_str(raw.get()).unwrap_or_default();
            Some(level_index(&name).ok_or_else(|| {
                ErrorObject::invalid_params(format!("{META_LOG_LEVEL} {name:?} is not a log level"))
            })?)
        }
    };
    Ok(ModernMeta {
        version,
        capabilities,
        log_level,
    })
}

/// A modern request's params as a session-era upstream accepts them: the reserved
/// `io.modelcontextprotocol/*` request keys removed from `_meta` (they describe the client to
/// the gateway; a handshake-era server refuses requests that carry them). Everything else,
/// `progressToken` and vendor keys included, is kept.
pub fn strip_request_meta(params: Box<RawValue>) -> Box<RawValue> {
    let Ok(mut map) = RawMap::parse(&params) else {
        return params;
    };
    let Some(meta) = map.get("_meta") else {
        return params;
    };
    let Ok(mut meta) = RawMap::parse(meta) else {
        return params;
    };
    let mut changed = false;
    for key in [
        META_PROTOCOL_VERSION,
        META_CLIENT_CAPABILITIES,
        version::META_CLIENT_INFO,
        META_LOG_LEVEL,
    ] {
        changed |= meta.remove(key);
    }
    if !changed {
        return params;
    }
    if meta.is_empty() {
        map.remove("_meta");
    } else {
        let meta = meta.to_raw();
        map.set("_meta", meta);
    }
    map.to_raw()
}

/// Rung 3: a version served statelessly.
pub fn check_version(meta: &ModernMeta) -> Result<(), ErrorObject> {
    if version::is_modern(&meta.version) {
        return Ok(());
    }
    Err(ErrorObject::new(
        codes::UNSUPPORTED_PROTOCOL_VERSION,
        "Unsupported protocol version",
    )
    .with_data(to_raw(
        &serde_json::json!({"supported": version::ALL_VERSIONS, "requested": meta.version}),
    )))
}

/// Rung 4: methods modern clients may call. Session-era methods do not exist for them.
pub fn check_method(method: &str) -> Result<(), ErrorObject> {
    match method {
        methods::INITIALIZE
        | methods::PING
        | methods::LOGGING_SET_LEVEL
        | methods::RESOURCES_SUBSCRIBE
        | methods::RESOURCES_UNSUBSCRIBE => Err(ErrorObject::method_not_found(method)),
        _ => Ok(()),
    }
}

/// The HTTP status a modern client gets with an error: protocol-level errors are 400, an
/// unknown method 404, anything a handler answered 200.
pub fn http_status(err: &ErrorObject, from_envelope: bool) -> u16 {
    match err.code {
        codes::PARSE_ERROR
        | codes::INVALID_REQUEST
        | codes::HEADER_MISMATCH
        | codes::MISSING_CLIENT_CAPABILITY
        | codes::UNSUPPORTED_PROTOCOL_VERSION => 400,
        codes::INVALID_PARAMS if from_envelope => 400,
        codes::METHOD_NOT_FOUND => 404,
        codes::RATE_LIMITED => 429,
        codes::UPSTREAM_BUSY => 503,
        _ => 200,
    }
}

pub(crate) fn is_cacheable(method: &str) -> bool {
    matches!(
        method,
        methods::SERVER_DISCOVER
            | methods::TOOLS_LIST
            | methods::PROMPTS_LIST
            | methods::RESOURCES_LIST
            | methods::RESOURCES_TEMPLATES_LIST
            | methods::RESOURCES_READ
    )
}

fn server_info() -> serde_json::Value {
    serde_json::json!({"name": "switchboard", "title": "Switchboard MCP gateway", "version": env!("CARGO_PKG_VERSION")})
}

/// Add what a modern client requires on a result: `resultType`, cache hints on cacheable
/// results (the result's own, else `hints.absent`; private when `hints.private`), the gateway's
/// `serverInfo` in `_meta`. Everything else is kept verbatim.
pub fn modernize_result(method: &str, result: Box<RawValue>, hints: HintPolicy) -> Box<RawValue> {
    let Ok(mut map) = RawMap::parse(&result) else {
        return result;
    };
    let complete = match map.get_str("resultType") {
        None => {
            map.set_str("resultType", "complete");
            true
        }
        Some(t) => t == "complete",
    };
    if complete && is_cacheable(method) {
        // The result's own fields (normalized), else the hint for what it lacks.
        let own = CacheHint::read(&map);
        let ttl_ms = match map.contains("ttlMs") {
            true => own.ttl_ms,
            false => hints.absent.ttl_ms,
        };
        let scope = match (hints.private, map.contains("cacheScope")) {
            (true, _) => CacheScope::Private,
            (false, true) => own.scope,
            (false, false) => hints.absent.scope,
        };
        map.set("ttlMs", to_raw(&ttl_ms));
        map.set_str("cacheScope", scope.as_str());
    }
    let mut meta = map
        .get("_meta")
        .and_then(|m| {
            serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(m.get()).ok()
        })
        .unwrap_or_default();
    meta.insert(META_SERVER_INFO.to_owned(), server_info());
    map.set("_meta", to_raw(&meta));
    map.to_raw()
}

/// Errors as a modern client expects them: "resource not found" is `-32602` with `data.uri`.
pub fn modernize_error(err: ErrorObject) -> ErrorObject {
    if err.code == codes::RESOURCE_NOT_FOUND {
        let data = err.data.clone();
        let mut e = ErrorObject::new(codes::INVALID_PARAMS, err.message);
        e.data = data;
        return e;
    }
    err
}

/// The `server/discover` result for the federated catalogue.
pub fn discover(instructions: Option<String>, extensions: &[&str]) -> Box<RawValue> {
    let mut result = serde_json::json!({
        "resultType": "complete",
        "supportedVersions": version::ALL_VERSIONS,
        "capabilities": {
            "tools": {"listChanged": true},
            "prompts": {"listChanged": true},
            "resources": {"listChanged": true},
            "completions": {},
            "logging": {}
        },
        "ttlMs": 0,
        "cacheScope": "public",
        "_meta": {META_SERVER_INFO: server_info()}
    });
    if let Some(i) = instructions {
        result["instructions"] = serde_json::Value::String(i);
    }
    if !extensions.is_empty() {
        let map: serde_json::Map<String, serde_json::Value> = extensions
            .iter()
            .map(|e| ((*e).to_owned(), serde_json::json!({})))
            .collect();
        result["capabilities"]["extensions"] = serde_json::Value::Object(map);
    }
    to_raw(&result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hints::caller_is_private;
    use switchboard_protocol::Id;

    fn req(method: &str, params: &str) -> Request {
        Request {
            id: Id::Num(1),
            method: method.into(),
            params: Some(RawValue::from_string(params.into()).unwrap()),
        }
    }

    #[test]
    fn classification_and_ladder() {
        let modern = req(
            "tools/list",
            r#"{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}"#,
        );
        assert!(is_modern(&modern, None));
        let m = read_meta(&modern).unwrap();
        assert!(check_version(&m).is_ok());
        assert!(!is_modern(&req("tools/list", "{}"), Some("2025-11-25")));
        assert!(is_modern(&req("tools/list", "{}"), Some("2026-07-28")));
        assert!(is_modern(&req("server/discover", "{}"), None));
        let e = read_meta(&req("server/discover", "{}")).unwrap_err();
        assert_eq!(e.code, -32602);
        let no_caps = req(
            "x",
            r#"{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}"#,
        );
        assert!(
            read_meta(&no_caps)
                .unwrap_err()
                .message
                .contains("clientCapabilities")
        );
        let old = req(
            "x",
            r#"{"_meta":{"io.modelcontextprotocol/protocolVersion":"v9","io.modelcontextprotocol/clientCapabilities":{}}}"#,
        );
        let e = check_version(&read_meta(&old).unwrap()).unwrap_err();
        assert_eq!(e.code, -32022);
        assert!(e.data.unwrap().get().contains("\"requested\":\"v9\""));
        assert_eq!(check_method("ping").unwrap_err().code, -32601);
    }

    #[test]
    fn modern_meta_is_stripped_for_session_era_upstreams() {
        let p = RawValue::from_string(r#"{"name":"t","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"progressToken":3}}"#.into()).unwrap();
        assert_eq!(
            strip_request_meta(p).get(),
            r#"{"name":"t","_meta":{"progressToken":3}}"#
        );
        let p = RawValue::from_string(
            r#"{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"},"a":1}"#.into(),
        )
        .unwrap();
        assert_eq!(strip_request_meta(p).get(), r#"{"a":1}"#);
    }

    #[test]
    fn results_get_result_type_hints_and_server_info() {
        let r = modernize_result(
            "tools/list",
            RawValue::from_string(r#"{"tools":[]}"#.into()).unwrap(),
            HintPolicy::DEFAULT,
        );
        let v: serde_json::Value = serde_json::from_str(r.get()).unwrap();
        assert_eq!(v["resultType"], "complete");
        assert_eq!(v["ttlMs"], 0);
        assert_eq!(v["cacheScope"], "public");
        assert_eq!(v["_meta"][META_SERVER_INFO]["name"], "switchboard");
        let r = modernize_result(
            "tools/call",
            RawValue::from_string(r#"{"content":[],"_meta":{"x":1}}"#.into()).unwrap(),
            HintPolicy::DEFAULT,
        );
        let v: serde_json::Value = serde_json::from_str(r.get()).unwrap();
        assert!(v.get("ttlMs").is_none());
        assert_eq!(v["_meta"]["x"], 1);
    }

    fn hint(ttl_ms: u64, scope: CacheScope) -> CacheHint {
        CacheHint { ttl_ms, scope }
    }

    #[test]
    fn hints_on_results_follow_the_policy() {
        let v = |method: &str, json: &str, policy: HintPolicy| -> serde_json::Value {
            let r = modernize_result(method, RawValue::from_string(json.into()).unwrap(), policy);
            serde_json::from_str(r.get()).unwrap()
        };
        let combined = HintPolicy {
            absent: hint(30000, CacheScope::Public),
            private: false,
        };
        // A merged list (no hints of its own) gets the combined hint.
        let r = v("tools/list", r#"{"tools":[]}"#, combined);
        assert_eq!(
            (r["ttlMs"].as_u64(), r["cacheScope"].as_str()),
            (Some(30000), Some("public"))
        );
        // A caller whose view depends on who they are gets it private, with the same ttl.
        let r = v(
            "prompts/list",
            r#"{"prompts":[]}"#,
            HintPolicy {
                private: true,
                ..combined
            },
        );
        assert_eq!(
            (r["ttlMs"].as_u64(), r["cacheScope"].as_str()),
            (Some(30000), Some("private"))
        );
        // A result's own hints (a forwarded resources/read) are kept, normalized, and narrowed.
        let read = r#"{"contents":[],"ttlMs":5000,"cacheScope":"public"}"#;
        let r = v("resources/read", read, HintPolicy::DEFAULT);
        assert_eq!(
            (r["ttlMs"].as_u64(), r["cacheScope"].as_str()),
            (Some(5000), Some("public"))
        );
        let r = v(
            "resources/read",
            read,
            HintPolicy {
                private: true,
                ..HintPolicy::DEFAULT
            },
        );
        assert_eq!(r["cacheScope"], "private");
        let r = v(
            "resources/read",
            r#"{"contents":[],"ttlMs":-1,"cacheScope":"x"}"#,
            HintPolicy::DEFAULT,
        );
        assert_eq!(
            (r["ttlMs"].as_u64(), r["cacheScope"].as_str()),
            (Some(0), Some("private"))
        );
        // Interim results carry no hints.
        let r = v("tools/list", r#"{"resultType":"input_required"}"#, combined);
        assert!(
            r.get("ttlMs").is_none() && r.get("cacheScope").is_none(),
            "{r}"
        );
        // The scope rule: public only without authentication and without filtering.
        assert!(!caller_is_private(false, false));
        assert!(caller_is_private(true, false));
        assert!(caller_is_private(false, true));
        assert!(caller_is_private(true, true));
    }
}
