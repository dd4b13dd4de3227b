//! The `admin:` section: the admin listener (Prometheus `/metrics`, `/healthz`, `/readyz`) and
//! what readiness checks.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The admin listener: `/metrics` (Prometheus), `/healthz` (liveness) and `/readyz`
/// (readiness with component checks). Keep it off the public network: it needs no credential.
/// `/healthz` and `/readyz` are also answered on the client listener (`http.listen`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Address to listen on, e.g. `127.0.0.1:9090`, or `0.0.0.0:9090` in a container (`:0`
    /// picks a free port). Empty (the default): no admin listener.
    pub listen: String,
    /// What `/readyz` checks.
    pub readiness: ReadinessConfig,
}

/// The component checks of `/readyz`. Not ready (HTTP 503) when a required upstream is not
/// ready, the shared store (Redis of rate limits or cache) does not answer, the process uses
/// more memory than `max_memory`, or the disk holding the audit trail has less than
/// `min_free_disk` free.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ReadinessConfig {
    /// Servers that must be ready for the gateway to be: names from `servers`, or `["*"]` for
    /// every enabled server. Empty: upstreams are reported but never make the gateway unready.
    pub required_upstreams: Vec<String>,
    /// Most resident memory before the gateway reports itself unready, e.g. `1GiB`; empty: no
    /// limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_memory: Option<String>,
    /// Least free space on the audit trail's (or else the working directory's) file system,
    /// e.g. `100MiB`.
    pub min_free_disk: String,
}

impl Default for ReadinessConfig {
    fn default() -> Self {
        Self {
            required_upstreams: vec!["*".into()],
            max_memory: None,
            min_free_disk: "50MiB".into(),
        }
    }
}
