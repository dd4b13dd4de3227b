//! `switchboard load`: drive `tools/call` load at an MCP server (Streamable HTTP or stdio, the
//! gateway included) and report throughput, latency percentiles, success rate and errors.
//!
//! An `http://` target is driven by a lean HTTP/1.1 client (`http.rs`: one keep-alive
//! connection per worker, bodies pre-serialized, every SSE answer read to its end), so the
//! driver costs far less CPU per call than what it measures. A stdio target (and `https://`)
//! goes through the gateway's own upstream client (`switchboard-upstream`), stdio requests
//! multiplexed on one pipe. Requests are spread over `--concurrency` workers; each records its
//! latencies, merged and sorted at the end.

mod http;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Deserialize;
use serde_json::value::RawValue;
use switchboard_config::{Dur, ProtocolMode, ServerConfig};
use switchboard_upstream::{CallError, CallOptions, Status, Upstream};

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  switchboard load --url http://127.0.0.1:8080/mcp --tool company__get_employee_info \\
      --args '{\"employee_id\":\"E001\"}' -c 32 -n 20000 --warmup 500
  switchboard load --tool echo --args '{\"message\":\"hi\"}' -d 10s -- npx -y @modelcontextprotocol/server-everything
  switchboard load --url http://127.0.0.1:8080/mcp -H 'X-API-Key: sb_…' --mix calls.json --min-rps 50 --min-success 95")]
pub struct LoadArgs {
    /// MCP endpoint (Streamable HTTP), e.g. http://127.0.0.1:8080/mcp for the gateway.
    #[arg(long, conflicts_with = "command")]
    pub url: Option<String>,
    /// A stdio server to start and load instead: its program and arguments, after `--`.
    #[arg(last = true)]
    pub command: Vec<String>,
    /// Header sent with every HTTP request ("Name: value"); repeatable.
    #[arg(short = 'H', long = "header")]
    pub headers: Vec<String>,
    /// Protocol era: auto (what the server speaks), legacy (2025-11-25 sessions), modern
    /// (stateless 2026-07-28).
    #[arg(long, value_enum, default_value_t = Era::Auto)]
    pub protocol: Era,
    /// The tool to call.
    #[arg(short, long, required_unless_present = "mix")]
    pub tool: Option<String>,
    /// Its arguments, a JSON object.
    #[arg(short, long, default_value = "{}")]
    pub args: String,
    /// A mix of calls instead of one tool: a JSON array of {"tool", "args", "weight"}.
    #[arg(long, conflicts_with = "tool")]
    pub mix: Option<PathBuf>,
    /// Calls in flight at once.
    #[arg(short, long, default_value_t = 10)]
    pub concurrency: usize,
    /// Total calls (default 1000 unless --duration is given).
    #[arg(short = 'n', long)]
    pub requests: Option<u64>,
    /// Run for this long instead (e.g. 30s, 2m); with --requests, whichever ends first.
    #[arg(short, long)]
    pub duration: Option<humantime::Duration>,
    /// Calls made first and left out of the results (connections, caches, JIT warm up).
    #[arg(long, default_value_t = 0)]
    pub warmup: u64,
    /// Longest a single call may take before it counts as a timeout.
    #[arg(long, default_value = "30s")]
    pub timeout: humantime::Duration,
    /// Exit 1 unless at least this many calls per second succeeded.
    #[arg(long)]
    pub min_rps: Option<f64>,
    /// Exit 1 unless at least this percentage of calls succeeded (e.g. 95).
    #[arg(long)]
    pub min_success: Option<f64>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// No progress bar (it is drawn only on a terminal anyway).
    #[arg(long)]
    pub no_progress: bool,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy)]
pub enum Era {
    Auto,
    Legacy,
    Modern,
}

#[derive(Deserialize)]
struct MixEntry {
    tool: String,
    #[serde(default)]
    args: Option<serde_json::Value>,
    #[serde(default = "one")]
    weight: u32,
}

fn one() -> u32 {
    1
}

/// A call to make: the tool's name and its `tools/call` params, serialized once.
struct Call {
    tool: String,
    params: Box<RawValue>,
}

