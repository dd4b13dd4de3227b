//! Tests of the audit trail: chains, redaction, sinks, the journal and its recovery.
use super::journal::Journal;
use super::*;
use crate::format::read_jsonl;
use crate::record::chain;

fn records(n: u64) -> Vec<Record> {
    let (mut prev, mut seq) = (GENESIS.to_owned(), 0);
    (0..n)
        .map(|i| {
            let mut r = Record {
                subject: format!("user{i}"),
                method: "tools/call".into(),
                outcome: "ok".into(),
                ..Record::default()
            };
            chain(&mut r, &mut prev, &mut seq);
            r
        })
        .collect()
}

#[test]
fn any_edit_removal_or_reordering_breaks_the_chain() {
    let good = records(5);
    assert_eq!(verify(&good).unwrap().0, 5);
    let mut edited = good.clone();
    edited[2].subject = "mallory".into();
    assert_eq!(verify(&edited).unwrap_err().seq, 3);
    let mut removed = good.clone();
    removed.remove(1);
    assert!(verify(&removed).is_err());
    let mut swapped = good.clone();
    swapped.swap(1, 2);
    assert!(verify(&swapped).is_err());
    // Rewriting one record's hash to match its edit still breaks the next link.
    let mut rehashed = good.clone();
    rehashed[2].subject = "mallory".into();
    rehashed[2].hash = rehashed[2].compute_hash();
    assert_eq!(verify(&rehashed).unwrap_err().seq, 4);
}

#[test]
fn secrets_are_redacted_at_any_depth() {
    let mut v = serde_json::json!({"user": "a", "api_key": "k", "nested": {"Access_Token": "t", "list": [{"password": "p"}]}});
    redact(
        &mut v,
        &["token".into(), "password".into(), "api_key".into()],
    );
    assert_eq!(v["user"], "a");
    assert_eq!(v["api_key"], "[REDACTED]");
    assert_eq!(v["nested"]["Access_Token"], "[REDACTED]");
    assert_eq!(v["nested"]["list"][0]["password"], "[REDACTED]");
}

