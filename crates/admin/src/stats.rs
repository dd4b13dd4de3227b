//! Live request figures per tool for the admin API (`/admin/api/stats`): calls, calls per
//! second, errors and latency percentiles over the last minute, five or fifteen. They are
//! derived from the counters and histograms the request path records anyway
//! (`mcp_requests_total`, `mcp_request_duration_seconds`): a sampler reads them every
//! [`EVERY`] and keeps [`KEPT`] snapshots in memory, and a window is the difference between
//! the newest snapshot and the one that far back. So the figures cost the request path
//! nothing, and the sampler starts with the first request for them (no history before).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

/// How often the counters are sampled.
pub const EVERY: Duration = Duration::from_secs(5);
/// Snapshots kept: fifteen minutes.
const KEPT: usize = 15 * 60 / 5 + 1;

/// What the counters said about one tool at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToolCounts {
    /// Calls by status (`success`, `tool_error`, `error`, `denied`, …).
    pub by_status: BTreeMap<String, f64>,
    /// Cumulative histogram: (upper bound in seconds, count at or below it), ascending, `+Inf`
    /// last.
    pub buckets: Vec<(f64, f64)>,
}

/// Every tool's counts at one moment.
pub type Snapshot = HashMap<String, ToolCounts>;

/// Read the tool-call series out of a Prometheus exposition.
pub fn parse(exposition: &str) -> Snapshot {
    let mut out: Snapshot = HashMap::new();
    for line in exposition.lines() {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => continue,
        };
        let labels = labels_of(labels);
        if labels.get("method").map(String::as_str) != Some("tools/call") {
            continue;
        }
        let Some(tool) = labels.get("tool").filter(|t| !t.is_empty()) else {
            continue;
        };
        match name {
            "mcp_requests_total" => {
                let status = labels.get("status").cloned().unwrap_or_default();
                *out.entry(tool.clone())
                    .or_default()
                    .by_status
                    .entry(status)
                    .or_default() += value;
            }
            "mcp_request_duration_seconds_bucket" => {
                let le = match labels.get("le").map(String::as_str) {
                    Some("+Inf") => f64::INFINITY,
                    Some(v) => match v.parse() {
                        Ok(v) => v,
                        Err(_) => continue,
                    },
                    None => continue,
                };
                out.entry(tool.clone())
                    .or_default()
                    .buckets
                    .push((le, value));
            }
            _ => {}
        }
    }
    for counts in out.values_mut() {
        counts.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    out
}

/// `a="x",b="y"` → map (label values unescaped for `\"` and `\\`).
fn labels_of(text: &str) -> HashMap<&str, String> {
    let mut out = HashMap::new();
    let mut rest = text;
    while let Some((key, after)) = rest.split_once("=\"") {
        let key = key.trim_start_matches(',').trim();
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, n)) = chars.next() {
                        value.push(match n {
                            'n' => '\n',
                            other => other,
                        });
                    }
                }
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        out.insert(key, value);
        rest = &after[end.min(after.len())..];
    }
    out
}

