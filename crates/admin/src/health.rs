//! `/healthz` (liveness: the process answers) and `/readyz` (readiness: the parts a request
//! needs are there), in the reference shape `{healthy, timestamp, checks:[{name, healthy,
//! message}]}`. Readiness checks: each upstream and each route (a candidate listed by a ready
//! server whose circuit breaker is not open; the ones `admin.readiness.required_upstreams`
//! names decide, the others are reported), the shared Redis store of rate limits and cache,
//! resident memory against `max_memory`, free disk where the audit trail lives, and whether the
//! gateway is draining.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use switchboard_gateway::admin_view::AdminView;

/// How long a store may take to answer `PING` before it counts as down.
const STORE_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Debug, Serialize)]
pub struct Health {
    pub healthy: bool,
    /// RFC 3339, UTC.
    pub timestamp: String,
    pub checks: Vec<Check>,
}

#[derive(Debug, Serialize)]
pub struct Check {
    pub name: String,
    pub healthy: bool,
    pub message: String,
    /// Whether this check decides readiness (an optional upstream is reported, not required).
    pub required: bool,
}

impl Check {
    fn new(name: impl Into<String>, healthy: bool, message: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            healthy,
            message: message.into(),
            required: true,
        }
    }
}

fn now() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

/// Liveness: cheap, no I/O; the process is up and its runtime schedules tasks.
pub fn liveness() -> Health {
    Health {
        healthy: true,
        timestamp: now(),
        checks: vec![Check::new("process", true, "running")],
    }
}

/// Readiness, with every component check.
pub async fn readiness(view: &AdminView) -> Health {
    let mut checks = Vec::new();
    let policies = view.policies();
    let config = &policies.config;
    let r = &config.admin.readiness;
    checks.push(if view.shutting_down() {
        Check::new(
            "draining",
            false,
            "shutting down: finishing calls in flight",
        )
    } else if view.leaving() {
        Check::new(
            "draining",
            false,
            "stopping: still serving until the balancer takes this replica out (http.shutdown_delay)",
        )
    } else {
        Check::new("draining", true, "accepting requests")
    });
    let every = r.required_upstreams.iter().any(|n| n == "*");
    for s in view.servers() {
        let status = s.status;
        let mut c = Check::new(
            format!("upstream:{}", s.name),
            status.is_ready(),
            status.describe(),
        );
        c.required = every || r.required_upstreams.iter().any(|n| **n == *s.name);
        checks.push(c);
    }
    // A route is ready while one of its candidates is listed by a ready server and its
    // circuit breaker lets calls through.
    for (name, route) in &config.routes {
        let listed: Vec<&str> = route
            .candidates
            .iter()
            .map(|c| c.tool.as_str())
            .filter(|t| view.tool_available(t))
            .collect();
        let (up, broken): (Vec<&str>, Vec<&str>) =
            listed.iter().partition(|t| !view.breaker_open(name, t));
        let mut c = if up.is_empty() {
            let why = if broken.is_empty() {
                "no candidate is available".to_owned()
            } else {
                format!(
                    "no candidate is available: circuit breaker open for {}",
                    broken.join(", ")
                )
            };
            Check::new(format!("route:{name}"), false, why)
        } else if broken.is_empty() {
            Check::new(
                format!("route:{name}"),
                true,
                format!("available: {}", up.join(", ")),
            )
        } else {
            Check::new(
                format!("route:{name}"),
                true,
                format!(
                    "available: {}; circuit breaker open: {}",
                    up.join(", "),
                    broken.join(", ")
                ),
            )
        };
        c.required = every || r.required_upstreams.iter().any(|n| **n == **name);
        checks.push(c);
    }
    let (limits, cache) = tokio::join!(
        policies.limits.ping_store(STORE_TIMEOUT),
        policies.cache.ping_store(STORE_TIMEOUT)
    );
    for (name, ping) in [("store:rate_limits", limits), ("store:cache", cache)] {
        if let Some(ping) = ping {
            checks.push(match ping {
                Ok(()) => Check::new(name, true, "redis answers"),
                Err(e) => Check::new(name, false, format!("redis: {e}")),
            });
        }
    }
    // The cluster store is reported, not required: without it sessions stay on the replica
    // that has them, which beats every replica leaving the balancer at once.
    if let Some(ping) = view.ping_cluster(STORE_TIMEOUT).await {
        let mut c = match ping {
            Ok(()) => Check::new("store:cluster", true, "redis answers"),
            Err(e) => Check::new(
                "store:cluster",
                false,
                format!("redis: {e}; sessions are not shared until it answers"),
            ),
        };
        c.required = false;
        checks.push(c);
    }
    checks.push(memory_check(r.max_memory.as_deref()));
    let dir = match &config.audit {
        Some(a) if !a.path.is_empty() => Path::new(&a.path)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| ".".into()),
        _ => ".".into(),
    };
    checks.push(disk_check(&dir, &r.min_free_disk));
    Health {
        healthy: checks.iter().all(|c| c.healthy || !c.required),
        timestamp: now(),
        checks,
    }
}

fn memory_check(max: Option<&str>) -> Check {
    let rss = crate::exposition::resident_bytes();
    let limit = max.and_then(|m| switchboard_config::parse_size(m).ok());
    match (rss, limit) {
        (Some(rss), Some(limit)) if rss > limit => Check::new(
            "memory",
            false,
            format!("resident {} over the limit {}", mib(rss), mib(limit)),
        ),
        (Some(rss), Some(limit)) => Check::new(
            "memory",
            true,
            format!("resident {} of {}", mib(rss), mib(limit)),
        ),
        (Some(rss), None) => {
            Check::new("memory", true, format!("resident {} (no limit)", mib(rss)))
        }
        (None, _) => Check::new("memory", true, "resident memory unknown on this platform"),
    }
}

fn disk_check(dir: &Path, min_free: &str) -> Check {
    let min = switchboard_config::parse_size(min_free).unwrap_or(0);
    match nix::sys::statvfs::statvfs(dir) {
        Ok(st) => {
            let free = st.blocks_available().saturating_mul(st.fragment_size());
            Check::new(
                "disk",
                free >= min,
                format!(
                    "{} free at {} (needs {})",
                    mib(free),
                    dir.display(),
                    mib(min)
                ),
            )
        }
        Err(e) => Check::new("disk", false, format!("{}: {e}", dir.display())),
    }
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_over_its_limit_is_unhealthy_and_says_so() {
        let c = memory_check(Some("1KiB"));
        assert!(!c.healthy, "{c:?}");
        assert!(c.message.contains("over the limit"), "{c:?}");
        assert!(memory_check(Some("1TiB")).healthy);
    }

    #[test]
    fn disk_below_its_minimum_is_unhealthy() {
        let c = disk_check(Path::new("."), "1000000TiB");
        assert!(!c.healthy, "{c:?}");
        assert!(disk_check(Path::new("."), "1KiB").healthy);
        let missing = disk_check(Path::new("/no/such/dir/here"), "1KiB");
        assert!(
            !missing.healthy && missing.message.contains("/no/such"),
            "{missing:?}"
        );
    }
}
