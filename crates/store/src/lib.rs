//! Switchboard's shared state: connections to Redis and SQLite, and the small storage interfaces
//! ([`KeyValue`], [`PubSub`], [`AppendLog`]) that features shared between the gateway's parts and
//! between replicas build on.
//!
//! Three backends implement every interface:
//! - **memory**: one process only; nothing survives a restart.
//! - **sqlite**: one file, shared by the processes of one machine; survives restarts.
//! - **redis**: shared by every replica that reaches the same Redis (6.2 or newer).
//!
//! [`Store`] bundles the three interfaces of one backend. The `redis` crate is re-exported so
//! dependents running their own commands (through [`RedisConn::manager`]) need not depend on it.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod backend;
mod error;
mod hex;
mod kv;
mod log;
mod pubsub;
mod redis_conn;
mod store;

pub use backend::memory::MemoryStore;
pub use backend::redis::RedisStore;
pub use backend::sqlite::SqliteStore;
pub use error::StoreError;
pub use hex::hex;
pub use kv::KeyValue;
pub use log::{AppendLog, LogEntry};
pub use pubsub::{PubSub, SUBSCRIBER_BUFFER, Subscription};
pub use redis;
pub use redis_conn::RedisConn;
pub use store::Store;

#[cfg(test)]
mod tests;
