//! GitHub's real OpenAPI document (`@octokit/openapi`, installed in tests/harness by
//! `.ci/setup`), about a thousand operations with deep shared definitions: every operation but
//! a few becomes a tool, names are unique, every generated schema is valid JSON Schema that a
//! validator compiles, and the listing stays small because definitions are shared, not
//! inlined.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::path::PathBuf;

use switchboard_config::ServerConfig;
use switchboard_http_api::openapi;

fn spec() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/harness/node_modules/@octokit/openapi/generated/api.github.com.json")
}

#[test]
fn githubs_whole_document_imports_into_valid_unique_tools() {
    let path = spec();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run `bash .ci/setup` to install the test harness)",
            path.display()
        )
    });
    let doc = openapi::parse("api.github.com.json", &text).unwrap();
    let mut entry = ServerConfig::stdio("", vec![]);
    entry.command = None;
    entry.openapi = Some(path.display().to_string());
    let started = std::time::Instant::now();
    let imported = openapi::import(&doc, &entry).unwrap();
    let took = started.elapsed();
    let n = imported.tools.len();
    assert!(n > 1000, "only {n} tools; skipped: {:?}", imported.skipped);
    assert!(imported.skipped.len() < 10, "{:?}", imported.skipped);
    assert_eq!(
        imported.server_url.as_deref(),
        Some("https://api.github.com")
    );
    let names: HashSet<&str> = imported.tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names.len(), n, "tool names are not unique");
    // `repos/get` made a tool name (MCP names use letters, digits, `_`, `-` and `.`).
    assert!(names.contains("repos_get") && names.contains("issues_create"));
    let mut listing_bytes = 0;
    for t in &imported.tools {
        assert!(
            t.name.len() <= 64
                && t.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
                    .then_some(())
                    .is_some()
                || t.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')),
            "{}",
            t.name
        );
        for (what, schema) in [
            ("input", Some(&t.input_schema)),
            ("output", t.output_schema.as_ref()),
        ] {
            let Some(schema) = schema else { continue };
            if let Err(e) = jsonschema::meta::validate(schema) {
                panic!("{} {what}Schema is not valid JSON Schema: {e}", t.name);
            }
            if let Err(e) = jsonschema::options().build(schema) {
                panic!("{} {what}Schema does not compile: {e}", t.name);
            }
        }
        listing_bytes += t.listing().to_string().len();
    }
    // Shared definitions keep the whole listing in the tens of megabytes at most.
    assert!(listing_bytes < 64 << 20, "listing is {listing_bytes} bytes");
    eprintln!(
        "github: {n} tools, {} skipped, listing {:.1} MB, import {took:?}",
        imported.skipped.len(),
        listing_bytes as f64 / 1e6
    );
}
