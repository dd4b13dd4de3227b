//! Whole OpenAPI documents as tools: loading the document (a file or an http(s) URL, JSON or
//! YAML) and importing its operations.

mod import;
mod schema;

pub use import::{Imported, import, import_with};
pub use schema::{Defs, Externals, UnknownRef};

use serde_json::Value;

/// Longest document fetched or read.
const MAX_DOCUMENT: usize = 64 * 1024 * 1024;

/// Read or fetch the document at `source` and parse it (JSON or YAML). Errors name the source.
pub async fn load(source: &str, client: &reqwest::Client) -> Result<Value, String> {
    let text = if source.starts_with("http://") || source.starts_with("https://") {
        // The whole fetch is bounded in time and size (a chunked answer has no length).
        let fetch = async {
            let mut resp = client.get(source).send().await.map_err(|e| {
                format!(
                    "{source}: cannot fetch it: {}",
                    crate::backend::error_chain(&e)
                )
            })?;
            if !resp.status().is_success() {
                return Err(format!("{source}: answered HTTP {}", resp.status()));
            }
            let mut bytes = Vec::new();
            while let Some(chunk) = resp
                .chunk()
                .await
                .map_err(|e| format!("{source}: the document broke off: {e}"))?
            {
                if bytes.len() + chunk.len() > MAX_DOCUMENT {
                    return Err(format!("{source}: larger than {MAX_DOCUMENT} bytes"));
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(bytes)
        };
        let bytes = tokio::time::timeout(std::time::Duration::from_secs(60), fetch)
            .await
            .map_err(|_| format!("{source}: not fetched within 60s"))??;
        String::from_utf8_lossy(&bytes).into_owned()
    } else {
        let path = source.to_owned();
        tokio::task::spawn_blocking(move || std::fs::read_to_string(&path))
            .await
            .map_err(|e| format!("{source}: {e}"))?
            .map_err(|e| format!("{source}: {e}"))?
    };
    parse(source, &text)
}

/// JSON, else YAML; errors name the source and where parsing stopped.
pub fn parse(source: &str, text: &str) -> Result<Value, String> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        return serde_json::from_str(text).map_err(|e| {
            format!(
                "{source}: not valid JSON (line {}, column {}): {e}",
                e.line(),
                e.column()
            )
        });
    }
    yaml_serde::from_str::<Value>(text)
        .map_err(|e| format!("{source}: not valid JSON or YAML: {e}"))
}

#[cfg(test)]
mod tests;
