//! Tasks in PostgreSQL, shared by every replica that reaches it: one row per task; every
//! operation one statement whose `WHERE` is its guard; a claim takes the oldest runnable row
//! with `FOR UPDATE SKIP LOCKED`, so replicas claiming at once never collide or wait on each
//! other. The connection is re-opened when it breaks.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use tokio::sync::Mutex;
use tokio_postgres::{Client, NoTls, Row};

use crate::model::{Outcome, Status, Task};
use crate::store::{Ending, Result, TaskStore, TaskStoreError};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS switchboard_tasks (
  id TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  tool TEXT NOT NULL,
  params TEXT NOT NULL,
  status TEXT NOT NULL,
  status_message TEXT,
  progress DOUBLE PRECISION,
  outcome_kind TEXT,
  outcome TEXT,
  created_ms BIGINT NOT NULL,
  updated_ms BIGINT NOT NULL,
  ttl_ms BIGINT NOT NULL,
  attempts INTEGER NOT NULL,
  next_run_ms BIGINT NOT NULL,
  lease_owner TEXT,
  lease_until_ms BIGINT
);
CREATE INDEX IF NOT EXISTS switchboard_tasks_owner ON switchboard_tasks (owner, created_ms DESC, id DESC);
CREATE INDEX IF NOT EXISTS switchboard_tasks_runnable ON switchboard_tasks (status, next_run_ms);
CREATE TABLE IF NOT EXISTS switchboard_task_input (
  task_id TEXT NOT NULL,
  key TEXT NOT NULL,
  request TEXT NOT NULL,
  response TEXT,
  seq BIGSERIAL,
  PRIMARY KEY (task_id, key)
);
CREATE TABLE IF NOT EXISTS switchboard_task_checkpoint (
  task_id TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  updated_ms BIGINT NOT NULL
);
";

const COLUMNS: &str = "id, owner, tool, params, status, status_message, progress, outcome_kind, outcome, created_ms, updated_ms, ttl_ms, attempts, next_run_ms, lease_owner, lease_until_ms";

/// The PostgreSQL task store.
#[derive(Clone)]
pub struct PgTasks {
    url: String,
    client: Arc<Mutex<Option<Arc<Client>>>>,
}

fn err(e: impl std::fmt::Display) -> TaskStoreError {
    TaskStoreError {
        store: "postgres",
        reason: e.to_string(),
    }
}

fn task(r: &Row) -> Task {
    let kind: Option<String> = r.get(7);
    let outcome: Option<String> = r.get(8);
    let attempts: i32 = r.get(12);
    Task {
        id: r.get(0),
        owner: r.get(1),
        tool: r.get(2),
        params: r.get(3),
        status: Status::parse(r.get(4)).unwrap_or(Status::Failed),
        status_message: r.get(5),
        progress: r.get(6),
        outcome: match (kind.as_deref(), outcome) {
            (Some("result"), Some(o)) => Some(Outcome::Result(o)),
            (Some("error"), Some(o)) => Some(Outcome::Error(o)),
            _ => None,
        },
        created_ms: r.get(9),
        updated_ms: r.get(10),
        ttl_ms: r.get(11),
        attempts: u32::try_from(attempts).unwrap_or(0),
        next_run_ms: r.get(13),
        lease_owner: r.get(14),
        lease_until_ms: r.get(15),
    }
}

fn outcome_parts(o: &Option<Outcome>) -> (Option<&'static str>, Option<String>) {
    match o {
        Some(Outcome::Result(s)) => (Some("result"), Some(s.clone())),
        Some(Outcome::Error(s)) => (Some("error"), Some(s.clone())),
        None => (None, None),
    }
}

impl PgTasks {
    /// Connect to `url` (`postgres://user@host/db`) and create the table if it is missing;
    /// errors name the URL.
    pub async fn connect(url: &str) -> Result<Self> {
        let s = Self {
            url: url.to_owned(),
            client: Arc::new(Mutex::new(None)),
        };
        let c = s.client().await?;
        c.batch_execute(SCHEMA).await.map_err(err)?;
        Ok(s)
    }

