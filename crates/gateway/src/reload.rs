//! Hot reload: a changed config applied to the running gateway without dropping sessions or
//! calls in flight.
//!
//! What a reload does, in order (nothing is applied unless every step before the swap works):
//! 1. the new file is loaded and checked as at start-up (the binary's config source); an
//!    invalid file is refused with all its errors and the running config stays;
//! 2. sections that cannot change without a restart (`http`, `federation`, `log`, `mrtr`,
//!    `audit`, `telemetry`, `tasks`, `admin.listen`) keep their running values; a report names the
//!    ones that differ;
//! 3. a changed `auth`/`roles`, `rate_limits` or `cache` is built anew (a Redis store that
//!    cannot be reached, a JWT key that does not parse: refused, nothing changes);
//! 4. servers added, or whose entry changed, are started in new catalogue slots and listed;
//! 5. one swap: the new servers enter the catalogue and the removed (or replaced) ones leave
//!    it, with the new policies; the next call sees the new config, clients get
//!    `list_changed`;
//! 6. each server taken out keeps serving the calls already routed to it and is stopped once
//!    none has been in flight for [`QUIET`] (at most `reload.drain_timeout`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use switchboard_config::Config;

use crate::Gateway;
use crate::catalog::{Catalog, Change};

/// Loads the config file again (with the same checks and additions as at start-up).
pub type Source = Arc<dyn Fn() -> Result<Config, String> + Send + Sync>;

/// How long a removed server must have had no call in flight before it is stopped: a call
/// routed just before the swap may not have reached the upstream yet.
pub const QUIET: Duration = Duration::from_millis(250);

/// Longest a reload waits for a server it adds before applying the rest.
const ADDED_SETTLE: Duration = Duration::from_secs(15);

/// One reload at a time, and where the config comes from.
#[derive(Default)]
pub struct Reloads {
    lock: tokio::sync::Mutex<()>,
    source: std::sync::OnceLock<Source>,
}

/// What a reload changed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Servers started.
    pub added: Vec<String>,
    /// Servers taken out of the catalogue (stopped once drained).
    pub removed: Vec<String>,
    /// Servers whose entry changed: a new instance replaced the old one, which drains.
    pub changed: Vec<String>,
    /// Other sections now in force (`auth`, `roles`, `rate_limits`, `cache`, …).
    pub applied: Vec<&'static str>,
    /// Sections that differ from the running ones but need a restart; their running values
    /// stay.
    pub restart_required: Vec<&'static str>,
}

impl Report {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.changed.is_empty()
            && self.applied.is_empty()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("no config file to reload: the gateway was not started from one")]
    NoSource,
    /// The new config is refused; the text says why (every problem found).
    #[error("{0}")]
    Invalid(String),
}

fn differs<T: Serialize>(a: &T, b: &T) -> bool {
    serde_json::to_value(a).ok() != serde_json::to_value(b).ok()
}

impl Gateway {
    /// Where [`Gateway::reload_from_source`] reads the config (set once, by the binary).
    pub fn set_config_source(&self, source: Source) {
        let _ = self.reloads.source.set(source);
    }

    /// Whether a config source is set (reloads are possible).
    pub fn can_reload(&self) -> bool {
        self.reloads.source.get().is_some()
    }

    /// Load the config file again and apply it (SIGHUP, file watching, `POST /reload`).
    pub async fn reload_from_source(self: &Arc<Self>) -> Result<Report, ReloadError> {
        let source = self
            .reloads
            .source
            .get()
            .cloned()
            .ok_or(ReloadError::NoSource)?;
        let loaded = tokio::task::spawn_blocking(move || source())
            .await
            .map_err(|e| ReloadError::Invalid(format!("loading the config failed: {e}")))
            .and_then(|r| r.map_err(ReloadError::Invalid));
        match loaded {
            Ok(config) => self.reload(config).await,
            Err(e) => {
                count(false);
                tracing::error!(error = %e, "config reload refused; the running config stays");
                Err(e)
            }
        }
    }

