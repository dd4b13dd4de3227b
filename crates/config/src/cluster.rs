//! The `cluster:` section: several gateways (replicas) behind one load balancer, sharing what
//! a request may need on any of them through one store (Redis): session-era sessions, the
//! `requestState` signing key. Absent: one replica, nothing shared beyond what other sections
//! configure (`rate_limits`, `cache`, `tasks` have their own stores).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// Where replicas share state: `redis` (6.2 or newer).
    #[serde(default)]
    pub store: ClusterStore,
    /// `redis://host:port[/db]` (`rediss://` for TLS); every replica names the same one.
    pub url: String,
    /// This replica's name in logs and shared records (default: host name and process id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica_id: Option<String>,
    /// Prefix of the keys written to the store (replicas of one deployment share it; two
    /// deployments on one Redis need different ones).
    #[serde(default = "default_prefix")]
    pub key_prefix: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ClusterStore {
    #[default]
    Redis,
}

fn default_prefix() -> String {
    "switchboard:cluster:".into()
}
