//! Prometheus metrics: the reference design's names (`mcp_requests_total{tool,status,user_role}`,
//! `mcp_request_duration_seconds{tool}`, `mcp_active_connections`) plus per-upstream, cache,
//! rate-limit, era and process series. Docs: docs/metrics.md.
//!
//! Counters and histograms are recorded where things happen (the pipeline's record stage, the
//! upstream client); gauges that mirror state (sessions, upstream status, cache size, process
//! memory) are read when `/metrics` is scraped, so they cost nothing between scrapes. Every
//! label value is bounded: methods are the protocol's (else `other`), tools are catalogue
//! names (else `_unknown`), roles come from the config, servers from the config.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde_json::value::RawValue;
use switchboard_protocol::{ErrorObject, RawMap, codes, methods};

/// Buckets of every `*_duration_seconds` histogram: the reference's 0.1–10 s, and finer ones
/// below, since a gateway answers in microseconds to milliseconds.
pub const DURATION_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0,
];

/// Histogram buckets (seconds) of durable tasks' queue waits and runs: up to an hour.
pub const TASK_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Install the process-wide recorder (once; later calls return the same handle). `None` when
/// another recorder was installed first (then nothing of ours is exposed).
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("duration_seconds".into()),
                    DURATION_BUCKETS,
                )
                .ok()?
                .set_buckets_for_metric(Matcher::Prefix("mcp_task_".into()), TASK_BUCKETS)
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics stays empty");
                return None;
            }
            describe();
            gauge!("switchboard_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            gauge!("process_start_time_seconds").set(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs_f64())
                    .unwrap_or(0.0),
            );
            Some(handle)
        })
        .as_ref()
}

fn describe() {
    describe_counter!(
        "mcp_requests_total",
        "MCP requests answered, by method, tool, outcome and caller role"
    );
    describe_histogram!(
        "mcp_request_duration_seconds",
        metrics::Unit::Seconds,
        "Time from a request's arrival to its answer, by method and tool"
    );
    describe_counter!(
        "mcp_tasks_created_total",
        "Durable tasks created (tool calls kept as tasks)"
    );
    describe_counter!(
        "mcp_tasks_ended_total",
        "Durable tasks ended, by status (completed, failed, cancelled)"
    );
    describe_counter!(
        "mcp_task_retries_total",
        "Task calls retried after the upstream failed"
    );
    describe_histogram!(
        "mcp_task_queue_wait_seconds",
        metrics::Unit::Seconds,
        "Time from a task's creation to its first run"
    );
    describe_histogram!(
        "mcp_task_run_seconds",
        metrics::Unit::Seconds,
        "Time one run of a task's call took, by outcome (done, retryable, failed, stopped)"
    );
    describe_gauge!(
        "mcp_active_connections",
        "Open client connections: sessions plus open subscriptions/listen streams"
    );
    describe_counter!(
        "mcp_era_requests_total",
        "Requests by the client's protocol era (legacy: session-era, modern: 2026-07-28)"
    );
    describe_gauge!(
        "mcp_sessions",
        "Open client sessions (session-era clients; modern requests are stateless)"
    );
    describe_gauge!(
        "mcp_upstream_up",
        "1 when the upstream is ready, 0 when starting, down or crash-looping"
    );
    describe_counter!(
        "mcp_upstream_restarts_total",
        "Times the upstream went down (a stdio process exited, an HTTP session was lost)"
    );
    describe_gauge!("mcp_upstream_in_flight", "Calls in flight to the upstream");
    describe_histogram!(
        "mcp_upstream_request_duration_seconds",
        metrics::Unit::Seconds,
        "Upstream call time, queueing for max_concurrency included"
    );
    describe_counter!(
        "mcp_upstream_errors_total",
        "Failed upstream calls by kind: unavailable, timeout, failed, busy, cancelled, rpc"
    );
    describe_counter!(
        "mcp_cache_hits_total",
        "Tool calls answered by the cache (waiters on an identical call included)"
    );
    describe_counter!(
        "mcp_cache_misses_total",
        "Cacheable tool calls that went upstream"
    );
    describe_counter!(
        "mcp_cache_remote_hits_total",
        "Cache hits read from the shared Redis store"
    );
    describe_counter!(
        "mcp_cache_evictions_total",
        "Cached results dropped to make room"
    );
    describe_counter!(
        "mcp_cache_invalidations_total",
        "Cache invalidations (list changes, invalidated_by writes)"
    );
    describe_counter!(
        "mcp_cache_store_errors_total",
        "Redis cache commands that failed"
    );
    describe_gauge!("mcp_cache_entries", "Results kept in this process's cache");
    describe_counter!(
        "mcp_rate_limit_rejections_total",
        "Requests refused by a rate limit, by caller role"
    );
    describe_counter!(
        "switchboard_config_reloads_total",
        "Config reloads by result (ok, error)"
    );
    describe_gauge!("switchboard_build_info", "Switchboard's version");
    describe_gauge!(
        "process_start_time_seconds",
        "Start time of the process since the Unix epoch"
    );
}

