//! Multi round-trip requests of protocol 2026-07-28: a `tools/call`, `prompts/get` or
//! `resources/read` may answer `{"resultType":"input_required","inputRequests":{…},
//! "requestState":"…"}`, and the client retries the same request with `inputResponses` and the
//! state. This module holds what every bridge shares:
//!
//! * the gateway's own `requestState` ([`StateKeys`]): HMAC-SHA256-signed claims that bind a
//!   retry to the request it continues (method, name, arguments digest, server) and expire.
//!   A modern upstream's state travels inside it, so any replica holding the key can serve the
//!   retry; a tampered, expired or misdirected state is refused with `-32602`;
//! * reading and rewriting the MRTR fields of params and results.
//!
//! See docs/design/protocol-2026-07-28.md §5.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use switchboard_config::MrtrConfig;
use switchboard_protocol::{ErrorObject, RawMap, codes, to_raw};

type HmacSha256 = Hmac<Sha256>;

/// The MRTR field names.
pub const REQUEST_STATE: &str = "requestState";
pub const INPUT_RESPONSES: &str = "inputResponses";
pub const INPUT_REQUESTS: &str = "inputRequests";
pub const RESULT_TYPE: &str = "resultType";
pub const INPUT_REQUIRED: &str = "input_required";

/// Why a `requestState` was refused. The client only ever sees [`invalid_state`]; the reason
/// goes to the log, so the error is no oracle.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StateError {
    #[error("not a switchboard requestState")]
    Malformed,
    #[error("signed with an unknown key")]
    UnknownKey,
    #[error("signature does not verify")]
    BadSignature,
    #[error("expired")]
    Expired,
    #[error("issued for another request ({0})")]
    WrongRequest(&'static str),
}

/// The JSON-RPC error for any `requestState` that cannot be honoured.
pub fn invalid_state() -> ErrorObject {
    ErrorObject::new(codes::INVALID_PARAMS, "Invalid or expired requestState").with_data(to_raw(
        &serde_json::json!({"reason": "invalid_request_state"}),
    ))
}

/// What a gateway `requestState` says.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub v: u8,
    /// Issued and expiry, seconds since the epoch.
    pub iat: u64,
    pub exp: u64,
    /// The request it continues: method, target (upstream name or URI), arguments digest,
    /// server.
    pub m: String,
    pub t: String,
    pub a: String,
    pub srv: String,
    /// Digest of the caller's identity.
    #[serde(default)]
    pub p: String,
    /// The upstream's own `requestState`, verbatim, when it sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub us: Option<String>,
    /// Random: every state handed out differs, even for the same round.
    pub n: String,
    /// A parked call (session-era upstream): its handle and round.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub h: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r: Option<u32>,
    /// The replica holding the parked call (with `cluster:`), so a retry that lands on
    /// another replica is passed to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub o: Option<String>,
}

/// What a retry must match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    pub method: String,
    pub target: String,
    pub args: String,
    pub server: String,
    /// Digest of the caller's identity: a state is no use to anyone else.
    pub principal: String,
}

impl Binding {
    /// The binding of a routed request: `target` as sent upstream, the digest of `arguments`.
    pub fn of(method: &str, target: &str, server: &str, params: &RawValue) -> Self {
        let args = RawMap::parse(params)
            .ok()
            .and_then(|m| m.get("arguments").map(digest))
            .unwrap_or_default();
        Self {
            method: method.to_owned(),
            target: target.to_owned(),
            args,
            server: server.to_owned(),
            principal: String::new(),
        }
    }

    /// Bind to the caller `subject` as well.
    pub fn for_principal(mut self, subject: &str) -> Self {
        self.principal = B64.encode(&Sha256::digest(subject.as_bytes())[..12]);
        self
    }
}

/// A short digest of a JSON value, the same however its object keys are ordered or spaced.
fn digest(raw: &RawValue) -> String {
    let value: serde_json::Value = serde_json::from_str(raw.get()).unwrap_or_default();
    let mut canonical = String::new();
    canonical_json(&value, &mut canonical);
    let hash = Sha256::digest(canonical.as_bytes());
    B64.encode(&hash[..16])
}

fn canonical_json(v: &serde_json::Value, out: &mut String) {
    match v {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String(k.clone()).to_string());
                out.push(':');
                if let Some(inner) = map.get(k) {
                    canonical_json(inner, out);
                }
            }
            out.push('}');
        }
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The key ring that signs and verifies the gateway's `requestState`.
pub struct StateKeys {
    /// `(key id, key)`; the first signs, all verify.
    keys: Vec<(String, Vec<u8>)>,
    ttl: Duration,
}

