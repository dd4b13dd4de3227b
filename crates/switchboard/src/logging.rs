//! Logging to stderr (never stdout: in `stdio` mode stdout carries MCP messages), and trace
//! export over OTLP/HTTP when `telemetry.otlp_endpoint` (or `OTEL_EXPORTER_OTLP_ENDPOINT`) is
//! set.
//!
//! Two layers with their own filters: the log formatter (`log.level`, or `RUST_LOG`) and, when
//! exporting, the OpenTelemetry layer. The spans of the pipeline stages and upstream calls
//! (target `switchboard::otel`) are seen by the exporter only, so without one their callsites
//! are disabled and the request path pays nothing for them. The request span (target
//! `switchboard::request`, INFO) is seen by both: its fields (`request_id`, `method`, `tool`,
//! `identity`, `role`, `session`, `trace_id`) are on every log line made inside a request,
//! under `span` in JSON.

use std::sync::OnceLock;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::{BatchSpanProcessor, Sampler, SdkTracerProvider};
use switchboard_config::{LogConfig, LogFormat, TelemetryConfig};
use switchboard_gateway::trace::{OTEL_TARGET, REQUEST_TARGET};
use tracing_subscriber::filter::{EnvFilter, LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, fmt};

/// The exporting provider, kept for [`shutdown`].
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Logs only (the commands that do not serve).
pub fn init(cfg: &LogConfig) {
    init_with(cfg, None);
}

/// Logs, and traces exported over OTLP/HTTP when `telemetry` names an endpoint. An exporter
/// that cannot be built is reported in the log and left out; the gateway runs on.
pub fn init_with(cfg: &LogConfig, telemetry: Option<&TelemetryConfig>) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&cfg.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // The stage and upstream spans are the exporter's, never the log's.
    let filter = match format!("{OTEL_TARGET}=off").parse() {
        Ok(d) => filter.add_directive(d),
        Err(_) => filter,
    };
    let fmt = fmt::layer().with_writer(std::io::stderr).with_target(false);
    let fmt = match cfg.format {
        LogFormat::Json => fmt
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_filter(filter)
            .boxed(),
        LogFormat::Text => fmt.with_filter(filter).boxed(),
    };
    let endpoint = telemetry.and_then(endpoint);
    let (otel, problem) = match (telemetry, endpoint) {
        (Some(t), Some(endpoint)) => match provider(t, &endpoint) {
            Ok(provider) => {
                let tracer = provider.tracer("switchboard");
                let _ = PROVIDER.set(provider);
                switchboard_gateway::trace::set_exporting(true);
                let only_ours = Targets::new()
                    .with_target(OTEL_TARGET, LevelFilter::TRACE)
                    .with_target(REQUEST_TARGET, LevelFilter::TRACE);
                let layer = tracing_opentelemetry::layer()
                    .with_tracer(tracer)
                    .with_location(false)
                    .with_threads(false)
                    .with_target(false)
                    .with_filter(only_ours);
                (Some(layer), None)
            }
            Err(e) => (None, Some(format!("{endpoint}: {e}"))),
        },
        _ => (None, None),
    };
    let _ = tracing_subscriber::registry()
        .with(fmt)
        .with(otel)
        .try_init();
    if let Some(p) = problem {
        tracing::error!(error = %p, "OTLP trace export is off: the exporter could not be set up");
    }
}

/// The collector's base URL: `OTEL_EXPORTER_OTLP_ENDPOINT` if set, else the config's.
fn endpoint(t: &TelemetryConfig) -> Option<String> {
    let env = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").unwrap_or_default();
    let base = if env.trim().is_empty() {
        t.otlp_endpoint.trim().to_owned()
    } else {
        env.trim().to_owned()
    };
    (!base.is_empty()).then_some(base)
}

fn provider(t: &TelemetryConfig, base: &str) -> anyhow::Result<SdkTracerProvider> {
    let url = format!("{}/v1/traces", base.trim_end_matches('/'));
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(url)
        .with_timeout(std::time::Duration::from_secs(10))
        .build()?;
    let ratio = if t.sample_ratio.is_finite() {
        t.sample_ratio.clamp(0.0, 1.0)
    } else {
        1.0
    };
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(t.service_name.clone())
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build();
    Ok(SdkTracerProvider::builder()
        .with_span_processor(BatchSpanProcessor::builder(exporter).build())
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            ratio,
        ))))
        .with_resource(resource)
        .build())
}

/// Export the spans still queued and stop the exporter; call when the gateway stops. Blocks
/// up to the exporter's timeout, so call it off the async workers (or last, after shutdown).
pub fn shutdown() {
    if let Some(p) = PROVIDER.get()
        && let Err(e) = p.shutdown()
    {
        tracing::warn!(error = %e, "flushing traces at shutdown failed");
    }
}
