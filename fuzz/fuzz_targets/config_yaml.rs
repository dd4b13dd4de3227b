//! The config loader: YAML, `${VAR}` interpolation and `${{ }}` expressions, the schema and
//! the load-time checks, on any text. It answers with a config or with problems; never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = |name: &str| match name {
        "HOME" => Some("/home/fuzz".to_owned()),
        "TOKEN" => Some("s3cr3t".to_owned()),
        "EMPTY" => Some(String::new()),
        _ => None,
    };
    if let Err(e) = switchboard_config::from_str(text, Path::new("fuzz.yaml"), &env) {
        // The error must say something.
        assert!(!e.to_string().is_empty());
    }
});
