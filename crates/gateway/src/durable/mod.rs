//! Durable tasks the gateway runs itself (`tasks:`; the 2026-07-28 tasks extension, see
//! docs/design/tasks.md): a `tools/call` of a task tool from a client that declares the
//! extension is kept in the task store before its `CreateTaskResult` goes out, a worker makes
//! the call for the task's owner (retried with backoff when the upstream failed), and
//! `tasks/get`, `tasks/update` and `tasks/cancel` answer the owner only — anyone else gets the
//! answer for an unknown task. Tasks survive restarts: a task whose worker died runs again
//! once its lease lapses.

mod input;
mod legacy;
mod notify;
mod progress;
mod run;
mod watch;

pub(crate) use legacy::{
    RELATED_TASK, capability as legacy_capability, forbidden, requested, required, task_support,
};

pub(crate) use notify::status_notifier;
pub(crate) use run::executor;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, UNIX_EPOCH};

use serde_json::value::RawValue;
use serde_json::{Value, json};
use switchboard_config::{TaskRule, TaskStoreKind, TasksConfig};
use switchboard_policy::roles::{Pattern, Subject};
use switchboard_protocol::{ErrorObject, codes, methods, to_raw};
use switchboard_tasks::model::now_ms;
use switchboard_tasks::{Outcome, Runner, Status, Task, TaskStore};

use crate::request::RequestCtx;

/// The gateway's task service.
pub struct Durable {
    pub(crate) store: Arc<dyn TaskStore>,
    runner: OnceLock<Arc<Runner>>,
    /// Tells a 2025-11-25 client's session that its task ended (see `notify.rs`).
    notifier: OnceLock<switchboard_tasks::OnEnd>,
    rules: Vec<(Pattern, TaskRule)>,
    ttl_ms: i64,
    poll_ms: i64,
    pub(crate) config: TasksConfig,
}

/// What a task keeps of the call besides the tool: the call's params and who made it.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct Stored {
    pub call: Box<RawValue>,
    pub role: Option<String>,
    pub auth: String,
    /// What the client may be asked during the task (`sampling`, `elicitation`, `roots`: the
    /// capabilities it declared when it created the task).
    #[serde(default)]
    pub asks: Vec<String>,
    /// A 2025-11-25 client's session and the `progressToken` of its `tools/call`: the task's
    /// progress (and, with `notifications/tasks/status`, its end) goes on to that session
    /// while it is open on the replica running the task.
    #[serde(default)]
    pub session: Option<String>,
    #[serde(default)]
    pub progress_token: Option<Value>,
}

