//! The PostgreSQL task store against the machine's PostgreSQL (127.0.0.1:5432, database
//! `test`; CI starts it), each test in a schema of its own: the same guarantees as the other
//! stores, across two connections standing for two replicas.

use std::collections::HashSet;
use std::sync::Arc;

use super::*;
use crate::model::now_ms;

const SERVER: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A schema for one test, dropped at the end.
struct Schema {
    name: String,
}

impl Schema {
    async fn new() -> Self {
        let name = format!("sb_test_{}", crate::model::new_id());
        let (c, conn) = tokio_postgres::connect(SERVER, NoTls)
            .await
            .unwrap_or_else(|e| {
                panic!("PostgreSQL on 127.0.0.1:5432 is needed (CI starts it): {e}")
            });
        tokio::spawn(conn);
        c.batch_execute(&format!("CREATE SCHEMA {name}"))
            .await
            .unwrap();
        Self { name }
    }

    fn url(&self) -> String {
        format!("{SERVER}?options=-csearch_path%3D{}", self.name)
    }

    async fn drop_it(self) {
        if let Ok((c, conn)) = tokio_postgres::connect(SERVER, NoTls).await {
            tokio::spawn(conn);
            let _ = c
                .batch_execute(&format!("DROP SCHEMA {} CASCADE", self.name))
                .await;
        }
    }
}

fn new_task(owner: &str, created: i64) -> Task {
    Task::new(owner, "reports__build", "{}".into(), 60_000, created)
}

#[tokio::test]
async fn owners_pages_statuses_and_one_end() {
    let schema = Schema::new().await;
    let s = PgTasks::connect(&schema.url()).await.unwrap();
    let mut mine = Vec::new();
    for i in 0..5 {
        let t = new_task("alice", 1000 + i);
        s.create(&t).await.unwrap();
        mine.push(t.id);
    }
    s.create(&new_task("bob", 9000)).await.unwrap();
    let ids: Vec<String> = s
        .list("alice", None, 2)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(ids, [mine[4].clone(), mine[3].clone()]);
    let rest = s.list("alice", Some(&mine[3]), 10).await.unwrap();
    assert_eq!(
        rest.iter().map(|t| &t.id).collect::<Vec<_>>(),
        [&mine[2], &mine[1], &mine[0]]
    );
    assert!(s.list("carol", None, 10).await.unwrap().is_empty());
    let id = &mine[0];
    assert!(
        s.set_status(id, Status::InputRequired, Some("needs a date"), 2)
            .await
            .unwrap()
    );
    assert!(
        !s.set_status(id, Status::InputRequired, None, 3)
            .await
            .unwrap()
    );
    assert!(s.set_status(id, Status::Working, None, 4).await.unwrap());
    s.set_progress(id, 142.0, Some("building"), 5)
        .await
        .unwrap();
    let done = Ending {
        status: Status::Completed,
        message: None,
        outcome: Some(Outcome::Result("{\"ok\":true}".into())),
    };
    assert!(s.finish(id, &done, 6).await.unwrap());
    let late = Ending {
        status: Status::Cancelled,
        message: None,
        outcome: None,
    };
    assert!(!s.finish(id, &late, 7).await.unwrap());
    let t = s.get(id).await.unwrap().unwrap();
    assert_eq!(
        (t.status, t.progress, t.outcome),
        (Status::Completed, Some(100.0), done.outcome)
    );
    schema.drop_it().await;
}

#[tokio::test]
async fn two_replicas_never_claim_one_task_twice_and_a_dead_ones_lease_lapses() {
    let schema = Schema::new().await;
    let a = Arc::new(PgTasks::connect(&schema.url()).await.unwrap());
    let b = Arc::new(PgTasks::connect(&schema.url()).await.unwrap());
    let now = now_ms();
    let mut all = HashSet::new();
    for _ in 0..30 {
        let t = new_task("alice", now);
        a.create(&t).await.unwrap();
        all.insert(t.id);
    }
    let workers = (0..8).map(|w| {
        let s = if w % 2 == 0 { a.clone() } else { b.clone() };
        tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(t) = s.claim(&format!("w{w}"), now, now + 1_000).await.unwrap() {
                got.push(t.id);
            }
            got
        })
    });
    let mut claimed = Vec::new();
    for w in workers {
        claimed.extend(w.await.unwrap());
    }
    assert_eq!(claimed.len(), 30);
    assert_eq!(claimed.iter().cloned().collect::<HashSet<_>>(), all);
    // Every lease lapses unrenewed: the other replica takes the tasks over, attempt 2.
    let t = b
        .claim("b#9", now + 1_001, now + 5_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t.attempts, 2);
    assert!(b.heartbeat(&t.id, "b#9", now + 9_000).await.unwrap());
    assert!(!a.heartbeat(&t.id, "w0", now + 9_000).await.unwrap());
    // A retry waits its turn; an ended task expires after its time to live.
    assert!(
        b.retry_at(&t.id, "b#9", now + 50_000, "retrying", now + 1_002)
            .await
            .unwrap()
    );
    let again = a.claim("a#1", now + 49_999, now + 99_999).await.unwrap();
    assert!(again.is_none_or(|x| x.id != t.id));
    let end = Ending {
        status: Status::Failed,
        message: Some("gave up".into()),
        outcome: None,
    };
    assert!(a.finish(&t.id, &end, now + 2_000).await.unwrap());
    assert_eq!(a.expire(now + 2_000 + 60_000).await.unwrap(), 0);
    assert_eq!(a.expire(now + 2_000 + 60_001).await.unwrap(), 1);
    assert!(a.get(&t.id).await.unwrap().is_none());
    schema.drop_it().await;
}

#[tokio::test]
async fn an_unreachable_server_is_named() {
    let e = match PgTasks::connect("postgres://postgres@127.0.0.1:1/test").await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("connected to nothing"),
    };
    assert!(e.contains("postgres") && e.contains("127.0.0.1:1"), "{e}");
}

#[tokio::test]
async fn a_task_asks_its_client_for_input_and_gets_answers() {
    let schema = Schema::new().await;
    let s = PgTasks::connect(&schema.url()).await.unwrap();
    crate::test_support::input_round_trip(&s).await;
    schema.drop_it().await;
}

#[tokio::test]
async fn a_checkpoint_is_kept_and_read_back() {
    let schema = Schema::new().await;
    let s = PgTasks::connect(&schema.url()).await.unwrap();
    let other = PgTasks::connect(&schema.url()).await.unwrap();
    crate::test_support::checkpoint_round_trip(&s, &other).await;
    schema.drop_it().await;
}

#[tokio::test]
async fn tasks_are_listed_across_owners() {
    let schema = Schema::new().await;
    let s = PgTasks::connect(&schema.url()).await.unwrap();
    crate::test_support::recent_across_owners(&s).await;
    schema.drop_it().await;
}