/// One tool's figures over a window.
#[derive(Debug, Serialize, PartialEq)]
pub struct ToolFigures {
    pub tool: String,
    pub calls: u64,
    /// Calls per second over the window.
    pub rate: f64,
    /// Calls that did not succeed (any status but `success` and `tool_error`: a tool's own
    /// `isError` answer is an answer).
    pub errors: u64,
    pub error_rate: f64,
    /// Latency percentiles in milliseconds (the upper bound of the histogram bucket the
    /// percentile falls in), when there were calls.
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// The figures between snapshot `old` and `new`, `seconds` apart, busiest tool first.
pub fn figures(old: &Snapshot, new: &Snapshot, seconds: f64) -> Vec<ToolFigures> {
    let mut out: Vec<ToolFigures> = new
        .iter()
        .filter_map(|(tool, now)| {
            let before = old.get(tool);
            let delta = |status: &str, v: f64| {
                v - before
                    .and_then(|b| b.by_status.get(status))
                    .copied()
                    .unwrap_or(0.0)
            };
            let mut calls = 0.0;
            let mut errors = 0.0;
            for (status, v) in &now.by_status {
                let d = delta(status, *v).max(0.0);
                calls += d;
                if status != "success" && status != "tool_error" {
                    errors += d;
                }
            }
            if calls < 0.5 {
                return None;
            }
            let buckets: Vec<(f64, f64)> = now
                .buckets
                .iter()
                .map(|(le, n)| {
                    let was = before
                        .and_then(|b| b.buckets.iter().find(|(l, _)| l == le))
                        .map_or(0.0, |(_, n)| *n);
                    (*le, (n - was).max(0.0))
                })
                .collect();
            let pct = |q: f64| percentile(&buckets, q).map(|s| s * 1000.0);
            Some(ToolFigures {
                tool: tool.clone(),
                calls: calls.round() as u64,
                rate: calls / seconds.max(1e-9),
                errors: errors.round() as u64,
                error_rate: errors / calls,
                p50_ms: pct(0.50),
                p95_ms: pct(0.95),
                p99_ms: pct(0.99),
            })
        })
        .collect();
    out.sort_by(|a, b| b.calls.cmp(&a.calls).then_with(|| a.tool.cmp(&b.tool)));
    out
}

/// The upper bound of the bucket quantile `q` falls in (cumulative counts); `None` without
/// calls, and the largest finite bound when it falls in `+Inf`.
fn percentile(buckets: &[(f64, f64)], q: f64) -> Option<f64> {
    let total = buckets.last()?.1;
    if total < 0.5 {
        return None;
    }
    let want = q * total;
    let largest = buckets
        .iter()
        .map(|(le, _)| *le)
        .filter(|le| le.is_finite())
        .fold(0.0, f64::max);
    buckets
        .iter()
        .find(|(_, n)| *n >= want)
        .map(|(le, _)| if le.is_finite() { *le } else { largest })
}

/// The snapshots of this process, taken every [`EVERY`] while somebody looks: the sampler
/// starts with the first request for figures and stops after [`IDLE`] without one (its
/// history then starts again with the next look), so a gateway nobody watches pays nothing.
pub struct Sampler {
    snapshots: Mutex<VecDeque<(Instant, Arc<Snapshot>)>>,
    /// When figures were last asked for.
    asked: Mutex<Instant>,
    /// Whether the sampling task runs.
    running: std::sync::atomic::AtomicBool,
}

/// How long the sampler runs on without a request for figures: the longest window.
pub const IDLE: Duration = Duration::from_secs(15 * 60);

static SAMPLER: OnceLock<Arc<Sampler>> = OnceLock::new();

impl Sampler {
    /// The process's sampler, sampling (from a first snapshot now) until nobody has asked
    /// for [`IDLE`].
    pub fn get() -> Arc<Sampler> {
        let s = SAMPLER
            .get_or_init(|| {
                Arc::new(Sampler {
                    snapshots: Mutex::new(VecDeque::with_capacity(KEPT)),
                    asked: Mutex::new(Instant::now()),
                    running: std::sync::atomic::AtomicBool::new(false),
                })
            })
            .clone();
        *s.asked.lock() = Instant::now();
        if !s.running.swap(true, std::sync::atomic::Ordering::AcqRel) {
            s.snapshots.lock().clear();
            s.take();
            let weak = Arc::downgrade(&s);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(EVERY);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    let Some(s) = weak.upgrade() else { return };
                    let idle = s.asked.lock().elapsed();
                    if idle > IDLE {
                        s.running.store(false, std::sync::atomic::Ordering::Release);
                        // An ask that came meanwhile saw it running: go on for it, unless
                        // that ask started a sampler of its own.
                        let asked = s.asked.lock().elapsed();
                        if asked > IDLE || s.running.swap(true, std::sync::atomic::Ordering::AcqRel)
                        {
                            return;
                        }
                    }
                    s.take();
                }
            });
        }
        s
    }

    /// Whether the sampling task runs now.
    pub fn running(&self) -> bool {
        self.running.load(std::sync::atomic::Ordering::Acquire)
    }

    fn take(&self) {
        let Some(handle) = switchboard_gateway::metrics::install() else {
            return;
        };
        let snap = Arc::new(parse(&handle.render()));
        let mut snaps = self.snapshots.lock();
        if snaps.len() == KEPT {
            snaps.pop_front();
        }
        snaps.push_back((Instant::now(), snap));
    }

    /// The figures over (up to) `window`: from the snapshot that far back, or the oldest kept,
    /// to one taken now; and the window they really cover.
    pub fn window(&self, window: Duration) -> (Duration, Vec<ToolFigures>) {
        let Some(handle) = switchboard_gateway::metrics::install() else {
            return (Duration::ZERO, Vec::new());
        };
        let now = parse(&handle.render());
        let at = Instant::now();
        let snaps = self.snapshots.lock();
        let from = snaps
            .iter()
            .find(|(t, _)| at.duration_since(*t) <= window)
            .or_else(|| snaps.front());
        match from {
            Some((t, old)) => {
                let span = at.duration_since(*t);
                (span, figures(old, &now, span.as_secs_f64()))
            }
            None => (Duration::ZERO, Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = r#"# TYPE mcp_requests_total counter
mcp_requests_total{method="tools/call",tool="a__get",status="success",user_role="dev"} 10
mcp_requests_total{method="tools/call",tool="a__get",status="error",user_role="dev"} 1
mcp_requests_total{method="tools/list",tool="",status="success",user_role="dev"} 99
mcp_request_duration_seconds_bucket{method="tools/call",tool="a__get",le="0.001"} 5
mcp_request_duration_seconds_bucket{method="tools/call",tool="a__get",le="0.01"} 10
mcp_request_duration_seconds_bucket{method="tools/call",tool="a__get",le="+Inf"} 11
"#;

    const AFTER: &str = r#"mcp_requests_total{method="tools/call",tool="a__get",status="success",user_role="dev"} 100
mcp_requests_total{method="tools/call",tool="a__get",status="success",user_role="ops"} 10
mcp_requests_total{method="tools/call",tool="a__get",status="error",user_role="dev"} 11
mcp_requests_total{method="tools/call",tool="a__get",status="tool_error",user_role="dev"} 20
mcp_requests_total{method="tools/call",tool="b \"q\"",status="success",user_role="dev"} 3
mcp_request_duration_seconds_bucket{method="tools/call",tool="a__get",le="0.001"} 5
mcp_request_duration_seconds_bucket{method="tools/call",tool="a__get",le="0.01"} 100
mcp_request_duration_seconds_bucket{method="tools/call",tool="a__get",le="0.1"} 140
mcp_request_duration_seconds_bucket{method="tools/call",tool="a__get",le="+Inf"} 141
"#;

    #[test]
    fn a_window_is_the_difference_of_two_samples() {
        let (old, new) = (parse(BEFORE), parse(AFTER));
        assert!(!old.contains_key(""), "a list is not a tool call");
        let f = figures(&old, &new, 10.0);
        assert_eq!(f.len(), 2, "{f:?}");
        let a = &f[0];
        assert_eq!(a.tool, "a__get");
        // 141 − 11 calls: 90 + 10 successes, 10 errors, 20 tool errors (answers).
        assert_eq!(a.calls, 130);
        assert!((a.rate - 13.0).abs() < 1e-9);
        assert_eq!(a.errors, 10);
        // 130 calls in the window: 0 ≤ 1 ms, 90 ≤ 10 ms, 130 ≤ 100 ms.
        assert_eq!(a.p50_ms, Some(10.0));
        assert_eq!(a.p95_ms, Some(100.0));
        assert_eq!(f[1].tool, "b \"q\"");
        assert_eq!(f[1].calls, 3);
        assert_eq!(f[1].p50_ms, None, "no latency series for it");
        // Nothing new: no figures.
        assert!(figures(&new, &new, 5.0).is_empty());
    }

    #[test]
    fn a_percentile_past_the_last_bound_is_the_last_bound() {
        let b = [(0.001, 0.0), (0.5, 1.0), (f64::INFINITY, 10.0)];
        assert_eq!(percentile(&b, 0.99), Some(0.5));
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(percentile(&[(f64::INFINITY, 0.0)], 0.5), None);
    }
}
