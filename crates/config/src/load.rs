//! Loading: read the file → YAML → Claude spellings → `${ENV}` interpolation → JSON Schema →
//! typed `Config` → semantic checks, collecting every problem of a stage before stopping.

use std::path::Path;

use serde_json::Value;

use crate::interpolate::interpolate;
use crate::schema::schema_problems;
use crate::{Config, ConfigError, Problem};

/// Load and validate the configuration file at `path`, reading `${ENV}` from the process.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        file: path.to_owned(),
        source,
    })?;
    let mut config = from_str(&text, path, &|k| std::env::var(k).ok())?;
    // Files the config names are relative to the config file, wherever the gateway runs.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        for server in config.servers.values_mut() {
            if let Some(spec) = &mut server.openapi
                && !spec.starts_with("http://")
                && !spec.starts_with("https://")
                && Path::new(spec.as_str()).is_relative()
            {
                *spec = dir.join(&*spec).to_string_lossy().into_owned();
            }
        }
    }
    for server in config.servers.values_mut() {
        server.openapi_fingerprint = server.openapi.as_deref().and_then(file_fingerprint);
    }
    Ok(config)
}

/// A local file's size and modification time (`None` for URLs and unreadable files).
pub fn file_fingerprint(path: &str) -> Option<String> {
    if path.starts_with("http://") || path.starts_with("https://") {
        return None;
    }
    let m = std::fs::metadata(path).ok()?;
    let modified = m
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_nanos();
    Some(format!("{}:{modified}", m.len()))
}

/// Parse and validate configuration text. `file` is only used in messages.
pub fn from_str(
    text: &str,
    file: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let invalid = |problems| ConfigError::Invalid {
        file: file.to_owned(),
        problems,
    };
    let mut doc: Value = match yaml_serde::from_str::<Option<Value>>(text) {
        Ok(v) => v.unwrap_or_else(|| Value::Object(Default::default())),
        Err(e) => {
            return Err(invalid(vec![
                Problem::new("", format!("not valid YAML: {e}"))
                    .fix("check indentation and quoting at the position shown"),
            ]));
        }
    };
    let mut problems = Vec::new();
    normalize_aliases(&mut doc, &mut problems);
    interpolate(&mut doc, &mut Vec::new(), env, &mut problems);
    problems.extend(schema_problems(&doc));
    if !problems.is_empty() {
        return Err(invalid(problems));
    }
    let config: Config =
        serde_json::from_value(doc).map_err(|e| invalid(vec![Problem::new("", e.to_string())]))?;
    let mut config = config;
    let problems = config.validate();
    if problems.is_empty() {
        config.inject_workflows();
        config.inject_routes();
        config.inject_tool_search();
        Ok(config)
    } else {
        Err(invalid(problems))
    }
}

/// Accept the Claude spellings the schema does not list: `mcpServers` for `servers`,
/// `transport` for `type`.
fn normalize_aliases(doc: &mut Value, problems: &mut Vec<Problem>) {
    let Some(top) = doc.as_object_mut() else {
        return;
    };
    if let Some(servers) = top.remove("mcpServers") {
        if top.contains_key("servers") {
            problems.push(
                Problem::new("mcpServers", "given together with `servers`")
                    .fix("merge the entries under one of the two keys"),
            );
        } else {
            top.insert("servers".into(), servers);
        }
    }
    if let Some(servers) = top.get_mut("servers").and_then(Value::as_object_mut) {
        for entry in servers.values_mut().filter_map(Value::as_object_mut) {
            if !entry.contains_key("type")
                && let Some(t) = entry.remove("transport")
            {
                entry.insert("type".into(), t);
            }
        }
    }
}