const PREFIX: &str = "sb1";

impl StateKeys {
    pub fn from_config(cfg: &MrtrConfig) -> Self {
        let mut keys: Vec<Vec<u8>> = cfg.keys.iter().map(|k| k.as_bytes().to_vec()).collect();
        if keys.is_empty() {
            tracing::info!(
                "no mrtr.keys configured: a random requestState key was made for this process; input_required states will not survive a restart or reach another replica"
            );
            keys.push(rand::random::<[u8; 32]>().to_vec());
        }
        Self::new(keys, cfg.state_ttl.0)
    }

    pub fn new(keys: Vec<Vec<u8>>, ttl: Duration) -> Self {
        let keys = keys
            .into_iter()
            .map(|k| {
                let id = B64.encode(&Sha256::digest(&k)[..6]);
                (id, k)
            })
            .collect();
        Self { keys, ttl }
    }

    fn mac(key: &[u8], signed: &str) -> HmacSha256 {
        // HMAC takes keys of any length, so this cannot fail.
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key)
            .unwrap_or_else(|_| <HmacSha256 as KeyInit>::new(&Default::default()));
        mac.update(signed.as_bytes());
        mac
    }

    /// A short tag binding `parts` (e.g. an owner and an id) under the signing key: 16 bytes
    /// of HMAC-SHA256, base64url. The same parts under any key of the ring pass [`Self::verify_tag`].
    pub fn tag(&self, parts: &[&str]) -> String {
        let Some((_, key)) = self.keys.first() else {
            return String::new();
        };
        B64.encode(&Self::mac(key, &parts.join("\u{0}")).finalize().into_bytes()[..16])
    }

    /// Whether `tag` is [`Self::tag`] of `parts` under one of the keys (constant time).
    pub fn verify_tag(&self, parts: &[&str], tag: &str) -> bool {
        let Ok(tag) = B64.decode(tag) else {
            return false;
        };
        if tag.len() != 16 {
            return false;
        }
        let signed = parts.join("\u{0}");
        self.keys
            .iter()
            .any(|(_, key)| Self::mac(key, &signed).verify_truncated_left(&tag).is_ok())
    }

    /// How long a state stays valid.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A state for `binding`, carrying the upstream's state `upstream`.
    pub fn seal(&self, binding: &Binding, upstream: Option<String>) -> String {
        self.seal_claims(binding, upstream, None)
    }

    /// A state for round `round` of the parked call `handle`, held by replica `owner`.
    pub fn seal_park(
        &self,
        binding: &Binding,
        handle: &str,
        round: u32,
        owner: Option<&str>,
    ) -> String {
        self.seal_claims(binding, None, Some((handle, round, owner)))
    }

    fn seal_claims(
        &self,
        binding: &Binding,
        upstream: Option<String>,
        park: Option<(&str, u32, Option<&str>)>,
    ) -> String {
        let now = now();
        let claims = Claims {
            v: 1,
            iat: now,
            exp: now + self.ttl.as_secs().max(1),
            m: binding.method.clone(),
            t: binding.target.clone(),
            a: binding.args.clone(),
            srv: binding.server.clone(),
            p: binding.principal.clone(),
            us: upstream,
            n: B64.encode(rand::random::<[u8; 12]>()),
            h: park.map(|(h, _, _)| h.to_owned()),
            r: park.map(|(_, r, _)| r),
            o: park.and_then(|(_, _, o)| o.map(str::to_owned)),
        };
        let Some((kid, key)) = self.keys.first() else {
            return String::new();
        };
        let payload = B64.encode(serde_json::to_vec(&claims).unwrap_or_default());
        let signed = format!("{PREFIX}.{kid}.{payload}");
        let tag = B64.encode(Self::mac(key, &signed).finalize().into_bytes());
        format!("{signed}.{tag}")
    }

    /// Verify a state and check it continues `binding`.
    pub fn open(&self, token: &str, binding: &Binding) -> Result<Claims, StateError> {
        let mut parts = token.split('.');
        let (Some(prefix), Some(kid), Some(payload), Some(tag), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(StateError::Malformed);
        };
        if prefix != PREFIX {
            return Err(StateError::Malformed);
        }
        let (_, key) = self
            .keys
            .iter()
            .find(|(id, _)| id == kid)
            .ok_or(StateError::UnknownKey)?;
        let tag = B64.decode(tag).map_err(|_| StateError::Malformed)?;
        let signed = format!("{prefix}.{kid}.{payload}");
        Self::mac(key, &signed)
            .verify_slice(&tag)
            .map_err(|_| StateError::BadSignature)?;
        let claims: Claims = B64
            .decode(payload)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(StateError::Malformed)?;
        let now = now();
        if claims.v != 1 || now >= claims.exp || claims.iat > now + 60 {
            return Err(StateError::Expired);
        }
        let checks = [
            (claims.m == binding.method, "method"),
            (claims.t == binding.target, "name"),
            (claims.a == binding.args, "arguments"),
            (claims.srv == binding.server, "server"),
            (claims.p == binding.principal, "caller"),
        ];
        if let Some((_, what)) = checks.iter().find(|(ok, _)| !ok) {
            return Err(StateError::WrongRequest(what));
        }
        Ok(claims)
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// `params` without `requestState`, and that state if it was a string.
pub fn take_state(params: Box<RawValue>) -> Result<(Box<RawValue>, Option<String>), ErrorObject> {
    let Ok(mut map) = RawMap::parse(&params) else {
        return Ok((params, None));
    };
    let Some(raw) = map.get(REQUEST_STATE) else {
        return Ok((params, None));
    };
    let state: String = serde_json::from_str(raw.get())
        .map_err(|_| ErrorObject::invalid_params("requestState must be a string"))?;
    map.remove(REQUEST_STATE);
    Ok((map.to_raw(), Some(state)))
}

/// The answers of an `input_required` retry, by input request key.
pub type Responses = serde_json::Map<String, serde_json::Value>;

/// `params` without `inputResponses`, and those responses. Anything but an object is refused.
pub fn take_responses(
    params: Box<RawValue>,
) -> Result<(Box<RawValue>, Option<Responses>), ErrorObject> {
    let Ok(mut map) = RawMap::parse(&params) else {
        return Ok((params, None));
    };
    let Some(raw) = map.get(INPUT_RESPONSES) else {
        return Ok((params, None));
    };
    let responses: serde_json::Map<String, serde_json::Value> = serde_json::from_str(raw.get())
        .map_err(|_| ErrorObject::invalid_params("inputResponses must be an object"))?;
    map.remove(INPUT_RESPONSES);
    Ok((map.to_raw(), Some(responses)))
}

/// A request's `_meta.progressToken`, raw.
pub fn progress_token(params: &RawValue) -> Option<Box<RawValue>> {
    let map = RawMap::parse(params).ok()?;
    let meta = RawMap::parse(map.get("_meta")?).ok()?;
    meta.get("progressToken").map(RawValue::to_owned)
}

/// `params` with `requestState` set (or left out when `None`).
pub fn put_state(params: &RawValue, state: Option<&str>) -> Box<RawValue> {
    let Ok(mut map) = RawMap::parse(params) else {
        return params.to_owned();
    };
    match state {
        Some(s) => map.set_str(REQUEST_STATE, s),
        None => {
            map.remove(REQUEST_STATE);
        }
    }
    map.to_raw()
}

/// Whether a result asks for input.
pub fn is_input_required(result: &RawValue) -> bool {
    RawMap::parse(result)
        .ok()
        .and_then(|m| m.get_str(RESULT_TYPE).map(|t| t == INPUT_REQUIRED))
        .unwrap_or(false)
}

/// An `input_required` result's state, replaced by `f(upstream state)`.
pub fn rewrite_result_state(
    result: &RawValue,
    f: impl FnOnce(Option<String>) -> String,
) -> Box<RawValue> {
    let Ok(mut map) = RawMap::parse(result) else {
        return result.to_owned();
    };
    let upstream = map
        .get(REQUEST_STATE)
        .and_then(|s| serde_json::from_str::<String>(s.get()).ok());
    map.set_str(REQUEST_STATE, &f(upstream));
    map.to_raw()
}

#[cfg(test)]
mod tag_tests {
    use super::*;

    #[test]
    fn tags_bind_their_parts_and_survive_a_key_rotation() {
        let old = StateKeys::new(vec![b"old".to_vec()], Duration::from_secs(60));
        let t = old.tag(&["task", "alice", "srv", "42"]);
        assert!(old.verify_tag(&["task", "alice", "srv", "42"], &t));
        assert!(
            !old.verify_tag(&["task", "bob", "srv", "42"], &t),
            "another owner"
        );
        assert!(
            !old.verify_tag(&["task", "alice", "srv", "43"], &t),
            "another id"
        );
        assert!(
            !old.verify_tag(&["task", "alicesrv", "", "42"], &t),
            "parts are separated"
        );
        assert!(
            !old.verify_tag(&["task", "alice", "srv", "42"], &t[..10]),
            "truncated"
        );
        assert!(!old.verify_tag(&["task", "alice", "srv", "42"], "not base64!"));
        let rotated = StateKeys::new(
            vec![b"new".to_vec(), b"old".to_vec()],
            Duration::from_secs(60),
        );
        assert!(rotated.verify_tag(&["task", "alice", "srv", "42"], &t));
        let other = StateKeys::new(vec![b"other".to_vec()], Duration::from_secs(60));
        assert!(!other.verify_tag(&["task", "alice", "srv", "42"], &t));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> StateKeys {
        StateKeys::new(
            vec![b"0123456789abcdef0123456789abcdef".to_vec()],
            Duration::from_secs(600),
        )
    }

    fn binding(args: &str) -> Binding {
        let p = RawValue::from_string(format!(r#"{{"name":"t","arguments":{args}}}"#)).unwrap();
        Binding::of("tools/call", "t", "srv", &p)
    }

    #[test]
    fn states_verify_and_bind_to_their_request() {
        let k = keys();
        let b = binding(r#"{"a":1,"b":[1,2]}"#);
        let token = k.seal(&b, Some("upstream-state".into()));
        let c = k.open(&token, &b).unwrap();
        assert_eq!(c.us.as_deref(), Some("upstream-state"));
        // Same arguments, other key order and spacing: same binding.
        assert!(k.open(&token, &binding(r#"{ "b":[1,2], "a":1 }"#)).is_ok());
        assert_eq!(
            k.open(&token, &binding(r#"{"a":2,"b":[1,2]}"#)),
            Err(StateError::WrongRequest("arguments"))
        );
        let other_server = Binding {
            server: "x".into(),
            ..b.clone()
        };
        assert_eq!(
            k.open(&token, &other_server),
            Err(StateError::WrongRequest("server"))
        );
        // Bound to a caller, it is refused to another.
        let alice = b.clone().for_principal("key:alice");
        let t = k.seal(&alice, None);
        assert!(k.open(&t, &alice).is_ok());
        assert_eq!(
            k.open(&t, &b.clone().for_principal("key:mallory")),
            Err(StateError::WrongRequest("caller"))
        );
        // Two states for the same round differ.
        assert_ne!(token, k.seal(&b, Some("upstream-state".into())));
    }

    #[test]
    fn tampered_foreign_and_expired_states_are_refused() {
        let k = keys();
        let b = binding("{}");
        let token = k.seal(&b, None);
        assert!(matches!(
            k.open(&format!("{token}-TAMPERED"), &b),
            Err(StateError::Malformed | StateError::BadSignature)
        ));
        let mut flipped = token.clone().into_bytes();
        let at = flipped.len() / 2;
        flipped[at] = if flipped[at] == b'A' { b'B' } else { b'A' };
        assert!(k.open(&String::from_utf8(flipped).unwrap(), &b).is_err());
        assert_eq!(k.open("garbage", &b), Err(StateError::Malformed));
        let other = StateKeys::new(vec![vec![7u8; 32]], Duration::from_secs(600));
        assert_eq!(other.open(&token, &b), Err(StateError::UnknownKey));
        let expired = StateKeys::new(
            vec![b"0123456789abcdef0123456789abcdef".to_vec()],
            Duration::ZERO,
        );
        // ttl 0 is raised to one second; a state sealed now is still valid for that second.
        assert!(expired.open(&expired.seal(&b, None), &b).is_ok());
        // A rotated ring still verifies states of the old key.
        let rotated = StateKeys::new(
            vec![vec![9u8; 32], b"0123456789abcdef0123456789abcdef".to_vec()],
            Duration::from_secs(600),
        );
        assert!(rotated.open(&token, &b).is_ok());
    }

    #[test]
    fn params_and_results() {
        let p =
            RawValue::from_string(r#"{"name":"t","requestState":"s","inputResponses":{}}"#.into())
                .unwrap();
        let (rest, state) = take_state(p).unwrap();
        assert_eq!(state.as_deref(), Some("s"));
        assert_eq!(rest.get(), r#"{"name":"t","inputResponses":{}}"#);
        assert_eq!(
            put_state(&rest, Some("u")).get(),
            r#"{"name":"t","inputResponses":{},"requestState":"u"}"#
        );
        let bad = RawValue::from_string(r#"{"requestState":5}"#.into()).unwrap();
        assert!(take_state(bad).is_err());
        let r = RawValue::from_string(
            r#"{"resultType":"input_required","inputRequests":{},"requestState":"up"}"#.into(),
        )
        .unwrap();
        assert!(is_input_required(&r));
        let out = rewrite_result_state(&r, |us| format!("wrapped:{}", us.unwrap_or_default()));
        assert!(out.get().contains(r#""requestState":"wrapped:up""#));
    }
}
