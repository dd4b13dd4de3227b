//! Wiring: starts the upstreams, keeps the catalogue current from their events, broadcasts
//! list changes to client sessions, and shuts everything down in order.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use switchboard_config::Config;
use switchboard_protocol::{Message, RawMap, methods, to_raw};
use switchboard_upstream::{Backends, Upstream, UpstreamEvent};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use crate::catalog::{Catalog, Kind, Server};
use crate::session::{Session, Sessions};
use crate::subscriptions::Subscriptions;
use switchboard_config::Isolation;

pub struct Gateway {
    /// The config the gateway started with: what cannot change without a restart (the
    /// listeners, `http.*`) is read from here.
    pub config: Arc<Config>,
    /// The config in force now and the policies built from it, replaced together by a
    /// reload (`policies.rs`).
    policies: Arc<crate::policies::Current>,
    pub catalog: Arc<Catalog>,
    pub sessions: Arc<Sessions>,
    pub shutting_down: CancellationToken,
    /// Set when a stop was asked for and the replica is leaving its balancer: still serving,
    /// not ready, answers close their connections (`http.shutdown_delay`).
    pub draining: CancellationToken,
    pub subscriptions: Subscriptions,
    /// Open `subscriptions/listen` streams of stateless clients.
    pub listeners: Arc<crate::listeners::Listeners>,
    /// The store replicas share sessions and keys through (`cluster:`).
    pub cluster: Option<switchboard_cluster::Cluster>,
    /// Route candidates' open circuit breakers, for `/readyz`.
    pub breakers: Arc<crate::breakers::Breakers>,
    /// Signs and verifies the `requestState` of `input_required` results.
    pub mrtr: switchboard_policy::request_state::StateKeys,
    /// Durable tasks the gateway runs itself (`tasks:`), when configured.
    pub(crate) durable: Option<Arc<crate::durable::Durable>>,
    /// Calls of 2026-07-28 clients to session-era upstreams waiting for the client's input.
    pub parked: crate::parked::Parked,
    /// Requests asked of other replicas and worked on for them (`elsewhere.rs`).
    pub(crate) elsewhere: Arc<crate::elsewhere::Elsewhere>,
    /// The tamper-evident record of every request.
    pub audit: switchboard_audit::Audit,
    /// The factories of backends other than the built-in transports, asked first wherever
    /// an upstream is started (start, reload, per-session instances).
    backends: Backends,
    /// Where the event streams of servers a reload starts join the event loop.
    event_streams: mpsc::UnboundedSender<(usize, mpsc::UnboundedReceiver<UpstreamEvent>)>,
    /// One reload at a time; the source of the config file, set by the binary.
    pub(crate) reloads: crate::reload::Reloads,
    /// Per-session instances of `isolation: session` servers, by (server, session id).
    isolated: parking_lot::Mutex<std::collections::HashMap<(usize, Arc<str>), Upstream>>,
    pub(crate) refreshes: parking_lot::Mutex<std::collections::HashMap<usize, PendingRefresh>>,
    in_flight: AtomicUsize,
    drained: Notify,
}

/// List kinds waiting to be refreshed for one server.
#[derive(Default)]
pub(crate) struct PendingRefresh {
    pub(crate) kinds: Vec<Kind>,
    pub(crate) announce_always: bool,
    pub(crate) running: bool,
}

/// Counts a request in flight until dropped, so shutdown can wait for the drain. Transports
/// take it when a request arrives, before spawning its task, so no request slips past a drain.
pub struct InFlight(Arc<Gateway>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.drained.notify_waiters();
        }
    }
}

impl Gateway {
    /// The reloadable parts in force now, as one generation. A request holds the one it was
    /// admitted with (`RequestCtx::policies`); use this outside requests.
    pub fn policies(&self) -> Arc<crate::policies::Policies> {
        self.policies.load()
    }

