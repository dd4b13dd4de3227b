//! Tasks in Redis, shared by every replica that reaches it: each task one JSON value
//! (`<prefix>task:<id>`), the owner's tasks in a sorted set by creation time, runnable tasks in
//! a sorted set by when they may run, claimed ones in another by when their lease runs out.
//! Every operation that reads and then writes is one Lua script (atomic on the server);
//! ended tasks expire with Redis's own TTL.

use futures_util::future::BoxFuture;
use switchboard_store::RedisConn;
use switchboard_store::redis::{self, AsyncCommands};

use crate::model::{Status, Task};
use crate::store::{Ending, Result, TaskStore, TaskStoreError};

/// The Redis task store.
#[derive(Clone)]
pub struct RedisTasks {
    conn: RedisConn,
    prefix: String,
}

fn err(e: impl std::fmt::Display) -> TaskStoreError {
    TaskStoreError {
        store: "redis",
        reason: e.to_string(),
    }
}

/// KEYS: runnable, leased. ARGV: worker, now, lease_until, task key prefix. Claims the first
/// due task — runnable, or leased by a worker whose lease ran out — in one step on the server;
/// returns its JSON with the claim, or nil.
const CLAIM: &str = r#"
local now = tonumber(ARGV[2])
for _, queue in ipairs({KEYS[1], KEYS[2]}) do
  local ids = redis.call('ZRANGEBYSCORE', queue, '-inf', now, 'LIMIT', 0, 64)
  for _, id in ipairs(ids) do
    local key = ARGV[4] .. id
    local raw = redis.call('GET', key)
    if not raw then
      redis.call('ZREM', KEYS[1], id); redis.call('ZREM', KEYS[2], id)
    else
      local t = cjson.decode(raw)
      local free = t.lease_until_ms == cjson.null or t.lease_until_ms == nil or t.lease_until_ms < now
      local live = t.status == 'working' or t.status == 'input_required'
      if live and t.next_run_ms <= now and free then
        t.status = 'working'
        t.lease_owner = ARGV[1]
        t.lease_until_ms = tonumber(ARGV[3])
        t.attempts = t.attempts + 1
        t.updated_ms = now
        redis.call('ZREM', KEYS[1], id)
        redis.call('ZADD', KEYS[2], ARGV[3], id)
        local out = cjson.encode(t)
        redis.call('SET', key, out)
        return out
      elseif not live then
        redis.call('ZREM', KEYS[1], id); redis.call('ZREM', KEYS[2], id)
      end
    end
  end
end
return false
"#;

/// KEYS: task, runnable, leased. ARGV: JSON of the fields to set, allowed statuses (comma list),
/// expected lease owner or '', ttl for an ended task or '' , id, next_run or '' (re-queue).
const UPDATE: &str = r#"
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local t = cjson.decode(raw)
local allowed = false
for s in string.gmatch(ARGV[2], '[^,]+') do if t.status == s then allowed = true end end
if not allowed then return 0 end
if ARGV[3] ~= '' and t.lease_owner ~= ARGV[3] then return 0 end
for k, v in pairs(cjson.decode(ARGV[1])) do t[k] = v end
redis.call('SET', KEYS[1], cjson.encode(t))
if ARGV[4] ~= '' then
  redis.call('ZREM', KEYS[2], ARGV[5]); redis.call('ZREM', KEYS[3], ARGV[5])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
elseif ARGV[6] ~= '' then
  redis.call('ZREM', KEYS[3], ARGV[5]); redis.call('ZADD', KEYS[2], ARGV[6], ARGV[5])
elseif t.lease_until_ms ~= cjson.null and t.lease_until_ms ~= nil then
  redis.call('ZADD', KEYS[3], t.lease_until_ms, ARGV[5])
end
return 1
"#;

/// KEYS: task, its input hash, its input counter. ARGV: key, request, now. Keeps the request
/// (numbered, to list them in order) and moves a live task to `input_required`; 0 when it has
/// ended.
const ASK: &str = r#"
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local t = cjson.decode(raw)
if t.status ~= 'working' and t.status ~= 'input_required' then return 0 end
t.status = 'input_required'
t.updated_ms = tonumber(ARGV[3])
redis.call('SET', KEYS[1], cjson.encode(t))
local seq = redis.call('INCR', KEYS[3])
redis.call('HSET', KEYS[2], ARGV[1], cjson.encode({seq = seq, request = ARGV[2]}))
redis.call('PEXPIRE', KEYS[2], 604800000)
redis.call('PEXPIRE', KEYS[3], 604800000)
return 1
"#;

