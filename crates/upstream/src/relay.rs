//! The client side of a call, as the upstream layer sees it.

use std::future::Future;
use std::pin::Pin;

use serde_json::value::RawValue;
use switchboard_protocol::{ErrorObject, Notification};

pub type RelayFuture = Pin<Box<dyn Future<Output = Result<Box<RawValue>, ErrorObject>> + Send>>;

/// Where messages about one call go: the client session (and stream) that made it.
pub trait Relay: Send + Sync {
    /// A notification about the call: progress (token already restored to the client's),
    /// or a log message.
    fn notify(&self, notification: Notification);
    /// A server→client request made while handling the call (sampling, elicitation, roots).
    fn request(&self, method: String, params: Option<Box<RawValue>>) -> RelayFuture;
    /// Identifies the client session, so that messages on a shared channel are only
    /// attributed when a single session could have caused them.
    fn origin(&self) -> u64;
}
