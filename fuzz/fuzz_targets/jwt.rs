//! JWT verification (HS256 with a known secret: what a bearer token's header, claims and
//! signature can do to the verifier), the issuer peek, and JWKS documents as the verifier
//! reads them from an issuer.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use switchboard_policy::auth::jwt::{JwtVerifier, issuer_of, looks_like_jwt};

/// One verifier and runtime for the whole run (building them per input would spend the time
/// on setting up an HTTP client, not on parsing).
static SETUP: OnceLock<(JwtVerifier, tokio::runtime::Runtime)> = OnceLock::new();

fn setup() -> (JwtVerifier, tokio::runtime::Runtime) {
    let cfg: switchboard_config::JwtConfig = serde_json::from_value(serde_json::json!({
        "issuer": "https://issuer.test",
        "audience": ["switchboard"],
        "algorithm": "HS256",
        "secret": "fuzz-secret-fuzz-secret-fuzz-secret",
    }))
    .expect("the fuzz target's JWT config");
    let verifier = JwtVerifier::new(&cfg).expect("the fuzz target's verifier");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    (verifier, rt)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = issuer_of(text);
    let _ = looks_like_jwt(text);
    let (verifier, rt) = SETUP.get_or_init(setup);
    let _ = rt.block_on(verifier.verify(text));
    // A JWKS document, each key turned into a decoding key as the verifier does.
    if let Ok(set) = serde_json::from_str::<jsonwebtoken::jwk::JwkSet>(text) {
        for k in &set.keys {
            let _ = jsonwebtoken::DecodingKey::from_jwk(k);
        }
    }
});