/// KEYS: task, its input hash. ARGV: key, response, now. Answers an outstanding request; the
/// task is `working` again once none is outstanding. 0 when the key is not outstanding.
const ANSWER: &str = r#"
local e = redis.call('HGET', KEYS[2], ARGV[1])
if not e then return 0 end
local x = cjson.decode(e)
if x.response ~= nil and x.response ~= cjson.null then return 0 end
x.response = ARGV[2]
redis.call('HSET', KEYS[2], ARGV[1], cjson.encode(x))
for _, v in ipairs(redis.call('HVALS', KEYS[2])) do
  local y = cjson.decode(v)
  if y.response == nil or y.response == cjson.null then return 1 end
end
local raw = redis.call('GET', KEYS[1])
if raw then
  local t = cjson.decode(raw)
  if t.status == 'input_required' then
    t.status = 'working'
    t.updated_ms = tonumber(ARGV[3])
    redis.call('SET', KEYS[1], cjson.encode(t))
  end
end
return 1
"#;

/// KEYS: input hash. ARGV: key. The answer to the key, forgotten with its request; nil when
/// not answered yet.
const TAKE: &str = r#"
local e = redis.call('HGET', KEYS[1], ARGV[1])
if not e then return false end
local x = cjson.decode(e)
if x.response == nil or x.response == cjson.null then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
return x.response
"#;

/// KEYS: task, its input hash, its input counter. ARGV: now. Forgets every request;
/// `input_required` → `working`.
const CLEAR: &str = r#"
redis.call('DEL', KEYS[2], KEYS[3])
local raw = redis.call('GET', KEYS[1])
if raw then
  local t = cjson.decode(raw)
  if t.status == 'input_required' then
    t.status = 'working'
    t.updated_ms = tonumber(ARGV[1])
    redis.call('SET', KEYS[1], cjson.encode(t))
  end
end
return 1
"#;

/// One entry of a task's input hash.
#[derive(serde::Deserialize)]
struct InputEntry {
    seq: i64,
    request: String,
    #[serde(default)]
    response: Option<String>,
}

impl RedisTasks {
    /// Tasks under `prefix` (e.g. `switchboard:tasks:`) on `conn`.
    pub fn new(conn: RedisConn, prefix: &str) -> Self {
        Self {
            conn,
            prefix: prefix.to_owned(),
        }
    }

    fn key(&self, id: &str) -> String {
        format!("{}task:{id}", self.prefix)
    }
    fn owner_key(&self, owner: &str) -> String {
        format!("{}owner:{owner}", self.prefix)
    }
    fn input_key(&self, id: &str) -> String {
        format!("{}input:{id}", self.prefix)
    }
    fn checkpoint_key(&self, id: &str) -> String {
        format!("{}checkpoint:{id}", self.prefix)
    }
    /// Every task's id by creation time (the admin's view across owners).
    fn all_key(&self) -> String {
        format!("{}all", self.prefix)
    }
    fn runnable(&self) -> String {
        format!("{}runnable", self.prefix)
    }
    fn leased(&self) -> String {
        format!("{}leased", self.prefix)
    }

    /// Apply `fields` to task `id` if its status is one of `allowed` (and, with `owner`, it
    /// holds the lease). `ttl_ms`: the task ended (expire it, out of the queues); `requeue`:
    /// runnable again at that time.
    async fn update(
        &self,
        id: &str,
        fields: serde_json::Value,
        allowed: &[Status],
        owner: Option<&str>,
        ttl_ms: Option<i64>,
        requeue: Option<i64>,
    ) -> Result<bool> {
        let allowed: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
        let mut conn = self.conn.manager();
        let n: i64 = redis::Script::new(UPDATE)
            .key(self.key(id))
            .key(self.runnable())
            .key(self.leased())
            .arg(fields.to_string())
            .arg(allowed.join(","))
            .arg(owner.unwrap_or(""))
            .arg(ttl_ms.map(|t| t.max(1).to_string()).unwrap_or_default())
            .arg(id)
            .arg(requeue.map(|t| t.to_string()).unwrap_or_default())
            .invoke_async(&mut conn)
            .await
            .map_err(err)?;
        Ok(n == 1)
    }

