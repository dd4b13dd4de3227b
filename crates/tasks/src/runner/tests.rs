//! The workers against a real SQLite store, with executors standing in for tool calls.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use super::*;
use crate::SqliteTasks;

struct Tmp(std::path::PathBuf);

impl Drop for Tmp {
    fn drop(&mut self) {
        for ext in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", self.0.display()));
        }
    }
}

fn store() -> (Tmp, Arc<SqliteTasks>) {
    let f = Tmp(std::env::temp_dir().join(format!(
        "sb-runner-{}-{}.db",
        std::process::id(),
        crate::model::new_id()
    )));
    let s = Arc::new(SqliteTasks::open(&f.0).unwrap());
    (f, s)
}

fn config(name: &str) -> RunnerConfig {
    RunnerConfig {
        name: name.into(),
        workers: 2,
        retry: RetryPolicy {
            attempts: 3,
            initial_delay: Duration::from_millis(30),
            backoff: 2.0,
            max_delay: Duration::from_millis(100),
        },
        lease: Duration::from_millis(300),
        poll: Duration::from_millis(20),
    }
}

async fn created(s: &SqliteTasks) -> Task {
    let t = Task::new("alice", "reports__build", "{}".into(), 60_000, now_ms());
    s.create(&t).await.unwrap();
    t
}

