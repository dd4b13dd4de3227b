//! The `reload:` section: applying a changed config file without a restart.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Dur;

/// Applying a changed config file without a restart: on SIGHUP always, and when the file
/// changes if `watch` is on. An invalid new file is rejected with its errors and the running
/// config stays.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ReloadConfig {
    /// Watch the config file and reload when it changes.
    pub watch: bool,
    /// How long removed servers may finish their calls in flight before they are stopped.
    pub drain_timeout: Dur,
}

impl Default for ReloadConfig {
    fn default() -> Self {
        Self {
            watch: true,
            drain_timeout: Dur::secs(30),
        }
    }
}
