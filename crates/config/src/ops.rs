//! The operations sections: the admin listener (`admin:`: metrics, health), tracing export
//! (`telemetry:`), config reloading (`reload:`) and the gateway's own tools (`builtin:`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Dur;

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

/// OpenTelemetry traces: one span per request with a child per pipeline stage and upstream
/// call, exported over OTLP when `otlp_endpoint` is set. W3C `traceparent` from clients is
/// honoured and propagated to HTTP upstreams either way.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// OTLP/HTTP collector base URL, e.g. `http://127.0.0.1:4318` (traces go to
    /// `/v1/traces`). Empty: spans are not exported. `OTEL_EXPORTER_OTLP_ENDPOINT` overrides.
    pub otlp_endpoint: String,
    /// `service.name` of the exported spans.
    pub service_name: String,
    /// Fraction of traces started here that are sampled (0.0–1.0); a client's sampled
    /// `traceparent` is always followed.
    pub sample_ratio: f64,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            otlp_endpoint: String::new(),
            service_name: "switchboard".into(),
            sample_ratio: 1.0,
        }
    }
}

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

/// The gateway's own MCP tools.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct BuiltinConfig {
    /// Expose the decision-support tools (`roi`: the reference ROI formula; `decision_matrix`:
    /// build / use / adapt) as the server `switchboard`.
    pub advisor: bool,
}

/// A byte size: `1048576`, `512KiB`, `50MiB`, `1GiB` (also `KB`/`MB`/`GB` as powers of 1000).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size like `50MiB` or `1GiB`"))?;
    let mult: f64 = match unit.trim() {
        "" | "B" => 1.0,
        "KiB" | "Ki" => 1024.0,
        "MiB" | "Mi" => 1024.0 * 1024.0,
        "GiB" | "Gi" => 1024.0 * 1024.0 * 1024.0,
        "TiB" | "Ti" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        "KB" | "kB" | "K" => 1e3,
        "MB" | "M" => 1e6,
        "GB" | "G" => 1e9,
        "TB" | "T" => 1e12,
        other => {
            return Err(format!(
                "`{s}`: unknown unit `{other}` (use B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)"
            ));
        }
    };
    let bytes = n * mult;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(format!("`{s}` is out of range"));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod size_tests {
    use super::parse_size;

    #[test]
    fn sizes_parse_with_binary_and_decimal_units() {
        assert_eq!(parse_size("1024").unwrap(), 1024);
        assert_eq!(parse_size("50MiB").unwrap(), 50 << 20);
        assert_eq!(parse_size("1.5GiB").unwrap(), 3 << 29);
        assert_eq!(parse_size("2 GB").unwrap(), 2_000_000_000);
        assert!(parse_size("lots").unwrap_err().contains("not a size"));
        assert!(
            parse_size("3 parsecs")
                .unwrap_err()
                .contains("unknown unit")
        );
    }
}
