//! [`RedisStore`]: every interface kept in Redis (6.2 or newer), shared by all replicas that
//! reach it.

mod pubsub;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use ::redis::aio::ConnectionManager;
use ::redis::{RedisError, Script};
use futures_util::future::BoxFuture;
use tokio::sync::{OnceCell, watch};

use crate::kv::ttl_millis;
use crate::log::LogEntry;
use crate::pubsub::Hub;
use crate::{AppendLog, KeyValue, RedisConn, StoreError};

/// `KEYS[1]`: the key. `ARGV`: expect-present flag (`0`/`1`), expected value, set flag
/// (`0` deletes), new value, TTL in ms (`0`: none). Returns 1 when swapped.
const COMPARE_AND_SWAP: &str = r"
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '0' then
  if current then return 0 end
elseif (not current) or current ~= ARGV[2] then
  return 0
end
if ARGV[3] == '0' then
  redis.call('DEL', KEYS[1])
elseif ARGV[5] == '0' then
  redis.call('SET', KEYS[1], ARGV[4])
else
  redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[5])
end
return 1
";

/// `KEYS[1]`: the stream, `KEYS[2]`: its counter. `ARGV[1]`: the payload. Returns the new
/// sequence number, which is also the stream entry's id (`<seq>-0`).
const APPEND: &str = r"
local seq = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[1], string.format('%d-0', seq), 'p', ARGV[1])
return seq
";

/// The Redis store. Keys are namespaced by the prefix given at construction:
/// `<prefix>kv:<key>` (strings, TTL via `PX`), `<prefix>ch:<channel>` (pub/sub channels),
/// `<prefix>log:<stream>` (a Redis stream) with its counter `<prefix>logseq:<stream>`.
///
/// - Key-value: `GET`, `SET … PX`, `SET … NX PX`, `DEL`; compare-and-swap is one Lua script, so
///   it is atomic.
/// - Pub/sub: `PUBLISH` on the shared connection; subscriptions share one dedicated RESP3
///   connection per store (opened by the first `subscribe`) that reconnects and resubscribes by
///   itself; messages published while it reconnects are lost. A channel's Redis subscription is
///   dropped at the next `subscribe` after its last [`Subscription`](crate::Subscription) is dropped.
/// - Append log: a Redis stream whose entry ids are `<seq>-0`, with `seq` from an `INCR`
///   counter (one Lua script, so appends are atomic); `read` is `XRANGE`, `trim` is
///   `XTRIM MINID`. The counter is never trimmed, so numbers keep growing after a trim.
pub struct RedisStore {
    conn: RedisConn,
    prefix: String,
    what: String,
    compare_and_swap: Script,
    append: Script,
    hub: Arc<Hub>,
    subscriber: OnceCell<ConnectionManager>,
    /// The channels (full names) the subscriber connection is subscribed to; held while
    /// subscribing, so subscribe and unsubscribe commands do not overtake each other.
    subscribed: tokio::sync::Mutex<HashSet<String>>,
    /// Dropped with the store, which stops the subscriber connection's check task.
    alive: watch::Sender<()>,
}

impl RedisStore {
    /// The store on `conn`, its keys prefixed by `prefix` (e.g. `switchboard:`).
    pub fn new(conn: RedisConn, prefix: &str) -> RedisStore {
        let what = format!("{}: Redis at {}", conn.section(), conn.url());
        RedisStore {
            conn,
            prefix: prefix.to_owned(),
            what,
            compare_and_swap: Script::new(COMPARE_AND_SWAP),
            append: Script::new(APPEND),
            hub: Arc::default(),
            subscriber: OnceCell::new(),
            subscribed: tokio::sync::Mutex::default(),
            alive: watch::Sender::new(()),
        }
    }

    /// The connection the store runs on.
    pub fn conn(&self) -> &RedisConn {
        &self.conn
    }

    fn key(&self, kind: &str, name: &str) -> String {
        format!("{}{kind}:{name}", self.prefix)
    }

    /// The Redis channel behind the pub/sub channel `channel` (for `PUBSUB NUMSUB`: whether
    /// anybody listens).
    pub fn channel_name(&self, channel: &str) -> String {
        self.key("ch", channel)
    }

    fn failed(&self, op: &str, e: &RedisError) -> StoreError {
        let what = &self.what;
        if e.is_timeout() {
            StoreError::Timeout(format!("{what}: {op} got no answer in time"))
        } else if e.kind() == ::redis::ErrorKind::UnexpectedReturnType
            || e.to_string().contains("WRONGTYPE")
        {
            StoreError::Corrupt(format!(
                "{what}: {op} found data of another kind under prefix {:?} ({e}); \
                 is something else using this prefix?",
                self.prefix
            ))
        } else {
            StoreError::Unavailable(format!("{what}: {op} failed: {e}"))
        }
    }
}