    /// Apply `new` (already loaded and validated) to the running gateway.
    pub async fn reload(self: &Arc<Self>, new: Config) -> Result<Report, ReloadError> {
        let _one = self.reloads.lock.lock().await;
        let result = self.apply_config(new).await;
        count(result.is_ok());
        match &result {
            Ok(r) if r.is_empty() && r.restart_required.is_empty() => {
                tracing::info!("config reloaded: nothing changed");
            }
            Ok(r) => {
                tracing::info!(added = ?r.added, removed = ?r.removed, changed = ?r.changed, applied = ?r.applied, "config reloaded");
                if !r.restart_required.is_empty() {
                    tracing::warn!(sections = ?r.restart_required, "changed sections take effect only after a restart; their running values stay");
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "config reload refused; the running config stays");
            }
        }
        result
    }

    async fn apply_config(self: &Arc<Self>, mut new: Config) -> Result<Report, ReloadError> {
        // The generation running now: the reload lock keeps it in force until the swap.
        let running = self.policies();
        let old = running.config.clone();
        let mut report = Report::default();
        // 2. What needs a restart keeps its running value.
        macro_rules! keep {
            ($($field:ident).+, $name:literal) => {
                if differs(&old.$($field).+, &new.$($field).+) {
                    report.restart_required.push($name);
                    new.$($field).+ = old.$($field).+.clone();
                }
            };
        }
        keep!(http, "http");
        keep!(federation, "federation");
        keep!(log, "log");
        keep!(mrtr, "mrtr");
        keep!(audit, "audit");
        keep!(telemetry, "telemetry");
        keep!(tasks, "tasks");
        keep!(views, "views");
        keep!(tool_search, "tool_search");
        keep!(admin.listen, "admin.listen");

        // 3. Policies, built before anything changes.
        let auth_changed = differs(&old.auth, &new.auth) || differs(&old.roles, &new.roles);
        let limits_changed = auth_changed || differs(&old.rate_limits, &new.rate_limits);
        let cache_changed = differs(&old.cache, &new.cache);
        let auth = if auth_changed {
            let a = switchboard_policy::auth::Authenticator::from_config(&new)
                .map_err(|e| ReloadError::Invalid(format!("auth: {e}")))?;
            a.prefetch().await;
            Arc::new(a)
        } else {
            running.auth.clone()
        };
        let limits = if limits_changed {
            Arc::new(
                switchboard_policy::rate_limits::Limits::from_config(&new)
                    .await
                    .map_err(ReloadError::Invalid)?,
            )
        } else {
            running.limits.clone()
        };
        let cache = if cache_changed {
            Arc::new(
                crate::cache::ResultCache::from_config_after(
                    &new.cache,
                    &new.federation.separator,
                    &running.cache,
                )
                .await
                .map_err(ReloadError::Invalid)?,
            )
        } else {
            running.cache.clone()
        };

        // 4. Servers: what to start, what to retire.
        let enabled = |c: &Config| -> Vec<String> {
            c.servers
                .iter()
                .filter(|(_, s)| s.is_enabled())
                .map(|(n, _)| n.clone())
                .collect()
        };
        let (before, after) = (enabled(&old), enabled(&new));
        for name in &after {
            match old.servers.get(name) {
                Some(o) if before.contains(name) => {
                    if new.servers.get(name).is_some_and(|n| differs(o, n)) {
                        report.changed.push(name.clone());
                    }
                }
                _ => report.added.push(name.clone()),
            }
        }
        report.removed = before
            .iter()
            .filter(|n| !after.contains(n))
            .cloned()
            .collect();
        let starting: Vec<(String, &switchboard_config::ServerConfig)> = report
            .added
            .iter()
            .chain(&report.changed)
            .filter_map(|n| Some((n.clone(), new.servers.get(n)?)))
            .collect();
        let started = futures_util::future::join_all(starting.into_iter().map(|(name, sc)| {
            let idx = self.catalog.reserve();
            let server = self.start_server(idx, &name, sc);
            // A replacement is waited for as long as it may take to start, so its tools never
            // go missing; a new server joins later (with `list_changed`) if it is slow.
            let mut wait = sc.init_timeout.0 + Duration::from_secs(1);
            if report.added.contains(&name) {
                wait = wait.min(ADDED_SETTLE);
            }
            async move {
                let status = server.upstream.wait_settled(wait).await;
                if !status.is_ready() {
                    tracing::warn!(server = %name, status = %status.describe(), "server added by a reload is not ready; it joins when it is");
                }
                let lists = Catalog::fetch_lists(&server).await;
                (idx, server, lists)
            }
        }))
        .await;

        // 5. The swap.
        let servers = self.catalog.servers();
        let retired: Vec<usize> = report
            .removed
            .iter()
            .chain(&report.changed)
            .filter_map(|n| servers.index_of(n))
            .collect();
        drop(servers);
        if auth_changed {
            report.applied.extend(["auth", "roles"]);
        }
        if differs(&old.rate_limits, &new.rate_limits) {
            report.applied.push("rate_limits");
        }
        if cache_changed {
            report.applied.push("cache");
        }
        for (section, changed) in [
            ("reload", differs(&old.reload, &new.reload)),
            (
                "admin.readiness",
                differs(&old.admin.readiness, &new.admin.readiness),
            ),
            ("builtin", differs(&old.builtin, &new.builtin)),
        ] {
            if changed {
                report.applied.push(section);
            }
        }
        // One generation: a request admitted from here on sees all of the new policies, one
        // admitted before keeps all of the old ones.
        self.swap_policies(crate::policies::Policies {
            config: Arc::new(new),
            auth,
            limits,
            cache,
        });
        let changed = self.catalog.apply(Change {
            added: started,
            retired: retired.clone(),
        });
        self.announce(&changed);

        // 6. Drain and stop what left.
        let timeout = self.config().reload.drain_timeout.0;
        for idx in retired {
            tokio::spawn(self.clone().retire(idx, timeout));
        }
        Ok(report)
    }

