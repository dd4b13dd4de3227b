//! The `cache:` section: which tool results the gateway keeps, how long, and where.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Dur;

/// The tool-result cache. Results of tools the upstream annotates `readOnlyHint` and
/// `idempotentHint` are cached automatically; others only when a `tools` rule names them.
/// Identical calls in flight at the same moment become one upstream call. Errors, `isError`
/// results and `input_required` rounds are never kept.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Off: every call goes to its upstream.
    pub enabled: bool,
    /// Cache tools annotated read-only and idempotent without a rule naming them.
    pub auto: bool,
    /// Most results kept at once (least recently and frequently used go first).
    pub max_entries: u64,
    /// How long a result is kept unless its rule says otherwise.
    pub ttl: Dur,
    /// Results larger than this (bytes of JSON) are not kept.
    pub max_entry_bytes: usize,
    /// `memory` (this process) or `redis` (shared by every replica; this process keeps a
    /// near copy for `local_ttl`).
    pub store: CacheStore,
    /// Redis URL for `store: redis`.
    pub redis_url: String,
    /// Prefix of the Redis keys.
    pub key_prefix: String,
    /// With `store: redis`: how long this process reuses a result it read from Redis before
    /// asking again (bounds how stale a replica can be after another one invalidates).
    pub local_ttl: Dur,
    /// Rules by tool pattern (the patterns of `roles`: `weather__*`, `get_*`); the first
    /// matching rule wins.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub tools: IndexMap<String, CacheRule>,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            auto: true,
            max_entries: 1000,
            ttl: Dur::secs(300),
            max_entry_bytes: 1 << 20,
            store: CacheStore::Memory,
            redis_url: "redis://127.0.0.1:6379".into(),
            key_prefix: "switchboard:cache:".into(),
            local_ttl: Dur::secs(1),
            tools: IndexMap::new(),
        }
    }
}

/// How the results of the tools a pattern names are cached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CacheRule {
    /// `false`: never cache these tools, even when annotated read-only and idempotent.
    pub cache: bool,
    /// How long a result is kept (default: the cache's `ttl`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<Dur>,
    /// Who shares a result: `shared` (every caller allowed to call the tool), `role` (callers
    /// of the same role), `identity` (one caller).
    pub scope: CacheScope,
    /// A successful call of a tool matching one of these patterns drops every kept result of
    /// this rule's tools (a write invalidating its reads).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub invalidated_by: Vec<String>,
}

impl Default for CacheRule {
    fn default() -> Self {
        Self {
            cache: true,
            ttl: None,
            scope: CacheScope::Shared,
            invalidated_by: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum CacheScope {
    #[default]
    Shared,
    Role,
    Identity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum CacheStore {
    #[default]
    Memory,
    Redis,
}