fn call_of(tool: &str, args: serde_json::Value) -> anyhow::Result<Call> {
    if !args.is_object() {
        bail!("the arguments of {tool} must be a JSON object, not {args}");
    }
    let params = serde_json::json!({"name": tool, "arguments": args});
    Ok(Call {
        tool: tool.to_owned(),
        params: serde_json::value::to_raw_value(&params)?,
    })
}

/// The calls in order of use: each mix entry repeated by its weight (a request takes
/// `calls[i % len]`, so the mix holds exactly at every multiple of the total weight).
fn calls(args: &LoadArgs) -> anyhow::Result<Vec<Call>> {
    if let Some(path) = &args.mix {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the mix file {}", path.display()))?;
        let entries: Vec<MixEntry> = serde_json::from_str(&text).with_context(|| {
            format!(
                "{}: expected a JSON array of {{\"tool\", \"args\", \"weight\"}}",
                path.display()
            )
        })?;
        if entries.is_empty() {
            bail!("{}: the mix is empty", path.display());
        }
        let mut out = Vec::new();
        for e in entries {
            if e.weight == 0 || e.weight > 1000 {
                bail!(
                    "{}: weight of {} must be 1..=1000, not {}",
                    path.display(),
                    e.tool,
                    e.weight
                );
            }
            for _ in 0..e.weight {
                out.push(call_of(
                    &e.tool,
                    e.args.clone().unwrap_or_else(|| serde_json::json!({})),
                )?);
            }
        }
        return Ok(out);
    }
    let tool = args.tool.as_deref().unwrap_or_default();
    let value: serde_json::Value = serde_json::from_str(&args.args)
        .with_context(|| format!("--args is not valid JSON: {}", args.args))?;
    Ok(vec![call_of(tool, value)?])
}

fn target(args: &LoadArgs) -> anyhow::Result<(ServerConfig, String)> {
    let mut cfg = match (&args.url, args.command.split_first()) {
        (Some(url), None) => {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                bail!("--url must be an http:// or https:// URL, not {url}");
            }
            ServerConfig::http(url.clone())
        }
        (None, Some((program, rest))) => ServerConfig::stdio(program.clone(), rest.to_vec()),
        _ => bail!(
            "say what to load: --url http://HOST:PORT/mcp, or a stdio server after `--` (switchboard load --tool NAME -- COMMAND ARGS…)"
        ),
    };
    for h in &args.headers {
        let Some((name, value)) = h.split_once(':') else {
            bail!("--header must be \"Name: value\", not {h:?}");
        };
        cfg.headers
            .insert(name.trim().to_owned(), value.trim().to_owned());
    }
    if !args.headers.is_empty() && args.url.is_none() {
        bail!("--header applies to --url targets only");
    }
    cfg.protocol = match args.protocol {
        Era::Auto => ProtocolMode::Auto,
        Era::Legacy => ProtocolMode::Legacy,
        Era::Modern => ProtocolMode::Modern,
    };
    cfg.timeout = Dur(args.timeout.into());
    let label = match &args.url {
        Some(u) => u.clone(),
        None => format!("stdio: {}", args.command.join(" ")),
    };
    Ok((cfg, label))
}

/// What one worker saw.
#[derive(Default)]
struct Tally {
    latencies: Vec<u64>,
    ok: u64,
    errors: HashMap<String, u64>,
}

/// Most distinct error kinds kept; the rest are counted as "other".
const ERROR_KINDS: usize = 20;

impl Tally {
    fn error(&mut self, kind: String) {
        if self.errors.len() < ERROR_KINDS || self.errors.contains_key(&kind) {
            *self.errors.entry(kind).or_default() += 1;
        } else {
            *self.errors.entry("other".into()).or_default() += 1;
        }
    }
}

fn short(s: &str) -> String {
    const MAX: usize = 100;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut cut = MAX;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &s[..cut])
}

/// Whether a `tools/call` result says `isError: true` (parsed only when the marker may be
/// there: most results are not errors).
fn is_error_result(text: &str) -> bool {
    #[derive(Deserialize)]
    struct Flag {
        #[serde(rename = "isError", default)]
        is_error: bool,
    }
    text.contains("\"isError\"") && serde_json::from_str::<Flag>(text).is_ok_and(|f| f.is_error)
}

