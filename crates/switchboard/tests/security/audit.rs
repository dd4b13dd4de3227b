//! The audit trail: every request recorded, secrets redacted, tampering found by `verify`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::*;
use crate::helpers::*;

fn audit_cli(file: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(switchboard())
        .arg("audit")
        .args(args)
        .arg("--file")
        .arg(file)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Run a Python `sqlite3` snippet with `args` as `sys.argv[1:]`.
fn python_sqlite(script: &str, args: &[&Path]) {
    let out = Command::new(python())
        .args(["-c", &format!("import sqlite3,sys; {script}")])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Copy a live WAL-mode database (the file alone lacks what is still in the WAL).
fn copy_db(src: &Path, dst: &Path) {
    python_sqlite(
        "s=sqlite3.connect(sys.argv[1]); d=sqlite3.connect(sys.argv[2]); s.backup(d); d.close()",
        &[src, dst],
    );
}

fn sql(db: &Path, statements: &str) {
    python_sqlite(
        "c=sqlite3.connect(sys.argv[1]); c.executescript(sys.argv[2]); c.commit()",
        &[db, Path::new(statements)],
    );
}

#[tokio::test]
async fn every_request_is_audited_and_tampering_is_detected() {
    let dir = scratch_dir("audit-it");
    let db = dir.join("audit.db");
    let yaml = format!(
        "auth:\n  api_keys: {{file: \"{keys}\"}}\nroles:\n  viewer: {{allow: [\"get_*\"]}}\naudit: {{path: \"{db}\"}}\nservers:\n{company}",
        keys = dir.join("keys.json").display(),
        db = db.display(),
        company = stdio_entry("company", &workspace_bin("company-api"), &[]),
    );
    let gw = Gateway::start(&yaml);
    let url = &gw.url;
    let key = keys_cli(
        &gw.config,
        &["create", "--name", "auditor", "--role", "viewer"],
    );
    let k = [("x-api-key", key.as_str())];
    assert_eq!(
        tool_call(url, &k, EMPLOYEE, json!({"employee_id": "E001"}))
            .await
            .status,
        200
    );
    // Completing a denied prompt's arguments is as unknown as completing a missing prompt.
    let complete = |name: &'static str| {
        modern(
            url,
            &k,
            "completion/complete",
            None,
            json!({"ref": {"type": "ref/prompt", "name": name}, "argument": {"name": "project_id", "value": "P"}}),
        )
    };
    let denied = complete("company__weekly_status_report").await;
    let missing = complete("company__no_such_prompt").await;
    assert_eq!(
        denied.body["error"]["code"], missing.body["error"]["code"],
        "{}",
        denied.body
    );
    assert!(denied.body["result"].is_null(), "{}", denied.body);
    tool_call(
        url,
        &k,
        "company__update_project_status",
        json!({"project_id": "P1", "status": "x"}),
    )
    .await;
    tool_call(
        url,
        &k,
        EMPLOYEE,
        json!({"employee_id": "E001", "api_key": "hunter2"}),
    )
    .await;
    assert_eq!(tool_call(url, &[], EMPLOYEE, json!({})).await.status, 401);
    // Records are committed before the answer; the unauthenticated one is written unawaited.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (ok, out) = audit_cli(&db, &["tail", "--json", "-n", "100"]);
    assert!(ok, "{out}");
    let records: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let by = |target: &str, outcome: &str| {
        records.iter().any(|r| {
            r["target"] == target
                && r["outcome"] == outcome
                && r["subject"] == "key:auditor"
                && r["role"] == "viewer"
        })
    };
    assert!(by(EMPLOYEE, "ok"), "{out}");
    assert!(by("company__update_project_status", "denied"), "{out}");
    assert!(
        records.iter().any(|r| r["outcome"] == "unauthenticated"),
        "{out}"
    );
    assert!(
        records
            .iter()
            .all(|r| r["client_ip"] == "127.0.0.1" || r["outcome"].is_null()),
        "{out}"
    );
    assert!(!out.contains("hunter2"), "secrets must be redacted: {out}");
    assert!(out.contains("[REDACTED]"), "{out}");
    let (ok, out) = audit_cli(&db, &["verify"]);
    assert!(ok && out.contains("chain intact"), "{out}");
    let (ok, out) = audit_cli(&db, &["search", "update_project"]);
    assert!(ok && out.contains("denied"), "{out}");

    // Edit a record (after dropping the append-only trigger, as an intruder would).
    drop(gw);
    let copy = dir.join("edited.db");
    copy_db(&db, &copy);
    sql(
        &copy,
        "DROP TRIGGER audit_no_update; UPDATE audit SET outcome = 'ok' WHERE outcome = 'denied';",
    );
    let (ok, out) = audit_cli(&copy, &["verify"]);
    assert!(!ok && out.contains("edited"), "{out}");
    // Remove one.
    let copy = dir.join("removed.db");
    copy_db(&db, &copy);
    sql(
        &copy,
        "DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq = 2;",
    );
    let (ok, out) = audit_cli(&copy, &["verify"]);
    assert!(!ok && out.contains("BROKEN at record 3"), "{out}");
    // Reorder two (swap their sequence numbers).
    let copy = dir.join("reordered.db");
    copy_db(&db, &copy);
    sql(
        &copy,
        "DROP TRIGGER audit_no_update; UPDATE audit SET seq = -1 WHERE seq = 1; UPDATE audit SET seq = 1 WHERE seq = 2; UPDATE audit SET seq = 2 WHERE seq = -1;",
    );
    let (ok, out) = audit_cli(&copy, &["verify"]);
    assert!(!ok && out.contains("BROKEN at record 1"), "{out}");
}

/// A crash loses no acknowledged record: a gateway killed with SIGKILL in the middle of
/// concurrent calls leaves a chain that verifies and holds a record for every call that was
/// answered; the next start takes the journal into the database and chains on.
#[tokio::test]
async fn a_killed_gateway_loses_no_acknowledged_record() {
    let dir = scratch_dir("audit-kill");
    let db = dir.join("audit.db");
    let yaml = format!(
        "auth:\n  anonymous_role: admin\naudit: {{path: \"{db}\"}}\nservers:\n{company}",
        db = db.display(),
        company = stdio_entry("company", &workspace_bin("company-api"), &[]),
    );
    let mut gw = Gateway::start(&yaml);
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (url, answered) = (gw.url.clone(), answered.clone());
            tokio::spawn(async move {
                // Bounded: at most 400 calls per worker; the kill ends it sooner.
                for _ in 0..400 {
                    let a = tool_call(&url, &[], EMPLOYEE, json!({"employee_id": "E001"})).await;
                    if a.status != 200 {
                        return;
                    }
                    answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            })
        })
        .collect();
    // Kill the moment 150 calls are answered: the latest records are then in the journal
    // only (it is moved into the database every 100 ms).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while answered.load(std::sync::atomic::Ordering::SeqCst) < 150
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let _ = gw.proc.child.kill();
    let _ = gw.proc.child.wait();
    let acknowledged = answered.load(std::sync::atomic::Ordering::SeqCst);
    for w in workers {
        let _ = w.await;
    }
    assert!(acknowledged > 0, "no call was answered before the kill");

    let count_ok = |out: &str| {
        out.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|r| r["target"] == EMPLOYEE && r["outcome"] == "ok")
            .count()
    };
    let (ok, out) = audit_cli(&db, &["verify"]);
    assert!(ok && out.contains("chain intact"), "{out}");
    let (ok, out) = audit_cli(&db, &["tail", "--json", "-n", "100000"]);
    assert!(ok, "{out}");
    let recorded = count_ok(&out);
    assert!(
        recorded >= acknowledged,
        "{acknowledged} calls answered, {recorded} recorded"
    );

    // The next start recovers the journal and chains on; a clean stop leaves it empty.
    let mut gw = Gateway::start(&yaml);
    assert_eq!(
        tool_call(&gw.url, &[], EMPLOYEE, json!({"employee_id": "E001"}))
            .await
            .status,
        200
    );
    assert!(gw.proc.terminate(Duration::from_secs(10)).is_some());
    let journal = dir.join("audit.db.pending");
    assert_eq!(std::fs::metadata(&journal).map(|m| m.len()).unwrap_or(0), 0);
    let (ok, out) = audit_cli(&db, &["verify"]);
    assert!(ok && out.contains("chain intact"), "{out}");
    let (_, out) = audit_cli(&db, &["tail", "--json", "-n", "100000"]);
    assert_eq!(count_ok(&out), recorded + 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// One audit file, one writer: a second gateway on the same file refuses to start, naming the
/// process that holds it (their records would break each other's chain); `switchboard tools`
/// on the running gateway's config runs without an audit trail and says so; per-replica files
/// are verified together, each as its own chain.
#[tokio::test]
async fn one_audit_file_has_one_writer_and_replica_files_verify_together() {
    let dir = scratch_dir("audit-lock");
    let db = dir.join("audit.db");
    let yaml = format!(
        "audit: {{path: \"{db}\"}}\nservers:\n{company}",
        db = db.display(),
        company = stdio_entry("company", &workspace_bin("company-api"), &[]),
    );
    let gw = Gateway::start(&yaml);
    let second = Command::new(switchboard())
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&gw.config)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "{said}");
    assert!(
        said.contains("is being written by another process")
            && said.contains(&format!("pid {}", gw.proc.pid())),
        "{said}"
    );
    let tools = Command::new(switchboard())
        .args(["tools", "--config"])
        .arg(&gw.config)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&tools.stderr);
    assert!(tools.status.success(), "{err}");
    assert!(
        String::from_utf8_lossy(&tools.stdout).contains("company__"),
        "{err}"
    );
    assert!(err.contains("not audited"), "{err}");
    assert_eq!(
        tool_call(&gw.url, &[], EMPLOYEE, json!({"employee_id": "E001"}))
            .await
            .status,
        200
    );
    // A clean stop moves the journal into the database.
    let mut gw = gw;
    assert!(gw.proc.terminate(Duration::from_secs(10)).is_some());

    // Two replicas' files: both intact, then one edited — named, and the exit is 1.
    let (a, b) = (dir.join("audit-a.db"), dir.join("audit-b.db"));
    copy_db(&db, &a);
    copy_db(&db, &b);
    let verify = |files: &[&Path]| {
        let out = Command::new(switchboard())
            .args(["audit", "verify", "--file"])
            .args(files)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (ok, out) = verify(&[&a, &b]);
    assert!(ok, "{out}");
    assert_eq!(out.matches("chain intact").count(), 2, "{out}");
    sql(
        &b,
        "DROP TRIGGER audit_no_update; UPDATE audit SET outcome = 'denied' WHERE seq = 1;",
    );
    let (ok, out) = verify(&[&a, &b]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!("ok: {}", a.display()))
            && out.contains(&format!("BROKEN: {}", b.display())),
        "{out}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
