//! Tests of every interface, each behaviour checked by one function run against all three
//! backends (memory, a SQLite file, a real Redis).

use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::Store;

/// The Redis the tests use; CI starts one. `SWITCHBOARD_TEST_REDIS_URL` overrides it.
fn redis_url() -> String {
    std::env::var("SWITCHBOARD_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A name no other test (or test run) uses.
fn unique(tag: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let random = RandomState::new().hash_one(std::time::SystemTime::now());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{tag}-{}-{n}-{random:016x}", std::process::id())
}

/// Which backend a test runs on.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Backend {
    Memory,
    Sqlite,
    Redis,
}

/// A store for one test, and what to clean up after it (also when the test fails).
pub(crate) struct Fixture {
    pub(crate) store: Store,
    cleanup: Cleanup,
}

enum Cleanup {
    Nothing,
    File(PathBuf),
    Redis { prefix: String },
}

/// A fresh SQLite file path in the temp dir (removed by [`remove_sqlite`]).
pub(crate) fn sqlite_path() -> PathBuf {
    std::env::temp_dir().join(format!("{}.sqlite", unique("switchboard-store-test")))
}

/// Removes a SQLite file and its WAL companions.
pub(crate) fn remove_sqlite(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
}

impl Fixture {
    pub(crate) async fn new(backend: Backend) -> Fixture {
        match backend {
            Backend::Memory => Fixture {
                store: Store::memory(),
                cleanup: Cleanup::Nothing,
            },
            Backend::Sqlite => {
                let path = sqlite_path();
                let store = Store::sqlite(&path, "test").await.unwrap();
                Fixture {
                    store,
                    cleanup: Cleanup::File(path),
                }
            }
            Backend::Redis => {
                let url = redis_url();
                let prefix = format!("{}:", unique("sbtest"));
                let store = match Store::redis(&url, &prefix, "test").await {
                    Ok(store) => store,
                    Err(e) => panic!(
                        "the Redis tests need a Redis server at {url} (CI starts one; set \
                         SWITCHBOARD_TEST_REDIS_URL to use another): {e}"
                    ),
                };
                Fixture {
                    store,
                    cleanup: Cleanup::Redis { prefix },
                }
            }
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Nothing => {}
            Cleanup::File(path) => remove_sqlite(path),
            Cleanup::Redis { prefix } => {
                // Synchronous, so it also runs when a test panics.
                let Ok(client) = ::redis::Client::open(redis_url()) else {
                    return;
                };
                let Ok(mut conn) = client.get_connection() else {
                    return;
                };
                let keys: Vec<String> = ::redis::cmd("KEYS")
                    .arg(format!("{prefix}*"))
                    .query(&mut conn)
                    .unwrap_or_default();
                if !keys.is_empty() {
                    let _: ::redis::RedisResult<()> =
                        ::redis::cmd("DEL").arg(keys).query(&mut conn);
                }
            }
        }
    }
}

/// Runs `check` on a fresh store of `backend`, then cleans up.
pub(crate) async fn run<F, Fut>(backend: Backend, check: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    let fixture = Fixture::new(backend).await;
    check(fixture.store.clone()).await;
}

/// Waits for `fut`, failing the test after 10 s (so a lost message fails instead of hanging).
pub(crate) async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(10), fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: nothing within 10 s"),
    }
}

/// Generates one test per backend (`<check>::memory`, `::sqlite`, `::redis`) running the
/// function `check(store: Store)`.
macro_rules! on_all_backends {
    ($($check:ident),+ $(,)?) => {$(
        mod $check {
            use crate::tests::{Backend, run};

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn memory() {
                run(Backend::Memory, super::$check).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                run(Backend::Sqlite, super::$check).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn redis() {
                run(Backend::Redis, super::$check).await;
            }
        }
    )+};
}

mod errors;
mod kv;
mod log;
mod pubsub;
mod redis;
mod sqlite;
