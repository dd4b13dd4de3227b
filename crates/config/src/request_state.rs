//! The `mrtr:` section: signed request state for multi round-trip requests (protocol
//! 2026-07-28) — the keys protecting the `requestState` handed to clients, and its lifetime.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Dur;

/// Protection of the `requestState` handed to modern clients in `input_required` results.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct MrtrConfig {
    /// HMAC-SHA256 keys, at least 32 bytes each (use `${ENV}`). The first signs; all verify,
    /// so a key can be rotated in. Replicas must share them. With none, a random key is made at
    /// start: states then do not survive a restart or reach another replica.
    pub keys: Vec<String>,
    /// How long a client may take to answer an `input_required` result.
    pub state_ttl: Dur,
}

impl Default for MrtrConfig {
    fn default() -> Self {
        Self {
            keys: Vec::new(),
            state_ttl: Dur::secs(10 * 60),
        }
    }
}
