//! The `requestState` verifier: any token, and any payload correctly signed with the ring's
//! key (what a holder of a leaked key, or a bug in sealing, could present), must be refused
//! or accepted for its own binding only, never panic.
#![no_main]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{KeyInit, Mac};
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};
use switchboard_policy::request_state::{Binding, StateKeys};

const KEY: &[u8] = b"fuzz-state-key-fuzz-state-key-32";

fuzz_target!(|data: &[u8]| {
    let keys = StateKeys::new(vec![KEY.to_vec()], std::time::Duration::from_secs(300));
    let binding = Binding {
        method: "tools/call".into(),
        target: "up__echo".into(),
        args: "digest".into(),
        server: "up".into(),
        principal: "someone".into(),
    };
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = keys.open(text, &binding);
        let _ = keys.verify_tag(&["owner", "id"], text);
    }
    // The same bytes as a payload signed with the key.
    let kid = B64.encode(&Sha256::digest(KEY)[..6]);
    let signed = format!("sb1.{kid}.{}", B64.encode(data));
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(KEY).expect("any key length");
    mac.update(signed.as_bytes());
    let token = format!("{signed}.{}", B64.encode(mac.finalize().into_bytes()));
    if let Ok(claims) = keys.open(&token, &binding) {
        // Accepted only for what it was bound to.
        let again = keys.seal(&binding, claims.us.clone());
        assert!(keys.open(&again, &binding).is_ok());
    }
    let sealed = keys.seal(&binding, std::str::from_utf8(data).ok().map(str::to_owned));
    assert!(
        keys.open(&sealed, &binding).is_ok(),
        "a fresh seal does not open"
    );
});
