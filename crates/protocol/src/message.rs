//! JSON-RPC messages: a borrowed [`Envelope`] for parsing once, owned [`Message`]s for passing
//! between tasks, and a hand-rolled serializer that copies raw parts verbatim.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::error::ErrorObject;

/// A JSON-RPC request id: MCP allows strings and integers. `Null` only appears in error
/// responses to messages whose id could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Id {
    Num(i64),
    Str(Arc<str>),
    Null,
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Id::Num(n) => write!(f, "{n}"),
            Id::Str(s) => write!(f, "{s:?}"),
            Id::Null => f.write_str("null"),
        }
    }
}

impl Serialize for Id {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Id::Num(n) => s.serialize_i64(*n),
            Id::Str(v) => s.serialize_str(v),
            Id::Null => s.serialize_unit(),
        }
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct IdVisitor;
        impl Visitor<'_> for IdVisitor {
            type Value = Id;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or integer request id")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Id, E> {
                Ok(Id::Num(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Id, E> {
                i64::try_from(v)
                    .map(Id::Num)
                    .map_err(|_| E::custom("request id out of range"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Id, E> {
                Ok(Id::Str(Arc::from(v)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Id, E> {
                Ok(Id::Null)
            }
        }
        d.deserialize_any(IdVisitor)
    }
}

/// One JSON-RPC message as it arrived, borrowing from the input buffer.
#[derive(Debug, Deserialize)]
pub struct Envelope<'a> {
    #[serde(default, borrow)]
    pub jsonrpc: Option<Cow<'a, str>>,
    /// Present (even when `null`) or absent: a `null` id is kept so it can be refused.
    #[serde(default, borrow, deserialize_with = "present")]
    pub id: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub method: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub params: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub result: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub error: Option<&'a RawValue>,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&'de RawValue>::deserialize(d).map(Some)
}

#[derive(Debug, Clone)]
pub struct Request {
    pub id: Id,
    pub method: String,
    pub params: Option<Box<RawValue>>,
}

#[derive(Debug, Clone)]
pub struct Notification {
    pub method: String,
    pub params: Option<Box<RawValue>>,
}

#[derive(Debug, Clone)]
pub struct Response {
    pub id: Id,
    pub result: Result<Box<RawValue>, ErrorObject>,
}

/// An owned JSON-RPC message.
#[derive(Debug, Clone)]
pub enum Message {
    Request(Request),
    Notification(Notification),
    Response(Response),
}

/// Why a message could not be read, with the id when it could be recovered so the error
/// response can still be correlated.
#[derive(Debug)]
pub struct ParseFailure {
    pub id: Id,
    pub error: ErrorObject,
}

/// Parse one JSON-RPC message. Batches are rejected: MCP removed them in 2025-06-18.
pub fn parse_message(bytes: &[u8]) -> Result<Message, ParseFailure> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace()).copied();
    if first == Some(b'[') {
        return Err(ParseFailure {
            id: Id::Null,
            error: ErrorObject::invalid_request(
                "JSON-RPC batches are not supported (MCP removed them in protocol 2025-06-18); send one message per request",
            ),
        });
    }
    // JSON text is UTF-8 (RFC 8259). Checked up front over the whole message: parsing from
    // bytes would not look inside the members it skips, so a message with invalid UTF-8 in
    // an unknown member would pass here and fail in any full parser.
    let text = std::str::from_utf8(bytes).map_err(|e| ParseFailure {
        id: Id::Null,
        error: ErrorObject::parse_error(format!(
            "not UTF-8: invalid byte at offset {}",
            e.valid_up_to()
        )),
    })?;
    let env: Envelope<'_> = serde_json::from_str(text).map_err(|e| ParseFailure {
        id: Id::Null,
        error: if e.is_data() {
            ErrorObject::invalid_request(format!("not a JSON-RPC message object: {e}"))
        } else {
            ErrorObject::parse_error(e)
        },
    })?;
    env.into_message()
}

