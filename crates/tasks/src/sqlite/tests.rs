//! The SQLite task store: ownership in listings, status moves only as the protocol allows,
//! one end per task, claims that never hand a task to two workers, leases that a dead
//! worker's replacement takes over, retries at a time, expiry, and a file that outlives the
//! process that wrote it.

use std::collections::HashSet;
use std::sync::Arc;

use super::*;

struct Tmp(std::path::PathBuf);

impl Drop for Tmp {
    fn drop(&mut self) {
        for ext in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", self.0.display()));
        }
    }
}

fn tmp() -> Tmp {
    Tmp(std::env::temp_dir().join(format!(
        "sb-tasks-{}-{}.db",
        std::process::id(),
        crate::model::new_id()
    )))
}

fn task(owner: &str, created: i64) -> Task {
    Task::new(
        owner,
        "reports__build",
        r#"{"name":"reports__build"}"#.into(),
        60_000,
        created,
    )
}

#[tokio::test]
async fn tasks_are_listed_to_their_owner_newest_first_in_pages() {
    let f = tmp();
    let s = SqliteTasks::open(&f.0).unwrap();
    let mut mine = Vec::new();
    for i in 0..5 {
        let t = task("alice", 1000 + i);
        s.create(&t).await.unwrap();
        mine.push(t.id);
    }
    s.create(&task("bob", 5000)).await.unwrap();
    let page1 = s.list("alice", None, 2).await.unwrap();
    let ids: Vec<&str> = page1.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, [mine[4].as_str(), mine[3].as_str()]);
    let page2 = s.list("alice", Some(&mine[3]), 10).await.unwrap();
    assert_eq!(page2.len(), 3);
    assert_eq!(page2[2].id, mine[0]);
    assert_eq!(s.list("carol", None, 10).await.unwrap().len(), 0);
    let got = s.get(&mine[0]).await.unwrap().unwrap();
    assert_eq!((got.owner.as_str(), got.status), ("alice", Status::Working));
    assert!(s.get("nope").await.unwrap().is_none());
}

