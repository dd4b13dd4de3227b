//! What the admin listener may see and do, and nothing else: the state `/metrics` and
//! `/readyz` read (servers and their status, sessions, the policies in force) and the two
//! operator actions (reload, cache invalidation). It holds the shared parts themselves, not the
//! gateway, so the admin crate cannot reach into requests, sessions' internals or upstreams.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use switchboard_upstream::Status;
use tokio_util::sync::CancellationToken;

use crate::breakers::Breakers;
use crate::catalog::Catalog;
use crate::listeners::Listeners;
use crate::policies::{Current, Policies};
use crate::reload::{ReloadError, Report};
use crate::session::Sessions;

/// Loads the config file again and applies it (`POST /reload`).
pub type ReloadFn = Arc<dyn Fn() -> BoxFuture<'static, Result<Report, ReloadError>> + Send + Sync>;

/// A cheap-to-clone, narrow handle on a running gateway for the admin listener.
#[derive(Clone)]
pub struct AdminView {
    pub(crate) catalog: Arc<Catalog>,
    pub(crate) sessions: Arc<Sessions>,
    pub(crate) listeners: Arc<Listeners>,
    pub(crate) breakers: Arc<Breakers>,
    pub(crate) cluster: Option<switchboard_cluster::Cluster>,
    pub(crate) policies: Arc<Current>,
    pub(crate) shutting_down: CancellationToken,
    pub(crate) draining: CancellationToken,
    pub(crate) reload: ReloadFn,
    /// The gateway's audit trail: operator actions through the admin API are recorded.
    pub(crate) audit: switchboard_audit::Audit,
    /// The tasks the gateway runs itself (`tasks:`), when configured.
    pub(crate) durable: Option<Arc<crate::durable::Durable>>,
    /// The gateway, for the one data-plane action an operator takes from the admin API: a
    /// tool call as the signed-in identity, through the whole pipeline (the dashboard's
    /// playground). Weak: the admin listener never keeps a stopped gateway alive.
    pub(crate) gateway: std::sync::Weak<crate::gateway::Gateway>,
}

/// Why the admin view cannot answer about tasks.
#[derive(Debug, thiserror::Error)]
pub enum TasksError {
    #[error("no task store is configured (`tasks:`)")]
    NotConfigured,
    #[error("task store: {0}")]
    Store(String),
}

/// One catalogued server as the admin listener sees it.
pub struct ServerState {
    pub name: Arc<str>,
    pub status: Status,
    /// Its status as it changes (to follow servers going down and up without polling).
    pub watch: tokio::sync::watch::Receiver<Status>,
    /// The exposed names of the tools it lists now.
    pub tools: Vec<String>,
}

/// Why a tool call from the admin API did not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("the gateway is shutting down")]
    Stopped,
    #[error("no answer within {0:?} (the call was cancelled)")]
    TimedOut(std::time::Duration),
}

impl AdminView {
    /// The policies (and config) in force now.
    pub fn policies(&self) -> Arc<Policies> {
        self.policies.load()
    }

    /// The tools role `role` sees listed now (`None`: no such role).
    pub fn tools_for_role(&self, role: &str) -> Option<Vec<serde_json::Value>> {
        let policy = self.policies().auth.role_policy(role)?;
        let visible = |exposed: &str, original: &str| {
            policy.allows(switchboard_policy::roles::Subject::Tool, exposed, original)
        };
        Some(self.catalog.tool_definitions_where(&visible))
    }

    fn durable(&self) -> Result<&Arc<crate::durable::Durable>, TasksError> {
        self.durable.as_ref().ok_or(TasksError::NotConfigured)
    }

    /// A task as the admin API shows it: as its owner sees it (`tasks/get`), plus who owns it,
    /// its tool and the calls made.
    fn task_view(d: &crate::durable::Durable, t: &switchboard_tasks::Task) -> serde_json::Value {
        let mut v = d.shape(t);
        v["owner"] = serde_json::json!(t.owner);
        v["tool"] = serde_json::json!(t.tool);
        v["attempts"] = serde_json::json!(t.attempts);
        v["progress"] = serde_json::json!(t.progress);
        v
    }