impl<'a> Envelope<'a> {
    /// Validate the envelope and turn it into an owned [`Message`].
    pub fn into_message(self) -> Result<Message, ParseFailure> {
        let id = match self.id {
            None => None,
            Some(raw) => Some(
                serde_json::from_str::<Id>(raw.get()).map_err(|_| ParseFailure {
                    id: Id::Null,
                    error: ErrorObject::invalid_request(format!(
                        "`id` must be a string or an integer, got {}",
                        truncate(raw.get(), 40)
                    )),
                })?,
            ),
        };
        let err_id = id.clone().unwrap_or(Id::Null);
        let fail = |msg: String| ParseFailure {
            id: err_id.clone(),
            error: ErrorObject::invalid_request(msg),
        };
        if self.jsonrpc.as_deref() != Some("2.0") {
            return Err(fail("`jsonrpc` must be \"2.0\"".into()));
        }
        if let Some(params) = self.params {
            let c = params.get().as_bytes().first().copied();
            if c != Some(b'{') && c != Some(b'[') {
                return Err(fail("`params` must be an object".into()));
            }
        }
        match (self.method, id) {
            (Some(_), Some(Id::Null)) => Err(fail("a request `id` must not be null".into())),
            (Some(method), Some(id)) => {
                if self.result.is_some() || self.error.is_some() {
                    return Err(fail("a request must not carry `result` or `error`".into()));
                }
                Ok(Message::Request(Request {
                    id,
                    method: method.into_owned(),
                    params: self.params.map(RawValue::to_owned),
                }))
            }
            (Some(method), None) => Ok(Message::Notification(Notification {
                method: method.into_owned(),
                params: self.params.map(RawValue::to_owned),
            })),
            (None, Some(id)) => match (self.result, self.error) {
                (Some(r), None) => Ok(Message::Response(Response {
                    id,
                    result: Ok(r.to_owned()),
                })),
                (None, Some(e)) => {
                    let err: ErrorObject = serde_json::from_str(e.get()).map_err(|e| {
                        fail(format!("`error` is not a JSON-RPC error object: {e}"))
                    })?;
                    Ok(Message::Response(Response {
                        id,
                        result: Err(err),
                    }))
                }
                _ => Err(fail(
                    "a response must carry exactly one of `result` and `error`".into(),
                )),
            },
            (None, None) => Err(fail(
                "message has neither `method` nor `id`; it is not a request, notification or response"
                    .into(),
            )),
        }
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[derive(Serialize)]
struct Wire<'a> {
    jsonrpc: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a Id>,
    #[serde(skip_serializing_if = "Option::is_none")]
    method: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    params: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a ErrorObject>,
}

impl Message {
    /// Serialize to compact JSON. Raw parts are copied verbatim.
    pub fn to_vec(&self) -> Vec<u8> {
        let wire = match self {
            Message::Request(r) => Wire {
                jsonrpc: "2.0",
                id: Some(&r.id),
                method: Some(&r.method),
                params: r.params.as_deref(),
                result: None,
                error: None,
            },
            Message::Notification(n) => Wire {
                jsonrpc: "2.0",
                id: None,
                method: Some(&n.method),
                params: n.params.as_deref(),
                result: None,
                error: None,
            },
            Message::Response(r) => Wire {
                jsonrpc: "2.0",
                id: Some(&r.id),
                method: None,
                params: None,
                result: r.result.as_ref().ok().map(|b| &**b),
                error: r.result.as_ref().err(),
            },
        };
        // Serializing borrowed strings and raw values into a Vec cannot fail.
        serde_json::to_vec(&wire).unwrap_or_default()
    }

    pub fn method(&self) -> Option<&str> {
        match self {
            Message::Request(r) => Some(&r.method),
            Message::Notification(n) => Some(&n.method),
            Message::Response(_) => None,
        }
    }

    pub fn response(id: Id, result: Result<Box<RawValue>, ErrorObject>) -> Self {
        Message::Response(Response { id, result })
    }

    pub fn notification(method: impl Into<String>, params: Option<Box<RawValue>>) -> Self {
        Message::Notification(Notification {
            method: method.into(),
            params,
        })
    }

    pub fn request(id: Id, method: impl Into<String>, params: Option<Box<RawValue>>) -> Self {
        Message::Request(Request {
            id,
            method: method.into(),
            params,
        })
    }
}

#[cfg(test)]
mod tests;