/// The capabilities among `sampling`, `elicitation` and `roots` the client of `ctx` declared.
fn declared_asks(ctx: &RequestCtx) -> Vec<String> {
    ["sampling", "elicitation", "roots"]
        .into_iter()
        .filter(|cap| match (&ctx.modern, &ctx.session) {
            (Some(m), _) => m.capabilities.get(*cap).is_some_and(|v| !v.is_null()),
            (None, Some(s)) => s.client_has(cap),
            (None, None) => false,
        })
        .map(str::to_owned)
        .collect()
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn iso(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_millis(t).to_string()
}

/// The answer when the task store fails.
pub(crate) fn store_failed(e: impl std::fmt::Display) -> ErrorObject {
    ErrorObject::internal(format!("the task store failed: {e}"))
}

/// The answer for a task id that does not exist — or is someone else's.
fn not_found() -> ErrorObject {
    ErrorObject::invalid_params("Failed to retrieve task: Task not found")
}

/// Whether a modern request declares the tasks extension.
pub(crate) fn declares_tasks(ctx: &RequestCtx) -> bool {
    ctx.modern
        .as_ref()
        .is_some_and(|m| crate::era::declares_extension(m, methods::TASKS_EXTENSION))
}

/// `-32021` with `message`: the request needs the tasks extension and does not declare it.
pub(crate) fn tasks_required(message: &str) -> ErrorObject {
    ErrorObject::new(codes::MISSING_CLIENT_CAPABILITY, message).with_data(to_raw(&json!({
        "requiredCapabilities": {"extensions": {methods::TASKS_EXTENSION: {}}}
    })))
}

impl Durable {
    /// Open the configured store (errors name `tasks.*` and the store); the workers start with
    /// [`Durable::start`] once the gateway exists.
    pub async fn open(cfg: &TasksConfig, separator: &str) -> Result<Self, String> {
        let store: Arc<dyn TaskStore> = match cfg.store {
            TaskStoreKind::Sqlite => Arc::new(
                switchboard_tasks::SqliteTasks::open(std::path::Path::new(&cfg.path))
                    .map_err(|e| format!("tasks.path: {e}"))?,
            ),
            TaskStoreKind::Redis => {
                let url = cfg.url.as_deref().unwrap_or_default();
                let conn = switchboard_store::RedisConn::connect(url, "tasks")
                    .await
                    .map_err(|e| e.to_string())?;
                Arc::new(switchboard_tasks::RedisTasks::new(conn, &cfg.key_prefix))
            }
            TaskStoreKind::Postgres => Arc::new(
                switchboard_tasks::PgTasks::connect(cfg.url.as_deref().unwrap_or_default())
                    .await
                    .map_err(|e| format!("tasks.url: {e}"))?,
            ),
        };
        Ok(Self {
            store,
            runner: OnceLock::new(),
            notifier: OnceLock::new(),
            rules: cfg
                .tools
                .iter()
                .map(|(p, r)| (Pattern::parse(p, separator), r.clone()))
                .collect(),
            ttl_ms: millis(cfg.ttl.0),
            poll_ms: millis(cfg.poll_interval.0),
            config: cfg.clone(),
        })
    }

    /// Start the workers (once), with the executor that runs a task's call.
    pub(crate) fn start(&self, runner: Arc<Runner>, notifier: switchboard_tasks::OnEnd) {
        runner.on_end(notifier.clone());
        let _ = self.notifier.set(notifier);
        runner.start();
        let _ = self.runner.set(runner);
        // Ended tasks past their time to live are forgotten every minute.
        let store = self.store.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(60)).await;
                if let Err(e) = store.expire(now_ms()).await {
                    tracing::warn!(error = %e, "cannot expire tasks");
                }
            }
        });
    }

    /// Stop claiming new tasks (shutdown).
    pub(crate) fn stop(&self) {
        if let Some(r) = self.runner.get() {
            r.stop();
        }
    }

    /// The rule tool `exposed` (`original` upstream) runs as a task by, if it does (the
    /// first pattern that matches).
    pub(crate) fn rule(&self, exposed: &str, original: &str) -> Option<&TaskRule> {
        self.rules
            .iter()
            .find(|(p, _)| p.matches(Subject::Tool, exposed, original))
            .map(|(_, r)| r)
    }

    /// Keep a task for this call, then answer `CreateTaskResult`.
    /// `ttl`: the lifetime a 2025-11-25 client asked for (`Some`, possibly `None` inside), or
    /// `None` for a 2026-07-28 client — which decides the answer's shape.
    pub(crate) async fn create(
        &self,
        ctx: &RequestCtx,
        tool: &str,
        params: Option<&RawValue>,
        legacy: Option<Option<i64>>,
    ) -> Result<Box<RawValue>, ErrorObject> {
        let call = params.ok_or_else(|| ErrorObject::invalid_params("tools/call needs params"))?;
        // The legacy `task` param is the client's to the gateway, not the upstream's.
        let token = legacy
            .and(switchboard_policy::request_state::progress_token(call))
            .and_then(|t| serde_json::from_str::<Value>(t.get()).ok());
        let call = switchboard_protocol::rawmap::without_param(call, "task");
        let stored = Stored {
            call: crate::era::strip_request_meta(call),
            role: ctx.identity.role.as_deref().map(str::to_owned),
            auth: ctx.identity.method.to_owned(),
            asks: declared_asks(ctx),
            // A 2025-11-25 client's session hears of the task's progress and end.
            session: legacy.and(ctx.session.as_ref()).map(|s| s.id.to_string()),
            progress_token: token,
        };
        let stored = serde_json::to_string(&stored).map_err(ErrorObject::internal)?;
        let ttl = self.ttl_for(legacy.flatten());
        let task = Task::new(&ctx.identity.subject, tool, stored, ttl, now_ms());
        // Kept before the answer goes out: a `tasks/get` for it resolves from now on.
        self.store.create(&task).await.map_err(|e| {
            tracing::error!(error = %e, "cannot keep a task");
            ErrorObject::internal(format!("the task could not be kept: {e}"))
        })?;
        metrics::counter!("mcp_tasks_created_total").increment(1);
        if let Some(r) = self.runner.get() {
            r.kick();
        }
        if legacy.is_some() {
            return Ok(to_raw(&json!({"task": self.legacy_shape(&task)})));
        }
        let mut created = self.shape(&task);
        created["resultType"] = json!("task");
        Ok(to_raw(&created))
    }

    /// The store tasks are kept in (`switchboard tasks` reads it without a gateway).
    pub fn store(&self) -> &Arc<dyn TaskStore> {
        &self.store
    }

    /// The task as the protocol shows it (`DetailedTask`): with its result once completed and
    /// its error once failed.
    pub fn shape(&self, t: &Task) -> Value {
        let mut v = json!({
            "taskId": t.id,
            "status": t.status.as_str(),
            "createdAt": iso(t.created_ms),
            "lastUpdatedAt": iso(t.updated_ms),
            "ttlMs": t.ttl_ms,
            "pollIntervalMs": self.poll_ms,
        });
        if let Some(m) = &t.status_message {
            v["statusMessage"] = json!(m);
        }
        match (&t.status, &t.outcome) {
            (Status::Completed, Some(Outcome::Result(r))) => {
                v["result"] = serde_json::from_str(r).unwrap_or(Value::Null);
            }
            (Status::Failed, Some(Outcome::Error(e))) => {
                v["error"] = serde_json::from_str(e).unwrap_or(Value::Null);
            }
            (Status::Failed, _) => {
                let message = t
                    .status_message
                    .clone()
                    .unwrap_or_else(|| "the task failed".into());
                v["error"] = json!({"code": codes::INTERNAL_ERROR, "message": message});
            }
            _ => {}
        }
        v
    }

    /// The caller's task `id`, or the answer for an unknown one.
    async fn owned(&self, ctx: &RequestCtx, id: &str) -> Result<Task, ErrorObject> {
        match self.store.get(id).await {
            Ok(Some(t)) if *t.owner == *ctx.identity.subject => Ok(t),
            Ok(_) => Err(not_found()),
            Err(e) => {
                tracing::error!(error = %e, "cannot read a task");
                Err(store_failed(e))
            }
        }
    }

    /// `tasks/get`, `tasks/update`, `tasks/cancel` for gateway-run task `id`.
    pub(crate) async fn method(
        &self,
        ctx: &RequestCtx,
        method: &str,
        id: &str,
        params: Option<&RawValue>,
    ) -> Result<Box<RawValue>, ErrorObject> {
        let task = self.owned(ctx, id).await?;
        match method {
            methods::TASKS_GET => {
                let mut shown = self.shape(&task);
                if task.status == Status::InputRequired {
                    shown["inputRequests"] = input::input_requests(self.store.as_ref(), id).await?;
                }
                Ok(to_raw(&shown))
            }
            methods::TASKS_CANCEL => {
                if !task.status.is_terminal() {
                    self.cancel(id).await?;
                }
                Ok(switchboard_protocol::empty_object())
            }
            methods::TASKS_UPDATE => {
                input::update(self.store.as_ref(), id, params).await?;
                Ok(switchboard_protocol::empty_object())
            }
            other => Err(ErrorObject::method_not_found(other)),
        }
    }
}