    /// What the admin listener may see and do (`admin_view.rs`): shared read-only parts and
    /// the operator actions, without the gateway itself.
    pub fn admin_view(self: &Arc<Self>) -> crate::admin_view::AdminView {
        let gw = Arc::downgrade(self);
        crate::admin_view::AdminView {
            catalog: self.catalog.clone(),
            sessions: self.sessions.clone(),
            listeners: self.listeners.clone(),
            breakers: self.breakers.clone(),
            cluster: self.cluster.clone(),
            policies: self.policies.clone(),
            shutting_down: self.shutting_down.clone(),
            draining: self.draining.clone(),
            audit: self.audit.clone(),
            durable: self.durable.clone(),
            gateway: Arc::downgrade(self),
            reload: Arc::new(move || {
                let gw = gw.upgrade();
                Box::pin(async move {
                    match gw {
                        Some(gw) => gw.reload_from_source().await,
                        None => Err(crate::reload::ReloadError::Invalid(
                            "the gateway is shutting down".into(),
                        )),
                    }
                })
            }),
        }
    }

    /// This replica's name in the cluster (`cluster:`).
    pub fn replica_id(&self) -> Option<&str> {
        self.cluster.as_ref().map(|c| c.replica_id())
    }

    /// Put a new generation in force (a reload's one swap).
    pub(crate) fn swap_policies(&self, next: crate::policies::Policies) {
        self.policies.swap(next);
    }

    /// The config in force now (the last one applied by a reload).
    pub fn config(&self) -> Arc<Config> {
        self.policies.load().config.clone()
    }

    /// The authenticator in force now (outside requests; see [`Gateway::policies`]).
    pub fn auth(&self) -> Arc<switchboard_policy::auth::Authenticator> {
        self.policies.load().auth.clone()
    }

    /// The rate limits in force now (outside requests; see [`Gateway::policies`]).
    pub fn limits(&self) -> Arc<switchboard_policy::rate_limits::Limits> {
        self.policies.load().limits.clone()
    }

    /// The tool-result cache in force now (outside requests; see [`Gateway::policies`]).
    pub fn cache(&self) -> Arc<crate::cache::ResultCache> {
        self.policies.load().cache.clone()
    }

    /// Start server `name` for slot `idx` (reserved by [`Catalog::reserve`] when a reload
    /// adds it); its events reach the event loop tagged with `idx`.
    pub(crate) fn start_server(
        &self,
        idx: usize,
        name: &str,
        sc: &switchboard_config::ServerConfig,
    ) -> Arc<crate::catalog::Server> {
        let (tx, rx) = mpsc::unbounded_channel();
        let server = Arc::new(new_server(name, sc, tx, &self.backends));
        let _ = self.event_streams.send((idx, rx));
        server
    }

    /// Calls in flight on the per-session instances of server `idx`.
    pub(crate) fn isolated_in_flight(&self, idx: usize) -> usize {
        self.isolated
            .lock()
            .iter()
            .filter(|((i, _), _)| *i == idx)
            .map(|(_, u)| u.in_flight())
            .sum()
    }

    /// Stop the per-session instances of server `idx` (it was removed by a reload).
    pub(crate) fn stop_isolated(&self, idx: usize) -> Vec<Upstream> {
        let mut isolated = self.isolated.lock();
        let keys: Vec<_> = isolated
            .keys()
            .filter(|(i, _)| *i == idx)
            .cloned()
            .collect();
        keys.into_iter()
            .filter_map(|k| isolated.remove(&k))
            .collect()
    }

    /// Start every enabled upstream and wait until each is ready or has failed (bounded by
    /// their `init_timeout`s and by `settle`), so the first listing is complete. Servers still
    /// starting after `settle` join later; clients then get `list_changed`.
    pub async fn start(config: Config, settle: Duration) -> Result<Arc<Gateway>, String> {
        Self::start_as(config, settle, false).await
    }

    /// As [`Gateway::start`]; `stdio` says stdout carries MCP (the audit sink may not use it).
    pub async fn start_as(
        config: Config,
        settle: Duration,
        stdio: bool,
    ) -> Result<Arc<Gateway>, String> {
        Self::start_with(config, settle, stdio, Backends::none()).await
    }

    /// As [`Gateway::start_as`], with factories of other kinds of backend: every upstream the
    /// gateway starts (now, by a reload, per session) is offered to them first.
    pub async fn start_with(
        config: Config,
        settle: Duration,
        stdio: bool,
        backends: Backends,
    ) -> Result<Arc<Gateway>, String> {
        Self::start_with_slot(config, settle, stdio, backends, None).await
    }