#[tokio::test]
async fn statuses_move_as_the_protocol_allows_and_a_task_ends_once() {
    let f = tmp();
    let s = SqliteTasks::open(&f.0).unwrap();
    let t = task("alice", 1);
    s.create(&t).await.unwrap();
    assert!(
        s.set_status(&t.id, Status::InputRequired, Some("needs a date"), 2)
            .await
            .unwrap()
    );
    assert!(
        !s.set_status(&t.id, Status::InputRequired, None, 3)
            .await
            .unwrap()
    );
    assert!(s.set_status(&t.id, Status::Working, None, 4).await.unwrap());
    s.set_progress(&t.id, 250.0, Some("half"), 5).await.unwrap();
    let got = s.get(&t.id).await.unwrap().unwrap();
    assert_eq!(
        (got.progress, got.status_message.as_deref()),
        (Some(100.0), Some("half"))
    );
    let done = Ending {
        status: Status::Completed,
        message: None,
        outcome: Some(Outcome::Result(r#"{"content":[]}"#.into())),
    };
    assert!(s.finish(&t.id, &done, 6).await.unwrap());
    // Nothing moves an ended task: not another end (a late cancel), not a status, not progress.
    let cancel = Ending {
        status: Status::Cancelled,
        message: Some("cancelled".into()),
        outcome: None,
    };
    assert!(!s.finish(&t.id, &cancel, 7).await.unwrap());
    assert!(!s.set_status(&t.id, Status::Working, None, 8).await.unwrap());
    s.set_progress(&t.id, 10.0, None, 9).await.unwrap();
    let got = s.get(&t.id).await.unwrap().unwrap();
    assert_eq!(got.status, Status::Completed);
    assert_eq!(got.progress, Some(100.0));
    assert_eq!(got.outcome, done.outcome);
    // Ending statuses only through finish.
    let u = task("alice", 10);
    s.create(&u).await.unwrap();
    assert!(
        !s.set_status(&u.id, Status::Completed, None, 11)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn racing_workers_never_claim_one_task_twice() {
    let f = tmp();
    let s = Arc::new(SqliteTasks::open(&f.0).unwrap());
    // A second connection to the file, as another process would have.
    let other = Arc::new(SqliteTasks::open(&f.0).unwrap());
    let mut all = HashSet::new();
    for i in 0..30 {
        let t = task("alice", i);
        s.create(&t).await.unwrap();
        all.insert(t.id);
    }
    let workers = (0..8).map(|w| {
        let s = if w % 2 == 0 { s.clone() } else { other.clone() };
        tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(t) = s.claim(&format!("w{w}"), 100, 60_000).await.unwrap() {
                got.push(t.id);
            }
            got
        })
    });
    let mut claimed = Vec::new();
    for w in workers {
        claimed.extend(w.await.unwrap());
    }
    assert_eq!(claimed.len(), 30, "every task once");
    assert_eq!(claimed.into_iter().collect::<HashSet<_>>(), all);
}

#[tokio::test]
async fn a_dead_workers_lease_runs_out_and_another_takes_the_task() {
    let f = tmp();
    let s = SqliteTasks::open(&f.0).unwrap();
    let t = task("alice", 0);
    s.create(&t).await.unwrap();
    let first = s.claim("w1", 10, 1_000).await.unwrap().unwrap();
    assert_eq!(
        (first.attempts, first.lease_owner.as_deref()),
        (1, Some("w1"))
    );
    // Held: nobody else gets it, only its holder renews it.
    assert!(s.claim("w2", 500, 1_500).await.unwrap().is_none());
    assert!(s.heartbeat(&t.id, "w1", 2_000).await.unwrap());
    assert!(!s.heartbeat(&t.id, "w2", 9_000).await.unwrap());
    assert!(s.claim("w2", 1_500, 2_500).await.unwrap().is_none());
    // w1 stops renewing (killed): past its lease, w2 takes it over, a second attempt.
    let second = s.claim("w2", 2_001, 3_000).await.unwrap().unwrap();
    assert_eq!(
        (second.attempts, second.lease_owner.as_deref()),
        (2, Some("w2"))
    );
    assert!(!s.heartbeat(&t.id, "w1", 9_000).await.unwrap());
}

#[tokio::test]
async fn a_retry_waits_its_turn_and_ended_tasks_expire() {
    let f = tmp();
    let s = SqliteTasks::open(&f.0).unwrap();
    let t = task("alice", 0);
    s.create(&t).await.unwrap();
    s.claim("w1", 0, 1_000).await.unwrap().unwrap();
    assert!(!s.retry_at(&t.id, "w2", 500, "not mine", 1).await.unwrap());
    assert!(
        s.retry_at(&t.id, "w1", 500, "upstream unavailable; retrying", 1)
            .await
            .unwrap()
    );
    assert!(
        s.claim("w1", 400, 2_000).await.unwrap().is_none(),
        "before its time"
    );
    let again = s.claim("w1", 500, 2_000).await.unwrap().unwrap();
    assert_eq!(again.attempts, 2);
    let failed = Ending {
        status: Status::Failed,
        message: Some("gave up after 2 attempts".into()),
        outcome: Some(Outcome::Error(r#"{"code":-32001,"message":"x"}"#.into())),
    };
    assert!(s.finish(&t.id, &failed, 600).await.unwrap());
    // Kept for its time to live after it ended, then gone; running tasks never expire.
    let running = task("alice", 0);
    s.create(&running).await.unwrap();
    assert_eq!(s.expire(600 + 60_000).await.unwrap(), 0);
    assert_eq!(s.expire(600 + 60_001).await.unwrap(), 1);
    assert!(s.get(&t.id).await.unwrap().is_none());
    assert!(s.get(&running.id).await.unwrap().is_some());
}

#[tokio::test]
async fn tasks_outlive_the_store_that_wrote_them() {
    let f = tmp();
    let t = task("alice", 0);
    {
        let s = SqliteTasks::open(&f.0).unwrap();
        s.create(&t).await.unwrap();
        s.claim("w1", 0, 1_000).await.unwrap().unwrap();
    }
    let s = SqliteTasks::open(&f.0).unwrap();
    let got = s.get(&t.id).await.unwrap().unwrap();
    assert_eq!((got.status, got.attempts), (Status::Working, 1));
    // The process that held it is gone: once its lease runs out the task runs again.
    assert!(s.claim("w9", 1_001, 5_000).await.unwrap().is_some());
    let e = match SqliteTasks::open(std::path::Path::new("/nonexistent/dir/tasks.db")) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("opened a store in a missing directory"),
    };
    assert!(e.contains("/nonexistent/dir/tasks.db"), "{e}");
}

#[tokio::test]
async fn a_task_asks_its_client_for_input_and_gets_answers() {
    let f = tmp();
    let s = SqliteTasks::open(&f.0).unwrap();
    crate::test_support::input_round_trip(&s).await;
}

#[tokio::test]
async fn a_checkpoint_is_kept_and_read_back() {
    let f = tmp();
    let s = SqliteTasks::open(&f.0).unwrap();
    let other = SqliteTasks::open(&f.0).unwrap();
    crate::test_support::checkpoint_round_trip(&s, &other).await;
}

#[tokio::test]
async fn tasks_are_listed_across_owners() {
    let f = tmp();
    let s = SqliteTasks::open(&f.0).unwrap();
    crate::test_support::recent_across_owners(&s).await;
}
