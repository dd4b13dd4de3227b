//! `/metrics`: the Prometheus exposition, with the gauges that mirror state (sessions,
//! upstream status, cache size, process memory) refreshed at scrape time, so they cost nothing
//! between scrapes. The series themselves are recorded where things happen (the gateway's
//! record stage, the upstream client); metric names: docs/metrics.md.

use metrics::{counter, gauge};
use switchboard_gateway::admin_view::{AdminView, ServerState};

/// Render the exposition: refresh the gauges that mirror state, then every series.
pub fn render(view: &AdminView) -> String {
    let Some(handle) = switchboard_gateway::metrics::install() else {
        return String::new();
    };
    let sessions = view.sessions();
    gauge!("mcp_sessions").set(sessions as f64);
    gauge!("mcp_active_connections").set((sessions + view.listens()) as f64);
    let servers = view.servers();
    for s in &servers {
        let up = if s.status.is_ready() { 1.0 } else { 0.0 };
        gauge!("mcp_upstream_up", "server" => metrics::SharedString::from(s.name.clone())).set(up);
    }
    let c = view.policies().cache.stats();
    counter!("mcp_cache_hits_total").absolute(c.hits);
    counter!("mcp_cache_misses_total").absolute(c.misses);
    counter!("mcp_cache_remote_hits_total").absolute(c.remote_hits);
    counter!("mcp_cache_evictions_total").absolute(c.evictions);
    counter!("mcp_cache_invalidations_total").absolute(c.invalidations);
    counter!("mcp_cache_store_errors_total").absolute(c.store_errors);
    gauge!("mcp_cache_entries").set(c.entries as f64);
    handle.run_upkeep();
    let mut out = without_removed_servers(handle.render(), &servers);
    process_metrics(&mut out);
    out
}

/// The exposition without `mcp_upstream_up` of servers a reload removed: the registry keeps
/// every series it has seen, and a removed server is neither up nor down (an alert on
/// `mcp_upstream_up == 0` must not fire for it).
fn without_removed_servers(text: String, servers: &[ServerState]) -> String {
    const UP: &str = "mcp_upstream_up{server=\"";
    if !text.contains(UP) {
        return text;
    }
    let live = |line: &str| {
        let Some(rest) = line.strip_prefix(UP) else {
            return true;
        };
        let name = rest.split('"').next().unwrap_or_default();
        servers.iter().any(|s| *s.name == *name)
    };
    let mut out = String::with_capacity(text.len());
    for line in text.lines().filter(|l| live(l)) {
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// `process_*` from /proc (Linux; absent elsewhere), in the exposition format (the `metrics`
/// counters are integers, and CPU seconds are not).
fn process_metrics(out: &mut String) {
    use std::fmt::Write;
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat")
        && let Some((_, rest)) = stat.rsplit_once(')')
    {
        // Fields after the command (which may hold spaces): utime and stime are stat's
        // fields 14 and 15, 12th and 13th here; the kernel counts them in USER_HZ (100/s).
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks = f.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0)
            + f.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
        let _ = write!(
            out,
            "# HELP process_cpu_seconds_total User and system CPU time of the process\n\
             # TYPE process_cpu_seconds_total counter\n\
             process_cpu_seconds_total {}\n",
            ticks as f64 / 100.0
        );
    }
    if let Some(rss) = resident_bytes() {
        let _ = write!(
            out,
            "# HELP process_resident_memory_bytes Resident memory of the process\n\
             # TYPE process_resident_memory_bytes gauge\n\
             process_resident_memory_bytes {rss}\n"
        );
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        let _ = write!(
            out,
            "# HELP process_open_fds Open file descriptors\n\
             # TYPE process_open_fds gauge\n\
             process_open_fds {}\n",
            fds.count()
        );
    }
}

/// Resident memory of this process in bytes (for `/readyz` too), from /proc.
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