    /// A page of the index `key` (a sorted set of task ids by creation time), newest first,
    /// after task `after`; ids whose task has expired are dropped from the index as met.
    async fn page(&self, key: String, after: Option<&str>, limit: usize) -> Result<Vec<Task>> {
        let mut conn = self.conn.manager();
        // Newest first; the cursor is the last task of the previous page.
        let start = match after {
            Some(a) => match conn
                .zrevrank::<_, _, Option<isize>>(&key, a)
                .await
                .map_err(err)?
            {
                Some(rank) => rank + 1,
                None => return Ok(Vec::new()),
            },
            None => 0,
        };
        let mut out = Vec::new();
        let mut at = start;
        while out.len() < limit {
            let ids: Vec<String> = conn
                .zrevrange(&key, at, at + isize::try_from(limit).unwrap_or(100) - 1)
                .await
                .map_err(err)?;
            if ids.is_empty() {
                break;
            }
            at += isize::try_from(ids.len()).unwrap_or(0);
            for id in ids {
                match self.get(&id).await? {
                    Some(t) if out.len() < limit => out.push(t),
                    Some(_) => break,
                    // Expired: forget it in the index too.
                    None => {
                        let _: () = conn.zrem(&key, &id).await.map_err(err)?;
                        at -= 1;
                    }
                }
            }
        }
        Ok(out)
    }
}

/// How long a checkpoint outlives the run's last step (ms).
const CHECKPOINT_TTL_MS: u64 = 24 * 3600 * 1000;

