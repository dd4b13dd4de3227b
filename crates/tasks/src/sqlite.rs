//! Tasks in one SQLite file (WAL; a busy timeout; every operation one statement or one
//! immediate transaction), shared by the workers of one machine and surviving restarts.

use std::path::Path;
use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use rusqlite::{Connection, OptionalExtension, params};

use crate::model::{Outcome, Status, Task};
use crate::store::{Ending, Result, TaskStore, TaskStoreError};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS tasks (
  id TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  tool TEXT NOT NULL,
  params TEXT NOT NULL,
  status TEXT NOT NULL,
  status_message TEXT,
  progress REAL,
  outcome_kind TEXT,
  outcome TEXT,
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL,
  ttl_ms INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  next_run_ms INTEGER NOT NULL,
  lease_owner TEXT,
  lease_until_ms INTEGER
);
CREATE INDEX IF NOT EXISTS tasks_owner ON tasks (owner, created_ms);
CREATE INDEX IF NOT EXISTS tasks_runnable ON tasks (status, next_run_ms);
CREATE TABLE IF NOT EXISTS task_input (
  task_id TEXT NOT NULL,
  key TEXT NOT NULL,
  request TEXT NOT NULL,
  response TEXT,
  PRIMARY KEY (task_id, key)
);
CREATE TABLE IF NOT EXISTS task_checkpoint (
  task_id TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  updated_ms INTEGER NOT NULL
);
";

const COLUMNS: &str = "id, owner, tool, params, status, status_message, progress, outcome_kind, outcome, created_ms, updated_ms, ttl_ms, attempts, next_run_ms, lease_owner, lease_until_ms";

/// The SQLite task store.
#[derive(Clone)]
pub struct SqliteTasks {
    conn: Arc<Mutex<Connection>>,
}

fn err(e: impl std::fmt::Display) -> TaskStoreError {
    TaskStoreError {
        store: "sqlite",
        reason: e.to_string(),
    }
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Task> {
    let status: String = r.get(4)?;
    let kind: Option<String> = r.get(7)?;
    let outcome: Option<String> = r.get(8)?;
    Ok(Task {
        id: r.get(0)?,
        owner: r.get(1)?,
        tool: r.get(2)?,
        params: r.get(3)?,
        status: Status::parse(&status).unwrap_or(Status::Failed),
        status_message: r.get(5)?,
        progress: r.get(6)?,
        outcome: match (kind.as_deref(), outcome) {
            (Some("result"), Some(o)) => Some(Outcome::Result(o)),
            (Some("error"), Some(o)) => Some(Outcome::Error(o)),
            _ => None,
        },
        created_ms: r.get(9)?,
        updated_ms: r.get(10)?,
        ttl_ms: r.get(11)?,
        attempts: r.get(12)?,
        next_run_ms: r.get(13)?,
        lease_owner: r.get(14)?,
        lease_until_ms: r.get(15)?,
    })
}

impl SqliteTasks {
    /// Open (or create) the store at `path`; the error names the file.
    pub fn open(path: &Path) -> Result<Self> {
        let named = |e: rusqlite::Error| err(format!("{}: {e}", path.display()));
        let conn = Connection::open(path).map_err(named)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(named)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(named)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(named)?;
        conn.execute_batch(SCHEMA).map_err(named)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Run `f` on the connection off the async workers.
    fn with<'a, T: Send + 'static>(
        &'a self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> BoxFuture<'a, Result<T>> {
        let conn = self.conn.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let mut c = conn
                    .lock()
                    .map_err(|_| err("the connection's lock is poisoned"))?;
                f(&mut c).map_err(err)
            })
            .await
            .map_err(err)?
        })
    }
}