impl KeyValue for RedisStore {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
        Box::pin(async move {
            ::redis::cmd("GET")
                .arg(self.key("kv", key))
                .query_async(&mut self.conn.manager())
                .await
                .map_err(|e| self.failed("GET", &e))
        })
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut cmd = ::redis::cmd("SET");
            cmd.arg(self.key("kv", key)).arg(value);
            if let Some(ttl) = ttl {
                cmd.arg("PX").arg(ttl_millis(ttl));
            }
            cmd.query_async::<()>(&mut self.conn.manager())
                .await
                .map_err(|e| self.failed("SET", &e))
        })
    }

    fn set_if_absent<'a>(
        &'a self,
        key: &'a str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut cmd = ::redis::cmd("SET");
            cmd.arg(self.key("kv", key)).arg(value).arg("NX");
            if let Some(ttl) = ttl {
                cmd.arg("PX").arg(ttl_millis(ttl));
            }
            let reply: Option<String> = cmd
                .query_async(&mut self.conn.manager())
                .await
                .map_err(|e| self.failed("SET NX", &e))?;
            Ok(reply.is_some())
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let removed: i64 = ::redis::cmd("DEL")
                .arg(self.key("kv", key))
                .query_async(&mut self.conn.manager())
                .await
                .map_err(|e| self.failed("DEL", &e))?;
            Ok(removed > 0)
        })
    }

    fn compare_and_swap<'a>(
        &'a self,
        key: &'a str,
        expected: Option<&'a [u8]>,
        new: Option<Vec<u8>>,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let ttl = ttl.map_or(0, ttl_millis);
            let swapped: i64 = self
                .compare_and_swap
                .key(self.key("kv", key))
                .arg(if expected.is_some() { "1" } else { "0" })
                .arg(expected.unwrap_or_default())
                .arg(if new.is_some() { "1" } else { "0" })
                .arg(new.unwrap_or_default())
                .arg(ttl)
                .invoke_async(&mut self.conn.manager())
                .await
                .map_err(|e| self.failed("compare-and-swap", &e))?;
            Ok(swapped == 1)
        })
    }
}

impl AppendLog for RedisStore {
    fn append<'a>(
        &'a self,
        stream: &'a str,
        payload: Vec<u8>,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move {
            self.append
                .key(self.key("log", stream))
                .key(self.key("logseq", stream))
                .arg(payload)
                .invoke_async(&mut self.conn.manager())
                .await
                .map_err(|e| self.failed("append (XADD)", &e))
        })
    }

    fn read<'a>(
        &'a self,
        stream: &'a str,
        after: u64,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<LogEntry>, StoreError>> {
        Box::pin(async move {
            let Some(first) = after.checked_add(1) else {
                return Ok(Vec::new());
            };
            if limit == 0 {
                return Ok(Vec::new());
            }
            let entries: Vec<(String, Vec<Vec<u8>>)> = ::redis::cmd("XRANGE")
                .arg(self.key("log", stream))
                .arg(format!("{first}-0"))
                .arg("+")
                .arg("COUNT")
                .arg(limit)
                .query_async(&mut self.conn.manager())
                .await
                .map_err(|e| self.failed("read (XRANGE)", &e))?;
            entries
                .into_iter()
                .map(|(id, mut fields)| {
                    let seq = id.split_once('-').and_then(|(seq, _)| seq.parse().ok());
                    match (seq, fields.len()) {
                        (Some(seq), 2) => Ok((seq, fields.swap_remove(1))),
                        _ => Err(StoreError::Corrupt(format!(
                            "{}: log entry {id} of stream {:?} was not written by this store",
                            self.what,
                            self.key("log", stream)
                        ))),
                    }
                })
                .collect()
        })
    }

    fn trim<'a>(
        &'a self,
        stream: &'a str,
        keep_after: u64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut cmd = ::redis::cmd("XTRIM");
            cmd.arg(self.key("log", stream));
            match keep_after.checked_add(1) {
                Some(min) => cmd.arg("MINID").arg(format!("{min}-0")),
                None => cmd.arg("MAXLEN").arg(0),
            };
            cmd.query_async::<()>(&mut self.conn.manager())
                .await
                .map_err(|e| self.failed("trim (XTRIM)", &e))
        })
    }
}
