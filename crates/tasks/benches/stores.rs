//! Task store throughput: how fast each store (SQLite file, the machine's Redis, the machine's
//! PostgreSQL) takes new tasks and how fast workers claim and finish them — the store's share
//! of what a durable task adds to a call. N tasks, 8 concurrent writers, then 8 workers each
//! looping claim → finish until the queue is empty.
//!
//!   cargo bench -p switchboard-tasks --bench stores        (SB_BENCH_TASKS=N, default 2000)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Instant;

use switchboard_tasks::model::now_ms;
use switchboard_tasks::{
    Ending, Outcome, PgTasks, RedisTasks, SqliteTasks, Status, Task, TaskStore,
};

async fn run(name: &str, store: Arc<dyn TaskStore>, n: usize) {
    let owner = format!("bench-{}", switchboard_tasks::model::new_id());
    let started = Instant::now();
    let writers = (0..8).map(|w| {
        let (store, owner) = (store.clone(), owner.clone());
        tokio::spawn(async move {
            for _ in (w..n).step_by(8) {
                let t = Task::new(
                    &owner,
                    "reports__build",
                    r#"{"name":"reports__build"}"#.into(),
                    60_000,
                    now_ms(),
                );
                store.create(&t).await.unwrap();
            }
        })
    });
    for w in writers {
        w.await.unwrap();
    }
    let created = started.elapsed();
    let started = Instant::now();
    let workers = (0..8).map(|w| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut done = 0usize;
            let end = Ending {
                status: Status::Completed,
                message: None,
                outcome: Some(Outcome::Result(r#"{"content":[]}"#.into())),
            };
            loop {
                let now = now_ms();
                let Some(t) = store
                    .claim(&format!("w{w}"), now, now + 30_000)
                    .await
                    .unwrap()
                else {
                    break;
                };
                assert!(store.finish(&t.id, &end, now_ms()).await.unwrap());
                done += 1;
            }
            done
        })
    });
    let mut finished = 0;
    for w in workers {
        finished += w.await.unwrap();
    }
    let ran = started.elapsed();
    println!(
        "| {name} | {n} | {:.0} | {:.0} |",
        n as f64 / created.as_secs_f64(),
        finished as f64 / ran.as_secs_f64()
    );
    assert!(finished >= n, "{name}: {finished} of {n} finished");
}

fn main() {
    let n: usize = std::env::var("SB_BENCH_TASKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        println!("| store | tasks | created/s (8 writers) | claimed+finished/s (8 workers) |");
        println!("|---|---|---|---|");
        let file = std::env::temp_dir().join(format!("sb-bench-tasks-{}.db", std::process::id()));
        run(
            "SQLite (file, WAL)",
            Arc::new(SqliteTasks::open(&file).unwrap()),
            n,
        )
        .await;
        for ext in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", file.display()));
        }
        let prefix = format!("sb-bench-tasks-{}:", std::process::id());
        let conn = switchboard_store::RedisConn::connect("redis://127.0.0.1:6379", "tasks")
            .await
            .unwrap();
        run("Redis", Arc::new(RedisTasks::new(conn, &prefix)), n).await;
        if let Ok(client) = switchboard_store::redis::Client::open("redis://127.0.0.1:6379")
            && let Ok(mut c) = client.get_connection()
            && let Ok(keys) = switchboard_store::redis::cmd("KEYS")
                .arg(format!("{prefix}*"))
                .query::<Vec<String>>(&mut c)
            && !keys.is_empty()
        {
            let _: switchboard_store::redis::RedisResult<()> =
                switchboard_store::redis::cmd("DEL").arg(keys).query(&mut c);
        }
        let url = "postgres://postgres@127.0.0.1:5432/test";
        run(
            "PostgreSQL",
            Arc::new(PgTasks::connect(url).await.unwrap()),
            n,
        )
        .await;
        // Leave nothing behind: these tasks are finished; expire them now.
        let pg = PgTasks::connect(url).await.unwrap();
        let _ = pg.expire(i64::MAX / 2).await;
    });
}