impl TaskStore for SqliteTasks {
    fn create<'a>(&'a self, task: &'a Task) -> BoxFuture<'a, Result<()>> {
        let t = task.clone();
        self.with(move |c| {
            let (kind, outcome) = match &t.outcome {
                Some(Outcome::Result(o)) => (Some("result"), Some(o.clone())),
                Some(Outcome::Error(o)) => (Some("error"), Some(o.clone())),
                None => (None, None),
            };
            c.execute(
                &format!("INSERT INTO tasks ({COLUMNS}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16)"),
                params![
                    t.id, t.owner, t.tool, t.params, t.status.as_str(), t.status_message, t.progress,
                    kind, outcome, t.created_ms, t.updated_ms, t.ttl_ms, t.attempts, t.next_run_ms,
                    t.lease_owner, t.lease_until_ms
                ],
            )
            .map(|_| ())
        })
    }

    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Task>>> {
        let id = id.to_owned();
        self.with(move |c| {
            c.query_row(
                &format!("SELECT {COLUMNS} FROM tasks WHERE id = ?1"),
                [id],
                row,
            )
            .optional()
        })
    }

    fn list<'a>(
        &'a self,
        owner: &'a str,
        after: Option<&'a str>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<Task>>> {
        let (owner, after) = (owner.to_owned(), after.map(str::to_owned));
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with(move |c| {
            // Newest first; the cursor is the last task of the previous page.
            let (ms, id) = match &after {
                Some(a) => c
                    .query_row("SELECT created_ms, id FROM tasks WHERE id = ?1 AND owner = ?2", params![a, owner], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                    })
                    .optional()?
                    .unwrap_or((i64::MAX, String::new())),
                None => (i64::MAX, String::new()),
            };
            let mut st = c.prepare(&format!(
                "SELECT {COLUMNS} FROM tasks WHERE owner = ?1 AND (created_ms < ?2 OR (created_ms = ?2 AND id < ?3)) ORDER BY created_ms DESC, id DESC LIMIT ?4"
            ))?;
            let tasks = st
                .query_map(params![owner, ms, if id.is_empty() { "\u{10FFFF}".to_owned() } else { id }, limit], row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(tasks)
        })
    }

    fn list_recent<'a>(
        &'a self,
        after: Option<&'a str>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<Task>>> {
        let after = after.map(str::to_owned);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with(move |c| {
            let (ms, id) = match &after {
                Some(a) => c
                    .query_row("SELECT created_ms, id FROM tasks WHERE id = ?1", [a], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                    })
                    .optional()?
                    .unwrap_or((i64::MAX, String::new())),
                None => (i64::MAX, "\u{10FFFF}".to_owned()),
            };
            let mut st = c.prepare(&format!(
                "SELECT {COLUMNS} FROM tasks WHERE created_ms < ?1 OR (created_ms = ?1 AND id < ?2) ORDER BY created_ms DESC, id DESC LIMIT ?3"
            ))?;
            let tasks = st
                .query_map(params![ms, id, limit], row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(tasks)
        })
    }

    fn set_status<'a>(
        &'a self,
        id: &'a str,
        to: Status,
        message: Option<&'a str>,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<bool>> {
        let (id, message) = (id.to_owned(), message.map(str::to_owned));
        self.with(move |c| {
            if to.is_terminal() {
                return Ok(false);
            }
            let from: Vec<&str> = Status::ALL
                .iter()
                .filter(|s| s.can_become(to))
                .map(|s| s.as_str())
                .collect();
            let n = c.execute(
                "UPDATE tasks SET status = ?1, status_message = ?2, updated_ms = ?3 WHERE id = ?4 AND status IN (?5, ?6)",
                params![to.as_str(), message, now_ms, id, from.first().copied().unwrap_or(""), from.get(1).copied().unwrap_or("")],
            )?;
            Ok(n == 1)
        })
    }

    fn save_checkpoint<'a>(
        &'a self,
        id: &'a str,
        state: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<()>> {
        let (id, state) = (id.to_owned(), state.to_owned());
        self.with(move |c| {
            c.execute(
                "INSERT INTO task_checkpoint (task_id, state, updated_ms) SELECT id, ?2, ?3 FROM tasks WHERE id = ?1 AND status IN ('working', 'input_required') ON CONFLICT (task_id) DO UPDATE SET state = excluded.state, updated_ms = excluded.updated_ms",
                params![id, state, now_ms],
            )
            .map(|_| ())
        })
    }

    fn checkpoint<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<String>>> {
        let id = id.to_owned();
        self.with(move |c| {
            use rusqlite::OptionalExtension;
            c.query_row(
                "SELECT state FROM task_checkpoint WHERE task_id = ?1",
                [&id],
                |r| r.get(0),
            )
            .optional()
        })
    }

    fn set_progress<'a>(
        &'a self,
        id: &'a str,
        progress: f64,
        message: Option<&'a str>,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<()>> {
        let (id, message) = (id.to_owned(), message.map(str::to_owned));
        self.with(move |c| {
            c.execute(
                "UPDATE tasks SET progress = ?1, status_message = COALESCE(?2, status_message), updated_ms = ?3 WHERE id = ?4 AND status IN ('working', 'input_required')",
                params![progress.clamp(0.0, 100.0), message, now_ms, id],
            )
            .map(|_| ())
        })
    }

    fn finish<'a>(
        &'a self,
        id: &'a str,
        end: &'a Ending,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<bool>> {
        let (id, end) = (id.to_owned(), end.clone());
        self.with(move |c| {
            if !end.status.is_terminal() {
                return Ok(false);
            }
            let (kind, outcome) = match end.outcome {
                Some(Outcome::Result(o)) => (Some("result"), Some(o)),
                Some(Outcome::Error(o)) => (Some("error"), Some(o)),
                None => (None, None),
            };
            let n = c.execute(
                "UPDATE tasks SET status = ?1, status_message = ?2, outcome_kind = ?3, outcome = ?4, updated_ms = ?5, lease_owner = NULL, lease_until_ms = NULL WHERE id = ?6 AND status IN ('working', 'input_required')",
                params![end.status.as_str(), end.message, kind, outcome, now_ms, id],
            )?;
            Ok(n == 1)
        })
    }

    fn claim<'a>(
        &'a self,
        worker: &'a str,
        now_ms: i64,
        lease_until_ms: i64,
    ) -> BoxFuture<'a, Result<Option<Task>>> {
        let worker = worker.to_owned();
        self.with(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let id: Option<String> = tx
                .query_row(
                    "SELECT id FROM tasks WHERE (status = 'working' OR (status = 'input_required' AND lease_until_ms < ?1)) AND next_run_ms <= ?1 AND (lease_until_ms IS NULL OR lease_until_ms < ?1) ORDER BY next_run_ms, created_ms LIMIT 1",
                    [now_ms],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(id) = id else {
                return Ok(None);
            };
            tx.execute(
                "UPDATE tasks SET status = 'working', lease_owner = ?1, lease_until_ms = ?2, attempts = attempts + 1, updated_ms = ?3 WHERE id = ?4",
                params![worker, lease_until_ms, now_ms, id],
            )?;
            let task = tx.query_row(&format!("SELECT {COLUMNS} FROM tasks WHERE id = ?1"), [&id], row)?;
            tx.commit()?;
            Ok(Some(task))
        })
    }

    fn heartbeat<'a>(
        &'a self,
        id: &'a str,
        worker: &'a str,
        lease_until_ms: i64,
    ) -> BoxFuture<'a, Result<bool>> {
        let (id, worker) = (id.to_owned(), worker.to_owned());
        self.with(move |c| {
            c.execute(
                "UPDATE tasks SET lease_until_ms = ?1 WHERE id = ?2 AND lease_owner = ?3 AND status IN ('working', 'input_required')",
                params![lease_until_ms, id, worker],
            )
            .map(|n| n == 1)
        })
    }

    fn retry_at<'a>(
        &'a self,
        id: &'a str,
        worker: &'a str,
        next_run_ms: i64,
        message: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<bool>> {
        let (id, worker, message) = (id.to_owned(), worker.to_owned(), message.to_owned());
        self.with(move |c| {
            c.execute(
                "UPDATE tasks SET lease_owner = NULL, lease_until_ms = NULL, next_run_ms = ?1, status_message = ?2, updated_ms = ?3 WHERE id = ?4 AND lease_owner = ?5 AND status = 'working'",
                params![next_run_ms, message, now_ms, id, worker],
            )
            .map(|n| n == 1)
        })
    }

    fn ask<'a>(
        &'a self,
        id: &'a str,
        key: &'a str,
        request: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<bool>> {
        let (id, key, request) = (id.to_owned(), key.to_owned(), request.to_owned());
        self.with(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let n = tx.execute(
                "UPDATE tasks SET status = 'input_required', updated_ms = ?1 WHERE id = ?2 AND status IN ('working', 'input_required')",
                params![now_ms, id],
            )?;
            if n == 0 {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO task_input (task_id, key, request) VALUES (?1, ?2, ?3)",
                params![id, key, request],
            )?;
            tx.commit()?;
            Ok(true)
        })
    }

    fn pending<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Vec<(String, String)>>> {
        let id = id.to_owned();
        self.with(move |c| {
            let mut st = c.prepare(
                "SELECT key, request FROM task_input WHERE task_id = ?1 AND response IS NULL ORDER BY rowid",
            )?;
            let rows = st
                .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }

    fn answer<'a>(
        &'a self,
        id: &'a str,
        key: &'a str,
        response: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<bool>> {
        let (id, key, response) = (id.to_owned(), key.to_owned(), response.to_owned());
        self.with(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let n = tx.execute(
                "UPDATE task_input SET response = ?1 WHERE task_id = ?2 AND key = ?3 AND response IS NULL",
                params![response, id, key],
            )?;
            if n == 1 {
                tx.execute(
                    "UPDATE tasks SET status = 'working', updated_ms = ?1 WHERE id = ?2 AND status = 'input_required' AND NOT EXISTS (SELECT 1 FROM task_input WHERE task_id = ?2 AND response IS NULL)",
                    params![now_ms, id],
                )?;
            }
            tx.commit()?;
            Ok(n == 1)
        })
    }

    fn take_answer<'a>(
        &'a self,
        id: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>>> {
        let (id, key) = (id.to_owned(), key.to_owned());
        self.with(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let response: Option<String> = tx
                .query_row(
                    "SELECT response FROM task_input WHERE task_id = ?1 AND key = ?2 AND response IS NOT NULL",
                    params![id, key],
                    |r| r.get(0),
                )
                .optional()?;
            if response.is_some() {
                tx.execute(
                    "DELETE FROM task_input WHERE task_id = ?1 AND key = ?2",
                    params![id, key],
                )?;
            }
            tx.commit()?;
            Ok(response)
        })
    }

    fn clear_input<'a>(&'a self, id: &'a str, now_ms: i64) -> BoxFuture<'a, Result<()>> {
        let id = id.to_owned();
        self.with(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            tx.execute("DELETE FROM task_input WHERE task_id = ?1", [&id])?;
            tx.execute(
                "UPDATE tasks SET status = 'working', updated_ms = ?1 WHERE id = ?2 AND status = 'input_required'",
                params![now_ms, id],
            )?;
            tx.commit()
        })
    }

    fn expire<'a>(&'a self, now_ms: i64) -> BoxFuture<'a, Result<usize>> {
        self.with(move |c| {
            let n = c.execute(
                "DELETE FROM tasks WHERE status IN ('completed', 'failed', 'cancelled') AND updated_ms + ttl_ms < ?1",
                [now_ms],
            )?;
            c.execute(
                "DELETE FROM task_input WHERE task_id NOT IN (SELECT id FROM tasks)",
                [],
            )?;
            c.execute(
                "DELETE FROM task_checkpoint WHERE task_id NOT IN (SELECT id FROM tasks)",
                [],
            )?;
            Ok(n)
        })
    }
}

#[cfg(test)]
mod tests;
