//! The Redis task store against the machine's Redis (127.0.0.1:6379; CI starts it): the same
//! guarantees as the SQLite store, across two connections standing for two replicas.

use std::collections::HashSet;
use std::sync::Arc;

use super::*;
use crate::model::{Outcome, now_ms};
use crate::store::Ending;

use crate::test_support::redis_stores as stores;

fn task(owner: &str, created: i64, ttl_ms: i64) -> Task {
    Task::new(owner, "reports__build", "{}".into(), ttl_ms, created)
}

#[tokio::test]
async fn owners_see_their_own_tasks_in_pages_and_statuses_move_as_allowed() {
    let (_p, s) = stores(1).await;
    let s = &s[0];
    let mut mine = Vec::new();
    for i in 0..5 {
        let t = task("alice", 1000 + i, 60_000);
        s.create(&t).await.unwrap();
        mine.push(t.id);
    }
    s.create(&task("bob", 9000, 60_000)).await.unwrap();
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
    s.set_progress(id, 42.0, Some("building"), 5).await.unwrap();
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
        (Status::Completed, Some(42.0), done.outcome)
    );
}

#[tokio::test]
async fn two_replicas_never_claim_one_task_twice() {
    let (_p, s) = stores(2).await;
    let s: Vec<Arc<RedisTasks>> = s.into_iter().map(Arc::new).collect();
    let mut all = HashSet::new();
    let now = now_ms();
    for _ in 0..30 {
        let t = task("alice", now, 60_000);
        s[0].create(&t).await.unwrap();
        all.insert(t.id);
    }
    let workers = (0..8).map(|w| {
        let s = s[w % 2].clone();
        tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(t) = s.claim(&format!("w{w}"), now, now + 60_000).await.unwrap() {
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
    assert_eq!(claimed.into_iter().collect::<HashSet<_>>(), all);
}

#[tokio::test]
async fn leases_lapse_to_another_replica_retries_wait_and_ended_tasks_expire() {
    let (_p, s) = stores(2).await;
    let (a, b) = (&s[0], &s[1]);
    let t = task("alice", 0, 300);
    a.create(&t).await.unwrap();
    let first = a.claim("a#0", 10, 1_000).await.unwrap().unwrap();
    assert_eq!(
        (first.attempts, first.lease_owner.as_deref()),
        (1, Some("a#0"))
    );
    assert!(b.claim("b#0", 500, 1_500).await.unwrap().is_none());
    assert!(a.heartbeat(&t.id, "a#0", 2_000).await.unwrap());
    assert!(!b.heartbeat(&t.id, "b#0", 9_000).await.unwrap());
    // Replica a dies: past its lease, b takes the task.
    let second = b.claim("b#0", 2_001, 3_000).await.unwrap().unwrap();
    assert_eq!(
        (second.attempts, second.lease_owner.as_deref()),
        (2, Some("b#0"))
    );
    assert!(!a.heartbeat(&t.id, "a#0", 9_000).await.unwrap());
    // A retry is not claimed before its time.
    assert!(
        b.retry_at(&t.id, "b#0", 5_000, "retrying", 2_100)
            .await
            .unwrap()
    );
    assert!(a.claim("a#1", 4_000, 9_000).await.unwrap().is_none());
    let third = a.claim("a#1", 5_000, 9_000).await.unwrap().unwrap();
    assert_eq!(third.attempts, 3);
    let failed = Ending {
        status: Status::Failed,
        message: Some("gave up".into()),
        outcome: None,
    };
    assert!(a.finish(&t.id, &failed, 5_100).await.unwrap());
    assert!(
        a.claim("a#1", 99_999_999_999, 99_999_999_999)
            .await
            .unwrap()
            .is_none()
    );
    // Kept for its time to live (300 ms here), then gone.
    assert!(b.get(&t.id).await.unwrap().is_some());
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert!(b.get(&t.id).await.unwrap().is_none());
    assert!(b.list("alice", None, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_task_asks_its_client_for_input_and_gets_answers() {
    let (_p, s) = stores(1).await;
    crate::test_support::input_round_trip(&s[0]).await;
}

#[tokio::test]
async fn a_checkpoint_is_kept_and_read_back() {
    let (_p, s) = stores(2).await;
    crate::test_support::checkpoint_round_trip(&s[0], &s[1]).await;
}

#[tokio::test]
async fn tasks_are_listed_across_owners() {
    let (_p, s) = stores(1).await;
    crate::test_support::recent_across_owners(&s[0]).await;
}
