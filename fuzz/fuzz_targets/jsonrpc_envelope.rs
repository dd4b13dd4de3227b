//! The JSON-RPC envelope (`parse_message`, a lazy parse that keeps params raw) against
//! serde_json's full parse, and the raw-map rewriting of params against the same edit made on
//! a parsed value.
//!
//! Two disagreements are by design, both valid JSON syntax that serde_json's `Value` cannot
//! represent: an escaped lone surrogate (`\uD800`; RFC 8259 §7 leaves its meaning open, and
//! Python and JavaScript parsers accept it) and a number beyond f64 (`1E400`; §6 leaves the
//! range to implementations). The envelope carries params raw, as it should; the gateway
//! refuses both with -32602 wherever it reads a value (a tool's name, the arguments it
//! validates, audits and caches). They are allowed here and nothing else is.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use serde_json::value::RawValue;
use switchboard_protocol::{RawMap, parse_message};

/// serde_json's refusal of valid syntax it cannot represent (the allowed disagreements).
fn unrepresentable(e: &serde_json::Error) -> bool {
    let m = e.to_string();
    m.contains("lone leading surrogate in hex escape")
        || m.contains("unexpected end of hex escape")
        || m.contains("number out of range")
}

fuzz_target!(|data: &[u8]| {
    let lazy = parse_message(data);
    let full = serde_json::from_slice::<Value>(data);
    match (&lazy, &full) {
        // The envelope never accepts what is not JSON.
        (Ok(_), Err(e)) if !unrepresentable(e) => {
            panic!("the envelope accepted bytes serde_json refuses: {e}")
        }
        // What it writes back is JSON, and reads back as the same message.
        (Ok(msg), Ok(_)) => {
            let out = msg.to_vec();
            serde_json::from_slice::<Value>(&out).expect("a written message is not JSON");
            let again = parse_message(&out).expect("a written message does not parse again");
            assert_eq!(again.to_vec(), out, "writing is not stable");
        }
        _ => {}
    }
    // The raw map: an object's keys set and removed in place must equal the same edit on a
    // parsed value (nested values are carried as they are).
    let Ok(raw) = serde_json::from_slice::<Box<RawValue>>(data) else {
        return;
    };
    let Ok(mut map) = RawMap::parse(&raw) else {
        return;
    };
    let mut expect = match serde_json::from_str::<Value>(raw.get()) {
        Ok(Value::Object(m)) => m,
        Err(e) if unrepresentable(&e) => return,
        _ => panic!(
            "a raw map parsed from something that is not an object: {}",
            raw.get()
        ),
    };
    map.set_str("progressToken", "sb-1");
    map.remove("_meta");
    let written = map.to_raw();
    let after: Value = serde_json::from_str(written.get()).expect("the raw map wrote invalid JSON");
    expect.insert("progressToken".into(), Value::String("sb-1".into()));
    expect.remove("_meta");
    assert_eq!(
        after,
        Value::Object(expect),
        "raw-map edit differs from the value edit"
    );
});