#[tokio::test]
async fn sqlite_records_survive_reopening_and_chain_on() {
    let dir = std::env::temp_dir().join(format!("sb-audit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("a.db");
    let cfg = AuditConfig {
        path: path.display().to_string(),
        ..AuditConfig::default()
    };
    for round in 0..2 {
        let audit = Audit::open(&cfg, false).unwrap();
        let logs = (0..20).map(|i| {
            let a = audit.clone();
            async move {
                a.log(Record {
                    subject: format!("r{round}-{i}"),
                    method: "tools/call".into(),
                    outcome: "ok".into(),
                    ..Record::default()
                })
                .await
            }
        });
        futures_util::future::join_all(logs).await;
    }
    let all = read(&path, None).unwrap();
    assert_eq!(all.len(), 40);
    assert_eq!(verify(&all).unwrap().0, 40);
    // The database refuses edits outright.
    let conn = rusqlite::Connection::open(&path).unwrap();
    assert!(
        conn.execute("UPDATE audit SET subject = 'x' WHERE seq = 1", [])
            .is_err()
    );
    assert!(conn.execute("DELETE FROM audit WHERE seq = 1", []).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

fn record(subject: &str) -> Record {
    Record {
        subject: subject.into(),
        method: "tools/call".into(),
        outcome: "ok".into(),
        ..Record::default()
    }
}

#[test]
fn the_journal_line_is_the_record_and_verifies() {
    let (mut prev, mut seq) = (GENESIS.to_owned(), 0);
    let mut r = record("line");
    r.args = Some("{\"q\":\"\\\"quoted\\\"\"}".into());
    let line = chain(&mut r, &mut prev, &mut seq);
    let parsed: Record = serde_json::from_str(&line).unwrap();
    assert_eq!(parsed, r);
    assert_eq!(r.compute_hash(), r.hash);
    assert_eq!(verify(&[parsed]).unwrap().0, 1);
}

/// Acknowledged records are readable at once (from the journal), and a journal left by a
/// gateway that died before moving it is taken into the database by the next start.
#[tokio::test]
async fn journalled_records_are_read_at_once_and_recovered_after_a_crash() {
    let dir = std::env::temp_dir().join(format!("sb-audit-journal-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("a.db");
    let cfg = AuditConfig {
        path: path.display().to_string(),
        ..AuditConfig::default()
    };
    let audit = Audit::open(&cfg, false).unwrap();
    for i in 0..7 {
        audit.log(record(&format!("first-{i}"))).await;
    }
    // Before any import tick: the records are in the journal, and read shows them.
    let all = read(&path, None).unwrap();
    assert_eq!(all.len(), 7);
    assert_eq!(verify(&all).unwrap().0, 7);
    // A crash: the process is gone without a flush. Keep a copy of the journal as it was,
    // let this gateway go (its flush empties the journal), and put the copy back with
    // the database as the crash left it (empty).
    let live = Journal::live_path(&path);
    let journal = std::fs::read(&live).unwrap();
    drop(audit);
    assert_eq!(read(&path, None).unwrap().len(), 7);
    assert!(std::fs::read(&live).unwrap().is_empty());
    for f in ["a.db", "a.db-wal", "a.db-shm"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    // Half a line at the end: a write the crash cut short, never acknowledged.
    let mut torn = journal.clone();
    torn.extend_from_slice(b"{\"seq\":8,\"time\":\"");
    std::fs::write(&live, &torn).unwrap();
    let audit = Audit::open(&cfg, false).unwrap();
    audit.log(record("after")).await;
    audit.flush();
    let all = read(&path, None).unwrap();
    assert_eq!(all.len(), 8, "7 recovered and 1 new");
    assert_eq!(all[7].subject, "after");
    assert_eq!(verify(&all).unwrap().0, 8);
    drop(audit);
    // A journal that does not continue the chain is refused, not silently merged.
    std::fs::write(&live, &journal).unwrap();
    let mut forged = read_jsonl(&live).unwrap();
    forged[0].seq = 9;
    let forged: String = forged
        .iter()
        .map(|r| serde_json::to_string(r).unwrap() + "\n")
        .collect();
    std::fs::write(&live, forged).unwrap();
    let refused = Audit::open(&cfg, false).err().unwrap().to_string();
    assert!(refused.contains("does not continue"), "{refused}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A lone request whose record is queued while the importer holds the sink is still
/// committed (the importer leads the queue when it lets go), never left waiting.
#[tokio::test(flavor = "current_thread")]
async fn no_record_waits_on_the_importer() {
    let dir = std::env::temp_dir().join(format!("sb-audit-lone-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = AuditConfig {
        path: dir.join("a.db").display().to_string(),
        ..AuditConfig::default()
    };
    let audit = Audit::open(&cfg, false).unwrap();
    // Bounded: about a second of back-to-back records, so the importer ticks ~10 times.
    let end = std::time::Instant::now() + std::time::Duration::from_secs(1);
    let mut n = 0;
    while std::time::Instant::now() < end && n < 1_000_000 {
        let logged =
            tokio::time::timeout(std::time::Duration::from_secs(2), audit.log(record("lone")))
                .await;
        assert!(logged.is_ok(), "record {n} was never committed");
        n += 1;
    }
    // Everything journalled into the database now, as the gateway does when it stops (a drop
    // alone may leave the last move to the importer thread, after this test reads).
    audit.flush();
    drop(audit);
    assert_eq!(read(&dir.join("a.db"), None).unwrap().len(), n);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn jsonl_chains_across_restarts_and_edits_show() {
    let dir = std::env::temp_dir().join(format!("sb-audit-jsonl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("a.jsonl");
    let cfg = AuditConfig {
        sink: AuditSink::Jsonl,
        path: path.display().to_string(),
        ..AuditConfig::default()
    };
    for round in 0..2 {
        let audit = Audit::open(&cfg, false).unwrap();
        for i in 0..5 {
            audit
                .log(Record {
                    subject: format!("r{round}-{i}"),
                    method: "tools/call".into(),
                    outcome: "ok".into(),
                    ..Record::default()
                })
                .await;
        }
    }
    let all = read(&path, None).unwrap();
    assert_eq!(verify(&all).unwrap().0, 10);
    assert_eq!(read(&path, Some("r1-")).unwrap().len(), 5);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen("r0-3", "r0-9", 1)).unwrap();
    assert_eq!(verify(&read(&path, None).unwrap()).unwrap_err().seq, 4);
    std::fs::remove_dir_all(&dir).unwrap();
}
