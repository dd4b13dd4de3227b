//! The append-log interface, on every backend.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::{AppendLog, Store};

on_all_backends!(append_read_trim, concurrent_appends);

async fn append_read_trim(store: Store) {
    let log = store.log();
    assert_eq!(
        log.read("s", 0, 10).await.unwrap(),
        vec![],
        "an unknown stream is empty"
    );
    let mut seqs = Vec::new();
    for i in 0..5u8 {
        seqs.push(log.append("s", vec![i, 0xff]).await.unwrap());
    }
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "monotonic: {seqs:?}");
    assert_eq!(seqs[0], 1, "numbering starts at 1");
    assert_eq!(
        log.append("other", b"x".to_vec()).await.unwrap(),
        1,
        "streams count apart"
    );

    let all = log.read("s", 0, 100).await.unwrap();
    let expected: Vec<(u64, Vec<u8>)> = seqs
        .iter()
        .zip(0u8..)
        .map(|(s, i)| (*s, vec![i, 0xff]))
        .collect();
    assert_eq!(all, expected);
    assert_eq!(
        log.read("s", seqs[1], 2).await.unwrap(),
        expected[2..4].to_vec(),
        "after + limit"
    );
    assert_eq!(
        log.read("s", seqs[4], 10).await.unwrap(),
        vec![],
        "nothing after the last"
    );
    assert_eq!(log.read("s", 0, 0).await.unwrap(), vec![], "limit 0");
    assert_eq!(log.read("s", u64::MAX, 10).await.unwrap(), vec![]);

    log.trim("s", seqs[2]).await.unwrap();
    assert_eq!(
        log.read("s", 0, 100).await.unwrap(),
        expected[3..].to_vec(),
        "trimmed"
    );
    let next = log.append("s", b"after trim".to_vec()).await.unwrap();
    assert!(next > seqs[4], "numbers keep growing after a trim: {next}");
    log.trim("s", next).await.unwrap();
    assert_eq!(
        log.read("s", 0, 100).await.unwrap(),
        vec![],
        "trimmed to nothing"
    );
    let again = log.append("s", b"again".to_vec()).await.unwrap();
    assert!(
        again > next,
        "numbers keep growing after trimming everything: {again}"
    );
    assert_eq!(
        log.read("s", 0, 100).await.unwrap(),
        vec![(again, b"again".to_vec())]
    );
    assert_eq!(
        log.read("other", 0, 100).await.unwrap(),
        vec![(1, b"x".to_vec())],
        "untouched"
    );
}

async fn concurrent_appends(store: Store) {
    let log: Arc<dyn AppendLog> = store.log().clone();
    let tasks: Vec<_> = (0..20u8)
        .map(|t| {
            let log = log.clone();
            tokio::spawn(async move {
                let mut seqs = Vec::new();
                for i in 0..5u8 {
                    seqs.push(log.append("shared", vec![t, i]).await.unwrap());
                }
                seqs
            })
        })
        .collect();
    let mut given = BTreeSet::new();
    for task in tasks {
        let seqs = task.await.unwrap();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "monotonic per appender: {seqs:?}"
        );
        given.extend(seqs);
    }
    assert_eq!(given.len(), 100, "no number given twice");
    let entries = log.read("shared", 0, 1000).await.unwrap();
    assert_eq!(entries.len(), 100);
    let read: Vec<u64> = entries.iter().map(|(s, _)| *s).collect();
    assert_eq!(read, given.into_iter().collect::<Vec<_>>(), "read in order");
}
