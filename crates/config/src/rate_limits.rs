//! The `rate_limits:` section: where rate-limit budgets live (this process or Redis).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The store of rate-limit budgets.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// `memory` (this process) or `redis` (one budget across replicas; an atomic GCRA script).
    pub store: LimitStore,
    /// Redis URL for `store: redis`.
    pub redis_url: String,
    /// Prefix of the Redis keys.
    pub key_prefix: String,
    /// When Redis cannot be reached: `allow` the request (and log), or `deny` it.
    pub on_store_error: OnStoreError,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            store: LimitStore::Memory,
            redis_url: "redis://127.0.0.1:6379".into(),
            key_prefix: "switchboard:rl:".into(),
            on_store_error: OnStoreError::Allow,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum LimitStore {
    #[default]
    Memory,
    Redis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnStoreError {
    #[default]
    Allow,
    Deny,
}
