//! The `builtin:` section: the gateway's own MCP tools.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The gateway's own MCP tools.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct BuiltinConfig {
    /// Expose the decision-support tools (`roi`: the reference ROI formula; `decision_matrix`:
    /// build / use / adapt) as the server `switchboard`.
    pub advisor: bool,
}
