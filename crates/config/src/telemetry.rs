//! The `telemetry:` section: OpenTelemetry traces and their OTLP export.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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
