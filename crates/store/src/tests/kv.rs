//! The key-value interface, on every backend.

use std::sync::Arc;
use std::time::Duration;

use crate::{KeyValue, Store};

on_all_backends!(
    get_set_delete,
    ttl_expiry,
    set_if_absent_race,
    compare_and_swap_rules,
    compare_and_swap_race
);

const TTL: Duration = Duration::from_millis(150);
const LONG: Duration = Duration::from_secs(60);

async fn get_set_delete(store: Store) {
    let kv = store.kv();
    assert_eq!(kv.get("a").await.unwrap(), None);
    kv.set("a", b"one".to_vec(), None).await.unwrap();
    assert_eq!(kv.get("a").await.unwrap().as_deref(), Some(&b"one"[..]));
    kv.set("a", b"two".to_vec(), None).await.unwrap();
    assert_eq!(kv.get("a").await.unwrap().as_deref(), Some(&b"two"[..]));
    assert_eq!(kv.get("b").await.unwrap(), None, "keys are separate");

    // Binary and empty values survive as they are.
    let binary: Vec<u8> = (0..=255).collect();
    kv.set("bin", binary.clone(), Some(LONG)).await.unwrap();
    assert_eq!(kv.get("bin").await.unwrap(), Some(binary));
    kv.set("empty", Vec::new(), None).await.unwrap();
    assert_eq!(kv.get("empty").await.unwrap(), Some(Vec::new()));

    assert!(kv.delete("a").await.unwrap());
    assert!(!kv.delete("a").await.unwrap(), "deleting twice");
    assert!(!kv.delete("never").await.unwrap());
    assert_eq!(kv.get("a").await.unwrap(), None);
    assert!(kv.get("bin").await.unwrap().is_some(), "other keys stay");
}

async fn ttl_expiry(store: Store) {
    let kv = store.kv();
    kv.set("set", b"v".to_vec(), Some(TTL)).await.unwrap();
    assert!(
        kv.set_if_absent("claimed", b"v".to_vec(), Some(TTL))
            .await
            .unwrap()
    );
    assert!(
        kv.compare_and_swap("swapped", None, Some(b"v".to_vec()), Some(TTL))
            .await
            .unwrap()
    );
    kv.set("forever", b"v".to_vec(), None).await.unwrap();
    kv.set("long", b"v".to_vec(), Some(LONG)).await.unwrap();
    // Setting again without a TTL removes the expiry.
    kv.set("reset", b"v".to_vec(), Some(TTL)).await.unwrap();
    kv.set("reset", b"w".to_vec(), None).await.unwrap();

    tokio::time::sleep(TTL * 2).await;

    for key in ["set", "claimed", "swapped"] {
        assert_eq!(kv.get(key).await.unwrap(), None, "{key} expired");
    }
    for key in ["forever", "long"] {
        assert!(
            kv.get(key).await.unwrap().is_some(),
            "{key} has not expired"
        );
    }
    assert_eq!(kv.get("reset").await.unwrap().as_deref(), Some(&b"w"[..]));
    // Expired keys count as absent everywhere.
    assert!(!kv.delete("set").await.unwrap(), "deleting an expired key");
    assert!(
        kv.set_if_absent("claimed", b"again".to_vec(), None)
            .await
            .unwrap()
    );
    assert!(
        kv.compare_and_swap("swapped", None, Some(b"again".to_vec()), None)
            .await
            .unwrap()
    );
    assert_eq!(
        kv.get("claimed").await.unwrap().as_deref(),
        Some(&b"again"[..])
    );
    assert_eq!(
        kv.get("swapped").await.unwrap().as_deref(),
        Some(&b"again"[..])
    );
}

async fn set_if_absent_race(store: Store) {
    let kv: Arc<dyn KeyValue> = store.kv().clone();
    for round in 0..3 {
        let key = format!("lock-{round}");
        let tasks: Vec<_> = (0..20u8)
            .map(|i| {
                let kv = kv.clone();
                let key = key.clone();
                tokio::spawn(async move { (i, kv.set_if_absent(&key, vec![i], Some(LONG)).await) })
            })
            .collect();
        let mut winners = Vec::new();
        for task in tasks {
            let (i, won) = task.await.unwrap();
            if won.unwrap() {
                winners.push(i);
            }
        }
        assert_eq!(winners.len(), 1, "exactly one claim wins: {winners:?}");
        assert_eq!(
            kv.get(&key).await.unwrap(),
            Some(vec![winners[0]]),
            "the winner's value"
        );
        assert!(
            !kv.set_if_absent(&key, vec![99], None).await.unwrap(),
            "held"
        );
    }
}

async fn compare_and_swap_rules(store: Store) {
    let kv = store.kv();
    // Expecting absence on an absent key creates it.
    assert!(
        kv.compare_and_swap("k", None, Some(b"a".to_vec()), None)
            .await
            .unwrap()
    );
    assert!(
        !kv.compare_and_swap("k", None, Some(b"x".to_vec()), None)
            .await
            .unwrap()
    );
    assert!(
        !kv.compare_and_swap("k", Some(b"b"), Some(b"x".to_vec()), None)
            .await
            .unwrap()
    );
    assert!(
        !kv.compare_and_swap("k", Some(b""), Some(b"x".to_vec()), None)
            .await
            .unwrap()
    );
    assert_eq!(
        kv.get("k").await.unwrap().as_deref(),
        Some(&b"a"[..]),
        "failed swaps change nothing"
    );
    assert!(
        kv.compare_and_swap("k", Some(b"a"), Some(b"b".to_vec()), None)
            .await
            .unwrap()
    );
    assert_eq!(kv.get("k").await.unwrap().as_deref(), Some(&b"b"[..]));
    // `None` new deletes.
    assert!(
        kv.compare_and_swap("k", Some(b"b"), None, None)
            .await
            .unwrap()
    );
    assert_eq!(kv.get("k").await.unwrap(), None);
    // Expecting a value of an absent key fails.
    assert!(
        !kv.compare_and_swap("k", Some(b"b"), Some(b"c".to_vec()), None)
            .await
            .unwrap()
    );
    // An empty value is a value, not absence.
    kv.set("e", Vec::new(), None).await.unwrap();
    assert!(
        !kv.compare_and_swap("e", None, Some(b"x".to_vec()), None)
            .await
            .unwrap()
    );
    assert!(
        kv.compare_and_swap("e", Some(b""), Some(b"x".to_vec()), None)
            .await
            .unwrap()
    );
    // Deleting an absent key "succeeds" only when absence was expected.
    assert!(kv.compare_and_swap("none", None, None, None).await.unwrap());
}

async fn compare_and_swap_race(store: Store) {
    let kv: Arc<dyn KeyValue> = store.kv().clone();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let kv = kv.clone();
            tokio::spawn(async move {
                for _ in 0..10 {
                    loop {
                        let current = kv.get("counter").await.unwrap();
                        let n: u64 = match &current {
                            Some(v) => std::str::from_utf8(v).unwrap().parse().unwrap(),
                            None => 0,
                        };
                        let next = (n + 1).to_string().into_bytes();
                        if kv
                            .compare_and_swap("counter", current.as_deref(), Some(next), None)
                            .await
                            .unwrap()
                        {
                            break;
                        }
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(
        kv.get("counter").await.unwrap().as_deref(),
        Some(&b"200"[..])
    );
}
