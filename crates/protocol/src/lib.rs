//! JSON-RPC 2.0 and MCP wire shapes, parsed lazily.
//!
//! This crate is the only place that knows what a message looks like on the wire. It parses an
//! incoming message once into an [`Envelope`] that borrows from the input, touches only the
//! fields the gateway must read (`id`, `method`, selected `params` keys) and keeps everything else
//! as raw JSON so unknown fields, extensions and `_meta` pass through byte-for-byte.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod error;
pub mod headers;
pub mod log_level;
pub mod message;
pub mod meta;
pub mod methods;
pub mod rawmap;
pub mod sse;
pub mod version;

pub use error::{ErrorObject, codes};
pub use message::{Envelope, Id, Message, Notification, Request, Response, parse_message};
pub use rawmap::RawMap;
pub use serde_json::value::RawValue;

/// Serialize any value into an owned raw JSON value.
pub fn to_raw<T: serde::Serialize + ?Sized>(value: &T) -> Box<RawValue> {
    // Serializing plain data (maps, strings, numbers) cannot fail; fall back to `null` anyway
    // rather than panic on a request path.
    serde_json::value::to_raw_value(value).unwrap_or_else(|_| null())
}

/// The raw JSON `null`.
pub fn null() -> Box<RawValue> {
    RawValue::from_string("null".to_owned()).unwrap_or_else(|_| unreachable_raw())
}

/// The raw JSON `{}`.
pub fn empty_object() -> Box<RawValue> {
    RawValue::from_string("{}".to_owned()).unwrap_or_else(|_| unreachable_raw())
}

fn unreachable_raw() -> Box<RawValue> {
    // `RawValue::from_string` only fails on invalid JSON; the literals above are valid.
    Box::<RawValue>::default()
}
