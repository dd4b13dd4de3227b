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

/// The input a running task asks of its client, the same in every store: asking makes the task
/// `input_required` with its requests listed oldest first; an answer to a key not outstanding
/// is refused; answering every key makes it `working` again while the answers wait for the
/// worker; a dead worker's `input_required` task is claimed again as `working`; an ended task
/// takes no more asks.
pub async fn input_round_trip(store: &dyn crate::TaskStore) {
    use crate::model::{Status, Task, now_ms};
    let now = now_ms();
    let t = Task::new("alice", "tool", "{}".into(), 60_000, now);
    store.create(&t).await.unwrap();
    let claimed = store.claim("w1", now, now + 1_000).await.unwrap().unwrap();
    assert_eq!(claimed.id, t.id);
    assert!(
        store
            .ask(&t.id, "k1", r#"{"method":"elicitation/create"}"#, now)
            .await
            .unwrap()
    );
    assert!(
        store
            .ask(&t.id, "k2", r#"{"method":"roots/list"}"#, now)
            .await
            .unwrap()
    );
    let got = store.get(&t.id).await.unwrap().unwrap();
    assert_eq!(got.status, Status::InputRequired);
    let pending = store.pending(&t.id).await.unwrap();
    let keys: Vec<&str> = pending.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["k1", "k2"]);
    assert_eq!(pending[0].1, r#"{"method":"elicitation/create"}"#);

    assert!(!store.answer(&t.id, "nope", "{}", now).await.unwrap());
    assert_eq!(store.take_answer(&t.id, "k1").await.unwrap(), None);
    assert!(
        store
            .answer(&t.id, "k1", r#"{"result":1}"#, now)
            .await
            .unwrap()
    );
    assert!(
        !store
            .answer(&t.id, "k1", r#"{"result":2}"#, now)
            .await
            .unwrap(),
        "answered twice"
    );
    // One key still outstanding: still input_required, only it listed.
    let got = store.get(&t.id).await.unwrap().unwrap();
    assert_eq!(got.status, Status::InputRequired);
    let keys: Vec<String> = store
        .pending(&t.id)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.0)
        .collect();
    assert_eq!(keys, ["k2"]);
    assert!(
        store
            .answer(&t.id, "k2", r#"{"result":3}"#, now)
            .await
            .unwrap()
    );
    assert_eq!(
        store.get(&t.id).await.unwrap().unwrap().status,
        Status::Working
    );
    assert!(store.pending(&t.id).await.unwrap().is_empty());
    assert_eq!(
        store.take_answer(&t.id, "k1").await.unwrap().as_deref(),
        Some(r#"{"result":1}"#)
    );
    assert_eq!(
        store.take_answer(&t.id, "k1").await.unwrap(),
        None,
        "taken once"
    );

    // The worker dies while the task waits for input: another claims it, working again.
    assert!(store.ask(&t.id, "k3", "{}", now).await.unwrap());
    assert_eq!(
        store.claim("w2", now + 500, now + 1_500).await.unwrap(),
        None,
        "lease held"
    );
    let again = store
        .claim("w2", now + 2_000, now + 3_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (again.id.as_str(), again.status),
        (t.id.as_str(), Status::Working)
    );
    store.clear_input(&t.id, now).await.unwrap();
    assert!(store.pending(&t.id).await.unwrap().is_empty());

    let end = crate::Ending {
        status: Status::Cancelled,
        message: None,
        outcome: None,
    };
    assert!(store.finish(&t.id, &end, now).await.unwrap());
    assert!(
        !store.ask(&t.id, "k4", "{}", now).await.unwrap(),
        "ended tasks ask nothing"
    );
    assert_eq!(
        store.get(&t.id).await.unwrap().unwrap().status,
        Status::Cancelled
    );
}

/// Checkpoints, the same in every store: none at first; the last one saved is read back (also
/// by another handle on the store); a saved one replaces the one before.
pub async fn checkpoint_round_trip(store: &dyn crate::TaskStore, other: &dyn crate::TaskStore) {
    use crate::model::{Task, now_ms};
    let now = now_ms();
    let t = Task::new("alice", "tool", "{}".into(), 60_000, now);
    store.create(&t).await.unwrap();
    assert_eq!(store.checkpoint(&t.id).await.unwrap(), None);
    store
        .save_checkpoint(&t.id, r#"{"done":["a"]}"#, now)
        .await
        .unwrap();
    store
        .save_checkpoint(&t.id, r#"{"done":["a","b"]}"#, now + 1)
        .await
        .unwrap();
    assert_eq!(
        other.checkpoint(&t.id).await.unwrap().as_deref(),
        Some(r#"{"done":["a","b"]}"#)
    );
    assert_eq!(store.checkpoint("nonesuch").await.unwrap(), None);
}

/// Every owner's tasks, the same in every store: newest first across owners, paged with the
/// last id of the page before, an unknown cursor giving an empty page or the newest (never
/// an error).
pub async fn recent_across_owners(store: &dyn crate::TaskStore) {
    use crate::model::{Task, now_ms};
    let now = now_ms();
    let mut made = Vec::new();
    for (i, owner) in ["alice", "bob", "alice", "carol"].iter().enumerate() {
        let t = Task::new(owner, "tool", "{}".into(), 60_000, now + i as i64);
        store.create(&t).await.unwrap();
        made.push(t);
    }
    let ids = |v: &[Task]| v.iter().map(|t| t.id.clone()).collect::<Vec<_>>();
    let newest_first: Vec<String> = made.iter().rev().map(|t| t.id.clone()).collect();
    let all = store.list_recent(None, 10).await.unwrap();
    assert_eq!(ids(&all), newest_first, "every owner's tasks, newest first");
    let first = store.list_recent(None, 3).await.unwrap();
    assert_eq!(ids(&first), newest_first[..3]);
    let rest = store.list_recent(Some(&first[2].id), 3).await.unwrap();
    assert_eq!(ids(&rest), newest_first[3..]);
    // An owner's own listing is unchanged by the global index.
    assert_eq!(store.list("alice", None, 10).await.unwrap().len(), 2);
}
