//! What only the Redis store does: recover its subscriptions after losing the connection.

use std::time::Duration;

use crate::tests::{Backend, Fixture, within};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_survive_a_killed_connection() {
    let fixture = Fixture::new(Backend::Redis).await;
    let store = &fixture.store;
    let mut sub = store.pubsub().subscribe("c").await.unwrap();
    store
        .pubsub()
        .publish("c", b"before".to_vec())
        .await
        .unwrap();
    assert_eq!(within("before", sub.recv()).await.unwrap(), b"before");

    let redis = store.redis_backend().unwrap();
    let id = redis.subscriber_id().await;
    let killed: i64 = ::redis::cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(id)
        .query_async(&mut redis.conn().manager())
        .await
        .unwrap();
    assert_eq!(killed, 1, "the subscriber connection was killed");

    // Messages published while it reconnects are lost: publish until one gets through.
    let got = within("a message after reconnecting", async {
        for n in 0u32.. {
            store
                .pubsub()
                .publish("c", n.to_be_bytes().to_vec())
                .await
                .unwrap();
            if let Ok(got) = tokio::time::timeout(Duration::from_millis(100), sub.recv()).await {
                return got.unwrap();
            }
        }
        unreachable!()
    })
    .await;
    assert_eq!(got.len(), 4, "one of the numbered messages: {got:?}");
    assert_ne!(redis.subscriber_id().await, id, "a new connection");
}