/// How a call ended: `None` for success, else its error kind.
fn outcome(result: Result<Box<RawValue>, CallError>) -> Option<String> {
    match result {
        Ok(raw) => is_error_result(raw.get()).then(|| "tool error (isError: true)".into()),
        Err(CallError::Rpc(e)) => Some(format!("JSON-RPC {}: {}", e.code, short(&e.message))),
        Err(CallError::Timeout { after, .. }) => Some(format!("timeout after {after:?}")),
        Err(CallError::Unavailable { reason, .. }) => {
            Some(format!("unavailable: {}", short(&reason)))
        }
        Err(CallError::Failed { reason, .. }) => Some(format!("failed: {}", short(&reason))),
        Err(CallError::Cancelled) => Some("cancelled".into()),
        Err(CallError::Busy { limit, .. }) => Some(format!("busy (max_concurrency {limit})")),
    }
}

/// How calls reach the target.
enum Driver {
    /// The gateway's upstream client (stdio, https).
    Upstream(Upstream),
    /// The lean HTTP client, with each call prepared for it (same order as the calls).
    Http(Arc<http::Target>, Arc<Vec<http::Prepared>>),
}

impl Driver {
    async fn shutdown(&self) {
        match self {
            Driver::Upstream(u) => u.shutdown().await,
            Driver::Http(t, _) => t.close().await,
        }
    }
}

/// One call over the worker's connection (opened, or opened again after a failure, here).
async fn http_call(
    target: &http::Target,
    p: &http::Prepared,
    conn: &mut Option<http::Conn>,
    id: u64,
    timeout: Duration,
) -> Option<String> {
    if conn.is_none() {
        match target.connect().await {
            Ok(c) => *conn = Some(c),
            Err(e) => return Some(format!("connect: {}", short(&format!("{e:#}")))),
        }
    }
    let c = conn.as_mut()?;
    match tokio::time::timeout(timeout, c.call(target, p, id)).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(e)) => {
            *conn = None;
            Some(format!("connection: {}", short(&format!("{e:#}"))))
        }
        Err(_) => {
            *conn = None;
            Some(format!("timeout after {timeout:?}"))
        }
    }
}

/// When a run stops.
#[derive(Clone, Copy)]
struct Budget {
    requests: Option<u64>,
    until: Option<Instant>,
}

async fn run_phase(
    driver: &Arc<Driver>,
    calls: &Arc<Vec<Call>>,
    concurrency: usize,
    budget: Budget,
    timeout: Duration,
    progress: Option<&indicatif::ProgressBar>,
    record: bool,
) -> Vec<Tally> {
    let issued = Arc::new(AtomicU64::new(0));
    let workers = (0..concurrency.max(1)).map(|_| {
        let (driver, calls, issued) = (driver.clone(), calls.clone(), issued.clone());
        let progress = progress.cloned();
        tokio::spawn(async move {
            let mut tally = Tally::default();
            let mut conn = None;
            loop {
                let n = issued.fetch_add(1, Ordering::Relaxed);
                if budget.requests.is_some_and(|max| n >= max)
                    || budget.until.is_some_and(|t| Instant::now() >= t)
                {
                    break;
                }
                let i = usize::try_from(n).unwrap_or(0) % calls.len();
                let call = &calls[i];
                let start = Instant::now();
                let result = match &*driver {
                    Driver::Upstream(upstream) => outcome(
                        upstream
                            .call(
                                "tools/call",
                                Some(call.params.clone()),
                                CallOptions::default(),
                            )
                            .await,
                    ),
                    Driver::Http(target, prepared) => {
                        http_call(target, &prepared[i], &mut conn, n + 1, timeout).await
                    }
                };
                let took = start.elapsed();
                if record {
                    tally
                        .latencies
                        .push(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX));
                    match result {
                        None => tally.ok += 1,
                        Some(kind) => tally.error(format!("{}: {kind}", call.tool)),
                    }
                }
                if let Some(p) = &progress {
                    p.inc(1);
                }
            }
            tally
        })
    });
    futures_util::future::join_all(workers)
        .await
        .into_iter()
        .flatten()
        .collect()
}