    /// Task `id`, whoever owns it, with its workflow run's steps when it is one (`None`: no
    /// such task).
    pub async fn task(&self, id: &str) -> Result<Option<serde_json::Value>, TasksError> {
        let d = self.durable()?;
        let t = d
            .store()
            .get(id)
            .await
            .map_err(|e| TasksError::Store(e.to_string()))?;
        let Some(t) = t else { return Ok(None) };
        let mut v = Self::task_view(d, &t);
        // A workflow's durable run keeps its steps' states as the task's checkpoint.
        if let Ok(Some(state)) = d.store().checkpoint(id).await
            && let Ok(mut run) = serde_json::from_str::<serde_json::Value>(&state)
        {
            // An ended task keeps no later checkpoint: a step its last one shows running was
            // cut by the end (a cancel, a failure elsewhere, the task's deadline).
            if t.status.is_terminal()
                && let Some(steps) = run["steps"].as_object_mut()
            {
                let cut = if t.status == switchboard_tasks::Status::Cancelled {
                    "cancelled"
                } else {
                    "failed"
                };
                for step in steps.values_mut() {
                    if step["status"] == "running" {
                        step["status"] = serde_json::json!(cut);
                        step["cut"] = serde_json::json!(true);
                    }
                }
            }
            v["run"] = run;
        }
        Ok(Some(v))
    }

    /// `owner`'s tasks (every owner's with `None`), newest first, after task `after`, at
    /// most `limit`.
    pub async fn tasks(
        &self,
        owner: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<serde_json::Value>, TasksError> {
        let d = self.durable()?;
        let store = d.store();
        let tasks = match owner {
            Some(owner) => store.list(owner, after, limit).await,
            None => store.list_recent(after, limit).await,
        }
        .map_err(|e| TasksError::Store(e.to_string()))?;
        Ok(tasks.iter().map(|t| Self::task_view(d, t)).collect())
    }

    /// Cancel task `id` as an operator (its run stops; its owner sees it cancelled); the task
    /// as it is then (`None`: no such task).
    pub async fn cancel_task(&self, id: &str) -> Result<Option<serde_json::Value>, TasksError> {
        let d = self.durable()?;
        if self.task(id).await?.is_none() {
            return Ok(None);
        }
        d.cancel(id)
            .await
            .map_err(|e| TasksError::Store(e.message.clone()))?;
        self.task(id).await
    }

    /// Record an operator's action through the admin API (`method` such as `admin/reload`;
    /// `outcome` `ok`, `denied`, `unauthenticated` or `error`) in the audit trail, with
    /// transport `admin`.
    pub fn audit_action(
        &self,
        identity: Option<&switchboard_policy::auth::Identity>,
        method: &str,
        outcome: &str,
    ) {
        self.audit.log_nowait(switchboard_audit::Record {
            subject: identity.map_or("-".into(), |i| i.subject.to_string()),
            role: identity.and_then(|i| i.role.as_deref().map(str::to_owned)),
            auth: identity.map_or("-".into(), |i| i.method.to_owned()),
            transport: "admin".into(),
            method: method.to_owned(),
            outcome: outcome.to_owned(),
            ..Default::default()
        });
    }

    /// Whether the gateway is draining for shutdown.
    pub fn shutting_down(&self) -> bool {
        self.shutting_down.is_cancelled()
    }

    /// Whether a stop was asked for: the replica still serves while its balancer takes it
    /// out (`http.shutdown_delay`), then drains.
    pub fn leaving(&self) -> bool {
        self.draining.is_cancelled() || self.shutting_down.is_cancelled()
    }

    /// The servers in the catalogue now (not those a reload retired), with their status and
    /// tools.
    pub fn servers(&self) -> Vec<ServerState> {
        let servers = self.catalog.servers();
        let mut tools: Vec<Vec<String>> = vec![Vec::new(); servers.iter().count()];
        let index: std::collections::HashMap<usize, usize> = servers
            .indexed()
            .enumerate()
            .map(|(pos, (idx, _))| (idx, pos))
            .collect();
        for (exposed, route) in self.catalog.tools() {
            if let Some(&pos) = index.get(&route.server) {
                tools[pos].push(exposed);
            }
        }
        servers
            .iter()
            .zip(tools)
            .map(|(s, mut tools)| {
                tools.sort_unstable();
                ServerState {
                    name: s.name.clone(),
                    status: s.upstream.status(),
                    watch: s.upstream.watch_status(),
                    tools,
                }
            })
            .collect()
    }

    /// Call tool `name` with `arguments` as `identity` would from a client — authorized,
    /// rate limited, validated, cached, routed and audited like any call (the audit record's
    /// transport is `admin`) — waiting at most `within`: the JSON-RPC result or error.
    pub async fn call_tool(
        &self,
        identity: Arc<switchboard_policy::auth::Identity>,
        name: &str,
        arguments: serde_json::Value,
        within: std::time::Duration,
    ) -> Result<
        Result<Box<serde_json::value::RawValue>, switchboard_protocol::ErrorObject>,
        CallError,
    > {
        use crate::dispatch::{Caller, Dispatch};
        let gateway = self.gateway.upgrade().ok_or(CallError::Stopped)?;
        let caller = Caller {
            identity,
            policies: self.policies(),
            transport: crate::request::Transport::Http,
            client_ip: None,
            trace: None,
            relay: None,
            via: Some(Arc::from("admin")),
            task: None,
        };
        let cancel = CancellationToken::new();
        let call = gateway.call_tool(&caller, name, arguments, cancel.clone());
        tokio::pin!(call);
        tokio::select! {
            answer = &mut call => Ok(answer),
            _ = tokio::time::sleep(within) => {
                // Cancelled, the pipeline answers it (and records it) at once.
                cancel.cancel();
                let _ = call.await;
                Err(CallError::TimedOut(within))
            }
        }
    }

    /// Changes whenever the catalogue is rebuilt (a server's tools changed, a reload).
    pub fn catalog_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.catalog.changes()
    }