/// The task once it has ended (bounded wait).
async fn ended(s: &SqliteTasks, id: &str) -> Task {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let t = s.get(id).await.unwrap().unwrap();
        if t.status.is_terminal() {
            return t;
        }
        assert!(Instant::now() < deadline, "task did not end: {t:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn executor(
    f: impl Fn(u32, CancellationToken) -> BoxFuture<'static, Ran> + Send + Sync + 'static,
) -> Executor {
    let calls = Arc::new(AtomicU32::new(0));
    Arc::new(move |_task, cancel| f(calls.fetch_add(1, Ordering::SeqCst) + 1, cancel))
}

#[test]
fn backoff_grows_to_its_ceiling() {
    let p = config("x").retry;
    assert_eq!(p.delay(2), Duration::from_millis(30));
    assert_eq!(p.delay(3), Duration::from_millis(60));
    assert_eq!(p.delay(4), Duration::from_millis(100));
    assert_eq!(p.delay(40), Duration::from_millis(100));
}

#[tokio::test]
async fn a_task_runs_once_and_completes_with_its_result() {
    let (_f, s) = store();
    let t = created(&s).await;
    let r = Runner::new(
        s.clone(),
        executor(|_, _| Box::pin(async { Ran::Done(Outcome::Result(r#"{"content":[]}"#.into())) })),
        config("gw1"),
    );
    r.start();
    r.kick();
    let t = ended(&s, &t.id).await;
    assert_eq!((t.status, t.attempts), (Status::Completed, 1));
    assert_eq!(t.outcome, Some(Outcome::Result(r#"{"content":[]}"#.into())));
    assert_eq!(t.lease_owner, None);
    r.stop();
}

#[tokio::test]
async fn failed_calls_are_retried_with_backoff_then_given_up_with_the_reason() {
    let (_f, s) = store();
    let t = created(&s).await;
    let r = Runner::new(
        s.clone(),
        executor(|n, _| {
            Box::pin(async move {
                if n < 3 {
                    Ran::Retryable {
                        reason: format!("upstream unavailable ({n})"),
                        error: Outcome::Error("{}".into()),
                    }
                } else {
                    Ran::Done(Outcome::Result("{\"third\":true}".into()))
                }
            })
        }),
        config("gw1"),
    );
    r.start();
    let t = ended(&s, &t.id).await;
    assert_eq!((t.status, t.attempts), (Status::Completed, 3));
    r.stop();

    let (_f2, s) = store();
    let t = created(&s).await;
    let r = Runner::new(
        s.clone(),
        executor(|_, _| {
            Box::pin(async {
                Ran::Retryable {
                    reason: "upstream server 'reports' is unavailable".into(),
                    error: Outcome::Error(r#"{"code":-32001}"#.into()),
                }
            })
        }),
        config("gw1"),
    );
    r.start();
    let t = ended(&s, &t.id).await;
    assert_eq!((t.status, t.attempts), (Status::Failed, 3));
    assert_eq!(
        t.status_message.as_deref(),
        Some("failed after 3 attempts: upstream server 'reports' is unavailable")
    );
    assert_eq!(t.outcome, Some(Outcome::Error(r#"{"code":-32001}"#.into())));
    r.stop();
}

#[tokio::test]
async fn a_definite_failure_is_not_retried() {
    let (_f, s) = store();
    let t = created(&s).await;
    let r = Runner::new(
        s.clone(),
        executor(|_, _| {
            Box::pin(async {
                Ran::Failed {
                    reason: "Invalid arguments for tool reports__build".into(),
                    error: Outcome::Error(r#"{"code":-32602}"#.into()),
                }
            })
        }),
        config("gw1"),
    );
    r.start();
    let t = ended(&s, &t.id).await;
    assert_eq!((t.status, t.attempts), (Status::Failed, 1));
    r.stop();
}

#[tokio::test]
async fn cancelling_a_running_task_stops_its_call_and_the_cancel_stands() {
    let (_f, s) = store();
    let t = created(&s).await;
    let stopped = Arc::new(AtomicU32::new(0));
    let seen = stopped.clone();
    let r = Runner::new(
        s.clone(),
        executor(move |_, cancel| {
            let seen = seen.clone();
            Box::pin(async move {
                cancel.cancelled().await;
                seen.fetch_add(1, Ordering::SeqCst);
                Ran::Done(Outcome::Result("{\"late\":true}".into()))
            })
        }),
        config("gw1"),
    );
    r.start();
    // Running (claimed), then the client cancels.
    let deadline = Instant::now() + Duration::from_secs(5);
    while s.get(&t.id).await.unwrap().unwrap().lease_owner.is_none() {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let cancel = Ending {
        status: Status::Cancelled,
        message: Some("cancelled by the client".into()),
        outcome: None,
    };
    assert!(s.finish(&t.id, &cancel, now_ms()).await.unwrap());
    while stopped.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the call was not stopped");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let t = s.get(&t.id).await.unwrap().unwrap();
    assert_eq!((t.status, t.outcome), (Status::Cancelled, None));
    r.stop();
}

#[tokio::test]
async fn a_task_of_a_worker_that_died_is_finished_by_another() {
    let (_f, s) = store();
    let t = created(&s).await;
    // A worker of another replica claimed it, then died (no heartbeats).
    let now = now_ms();
    s.claim("dead#0", now, now + 150).await.unwrap().unwrap();
    let r = Runner::new(
        s.clone(),
        executor(|_, _| Box::pin(async { Ran::Done(Outcome::Result("{}".into())) })),
        config("gw2"),
    );
    r.start();
    let t = ended(&s, &t.id).await;
    assert_eq!((t.status, t.attempts), (Status::Completed, 2));
    r.stop();
}

#[tokio::test]
async fn a_task_whose_last_attempt_died_with_its_worker_fails_naming_it() {
    let (_f, s) = store();
    let t = created(&s).await;
    // Three claims, each by a worker that died mid-call: the budget of 3 is spent.
    let mut now = now_ms();
    for i in 0..3 {
        s.claim(&format!("dead#{i}"), now, now + 10)
            .await
            .unwrap()
            .unwrap();
        now += 20;
    }
    let calls = Arc::new(AtomicU32::new(0));
    let seen = calls.clone();
    let r = Runner::new(
        s.clone(),
        Arc::new(move |_task, _cancel| {
            seen.fetch_add(1, Ordering::SeqCst);
            Box::pin(async { Ran::Done(Outcome::Result("{}".into())) })
        }),
        config("gw2"),
    );
    r.start();
    let t = ended(&s, &t.id).await;
    assert_eq!(t.status, Status::Failed, "{t:?}");
    let why = t.status_message.unwrap_or_default();
    assert!(
        why.contains("attempt 3 of 3") && why.contains("restarted"),
        "{why}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0, "not run a fourth time");
    r.stop();
}

#[tokio::test]
async fn on_redis_a_replicas_workers_retry_and_take_over_a_dead_replicas_task() {
    let (_prefix, mut s) = crate::test_support::redis_stores(1).await;
    let s = Arc::new(s.remove(0));
    let flaky = Task::new("alice", "reports__build", "{}".into(), 1_000, now_ms());
    s.create(&flaky).await.unwrap();
    let orphan = Task::new("alice", "reports__build", "{}".into(), 1_000, now_ms());
    s.create(&orphan).await.unwrap();
    // Another replica claimed one, then died.
    let now = now_ms();
    let claimed = s.claim("dead#0", now, now + 150).await.unwrap().unwrap();
    let r = Runner::new(
        s.clone(),
        executor(|n, _| {
            Box::pin(async move {
                if n == 1 {
                    Ran::Retryable {
                        reason: "upstream timed out".into(),
                        error: Outcome::Error("{}".into()),
                    }
                } else {
                    Ran::Done(Outcome::Result("{}".into()))
                }
            })
        }),
        config("gw2"),
    );
    r.start();
    let deadline = Instant::now() + Duration::from_secs(10);
    for id in [&flaky.id, &orphan.id] {
        loop {
            let t = s.get(id).await.unwrap().unwrap();
            if t.status.is_terminal() {
                assert_eq!(t.status, Status::Completed, "{t:?}");
                break;
            }
            assert!(Instant::now() < deadline, "not finished: {t:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let taken_over = s.get(&claimed.id).await.unwrap().unwrap();
    assert!(taken_over.attempts >= 2, "{taken_over:?}");
    r.stop();
}
