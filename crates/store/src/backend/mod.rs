//! The backends implementing [`KeyValue`](crate::KeyValue), [`PubSub`](crate::PubSub) and
//! [`AppendLog`](crate::AppendLog): in memory, in a SQLite file, in Redis.

pub(crate) mod memory;
pub(crate) mod redis;
pub(crate) mod sqlite;
