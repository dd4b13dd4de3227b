//! JSON-RPC error objects and the error codes Switchboard uses.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Error codes: JSON-RPC's own, MCP's, and Switchboard's (in the implementation-defined range).
pub mod codes {
    pub const PARSE_ERROR: i64 = -32700;
    pub const INVALID_REQUEST: i64 = -32600;
    pub const METHOD_NOT_FOUND: i64 = -32601;
    pub const INVALID_PARAMS: i64 = -32602;
    pub const INTERNAL_ERROR: i64 = -32603;
    /// MCP 2026-07-28: a request header disagrees with the body.
    pub const HEADER_MISMATCH: i64 = -32020;
    /// MCP 2026-07-28: the request needs a client capability it did not declare.
    pub const MISSING_CLIENT_CAPABILITY: i64 = -32021;
    /// MCP 2026-07-28: the requested protocol version is not served.
    pub const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;
    /// MCP: resource not found.
    pub const RESOURCE_NOT_FOUND: i64 = -32002;
    /// Switchboard: the upstream server is not running (starting, restarting or crash-looping).
    pub const UPSTREAM_UNAVAILABLE: i64 = -32001;
    /// Switchboard: the upstream server did not answer within its timeout.
    pub const UPSTREAM_TIMEOUT: i64 = -32003;
    /// Switchboard: the upstream server exited or the connection broke while handling the call.
    pub const UPSTREAM_FAILED: i64 = -32004;
    /// Switchboard: the request was cancelled before it completed.
    pub const REQUEST_CANCELLED: i64 = -32005;
    /// Switchboard: the gateway is shutting down.
    pub const SHUTTING_DOWN: i64 = -32006;
    /// Switchboard: the caller's rate limit is spent; `data.retryAfterMs` says when to retry
    /// (HTTP 429 with `Retry-After`).
    pub const RATE_LIMITED: i64 = -32007;
    /// Switchboard: the upstream server is at its `max_concurrency` and the call waited its
    /// `queue_timeout` for a turn in vain.
    pub const UPSTREAM_BUSY: i64 = -32008;
}

/// A JSON-RPC error object. `data` is kept raw so upstream details pass through unchanged.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorObject {
    pub code: i64,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Box<RawValue>>,
}

impl ErrorObject {
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }

    pub fn with_data(mut self, data: Box<RawValue>) -> Self {
        self.data = Some(data);
        self
    }

    pub fn parse_error(detail: impl std::fmt::Display) -> Self {
        Self::new(codes::PARSE_ERROR, format!("Parse error: {detail}"))
    }

    pub fn invalid_request(detail: impl std::fmt::Display) -> Self {
        Self::new(codes::INVALID_REQUEST, format!("Invalid request: {detail}"))
    }

    pub fn method_not_found(method: &str) -> Self {
        Self::new(
            codes::METHOD_NOT_FOUND,
            format!("Method not found: {method}"),
        )
    }

    pub fn invalid_params(detail: impl std::fmt::Display) -> Self {
        Self::new(codes::INVALID_PARAMS, format!("Invalid params: {detail}"))
    }

    pub fn internal(detail: impl std::fmt::Display) -> Self {
        Self::new(codes::INTERNAL_ERROR, format!("Internal error: {detail}"))
    }
}

impl std::fmt::Display for ErrorObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}