    /// Wait until server `idx` (out of the catalogue) has had no call in flight for
    /// [`QUIET`], at most `timeout`, then stop it and its per-session instances.
    async fn retire(self: Arc<Self>, idx: usize, timeout: Duration) {
        let Some(server) = self.catalog.servers().get(idx).cloned() else {
            return;
        };
        let name = server.name.clone();
        self.cache().invalidate_server(idx, &name).await;
        let deadline = Instant::now() + timeout;
        let mut quiet_since: Option<Instant> = None;
        loop {
            let busy = server.upstream.in_flight() + self.isolated_in_flight(idx);
            let now = Instant::now();
            if busy == 0 {
                let since = *quiet_since.get_or_insert(now);
                if now.duration_since(since) >= QUIET {
                    break;
                }
            } else {
                quiet_since = None;
            }
            if now >= deadline {
                tracing::warn!(server = %name, in_flight = busy, "reload.drain_timeout elapsed; stopping a removed server with calls in flight");
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let stops = self
            .catalog
            .remove(idx)
            .map(|s| s.upstream.clone())
            .into_iter()
            .chain(self.stop_isolated(idx))
            .map(|u| async move { u.shutdown().await });
        futures_util::future::join_all(stops).await;
        tracing::info!(server = %name, "removed server drained and stopped");
    }
}

fn count(ok: bool) {
    let result = if ok { "success" } else { "failure" };
    metrics::counter!("switchboard_config_reloads_total", "result" => result).increment(1);
    if ok {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or_default();
        metrics::gauge!("switchboard_config_last_reload_success_timestamp_seconds").set(now);
    }
}