    /// [`Gateway::start_with`], filling `slot` as soon as the gateway exists — before the
    /// first listing — so backends that call through the gateway (routes, workflows) can
    /// serve it.
    pub async fn start_with_slot(
        config: Config,
        settle: Duration,
        stdio: bool,
        backends: Backends,
        slot: Option<&crate::dispatch::DispatchSlot>,
    ) -> Result<Arc<Gateway>, String> {
        crate::metrics::install();
        // What can fail comes first, before any upstream process is started.
        let config = Arc::new(config);
        let policies = crate::policies::Policies::build(config.clone()).await?;
        let audit = match &config.audit {
            Some(a) => {
                switchboard_audit::Audit::open(a, !stdio).map_err(|e| format!("audit: {e}"))?
            }
            None => switchboard_audit::Audit::off(),
        };
        let cluster = match &config.cluster {
            Some(c) => Some(switchboard_cluster::Cluster::connect(c).await?),
            None => None,
        };
        let durable = match &config.tasks {
            Some(t) => Some(Arc::new(
                // Its errors name the key (`tasks.url`, `tasks.path`) and the store.
                crate::durable::Durable::open(t, &config.federation.separator).await?,
            )),
            None => None,
        };
        let mut servers = Vec::new();
        let mut receivers = Vec::new();
        let mut longest = Duration::ZERO;
        for (name, sc) in &config.servers {
            if !sc.is_enabled() {
                tracing::info!(server = %name, "disabled in config; not started");
                continue;
            }
            longest = longest.max(sc.init_timeout.0);
            let (tx, rx) = mpsc::unbounded_channel();
            receivers.push(rx);
            servers.push(new_server(name, sc, tx, &backends));
        }
        let (event_streams, new_streams) = mpsc::unbounded_channel();
        let mut catalog = Catalog::new(config.federation.clone(), servers);
        if let Some(t) = &config.tasks {
            let modes = t
                .tools
                .iter()
                .map(|(p, r)| {
                    (
                        switchboard_policy::roles::Pattern::parse(p, &config.federation.separator),
                        r.mode,
                    )
                })
                .collect();
            catalog = catalog.with_task_modes(modes);
        }
        let catalog = Arc::new(catalog);
        let mrtr = match &cluster {
            // Replicas sign and verify `requestState` with one key, made by the first.
            Some(c) if config.mrtr.keys.is_empty() => {
                let key = c
                    .shared_secret("mrtr")
                    .await
                    .map_err(|e| format!("cluster: the shared requestState key: {e}"))?;
                switchboard_policy::request_state::StateKeys::new(
                    vec![key],
                    config.mrtr.state_ttl.0,
                )
            }
            _ => switchboard_policy::request_state::StateKeys::from_config(&config.mrtr),
        };
        let gw = Arc::new(Gateway {
            policies: Arc::new(crate::policies::Current::new(policies)),
            config,
            catalog: catalog.clone(),
            sessions: Arc::new(Sessions::default()),
            shutting_down: CancellationToken::new(),
            draining: CancellationToken::new(),
            subscriptions: Subscriptions::default(),
            listeners: Default::default(),
            breakers: Default::default(),
            cluster,
            mrtr,
            parked: Default::default(),
            elsewhere: Default::default(),
            durable,
            audit,
            backends,
            event_streams,
            reloads: Default::default(),
            isolated: Default::default(),
            refreshes: Default::default(),
            in_flight: AtomicUsize::new(0),
            drained: Notify::new(),
        });
        if let Some(slot) = slot {
            slot.fill(&gw);
        }
        // Initial listing: wait for each server to settle, then fetch its lists. The routes'
        // and tool search's entries list from other servers' tools, so they are listed after.
        let boot = catalog.servers();
        let derived = |name: &str| {
            gw.config.servers.get(name).is_some_and(|s| {
                matches!(
                    s.kind(),
                    switchboard_config::TransportKind::Routes
                        | switchboard_config::TransportKind::ToolSearch
                )
            })
        };
        let waits = boot.indexed().map(|(i, s)| {
            let later = derived(&s.name);
            let catalog = catalog.clone();
            let up = s.upstream.clone();
            async move {
                if up
                    .wait_settled((longest + Duration::from_secs(1)).min(settle))
                    .await
                    .is_ready()
                {
                    if !later {
                        catalog.refresh(i, &Kind::ALL).await;
                    }
                    return true;
                }
                false
            }
        });
        let listed: Vec<bool> = futures_util::future::join_all(waits).await;
        for (i, s) in boot.indexed() {
            if derived(&s.name) && listed.get(i).copied().unwrap_or(false) {
                catalog.refresh(i, &Kind::ALL).await;
            }
        }
        // A server's first `Ready` is covered by the listing just made: refreshing again would
        // only race the first calls (its requests are not attributable while the gateway's
        // own calls are in flight).
        let mut early = Vec::new();
        for (i, rx) in receivers.iter_mut().enumerate() {
            while let Ok(ev) = rx.try_recv() {
                match ev {
                    UpstreamEvent::Ready { .. } if listed.get(i).copied().unwrap_or(false) => {}
                    other => early.push((i, other)),
                }
            }
        }
        let streams = receivers.into_iter().enumerate().collect();
        tokio::spawn(gw.clone().event_loop(early, streams, new_streams));
        gw.follow_letters();
        if let Some(d) = &gw.durable {
            let t = &d.config;
            let runner = switchboard_tasks::Runner::new(
                d.store.clone(),
                crate::durable::executor(Arc::downgrade(&gw)),
                switchboard_tasks::RunnerConfig {
                    name: format!(
                        "{}-{}",
                        std::process::id(),
                        switchboard_tasks::model::new_id()
                    ),
                    workers: t.workers,
                    retry: switchboard_tasks::RetryPolicy {
                        attempts: t.retry.attempts,
                        initial_delay: t.retry.initial_delay.0,
                        backoff: t.retry.backoff,
                        max_delay: t.retry.max_delay.0,
                    },
                    lease: t.lease.0,
                    poll: Duration::from_millis(250),
                },
            );
            d.start(runner, crate::durable::status_notifier(Arc::downgrade(&gw)));
        }
        Ok(gw)
    }

