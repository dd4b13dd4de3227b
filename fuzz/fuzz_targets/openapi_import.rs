//! OpenAPI import: any document text (JSON or YAML) parsed, then turned into tools; a
//! document that is not OpenAPI 3 is refused with a reason, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_config::ServerConfig;
use switchboard_http_api::openapi::{import, parse};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(doc) = parse("fuzz.yaml", text) else {
        return;
    };
    let mut cfg = ServerConfig::stdio("", vec![]);
    cfg.command = None;
    cfg.openapi = Some("fuzz.yaml".into());
    if let Ok(imported) = import(&doc, &cfg) {
        for tool in &imported.tools {
            assert!(!tool.name.is_empty(), "a tool without a name");
        }
    }
});