    /// Whether the catalogue lists tool `name` now and its server is ready.
    pub fn tool_available(&self, name: &str) -> bool {
        self.catalog.tool(name).is_some_and(|t| {
            self.catalog
                .servers()
                .get(t.route.server)
                .is_some_and(|s| s.upstream.status().is_ready())
        })
    }

    /// Whether the circuit breaker of `candidate` in route `route` refuses calls now.
    pub fn breaker_open(&self, route: &str, candidate: &str) -> bool {
        self.breakers.is_open(route, candidate)
    }

    /// `PING` the cluster store (`None` without `cluster:`).
    pub async fn ping_cluster(&self, within: std::time::Duration) -> Option<Result<(), String>> {
        match &self.cluster {
            Some(c) => Some(c.ping(within).await),
            None => None,
        }
    }

    /// Open client sessions.
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Open `subscriptions/listen` streams of stateless clients.
    pub fn listens(&self) -> usize {
        self.listeners.len()
    }

    /// Drop every kept result of server `name`; `false` when no server has that name.
    pub async fn invalidate_server(&self, name: &str) -> bool {
        let Some(idx) = self.catalog.server_index(name) else {
            return false;
        };
        let cache = self.policies().cache.clone();
        cache.invalidate_server(idx, name).await;
        crate::letters::broadcast_invalidation(
            self.cluster.clone(),
            &cache,
            vec![name.to_owned()],
            Vec::new(),
        );
        true
    }

    /// Drop every kept result of tool `exposed` (in this process and, with a shared store, for
    /// every replica, whose near copies are told with `cluster:`).
    pub async fn invalidate_tool(&self, exposed: &str) {
        let cache = self.policies().cache.clone();
        let tools = vec![exposed.to_owned()];
        cache.invalidate_tools(&tools).await;
        crate::letters::broadcast_invalidation(self.cluster.clone(), &cache, Vec::new(), tools);
    }

    /// Load the config file again and apply it.
    pub async fn reload(&self) -> Result<Report, ReloadError> {
        (self.reload)().await
    }
}
