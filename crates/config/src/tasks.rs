//! The `tasks:` section: which tools the gateway runs as durable tasks (the 2026-07-28 tasks
//! extension), where tasks are kept, how many run at once, how long they are kept, and how a
//! failed call is retried.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Dur;

/// Durable tasks run by the gateway. Absent: none (upstreams' own tasks are still relayed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TasksConfig {
    /// `sqlite` (a file, `path`), `redis` or `postgres` (`url`; shared by replicas).
    #[serde(default)]
    pub store: TaskStoreKind,
    /// The SQLite file (relative to where the gateway runs).
    #[serde(default = "default_path")]
    pub path: String,
    /// `redis://…` or `postgres://…` for those stores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Prefix of the Redis keys.
    #[serde(default = "default_prefix")]
    pub key_prefix: String,
    /// Task executions at once in this process.
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// How long a task and its result are kept after it is created (`ttlMs`).
    #[serde(default = "default_ttl")]
    pub ttl: Dur,
    /// How often clients are asked to poll (`pollIntervalMs`).
    #[serde(default = "default_poll")]
    pub poll_interval: Dur,
    /// How long a worker's claim on a running task holds without a heartbeat; a task whose
    /// worker died (a killed gateway) runs again once it lapses.
    #[serde(default = "default_lease")]
    pub lease: Dur,
    /// Retries of a call that failed (upstream unavailable, crashed, timed out, busy).
    #[serde(default)]
    pub retry: TaskRetry,
    /// Tool patterns (as in `roles`) the gateway runs as tasks, with their mode.
    #[serde(default)]
    pub tools: IndexMap<String, TaskRule>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TaskStoreKind {
    #[default]
    Sqlite,
    Redis,
    Postgres,
}

/// How failed calls of a task are retried: `attempts` calls in all, waiting `initial_delay`,
/// then `backoff` times longer each time, at most `max_delay`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TaskRetry {
    pub attempts: u32,
    pub initial_delay: Dur,
    pub backoff: f64,
    pub max_delay: Dur,
}

impl Default for TaskRetry {
    fn default() -> Self {
        Self {
            attempts: 3,
            initial_delay: Dur::secs(1),
            backoff: 2.0,
            max_delay: Dur::secs(60),
        }
    }
}

/// How a tool is run as a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskRule {
    /// `optional`: a task for clients that declare the tasks extension on the call, a normal
    /// call otherwise. `required`: a task always; a 2026-07-28 client that does not declare
    /// the extension gets -32021.
    #[serde(default)]
    pub mode: TaskMode,
    /// How long one run of the call may take, in place of the server's `timeout` (and its
    /// `tool_timeouts`): a long task is not cut at a normal call's limit. A run over it counts
    /// as a timed-out call (retried while attempts are left).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Dur>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TaskMode {
    #[default]
    Optional,
    Required,
}

fn default_path() -> String {
    "switchboard-tasks.db".into()
}
fn default_prefix() -> String {
    "switchboard:tasks:".into()
}
fn default_workers() -> usize {
    8
}
fn default_ttl() -> Dur {
    Dur::secs(3600)
}
fn default_poll() -> Dur {
    Dur::secs(1)
}
fn default_lease() -> Dur {
    Dur::secs(30)
}