    /// The instance of server `idx` that serves `session`: its own process for
    /// `isolation: session` servers (started on first use), else the shared one.
    pub fn upstream_for(&self, idx: usize, session: Option<&Arc<Session>>) -> Option<Upstream> {
        let servers = self.catalog.servers();
        let server = servers.get(idx)?;
        let Some(session) = session.filter(|_| server.config.isolation == Isolation::Session)
        else {
            return Some(server.upstream.clone());
        };
        let mut isolated = self.isolated.lock();
        let key = (idx, session.id.clone());
        if let Some(up) = isolated.get(&key) {
            return Some(up.clone());
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let up = Upstream::start_with(&server.name, &server.config, tx, &self.backends);
        tokio::spawn(isolated_events(
            session.clone(),
            idx,
            self.catalog.clone(),
            rx,
        ));
        tracing::info!(server = %server.name, session = %session.id, "started a per-session instance");
        isolated.insert(key, up.clone());
        Some(up)
    }

    /// End a client session: close its streams and calls, release its subscriptions, stop
    /// its per-session server instances.
    pub fn close_session(&self, id: &str) {
        let Some(session) = self.sessions.remove(id) else {
            return;
        };
        let instances: Vec<Upstream> = {
            let mut isolated = self.isolated.lock();
            let keys: Vec<_> = isolated
                .keys()
                .filter(|(_, s)| **s == *id)
                .cloned()
                .collect();
            keys.into_iter()
                .filter_map(|k| isolated.remove(&k))
                .collect()
        };
        for up in instances {
            tokio::spawn(async move { up.shutdown().await });
        }
        let subs: Vec<_> = session
            .subscriptions
            .lock()
            .drain()
            .map(|(_, r)| r)
            .collect();
        for route in subs {
            self.release_subscription(&route);
        }
    }

    /// Count a subscriber of `route`; the first one subscribes the upstream.
    pub(crate) async fn acquire_subscription(&self, route: &crate::catalog::Route) {
        if self.subscriptions.acquire(route.server, &route.original)
            && let Some(server) = self.catalog.servers().get(route.server).cloned()
        {
            let params = to_raw(&serde_json::json!({"uri": route.original}));
            if let Err(e) = server
                .upstream
                .call(
                    methods::RESOURCES_SUBSCRIBE,
                    Some(params),
                    Default::default(),
                )
                .await
            {
                tracing::warn!(server = %server.name, uri = %route.original, error = %e, "cannot subscribe upstream");
            }
        }
    }

    /// Drop a subscriber of `route`; the last one unsubscribes the upstream.
    pub(crate) fn release_subscription(&self, route: &crate::catalog::Route) {
        if self.subscriptions.release(route.server, &route.original)
            && let Some(server) = self.catalog.servers().get(route.server).cloned()
        {
            let up = server.upstream.clone();
            let params = to_raw(&serde_json::json!({"uri": route.original}));
            tokio::spawn(async move {
                let _ = up
                    .call(
                        methods::RESOURCES_UNSUBSCRIBE,
                        Some(params),
                        Default::default(),
                    )
                    .await;
            });
        }
    }

    /// Close idle sessions (see [`Sessions::idle`]); returns how many.
    pub fn reap_idle_sessions(&self, limit: Duration) -> usize {
        let idle = self.sessions.idle(limit);
        for id in &idle {
            self.close_session(id);
        }
        idle.len()
    }

    pub fn begin_request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }

