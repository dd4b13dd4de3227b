//! Durable tasks: the task record and its state machine (`model.rs`), what a task store does
//! (`store.rs`: atomic status moves, claims with leases renewed by heartbeats, retries at a
//! time, expiry), the SQLite store (`sqlite.rs`), and the workers (`runner.rs`: claim, run
//! through an executor with the lease renewed, retry with backoff or end, stop a cancelled
//! task's call). The gateway's protocol methods (`tasks/*`) and its executor (the tool call
//! made for the task's owner) build on these.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod model;
pub mod postgres;
pub mod redis;
pub mod runner;
pub mod sqlite;
pub mod store;
#[cfg(test)]
mod test_support;

pub use model::{Outcome, Status, Task};
pub use postgres::PgTasks;
pub use redis::RedisTasks;
pub use runner::{Executor, OnEnd, Ran, RetryPolicy, Runner, RunnerConfig};
pub use sqlite::SqliteTasks;
pub use store::{Ending, TaskStore, TaskStoreError};
