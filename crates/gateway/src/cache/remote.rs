//! The Redis store of the result cache: one key per result (`<prefix>e:<sha256>`, expiring
//! with its TTL) and tag sets per server (`<prefix>s:<name>`) and per tool (`<prefix>t:<name>`)
//! so a server's or a tool's results are dropped together (two Lua scripts, each atomic).
//!
//! Identical calls missing on several replicas at once are one upstream call: the first to
//! miss claims the key (`<prefix>l:<sha256>`, `SET NX` with [`CLAIM_TTL`]); the others wait for
//! its result to appear, or for the claim to go (the call's result was not keepable, or its
//! replica died), then call themselves.

use std::time::{Duration, Instant};

use serde_json::value::RawValue;

use switchboard_store::RedisConn;
use switchboard_store::redis;

use super::Key;

/// How long a claim on a key holds: the longest another replica waits for the claimant's
/// result before calling itself.
pub(super) const CLAIM_TTL: Duration = Duration::from_secs(30);

/// How often a waiting replica looks for the claimant's result.
const POLL: Duration = Duration::from_millis(10);

/// What a miss found when it tried to claim the key.
pub(super) enum Claim {
    /// This replica calls the upstream (and releases the claim after).
    Mine,
    /// Another replica called it and its result is here.
    Kept(Box<RawValue>, Duration),
    /// Another replica's call ended without a keepable result (or the wait ran out): call.
    Gone,
}

/// The shared store of `store: redis`.
pub(super) struct Remote {
    conn: RedisConn,
    prefix: String,
    store: redis::Script,
    drop_tagged: redis::Script,
}

/// SET the entry with its TTL and add it to its tag sets (which live as long as their
/// longest-lived member).
const STORE: &str = r"
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
for i = 2, #KEYS do
  redis.call('SADD', KEYS[i], KEYS[1])
  if redis.call('PTTL', KEYS[i]) < tonumber(ARGV[2]) then
    redis.call('PEXPIRE', KEYS[i], ARGV[2])
  end
end
return 1
";

/// Delete every entry in the given tag sets, and the sets.
const DROP_TAGGED: &str = r"
local n = 0
for i = 1, #KEYS do
  local members = redis.call('SMEMBERS', KEYS[i])
  for j = 1, #members, 500 do
    redis.call('DEL', unpack(members, j, math.min(j + 499, #members)))
  end
  n = n + #members
  redis.call('DEL', KEYS[i])
end
return n
";

impl Remote {
    pub(super) async fn connect(url: &str, prefix: &str) -> Result<Self, String> {
        Ok(Remote {
            conn: RedisConn::connect(url, "cache")
                .await
                .map_err(|e| e.to_string())?,
            prefix: prefix.to_owned(),
            store: redis::Script::new(STORE),
            drop_tagged: redis::Script::new(DROP_TAGGED),
        })
    }

    /// Whether Redis answers (readiness).
    pub(super) async fn ping(&self, within: Duration) -> Result<(), String> {
        self.conn.ping(within).await
    }

    /// A kept result and how long it has left.
    pub(super) async fn get(
        &self,
        key: &Key,
    ) -> redis::RedisResult<Option<(Box<RawValue>, Duration)>> {
        let mut conn = self.conn.manager();
        let entry = format!("{}e:{}", self.prefix, key.hex());
        let (text, left): (Option<String>, i64) = redis::pipe()
            .get(&entry)
            .pttl(&entry)
            .query_async(&mut conn)
            .await?;
        Ok(kept(text, left))
    }

    /// After a miss: claim `key`, or wait for the replica that holds the claim (see the
    /// module docs).
    pub(super) async fn claim(&self, key: &Key) -> redis::RedisResult<Claim> {
        let mut conn = self.conn.manager();
        let lock = format!("{}l:{}", self.prefix, key.hex());
        let ms = u64::try_from(CLAIM_TTL.as_millis()).unwrap_or(u64::MAX);
        let mine: Option<String> = redis::cmd("SET")
            .arg(&lock)
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(ms)
            .query_async(&mut conn)
            .await?;
        if mine.is_some() {
            return Ok(Claim::Mine);
        }
        let until = Instant::now() + CLAIM_TTL;
        let entry = format!("{}e:{}", self.prefix, key.hex());
        while Instant::now() < until {
            tokio::time::sleep(POLL).await;
            let (text, left, held): (Option<String>, i64, bool) = redis::pipe()
                .get(&entry)
                .pttl(&entry)
                .exists(&lock)
                .query_async(&mut conn)
                .await?;
            if let Some((result, left)) = kept(text, left) {
                return Ok(Claim::Kept(result, left));
            }
            if !held {
                return Ok(Claim::Gone);
            }
        }
        Ok(Claim::Gone)
    }

    /// Let go of the claim on `key` (after its result was kept, or could not be).
    pub(super) async fn release(&self, key: &Key) -> redis::RedisResult<()> {
        let mut conn = self.conn.manager();
        redis::cmd("DEL")
            .arg(format!("{}l:{}", self.prefix, key.hex()))
            .query_async::<i64>(&mut conn)
            .await?;
        Ok(())
    }

    /// Keep `result` for `ttl`, tagged with its server and tool.
    pub(super) async fn put(
        &self,
        key: &Key,
        result: &RawValue,
        ttl: Duration,
        server: &str,
        tool: &str,
    ) -> redis::RedisResult<()> {
        let mut conn = self.conn.manager();
        let _: i64 = self
            .store
            .key(format!("{}e:{}", self.prefix, key.hex()))
            .key(format!("{}s:{server}", self.prefix))
            .key(format!("{}t:{tool}", self.prefix))
            .arg(result.get())
            .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1))
            .invoke_async(&mut conn)
            .await?;
        Ok(())
    }

    /// Drop every result of these servers and tools.
    pub(super) async fn drop_tagged(
        &self,
        servers: &[&str],
        tools: &[String],
    ) -> redis::RedisResult<()> {
        let mut conn = self.conn.manager();
        let mut call = self.drop_tagged.prepare_invoke();
        for s in servers {
            call.key(format!("{}s:{s}", self.prefix));
        }
        for t in tools {
            call.key(format!("{}t:{t}", self.prefix));
        }
        let _: i64 = call.invoke_async(&mut conn).await?;
        Ok(())
    }
}

/// An entry's text and its `PTTL` as a kept result, if it is one.
fn kept(text: Option<String>, left_ms: i64) -> Option<(Box<RawValue>, Duration)> {
    let result = RawValue::from_string(text.filter(|_| left_ms > 0)?).ok()?;
    Some((result, Duration::from_millis(left_ms.unsigned_abs())))
}