fn cpu_time() -> Option<Duration> {
    let u = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF).ok()?;
    let tv = |t: nix::sys::time::TimeVal| {
        Duration::new(
            u64::try_from(t.tv_sec()).unwrap_or(0),
            u32::try_from(t.tv_usec()).unwrap_or(0) * 1000,
        )
    };
    Some(tv(u.user_time()) + tv(u.system_time()))
}

/// The `q` quantile of sorted nanoseconds, in milliseconds.
fn quantile_ms(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    // Nearest rank: the smallest value with at least q of the samples at or below it.
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1e6
}

pub async fn run(args: LoadArgs) -> anyhow::Result<ExitCode> {
    let calls = Arc::new(calls(&args)?);
    let (cfg, label) = target(&args)?;
    if args.concurrency == 0 || args.concurrency > 10_000 {
        bail!("--concurrency must be 1..=10000, not {}", args.concurrency);
    }
    let budget = Budget {
        requests: match (args.requests, args.duration) {
            (Some(n), _) => Some(n),
            (None, Some(_)) => None,
            (None, None) => Some(1000),
        },
        until: None,
    };
    let (driver, era) = match args.url.as_deref() {
        Some(url) if url.starts_with("http://") => {
            let headers: Vec<(String, String)> = cfg
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let target = tokio::time::timeout(
                cfg.init_timeout.0,
                http::Target::open(url, &headers, args.protocol),
            )
            .await
            .map_err(|_| anyhow::anyhow!("{label} did not answer within {:?}", cfg.init_timeout.0))?
            .with_context(|| format!("{label} did not start"))?;
            let prepared = calls
                .iter()
                .map(|c| target.prepare(&c.tool, &c.params))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let era = target.label.clone();
            (Driver::Http(Arc::new(target), Arc::new(prepared)), era)
        }
        _ => {
            let (events, mut rx) = tokio::sync::mpsc::unbounded_channel();
            tokio::spawn(async move { while rx.recv().await.is_some() {} });
            let upstream = Upstream::start("target", &cfg, events);
            let era = match upstream.wait_settled(cfg.init_timeout.0).await {
                Status::Ready(info) => match info.own_era() {
                    switchboard_upstream::Era::Modern => format!(
                        "{} stateless",
                        info.modern.as_deref().unwrap_or("2026-07-28")
                    ),
                    switchboard_upstream::Era::Legacy => {
                        format!("{} session", info.protocol_version)
                    }
                },
                other => {
                    upstream.shutdown().await;
                    bail!("{label} did not start: {}", other.describe());
                }
            };
            (Driver::Upstream(upstream), era)
        }
    };
    let driver = Arc::new(driver);
    let timeout = Duration::from(args.timeout);
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let draw = !args.no_progress && !args.json && tty;
    if args.warmup > 0 {
        let warm = Budget {
            requests: Some(args.warmup),
            until: None,
        };
        run_phase(
            &driver,
            &calls,
            args.concurrency,
            warm,
            timeout,
            None,
            false,
        )
        .await;
    }
    let progress = draw.then(|| {
        let bar = match budget.requests {
            Some(n) if args.duration.is_none() => indicatif::ProgressBar::new(n),
            _ => indicatif::ProgressBar::new_spinner(),
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {elapsed_precise} [{bar:40}] {pos}/{len} calls, {per_sec}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    });
    let cpu0 = cpu_time();
    let start = Instant::now();
    let budget = Budget {
        until: args.duration.map(|d| start + Duration::from(d)),
        ..budget
    };
    let tallies = run_phase(
        &driver,
        &calls,
        args.concurrency,
        budget,
        timeout,
        progress.as_ref(),
        true,
    )
    .await;
    let elapsed = start.elapsed();
    let cpu = cpu0.zip(cpu_time()).map(|(a, b)| b.saturating_sub(a));
    if let Some(p) = &progress {
        p.finish_and_clear();
    }
    driver.shutdown().await;

    let mut latencies = Vec::new();
    let mut ok = 0;
    let mut errors: HashMap<String, u64> = HashMap::new();
    for t in tallies {
        latencies.extend(t.latencies);
        ok += t.ok;
        for (k, v) in t.errors {
            *errors.entry(k).or_default() += v;
        }
    }
    latencies.sort_unstable();
    let total = latencies.len() as u64;
    let secs = elapsed.as_secs_f64().max(1e-9);
    let rps = total as f64 / secs;
    let ok_rps = ok as f64 / secs;
    let success = if total == 0 {
        0.0
    } else {
        100.0 * ok as f64 / total as f64
    };
    let mean_ms = if total == 0 {
        0.0
    } else {
        latencies.iter().map(|&l| l as f64).sum::<f64>() / total as f64 / 1e6
    };
    let cpu_us = cpu
        .filter(|_| total > 0)
        .map(|c| c.as_secs_f64() * 1e6 / total as f64);
    let mut errors: Vec<(String, u64)> = errors.into_iter().collect();
    errors.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));

    let mut failed = Vec::new();
    if let Some(min) = args.min_rps
        && ok_rps < min
    {
        failed.push(format!(
            "{ok_rps:.1} successful calls/s is below --min-rps {min}"
        ));
    }
    if let Some(min) = args.min_success
        && success < min
    {
        failed.push(format!(
            "{success:.2} % success is below --min-success {min} %"
        ));
    }
    let tools: Vec<&str> = {
        let mut t: Vec<&str> = calls.iter().map(|c| c.tool.as_str()).collect();
        t.dedup();
        t
    };
    if args.json {
        let report = serde_json::json!({
            "target": label,
            "protocol": era,
            "tools": tools,
            "concurrency": args.concurrency,
            "warmup": args.warmup,
            "requests": total,
            "ok": ok,
            "failed": total - ok,
            "elapsed_s": secs,
            "rps": rps,
            "ok_rps": ok_rps,
            "success_percent": success,
            "latency_ms": {
                "mean": mean_ms,
                "p50": quantile_ms(&latencies, 0.50),
                "p90": quantile_ms(&latencies, 0.90),
                "p99": quantile_ms(&latencies, 0.99),
                "max": latencies.last().map_or(0.0, |&l| l as f64 / 1e6),
            },
            "errors": errors.iter().map(|(k, v)| serde_json::json!({"error": k, "count": v})).collect::<Vec<_>>(),
            "load_cpu_us_per_call": cpu_us,
            "thresholds_failed": failed,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("target      {label} ({era})");
        println!("tools       {}", tools.join(", "));
        println!(
            "calls       {total} in {secs:.2} s, concurrency {}{}",
            args.concurrency,
            if args.warmup > 0 {
                format!(", after {} warm-up calls", args.warmup)
            } else {
                String::new()
            }
        );
        println!("throughput  {rps:.1} calls/s ({ok_rps:.1} successful)");
        println!(
            "latency     p50 {:.3} ms   p90 {:.3} ms   p99 {:.3} ms   max {:.3} ms   mean {mean_ms:.3} ms",
            quantile_ms(&latencies, 0.50),
            quantile_ms(&latencies, 0.90),
            quantile_ms(&latencies, 0.99),
            latencies.last().map_or(0.0, |&l| l as f64 / 1e6),
        );
        println!(
            "success     {success:.2} % ({ok} ok, {} failed)",
            total - ok
        );
        for (kind, n) in &errors {
            println!("  {n:>8} × {kind}");
        }
        if let Some(c) = cpu_us {
            println!(
                "load CPU    {c:.1} µs per call (this process: client work and the upstream client)"
            );
        }
        for f in &failed {
            println!("FAILED      {f}");
        }
    }
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let v: Vec<u64> = (1..=100).map(|i| i * 1_000_000).collect();
        assert_eq!(quantile_ms(&v, 0.50), 50.0);
        assert_eq!(quantile_ms(&v, 0.99), 99.0);
        assert_eq!(quantile_ms(&v, 1.0), 100.0);
        assert_eq!(quantile_ms(&[7_000_000], 0.5), 7.0);
        assert_eq!(quantile_ms(&[], 0.5), 0.0);
    }

    #[test]
    fn tool_errors_are_told_from_results() {
        let ok = serde_json::value::to_raw_value(
            &serde_json::json!({"content": [{"type": "text", "text": "\"isError\": true"}]}),
        )
        .unwrap();
        assert_eq!(outcome(Ok(ok)), None);
        let err =
            serde_json::value::to_raw_value(&serde_json::json!({"content": [], "isError": true}))
                .unwrap();
        assert!(outcome(Ok(err)).is_some());
    }
}
