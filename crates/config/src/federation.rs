//! The `federation:` section: how the upstream catalogues are merged and their names kept apart.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How names from different servers are kept apart.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct FederationConfig {
    /// Put between the server prefix and the original name: `github__create_issue`.
    pub separator: String,
    /// `server`: prefix every tool and prompt with its server's name (or its `prefix`);
    /// `none`: keep the original names (the first server listed wins a name clash, and the
    /// clash is reported in the logs and by `switchboard check`).
    pub prefix: PrefixMode,
    /// `keep`: resource URIs are passed through unchanged and routed by exact URI, then by
    /// template; `prefix`: URIs are rewritten to `<server>+<uri>` so that two servers may use
    /// the same URI.
    pub resource_uris: UriMode,
    /// Entries per page in merged `*/list` results; 0 returns everything in one page.
    pub page_size: usize,
}

impl Default for FederationConfig {
    fn default() -> Self {
        Self {
            separator: "__".into(),
            prefix: PrefixMode::Server,
            resource_uris: UriMode::Keep,
            page_size: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum PrefixMode {
    #[default]
    Server,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum UriMode {
    #[default]
    Keep,
    Prefix,
}
