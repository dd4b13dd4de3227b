//! What only the SQLite store does: keep state across reopening, share pub/sub between
//! handles on one file (as between processes), refuse files it cannot read.

use std::time::Duration;

use crate::tests::{remove_sqlite, sqlite_path, within};
use crate::{Store, StoreError};

/// Removes the file even when the test fails.
struct TempFile(std::path::PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        remove_sqlite(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_survives_reopening() {
    let file = TempFile(sqlite_path());
    {
        let store = Store::sqlite(&file.0, "test").await.unwrap();
        store.kv().set("kept", b"v".to_vec(), None).await.unwrap();
        store
            .kv()
            .set("kept-ttl", b"t".to_vec(), Some(Duration::from_secs(60)))
            .await
            .unwrap();
        store
            .kv()
            .set("expiring", b"x".to_vec(), Some(Duration::from_millis(100)))
            .await
            .unwrap();
        assert!(
            store
                .kv()
                .set_if_absent("claim", b"me".to_vec(), None)
                .await
                .unwrap()
        );
        for i in 0..3u8 {
            store.log().append("s", vec![i]).await.unwrap();
        }
        store.log().trim("s", 1).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let store = Store::sqlite(&file.0, "test").await.unwrap();
    let kv = store.kv();
    assert_eq!(kv.get("kept").await.unwrap().as_deref(), Some(&b"v"[..]));
    assert_eq!(
        kv.get("kept-ttl").await.unwrap().as_deref(),
        Some(&b"t"[..])
    );
    assert_eq!(
        kv.get("expiring").await.unwrap(),
        None,
        "expiry holds across reopening"
    );
    assert!(
        !kv.set_if_absent("claim", b"you".to_vec(), None)
            .await
            .unwrap(),
        "claim kept"
    );
    assert_eq!(
        store.log().read("s", 0, 10).await.unwrap(),
        vec![(2, vec![1]), (3, vec![2])]
    );
    assert_eq!(
        store.log().append("s", vec![3]).await.unwrap(),
        4,
        "numbering continues"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pubsub_reaches_other_handles_of_the_file() {
    let file = TempFile(sqlite_path());
    let publisher = Store::sqlite(&file.0, "test").await.unwrap();
    let listener = Store::sqlite(&file.0, "test").await.unwrap();
    let mut sub = listener.pubsub().subscribe("c").await.unwrap();
    for i in 0..20u8 {
        publisher.pubsub().publish("c", vec![i]).await.unwrap();
    }
    for i in 0..20u8 {
        assert_eq!(
            within("a message from the other handle", sub.recv())
                .await
                .unwrap(),
            vec![i]
        );
    }
    // And a claim made through one handle holds for the other.
    assert!(
        publisher
            .kv()
            .set_if_absent("k", b"1".to_vec(), None)
            .await
            .unwrap()
    );
    assert!(
        !listener
            .kv()
            .set_if_absent("k", b"2".to_vec(), None)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn refuses_files_it_cannot_read() {
    let file = TempFile(sqlite_path());
    std::fs::write(&file.0, vec![b'x'; 4096]).unwrap();
    let err = Store::sqlite(&file.0, "tasks").await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    let text = err.to_string();
    assert!(text.starts_with("tasks: SQLite store "), "{text}");
    assert!(text.contains("move it aside"), "{text}");

    remove_sqlite(&file.0);
    let conn = rusqlite::Connection::open(&file.0).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = Store::sqlite(&file.0, "tasks").await.unwrap_err();
    assert!(
        err.to_string().contains("newer Switchboard (schema 99"),
        "{err}"
    );

    let dir = std::env::temp_dir()
        .join("no-such-dir-for-switchboard")
        .join("x.sqlite");
    let err = Store::sqlite(&dir, "tasks").await.unwrap_err();
    assert!(matches!(err, StoreError::Connect { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("tasks: cannot connect to SQLite at "),
        "{err}"
    );
}
