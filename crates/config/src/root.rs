//! The whole configuration file (`Config`): one field per top-level section, and the roles in
//! force. Every struct denies unknown keys; the JSON Schema is derived from these same types
//! (`switchboard schema`).

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    AdminConfig, AuditConfig, AuthConfig, BuiltinConfig, CacheConfig, FederationConfig, HttpConfig,
    LogConfig, MrtrConfig, RateLimitConfig, ReloadConfig, RoleConfig, ServerConfig,
    TelemetryConfig, default_roles,
};

/// The whole configuration file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The client-facing Streamable HTTP listener (`switchboard serve`).
    #[serde(default)]
    pub http: HttpConfig,
    /// How the upstream catalogues are merged into one.
    #[serde(default)]
    pub federation: FederationConfig,
    /// Logging of the gateway itself.
    #[serde(default)]
    pub log: LogConfig,
    /// Multi round-trip requests of protocol 2026-07-28: how the `requestState` the gateway
    /// hands to modern clients is protected and how long it lives.
    #[serde(default)]
    pub mrtr: MrtrConfig,
    /// Who may call: API keys, JWTs; the anonymous role. Absent: no authentication, every
    /// caller may do everything (fine on a loopback-only listener, nowhere else).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthConfig>,
    /// What each role may do and how often. Defaults (when `auth` is set and this is not):
    /// `admin` (everything, 1000/min), `developer` (everything, 100/min), `viewer` (`read_*`,
    /// `get_*`, `list_*`, `search_*` tools, every resource and prompt, 50/min).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub roles: IndexMap<String, RoleConfig>,
    /// Where rate-limit budgets live: in this process, or in Redis shared by every replica.
    #[serde(default)]
    pub rate_limits: RateLimitConfig,
    /// A tamper-evident record of every request. Absent: no audit trail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<AuditConfig>,
    /// The tool-result cache: which tool results are kept, how long, and where.
    #[serde(default)]
    pub cache: CacheConfig,
    /// Durable tasks the gateway runs itself (absent: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks: Option<crate::TasksConfig>,
    /// The admin listener: Prometheus `/metrics`, `/healthz`, `/readyz`.
    #[serde(default)]
    pub admin: AdminConfig,
    /// OpenTelemetry traces and their OTLP export.
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// Applying a changed config file without a restart (SIGHUP, file watching).
    #[serde(default)]
    pub reload: ReloadConfig,
    /// The gateway's own MCP tools (decision support).
    #[serde(default)]
    pub builtin: BuiltinConfig,
    /// Tools made of other tools' calls: steps, in parallel where they can be, with
    /// conditions, retries, error modes and compensation (`crates/workflow`). Listed as the
    /// server `workflows`: `workflows__<name>`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub workflows: IndexMap<String, crate::WorkflowConfig>,
    /// Tools served by several candidate tools, with fallback, circuit breakers and hedging
    /// (`crates/routes`). Listed under their own names.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub routes: IndexMap<String, crate::RouteConfig>,
    /// Replicas behind one load balancer sharing sessions and signing keys through a store
    /// (absent: one replica).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<crate::ClusterConfig>,
    /// The `search_tools` / `call_tool` meta-tools for large catalogues (absent: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_search: Option<crate::ToolSearchConfig>,
    /// Named endpoints showing a slice of the catalogue (`path`, tool patterns); roles still
    /// apply inside a view. Changes take effect after a restart.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub views: IndexMap<String, crate::ViewConfig>,
    /// The upstream MCP servers, by name. A Claude Desktop `mcpServers` entry is accepted
    /// unchanged (`command`/`args`/`env`/`cwd`, or `url`/`headers`), and the key may be spelled
    /// `mcpServers` too.
    #[serde(default, alias = "mcpServers")]
    pub servers: IndexMap<String, ServerConfig>,
}

impl Config {
    /// The roles in force: the configured ones, or the defaults when `auth` is on.
    pub fn effective_roles(&self) -> IndexMap<String, RoleConfig> {
        if self.roles.is_empty() && self.auth.is_some() {
            default_roles()
        } else {
            self.roles.clone()
        }
    }
}
