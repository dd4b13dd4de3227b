//! The pub/sub interface, on every backend.

use std::time::Duration;

use crate::tests::within;
use crate::{SUBSCRIBER_BUFFER, Store};

on_all_backends!(delivery_and_order, slow_subscriber_drops_oldest);

fn msg(i: u32) -> Vec<u8> {
    i.to_be_bytes().to_vec()
}

fn index(payload: &[u8]) -> u32 {
    u32::from_be_bytes(payload.try_into().unwrap())
}

async fn delivery_and_order(store: Store) {
    let ps = store.pubsub();
    ps.publish("events", b"before anyone listens".to_vec())
        .await
        .unwrap();
    let mut first = ps.subscribe("events").await.unwrap();
    let mut second = ps.subscribe("events").await.unwrap();
    let mut other = ps.subscribe("other").await.unwrap();
    assert_eq!(first.channel(), "events");

    for i in 0..50 {
        ps.publish("events", msg(i)).await.unwrap();
    }
    ps.publish("other", b"elsewhere".to_vec()).await.unwrap();

    for sub in [&mut first, &mut second] {
        for i in 0..50 {
            let got = within("an events message", sub.recv()).await.unwrap();
            assert_eq!(
                index(&got),
                i,
                "in publishing order, nothing from before subscribing"
            );
        }
    }
    let got = within("the other message", other.recv()).await.unwrap();
    assert_eq!(got, b"elsewhere", "channels are separate");

    // A dropped subscriber does not disturb the others; a new one gets only new messages.
    drop(second);
    ps.publish("events", msg(50)).await.unwrap();
    let mut third = ps.subscribe("events").await.unwrap();
    ps.publish("events", msg(51)).await.unwrap();
    assert_eq!(index(&within("50", first.recv()).await.unwrap()), 50);
    assert_eq!(index(&within("51", first.recv()).await.unwrap()), 51);
    assert_eq!(
        index(&within("51 (third)", third.recv()).await.unwrap()),
        51
    );

    // Publishing where nobody listens is fine.
    ps.publish("nobody", b"x".to_vec()).await.unwrap();
}

async fn slow_subscriber_drops_oldest(store: Store) {
    let ps = store.pubsub();
    let mut slow = ps.subscribe("busy").await.unwrap();
    let total = u32::try_from(SUBSCRIBER_BUFFER * 3).unwrap();
    // The subscriber reads nothing meanwhile: publishing must not wait for it.
    within("publishing to a slow subscriber", async {
        for i in 0..total {
            ps.publish("busy", msg(i)).await.unwrap();
        }
    })
    .await;
    // Let the messages reach the subscription's buffer (the SQLite poller, Redis' pushes).
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut received = Vec::new();
    while received.last() != Some(&(total - 1)) {
        received.push(index(
            &within("the newest message", slow.recv()).await.unwrap(),
        ));
    }
    assert!(received.windows(2).all(|w| w[0] < w[1]), "still in order");
    assert!(
        received[0] > 0,
        "the oldest messages were dropped, first kept: {}",
        received[0]
    );
    assert!(
        received.len() <= SUBSCRIBER_BUFFER,
        "kept at most the buffer: {}",
        received.len()
    );
}
