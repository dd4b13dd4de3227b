//! Cache keys: the SHA-256 of a call's era, tool, sharing scope and canonical arguments.

use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use switchboard_protocol::{ErrorObject, RawMap};

use super::Key;

/// What besides the tool and its arguments a key depends on.
pub struct KeyParts<'a> {
    /// The client's protocol era (results are shaped per era).
    pub era: u8,
    pub tool: &'a str,
    /// Role, identity or session, per the plan's scope and the server's isolation.
    pub scope: &'a str,
}

/// The key of a call: see the module docs. Fails only on params that are not an object.
pub fn key(parts: &KeyParts<'_>, params: Option<&RawValue>) -> Result<Key, ErrorObject> {
    let mut h = Sha256::new();
    h.update([parts.era]);
    for s in [parts.tool, parts.scope] {
        h.update((s.len() as u64).to_le_bytes());
        h.update(s.as_bytes());
    }
    let args = match params {
        Some(p) => RawMap::parse(p)
            .map_err(|e| ErrorObject::invalid_params(format!("params: {e}")))?
            .get("arguments")
            .map(|a| serde_json::from_str::<serde_json::Value>(a.get()))
            .transpose()
            .map_err(|e| ErrorObject::invalid_params(format!("arguments: {e}")))?,
        None => None,
    };
    let mut canon = Vec::with_capacity(64);
    match &args {
        Some(v) => canonical(v, &mut canon),
        None => canon.extend_from_slice(b"-"),
    }
    h.update(&canon);
    Ok(Key(h.finalize().into()))
}

/// JSON with object keys sorted at every level and no insignificant whitespace.
fn canonical(v: &serde_json::Value, out: &mut Vec<u8>) {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                string(k, out);
                out.push(b':');
                if let Some(child) = map.get(k) {
                    canonical(child, out);
                }
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical(item, out);
            }
            out.push(b']');
        }
        Value::String(s) => string(s, out),
        other => out.extend_from_slice(other.to_string().as_bytes()),
    }
}

fn string(s: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(serde_json::Value::from(s).to_string().as_bytes());
}
