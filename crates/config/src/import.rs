//! `switchboard import-claude`: a Claude Desktop config → Switchboard YAML.

use indexmap::IndexMap;
use serde::Deserialize;

use crate::{Config, Problem, ServerConfig};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClaudeDesktop {
    #[serde(default)]
    mcp_servers: IndexMap<String, serde_json::Value>,
}

/// Convert Claude Desktop's `claude_desktop_config.json` text into Switchboard YAML. Entries
/// are carried over unchanged; other Claude settings are ignored. Returns the YAML text.
pub fn import_claude(json: &str) -> Result<String, Vec<Problem>> {
    let desktop: ClaudeDesktop = serde_json::from_str(json).map_err(|e| {
        vec![
            Problem::new("", format!("not a Claude Desktop config: {e}"))
                .fix("pass claude_desktop_config.json, which holds an `mcpServers` object"),
        ]
    })?;
    if desktop.mcp_servers.is_empty() {
        return Err(vec![
            Problem::new("mcpServers", "has no servers").fix("add servers in Claude Desktop first"),
        ]);
    }
    let mut problems = Vec::new();
    let mut config = Config::default();
    for (name, entry) in desktop.mcp_servers {
        match serde_json::from_value::<ServerConfig>(entry) {
            Ok(s) => {
                config.servers.insert(name, s);
            }
            Err(e) => problems.push(Problem::new(format!("mcpServers.{name}"), e.to_string())),
        }
    }
    problems.extend(
        config
            .validate()
            .into_iter()
            .filter(|p| p.path.starts_with("servers.")),
    );
    if !problems.is_empty() {
        return Err(problems);
    }
    #[derive(serde::Serialize)]
    struct Out<'a> {
        servers: &'a IndexMap<String, ServerConfig>,
    }
    let body = yaml_serde::to_string(&Out {
        servers: &config.servers,
    })
    .map_err(|e| vec![Problem::new("", format!("cannot write YAML: {e}"))])?;
    Ok(format!(
        "# Switchboard configuration imported from Claude Desktop.\n\
         # Check it with `switchboard check --config FILE`; options: `switchboard schema`.\n\
         http:\n  listen: 127.0.0.1:8080\n{body}"
    ))
}