    /// The live connection, opened again if the last one broke.
    async fn client(&self) -> Result<Arc<Client>> {
        let mut slot = self.client.lock().await;
        if let Some(c) = slot.as_ref().filter(|c| !c.is_closed()) {
            return Ok(c.clone());
        }
        let (client, conn) = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            tokio_postgres::connect(&self.url, NoTls),
        )
        .await
        .map_err(|_| err(format!("{}: no answer within 5s", self.url)))?
        .map_err(|e| err(format!("{}: {e}", self.url)))?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::warn!(error = %e, "task store connection (postgres) ended");
            }
        });
        let client = Arc::new(client);
        *slot = Some(client.clone());
        Ok(client)
    }
}

impl TaskStore for PgTasks {
    fn create<'a>(&'a self, t: &'a Task) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let (kind, outcome) = outcome_parts(&t.outcome);
            let attempts = i32::try_from(t.attempts).unwrap_or(i32::MAX);
            self.client()
                .await?
                .execute(
                    &format!("INSERT INTO switchboard_tasks ({COLUMNS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)"),
                    &[
                        &t.id, &t.owner, &t.tool, &t.params, &t.status.as_str(), &t.status_message, &t.progress,
                        &kind, &outcome, &t.created_ms, &t.updated_ms, &t.ttl_ms, &attempts, &t.next_run_ms,
                        &t.lease_owner, &t.lease_until_ms,
                    ],
                )
                .await
                .map(|_| ())
                .map_err(err)
        })
    }

    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Task>>> {
        Box::pin(async move {
            let rows = self
                .client()
                .await?
                .query(
                    &format!("SELECT {COLUMNS} FROM switchboard_tasks WHERE id = $1"),
                    &[&id],
                )
                .await
                .map_err(err)?;
            Ok(rows.first().map(task))
        })
    }

    fn list<'a>(
        &'a self,
        owner: &'a str,
        after: Option<&'a str>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<Task>>> {
        Box::pin(async move {
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let c = self.client().await?;
            let rows = match after {
                None => c
                    .query(
                        &format!("SELECT {COLUMNS} FROM switchboard_tasks WHERE owner = $1 ORDER BY created_ms DESC, id DESC LIMIT $2"),
                        &[&owner, &limit],
                    )
                    .await,
                Some(a) => c
                    .query(
                        &format!(
                            "SELECT {COLUMNS} FROM switchboard_tasks t WHERE owner = $1 AND EXISTS (SELECT 1 FROM switchboard_tasks c WHERE c.id = $2 AND c.owner = $1 AND (t.created_ms, t.id) < (c.created_ms, c.id)) ORDER BY created_ms DESC, id DESC LIMIT $3"
                        ),
                        &[&owner, &a, &limit],
                    )
                    .await,
            }
            .map_err(err)?;
            Ok(rows.iter().map(task).collect())
        })
    }

    fn list_recent<'a>(
        &'a self,
        after: Option<&'a str>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<Task>>> {
        Box::pin(async move {
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let c = self.client().await?;
            let rows = match after {
                None => c
                    .query(
                        &format!("SELECT {COLUMNS} FROM switchboard_tasks ORDER BY created_ms DESC, id DESC LIMIT $1"),
                        &[&limit],
                    )
                    .await,
                Some(a) => c
                    .query(
                        &format!(
                            "SELECT {COLUMNS} FROM switchboard_tasks t WHERE EXISTS (SELECT 1 FROM switchboard_tasks c WHERE c.id = $1 AND (t.created_ms, t.id) < (c.created_ms, c.id)) ORDER BY created_ms DESC, id DESC LIMIT $2"
                        ),
                        &[&a, &limit],
                    )
                    .await,
            }
            .map_err(err)?;
            Ok(rows.iter().map(task).collect())
        })
    }

    fn set_status<'a>(
        &'a self,
        id: &'a str,
        to: Status,
        message: Option<&'a str>,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            if to.is_terminal() {
                return Ok(false);
            }
            let from: Vec<&str> = Status::ALL
                .iter()
                .filter(|s| s.can_become(to))
                .map(|s| s.as_str())
                .collect();
            let n = self
                .client()
                .await?
                .execute(
                    "UPDATE switchboard_tasks SET status = $1, status_message = $2, updated_ms = $3 WHERE id = $4 AND status = ANY($5)",
                    &[&to.as_str(), &message, &now_ms, &id, &from],
                )
                .await
                .map_err(err)?;
            Ok(n == 1)
        })
    }

    fn set_progress<'a>(
        &'a self,
        id: &'a str,
        progress: f64,
        message: Option<&'a str>,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.client()
                .await?
                .execute(
                    "UPDATE switchboard_tasks SET progress = $1, status_message = COALESCE($2, status_message), updated_ms = $3 WHERE id = $4 AND status IN ('working', 'input_required')",
                    &[&progress.clamp(0.0, 100.0), &message, &now_ms, &id],
                )
                .await
                .map(|_| ())
                .map_err(err)
        })
    }

    fn finish<'a>(
        &'a self,
        id: &'a str,
        end: &'a Ending,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            if !end.status.is_terminal() {
                return Ok(false);
            }
            let (kind, outcome) = outcome_parts(&end.outcome);
            let n = self
                .client()
                .await?
                .execute(
                    "UPDATE switchboard_tasks SET status = $1, status_message = $2, outcome_kind = $3, outcome = $4, updated_ms = $5, lease_owner = NULL, lease_until_ms = NULL WHERE id = $6 AND status IN ('working', 'input_required')",
                    &[&end.status.as_str(), &end.message, &kind, &outcome, &now_ms, &id],
                )
                .await
                .map_err(err)?;
            Ok(n == 1)
        })
    }

    fn claim<'a>(
        &'a self,
        worker: &'a str,
        now_ms: i64,
        lease_until_ms: i64,
    ) -> BoxFuture<'a, Result<Option<Task>>> {
        Box::pin(async move {
            let rows = self
                .client()
                .await?
                .query(
                    &format!(
                        "UPDATE switchboard_tasks SET status = 'working', lease_owner = $1, lease_until_ms = $3, attempts = attempts + 1, updated_ms = $2
                         WHERE id = (SELECT id FROM switchboard_tasks WHERE (status = 'working' OR (status = 'input_required' AND lease_until_ms < $2)) AND next_run_ms <= $2
                                     AND (lease_until_ms IS NULL OR lease_until_ms < $2)
                                     ORDER BY next_run_ms, created_ms LIMIT 1 FOR UPDATE SKIP LOCKED)
                         RETURNING {COLUMNS}"
                    ),
                    &[&worker, &now_ms, &lease_until_ms],
                )
                .await
                .map_err(err)?;
            Ok(rows.first().map(task))
        })
    }

    fn heartbeat<'a>(
        &'a self,
        id: &'a str,
        worker: &'a str,
        lease_until_ms: i64,
    ) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let n = self
                .client()
                .await?
                .execute(
                    "UPDATE switchboard_tasks SET lease_until_ms = $1 WHERE id = $2 AND lease_owner = $3 AND status IN ('working', 'input_required')",
                    &[&lease_until_ms, &id, &worker],
                )
                .await
                .map_err(err)?;
            Ok(n == 1)
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
        Box::pin(async move {
            let n = self
                .client()
                .await?
                .execute(
                    "UPDATE switchboard_tasks SET lease_owner = NULL, lease_until_ms = NULL, next_run_ms = $1, status_message = $2, updated_ms = $3 WHERE id = $4 AND lease_owner = $5 AND status = 'working'",
                    &[&next_run_ms, &message, &now_ms, &id, &worker],
                )
                .await
                .map_err(err)?;
            Ok(n == 1)
        })
    }

    fn ask<'a>(
        &'a self,
        id: &'a str,
        key: &'a str,
        request: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let n = self
                .client()
                .await?
                .execute(
                    "WITH t AS (UPDATE switchboard_tasks SET status = 'input_required', updated_ms = $4
                                WHERE id = $1 AND status IN ('working', 'input_required') RETURNING id)
                     INSERT INTO switchboard_task_input (task_id, key, request) SELECT id, $2, $3 FROM t",
                    &[&id, &key, &request, &now_ms],
                )
                .await
                .map_err(err)?;
            Ok(n == 1)
        })
    }

    fn pending<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Vec<(String, String)>>> {
        Box::pin(async move {
            let rows = self
                .client()
                .await?
                .query(
                    "SELECT key, request FROM switchboard_task_input WHERE task_id = $1 AND response IS NULL ORDER BY seq",
                    &[&id],
                )
                .await
                .map_err(err)?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    fn answer<'a>(
        &'a self,
        id: &'a str,
        key: &'a str,
        response: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let c = self.client().await?;
            let n = c
                .execute(
                    "UPDATE switchboard_task_input SET response = $3 WHERE task_id = $1 AND key = $2 AND response IS NULL",
                    &[&id, &key, &response],
                )
                .await
                .map_err(err)?;
            if n == 1 {
                c.execute(
                    "UPDATE switchboard_tasks SET status = 'working', updated_ms = $2 WHERE id = $1 AND status = 'input_required'
                     AND NOT EXISTS (SELECT 1 FROM switchboard_task_input WHERE task_id = $1 AND response IS NULL)",
                    &[&id, &now_ms],
                )
                .await
                .map_err(err)?;
            }
            Ok(n == 1)
        })
    }

    fn take_answer<'a>(
        &'a self,
        id: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>>> {
        Box::pin(async move {
            let rows = self
                .client()
                .await?
                .query(
                    "DELETE FROM switchboard_task_input WHERE task_id = $1 AND key = $2 AND response IS NOT NULL RETURNING response",
                    &[&id, &key],
                )
                .await
                .map_err(err)?;
            Ok(rows.first().map(|r| r.get(0)))
        })
    }

    fn save_checkpoint<'a>(
        &'a self,
        id: &'a str,
        state: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let c = self.client().await?;
            c.execute(
                "INSERT INTO switchboard_task_checkpoint (task_id, state, updated_ms)
                 SELECT id, $2, $3 FROM switchboard_tasks WHERE id = $1 AND status IN ('working', 'input_required')
                 ON CONFLICT (task_id) DO UPDATE SET state = EXCLUDED.state, updated_ms = EXCLUDED.updated_ms",
                &[&id, &state, &now_ms],
            )
            .await
            .map_err(err)?;
            Ok(())
        })
    }

    fn checkpoint<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<String>>> {
        Box::pin(async move {
            let c = self.client().await?;
            let row = c
                .query_opt(
                    "SELECT state FROM switchboard_task_checkpoint WHERE task_id = $1",
                    &[&id],
                )
                .await
                .map_err(err)?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    fn clear_input<'a>(&'a self, id: &'a str, now_ms: i64) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let c = self.client().await?;
            c.execute(
                "DELETE FROM switchboard_task_input WHERE task_id = $1",
                &[&id],
            )
            .await
            .map_err(err)?;
            c.execute(
                "UPDATE switchboard_tasks SET status = 'working', updated_ms = $2 WHERE id = $1 AND status = 'input_required'",
                &[&id, &now_ms],
            )
            .await
            .map_err(err)?;
            Ok(())
        })
    }

    fn expire<'a>(&'a self, now_ms: i64) -> BoxFuture<'a, Result<usize>> {
        Box::pin(async move {
            let c = self.client().await?;
            let n = c
                .execute(
                    "DELETE FROM switchboard_tasks WHERE status IN ('completed', 'failed', 'cancelled') AND updated_ms + ttl_ms < $1",
                    &[&now_ms],
                )
                .await
                .map_err(err)?;
            c.execute(
                "DELETE FROM switchboard_task_input i WHERE NOT EXISTS (SELECT 1 FROM switchboard_tasks t WHERE t.id = i.task_id)",
                &[],
            )
            .await
            .map_err(err)?;
            c.execute(
                "DELETE FROM switchboard_task_checkpoint k WHERE NOT EXISTS (SELECT 1 FROM switchboard_tasks t WHERE t.id = k.task_id)",
                &[],
            )
            .await
            .map_err(err)?;
            Ok(usize::try_from(n).unwrap_or(usize::MAX))
        })
    }
}

#[cfg(test)]
mod tests;
