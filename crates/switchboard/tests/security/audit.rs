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
    let dir = std::env::temp_dir().join(format!("sb-audit-it-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
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
