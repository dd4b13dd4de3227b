//! One audit record, its place in the hash chain, checking a chain, and redacting secrets
//! from recorded arguments.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use switchboard_store::hex;

/// One audit record, as stored. Field order is part of the hash: do not reorder.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct Record {
    pub seq: u64,
    pub time: String,
    pub subject: String,
    pub role: Option<String>,
    pub auth: String,
    pub client_ip: Option<String>,
    pub transport: String,
    pub method: String,
    pub target: Option<String>,
    /// `ok`, `error`, `denied`, `rate_limited`, `unauthenticated`.
    pub outcome: String,
    pub error_code: Option<i64>,
    pub latency_us: u64,
    pub args_sha256: Option<String>,
    pub args: Option<String>,
    pub prev: String,
    pub hash: String,
}

/// The hash before the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

impl Record {
    /// The chained hash of this record (over every field but `hash`, and `prev`).
    pub fn compute_hash(&self) -> String {
        let mut body = self.clone();
        body.hash = String::new();
        let json = serde_json::to_string(&body).unwrap_or_default();
        let mut h = Sha256::new();
        h.update(self.prev.as_bytes());
        h.update(b"\n");
        h.update(json.as_bytes());
        hex(&h.finalize())
    }
}

/// What is wrong with a chain.
#[derive(Debug, PartialEq, Eq)]
pub struct Broken {
    pub seq: u64,
    pub why: String,
}

/// Check a chain in order: contiguous sequence numbers, each `prev` the previous `hash`, each
/// `hash` recomputed. Returns the records checked and the last hash.
pub fn verify<'a>(records: impl IntoIterator<Item = &'a Record>) -> Result<(u64, String), Broken> {
    let mut prev = GENESIS.to_owned();
    let mut expected_seq = None;
    let mut n = 0;
    for r in records {
        if let Some(e) = expected_seq
            && r.seq != e
        {
            return Err(Broken {
                seq: r.seq,
                why: format!("expected record {e} next: records were removed or reordered"),
            });
        }
        if r.prev != prev {
            return Err(Broken {
                seq: r.seq,
                why: "its `prev` is not the previous record's hash: records were removed, inserted or reordered".into(),
            });
        }
        if r.compute_hash() != r.hash {
            return Err(Broken {
                seq: r.seq,
                why: "its content does not match its hash: the record was edited".into(),
            });
        }
        prev = r.hash.clone();
        expected_seq = Some(r.seq + 1);
        n += 1;
    }
    Ok((n, prev))
}

/// Replace the values of secret-looking keys, recursively.
pub fn redact(value: &mut serde_json::Value, keys: &[String]) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                let lower = k.to_ascii_lowercase();
                if keys.iter().any(|s| lower.contains(s.as_str())) {
                    *v = serde_json::Value::String("[REDACTED]".into());
                } else {
                    redact(v, keys);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| redact(v, keys)),
        _ => {}
    }
}

/// Give `r` the next sequence number and its place in the chain; returns its JSON line
/// (without the newline). The record is serialized once: its hash covers the JSON with an
/// empty `hash` (the last field), which the line then completes.
pub(crate) fn chain(r: &mut Record, prev: &mut String, seq: &mut u64) -> String {
    *seq += 1;
    r.seq = *seq;
    r.prev.clone_from(prev);
    r.hash.clear();
    let mut json = serde_json::to_string(&*r).unwrap_or_default();
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(b"\n");
    h.update(json.as_bytes());
    r.hash = hex(&h.finalize());
    debug_assert!(json.ends_with(r#""hash":""}"#));
    json.truncate(json.len() - 2);
    json.push_str(&r.hash);
    json.push_str("\"}");
    prev.clone_from(&r.hash);
    json
}
