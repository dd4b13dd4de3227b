//! Test helpers: task stores on the machine's Redis under a prefix of their own, removed
//! when the guard is dropped.

use switchboard_store::RedisConn;
use switchboard_store::redis;

use crate::RedisTasks;

/// Deletes every key under its prefix when dropped.
pub struct RedisPrefix(pub String);

impl Drop for RedisPrefix {
    fn drop(&mut self) {
        let pattern = format!("{}*", self.0);
        if let Ok(client) = redis::Client::open("redis://127.0.0.1:6379")
            && let Ok(mut c) = client.get_connection()
            && let Ok(keys) = redis::cmd("KEYS")
                .arg(&pattern)
                .query::<Vec<String>>(&mut c)
            && !keys.is_empty()
        {
            let _: redis::RedisResult<()> = redis::cmd("DEL").arg(keys).query(&mut c);
        }
    }
}

/// `n` stores on one fresh prefix (each its own connection, as replicas have).
pub async fn redis_stores(n: usize) -> (RedisPrefix, Vec<RedisTasks>) {
    let prefix = format!("sb-test-tasks-{}:", crate::model::new_id());
    let mut out = Vec::new();
    for _ in 0..n {
        let conn = RedisConn::connect("redis://127.0.0.1:6379", "tasks")
            .await
            .unwrap_or_else(|e| panic!("Redis on 127.0.0.1:6379 is needed (CI starts it): {e}"));
        out.push(RedisTasks::new(conn, &prefix));
    }
    (RedisPrefix(prefix), out)
}
