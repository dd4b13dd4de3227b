//! The `tool_search:` section: for large catalogues, two meta-tools — `search_tools` (what you
//! want done → the best matching tools the caller may use, with their schemas) and `call_tool`
//! (a tool's name and arguments → the normal pipeline) — beside the full list or instead of
//! it (`crates/search`). Loading puts them in one entry of `servers` ([`TOOL_SEARCH_SERVER`]),
//! listed without a prefix.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The server entry that serves the meta-tools.
pub const TOOL_SEARCH_SERVER: &str = "tool_search";

/// The meta-tools' names.
pub const SEARCH_TOOLS: &str = "search_tools";
pub const CALL_TOOL: &str = "call_tool";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolSearchConfig {
    /// `beside`: clients see every tool and the two meta-tools; `replace`: `tools/list` shows
    /// only the meta-tools (every tool stays callable, directly or through `call_tool`).
    #[serde(default)]
    pub mode: ToolSearchMode,
    /// Most tools one search returns (a caller may ask for fewer, up to 50).
    #[serde(default = "default_max")]
    pub max_results: usize,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ToolSearchMode {
    #[default]
    Beside,
    Replace,
}

fn default_max() -> usize {
    10
}

impl crate::Config {
    /// Put the meta-tools' entry in `servers` (listed without a prefix). Loading does this
    /// after the checks.
    pub fn inject_tool_search(&mut self) {
        let Some(t) = &self.tool_search else { return };
        let mut entry = crate::ServerConfig::stdio(String::new(), Vec::new());
        entry.command = None;
        entry.prefix = Some(String::new());
        entry.tool_search = Some(t.clone());
        self.servers.insert(TOOL_SEARCH_SERVER.to_owned(), entry);
    }

    /// Whether `tools/list` shows only the meta-tools.
    pub fn lists_only_meta_tools(&self) -> bool {
        self.tool_search
            .as_ref()
            .is_some_and(|t| t.mode == ToolSearchMode::Replace)
    }
}
