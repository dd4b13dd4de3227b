//! Why a call to an upstream failed, and how that looks to the client.

use std::time::Duration;

use switchboard_protocol::{ErrorObject, codes};

#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// The server answered with a JSON-RPC error; it is passed to the client unchanged.
    #[error("{0}")]
    Rpc(ErrorObject),
    #[error("upstream server '{server}' is unavailable: {reason}")]
    Unavailable { server: String, reason: String },
    #[error("upstream server '{server}' did not answer within {after:?}")]
    Timeout { server: String, after: Duration },
    #[error("upstream server '{server}' failed while handling the request: {reason}")]
    Failed { server: String, reason: String },
    #[error("request cancelled")]
    Cancelled,
    /// `max_concurrency` calls were in flight for the whole `queue_timeout`.
    #[error(
        "upstream server '{server}' is busy: {limit} call{} already in flight (its max_concurrency) and none finished within {waited:?}; retry later",
        if *limit == 1 { "" } else { "s" }
    )]
    Busy {
        server: String,
        limit: usize,
        waited: Duration,
    },
}

impl CallError {
    /// The JSON-RPC error the client sees.
    pub fn to_error_object(&self) -> ErrorObject {
        match self {
            CallError::Rpc(e) => e.clone(),
            CallError::Unavailable { .. } => {
                ErrorObject::new(codes::UPSTREAM_UNAVAILABLE, self.to_string())
            }
            CallError::Timeout { .. } => {
                ErrorObject::new(codes::UPSTREAM_TIMEOUT, self.to_string())
            }
            CallError::Failed { .. } => ErrorObject::new(codes::UPSTREAM_FAILED, self.to_string()),
            CallError::Cancelled => ErrorObject::new(codes::REQUEST_CANCELLED, "request cancelled"),
            CallError::Busy { .. } => ErrorObject::new(codes::UPSTREAM_BUSY, self.to_string()),
        }
    }

    /// Whether the failure is the upstream's (as opposed to a normal JSON-RPC error answer).
    pub fn is_upstream_fault(&self) -> bool {
        matches!(
            self,
            CallError::Unavailable { .. } | CallError::Timeout { .. } | CallError::Failed { .. }
        )
    }
}