impl TaskStore for RedisTasks {
    fn create<'a>(&'a self, task: &'a Task) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let json = serde_json::to_string(task).map_err(err)?;
            let mut conn = self.conn.manager();
            redis::pipe()
                .atomic()
                .set(self.key(&task.id), json)
                .zadd(self.owner_key(&task.owner), &task.id, task.created_ms)
                .zadd(self.all_key(), &task.id, task.created_ms)
                .zadd(self.runnable(), &task.id, task.next_run_ms)
                .query_async::<()>(&mut conn)
                .await
                .map_err(err)
        })
    }

    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Task>>> {
        Box::pin(async move {
            let mut conn = self.conn.manager();
            let raw: Option<String> = conn.get(self.key(id)).await.map_err(err)?;
            raw.map(|r| serde_json::from_str(&r).map_err(err))
                .transpose()
        })
    }

    fn list<'a>(
        &'a self,
        owner: &'a str,
        after: Option<&'a str>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<Task>>> {
        Box::pin(async move { self.page(self.owner_key(owner), after, limit).await })
    }

    fn list_recent<'a>(
        &'a self,
        after: Option<&'a str>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<Task>>> {
        Box::pin(async move { self.page(self.all_key(), after, limit).await })
    }

    fn set_status<'a>(
        &'a self,
        id: &'a str,
        to: Status,
        message: Option<&'a str>,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            if to.is_terminal() {
                return Ok(false);
            }
            let from: Vec<Status> = Status::ALL
                .into_iter()
                .filter(|s| s.can_become(to))
                .collect();
            let fields =
                serde_json::json!({"status": to, "status_message": message, "updated_ms": now_ms});
            self.update(id, fields, &from, None, None, None).await
        })
    }

    fn set_progress<'a>(
        &'a self,
        id: &'a str,
        progress: f64,
        message: Option<&'a str>,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let mut fields =
                serde_json::json!({"progress": progress.clamp(0.0, 100.0), "updated_ms": now_ms});
            if let Some(m) = message {
                fields["status_message"] = m.into();
            }
            self.update(
                id,
                fields,
                &[Status::Working, Status::InputRequired],
                None,
                None,
                None,
            )
            .await
            .map(|_| ())
        })
    }

    fn finish<'a>(
        &'a self,
        id: &'a str,
        end: &'a Ending,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            if !end.status.is_terminal() {
                return Ok(false);
            }
            let Some(task) = self.get(id).await? else {
                return Ok(false);
            };
            let fields = serde_json::json!({
                "status": end.status, "status_message": end.message, "outcome": end.outcome,
                "updated_ms": now_ms, "lease_owner": null, "lease_until_ms": null,
            });
            self.update(
                id,
                fields,
                &[Status::Working, Status::InputRequired],
                None,
                Some(task.ttl_ms),
                None,
            )
            .await
        })
    }

    fn claim<'a>(
        &'a self,
        worker: &'a str,
        now_ms: i64,
        lease_until_ms: i64,
    ) -> BoxFuture<'a, Result<Option<Task>>> {
        Box::pin(async move {
            let mut conn = self.conn.manager();
            let got: Option<String> = redis::Script::new(CLAIM)
                .key(self.runnable())
                .key(self.leased())
                .arg(worker)
                .arg(now_ms)
                .arg(lease_until_ms)
                .arg(format!("{}task:", self.prefix))
                .invoke_async(&mut conn)
                .await
                .map_err(err)?;
            got.map(|raw| serde_json::from_str(&raw).map_err(err))
                .transpose()
        })
    }

    fn heartbeat<'a>(
        &'a self,
        id: &'a str,
        worker: &'a str,
        lease_until_ms: i64,
    ) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let fields = serde_json::json!({"lease_until_ms": lease_until_ms});
            self.update(
                id,
                fields,
                &[Status::Working, Status::InputRequired],
                Some(worker),
                None,
                None,
            )
            .await
        })
    }

    fn retry_at<'a>(
        &'a self,
        id: &'a str,
        worker: &'a str,
        next_run_ms: i64,
        message: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let fields = serde_json::json!({
                "lease_owner": null, "lease_until_ms": null, "next_run_ms": next_run_ms,
                "status_message": message, "updated_ms": now_ms,
            });
            self.update(
                id,
                fields,
                &[Status::Working],
                Some(worker),
                None,
                Some(next_run_ms),
            )
            .await
        })
    }

    fn ask<'a>(
        &'a self,
        id: &'a str,
        key: &'a str,
        request: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let mut conn = self.conn.manager();
            let n: i64 = redis::Script::new(ASK)
                .key(self.key(id))
                .key(self.input_key(id))
                .key(format!("{}inputseq:{id}", self.prefix))
                .arg(key)
                .arg(request)
                .arg(now_ms)
                .invoke_async(&mut conn)
                .await
                .map_err(err)?;
            Ok(n == 1)
        })
    }

    fn save_checkpoint<'a>(
        &'a self,
        id: &'a str,
        state: &'a str,
        _now_ms: i64,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            // Kept while the run may need it: a day past the last step, whatever the task's
            // own expiry (an ended task's checkpoint is never read again).
            let mut conn = self.conn.manager();
            let _: () = conn
                .pset_ex(self.checkpoint_key(id), state, CHECKPOINT_TTL_MS)
                .await
                .map_err(err)?;
            Ok(())
        })
    }

    fn checkpoint<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<String>>> {
        Box::pin(async move {
            let mut conn = self.conn.manager();
            conn.get(self.checkpoint_key(id)).await.map_err(err)
        })
    }

    fn pending<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Vec<(String, String)>>> {
        Box::pin(async move {
            let mut conn = self.conn.manager();
            let all: std::collections::HashMap<String, String> =
                conn.hgetall(self.input_key(id)).await.map_err(err)?;
            let mut open: Vec<(i64, String, String)> = all
                .into_iter()
                .filter_map(|(k, v)| {
                    let e: InputEntry = serde_json::from_str(&v).ok()?;
                    e.response.is_none().then_some((e.seq, k, e.request))
                })
                .collect();
            open.sort_by_key(|e| e.0);
            Ok(open.into_iter().map(|(_, k, r)| (k, r)).collect())
        })
    }

    fn answer<'a>(
        &'a self,
        id: &'a str,
        key: &'a str,
        response: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let mut conn = self.conn.manager();
            let n: i64 = redis::Script::new(ANSWER)
                .key(self.key(id))
                .key(self.input_key(id))
                .arg(key)
                .arg(response)
                .arg(now_ms)
                .invoke_async(&mut conn)
                .await
                .map_err(err)?;
            Ok(n == 1)
        })
    }

    fn take_answer<'a>(
        &'a self,
        id: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>>> {
        Box::pin(async move {
            let mut conn = self.conn.manager();
            redis::Script::new(TAKE)
                .key(self.input_key(id))
                .arg(key)
                .invoke_async(&mut conn)
                .await
                .map_err(err)
        })
    }

    fn clear_input<'a>(&'a self, id: &'a str, now_ms: i64) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let mut conn = self.conn.manager();
            let _: i64 = redis::Script::new(CLEAR)
                .key(self.key(id))
                .key(self.input_key(id))
                .key(format!("{}inputseq:{id}", self.prefix))
                .arg(now_ms)
                .invoke_async(&mut conn)
                .await
                .map_err(err)?;
            Ok(())
        })
    }

    fn expire<'a>(&'a self, _now_ms: i64) -> BoxFuture<'a, Result<usize>> {
        // Ended tasks carry Redis's own expiry; indexes are tidied as they are read.
        Box::pin(async { Ok(0) })
    }
}

#[cfg(test)]
mod tests;
