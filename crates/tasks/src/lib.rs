//! Durable tasks: the task record and its state machine (`model.rs`), what a task store does
//! (`store.rs`: atomic status moves, claims with leases renewed by heartbeats, retries at a
//! time, expiry), and the SQLite store (`sqlite.rs`). The gateway's task workers and the
//! protocol methods (`tasks/*`) build on these.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod model;
pub mod sqlite;
pub mod store;

pub use model::{Outcome, Status, Task};
pub use sqlite::SqliteTasks;
pub use store::{Ending, TaskStore, TaskStoreError};