/// The bounded `method` label.
pub fn method_label(method: &str) -> &'static str {
    match method {
        methods::TOOLS_CALL => methods::TOOLS_CALL,
        methods::TOOLS_LIST => methods::TOOLS_LIST,
        methods::PING => methods::PING,
        methods::INITIALIZE => methods::INITIALIZE,
        methods::RESOURCES_LIST => methods::RESOURCES_LIST,
        methods::RESOURCES_TEMPLATES_LIST => methods::RESOURCES_TEMPLATES_LIST,
        methods::RESOURCES_READ => methods::RESOURCES_READ,
        methods::RESOURCES_SUBSCRIBE => methods::RESOURCES_SUBSCRIBE,
        methods::RESOURCES_UNSUBSCRIBE => methods::RESOURCES_UNSUBSCRIBE,
        methods::PROMPTS_LIST => methods::PROMPTS_LIST,
        methods::PROMPTS_GET => methods::PROMPTS_GET,
        methods::COMPLETION_COMPLETE => methods::COMPLETION_COMPLETE,
        methods::LOGGING_SET_LEVEL => methods::LOGGING_SET_LEVEL,
        methods::SERVER_DISCOVER => methods::SERVER_DISCOVER,
        methods::SUBSCRIPTIONS_LISTEN => methods::SUBSCRIPTIONS_LISTEN,
        methods::TASKS_GET => methods::TASKS_GET,
        methods::TASKS_UPDATE => methods::TASKS_UPDATE,
        methods::TASKS_CANCEL => methods::TASKS_CANCEL,
        methods::TASKS_RESULT => methods::TASKS_RESULT,
        methods::TASKS_LIST => methods::TASKS_LIST,
        _ => "other",
    }
}

/// The `status` label of an answered request.
pub fn status_label(
    method: &str,
    result: &Result<Box<RawValue>, ErrorObject>,
    denied: bool,
) -> &'static str {
    match result {
        Ok(r) if method == methods::TOOLS_CALL && is_error_result(r) => "tool_error",
        Ok(_) => "success",
        Err(_) if denied => "denied",
        Err(e) => match e.code {
            codes::RATE_LIMITED => "rate_limited",
            codes::INVALID_PARAMS | codes::INVALID_REQUEST | codes::HEADER_MISMATCH => "invalid",
            codes::UPSTREAM_TIMEOUT => "timeout",
            codes::UPSTREAM_UNAVAILABLE | codes::UPSTREAM_BUSY | codes::SHUTTING_DOWN => {
                "unavailable"
            }
            codes::REQUEST_CANCELLED => "cancelled",
            _ => "error",
        },
    }
}

/// Whether a `tools/call` result says `isError: true` (read only when the key is there).
fn is_error_result(r: &RawValue) -> bool {
    let s = r.get();
    if !s.contains("\"isError\"") {
        return false;
    }
    RawMap::parse(r).is_ok_and(|m| m.get("isError").is_some_and(|v| v.get() == "true"))
}

/// One answered request: `mcp_requests_total`, `mcp_request_duration_seconds`,
/// `mcp_era_requests_total`, and `mcp_rate_limit_rejections_total` when it was refused so.
pub fn record_request(
    method: &'static str,
    tool: metrics::SharedString,
    status: &'static str,
    role: metrics::SharedString,
    modern: bool,
    elapsed: Duration,
) {
    if status == "rate_limited" {
        counter!("mcp_rate_limit_rejections_total", "user_role" => role.clone()).increment(1);
    }
    counter!(
        "mcp_requests_total",
        "method" => method,
        "tool" => tool.clone(),
        "status" => status,
        "user_role" => role,
    )
    .increment(1);
    histogram!("mcp_request_duration_seconds", "method" => method, "tool" => tool)
        .record(elapsed.as_secs_f64());
    counter!("mcp_era_requests_total", "era" => if modern { "modern" } else { "legacy" })
        .increment(1);
}
