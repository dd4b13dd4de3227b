//! The `views:` section: named endpoints that show a client a chosen slice of the catalogue
//! (for clients that should see few tools). A view narrows what the caller's role allows; it
//! never widens it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One view: an HTTP path and the patterns (as in `roles`) of what it shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ViewConfig {
    /// Where the view is served, beside `http.path` (e.g. `/mcp/support`).
    pub path: String,
    /// Tool patterns (as in a role's `allow`: `company__*`, `search_documents`, `read_*`).
    pub tools: Vec<String>,
    /// Prompt name patterns the view shows (default: every prompt the role allows).
    #[serde(default = "everything")]
    pub prompts: Vec<String>,
    /// Resource URI patterns the view shows (default: every resource the role allows).
    #[serde(default = "everything")]
    pub resources: Vec<String>,
}

fn everything() -> Vec<String> {
    vec!["*".into()]
}

impl ViewConfig {
    /// The view as a role's `allow` list (prompts and resources with their `prompt:` and
    /// `resource:` kinds).
    pub fn allow(&self) -> Vec<String> {
        self.tools
            .iter()
            .map(|t| format!("tool:{t}"))
            .chain(self.prompts.iter().map(|p| format!("prompt:{p}")))
            .chain(self.resources.iter().map(|r| format!("resource:{r}")))
            .collect()
    }
}