    pub fn requests_in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Wait until no request is in flight, at most `limit`. Returns whether it drained.
    pub async fn drain(&self, limit: Duration) -> bool {
        let wait = async {
            loop {
                let notified = self.drained.notified();
                if self.requests_in_flight() == 0 {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(limit, wait).await.is_ok()
    }

    /// Stop accepting work, let calls in flight finish (bounded), then stop the upstreams.
    pub async fn shutdown(&self, grace: Duration) {
        self.shutting_down.cancel();
        // No new task runs start; running ones finish or, cut, run again after a restart.
        if let Some(d) = &self.durable {
            d.stop();
        }
        self.sessions.close_streams();
        for route in self.listeners.close_all().await {
            self.release_subscription(&route);
        }
        if !self.drain(grace).await {
            tracing::warn!(
                in_flight = self.requests_in_flight(),
                "shutdown grace elapsed; cutting calls still in flight"
            );
        }
        let isolated: Vec<Upstream> = self.isolated.lock().drain().map(|(_, u)| u).collect();
        let servers = self.catalog.servers();
        let stops = servers
            .every()
            .map(|s| s.upstream.clone())
            .chain(isolated)
            .map(|u| async move { u.shutdown().await });
        futures_util::future::join_all(stops).await;
        // Leave the audit journal empty: every record in the database.
        let audit = self.audit.clone();
        let _ = tokio::task::spawn_blocking(move || audit.flush()).await;
    }
}

/// Events of a per-session instance: its resource updates go to its session; list changes are
/// taken from the shared instance, so they are ignored here.
async fn isolated_events(
    session: Arc<Session>,
    idx: usize,
    catalog: Arc<Catalog>,
    mut rx: mpsc::UnboundedReceiver<UpstreamEvent>,
) {
    while let Some(ev) = rx.recv().await {
        let UpstreamEvent::Notification {
            notification: n,
            server,
        } = ev
        else {
            continue;
        };
        if n.method != methods::RESOURCES_UPDATED {
            tracing::debug!(%server, method = %n.method, "per-session instance notification not relayed");
            continue;
        }
        let Some(params) = n.params else { continue };
        let Ok(mut map) = RawMap::parse(&params) else {
            continue;
        };
        let Some(uri) = map.get_str("uri").map(|u| u.into_owned()) else {
            continue;
        };
        let exposed = catalog.expose_uri(idx, &uri);
        if session.subscriptions.lock().contains_key(&exposed)
            && let Some(out) = session.standalone()
        {
            map.set("uri", to_raw(&exposed));
            out.notify(&Message::notification(
                methods::RESOURCES_UPDATED,
                Some(map.to_raw()),
            ));
        }
    }
}

/// A configured server with its upstream started (in the background).
fn new_server(
    name: &str,
    sc: &switchboard_config::ServerConfig,
    events: mpsc::UnboundedSender<UpstreamEvent>,
    backends: &Backends,
) -> Server {
    // Every server has the series from the start (0 until it first goes down), so
    // `increase()` and alerts see its first restart.
    metrics::counter!("mcp_upstream_restarts_total", "server" => metrics::SharedString::from(name.to_owned())).increment(0);
    Server {
        name: Arc::from(name),
        prefix: sc.prefix.clone().unwrap_or_else(|| name.to_owned()),
        upstream: Upstream::start_with(name, sc, events, backends),
        config: sc.clone(),
    }
}
