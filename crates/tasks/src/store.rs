//! Where tasks live: the operations workers and the protocol need, each atomic in the store
//! (a status moves only from what the caller saw; one worker claims a task at a time, for a
//! lease it renews), so several workers — and later several replicas — can share one store.

use futures_util::future::BoxFuture;

use crate::model::{Outcome, Status, Task};

/// Why a store operation failed: the store's own words, naming it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("task store ({store}): {reason}")]
pub struct TaskStoreError {
    pub store: &'static str,
    pub reason: String,
}

pub type Result<T> = std::result::Result<T, TaskStoreError>;

/// What ended a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    pub status: Status,
    pub message: Option<String>,
    pub outcome: Option<Outcome>,
}

pub trait TaskStore: Send + Sync {
    /// Keep a new task (before its creation is answered).
    fn create<'a>(&'a self, task: &'a Task) -> BoxFuture<'a, Result<()>>;

    /// The task `id`, whoever owns it (callers check ownership).
    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Task>>>;

    /// `owner`'s tasks, newest first, after the task `after` (a page cursor), at most `limit`.
    fn list<'a>(
        &'a self,
        owner: &'a str,
        after: Option<&'a str>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<Task>>>;

    /// Every owner's tasks, newest first, after the task `after`, at most `limit` (an
    /// operator's view: the admin API).
    fn list_recent<'a>(
        &'a self,
        after: Option<&'a str>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<Task>>>;

    /// Move a task that is not ended to `to` (with a message); `false` when it has ended or
    /// the move is not allowed. Ending statuses go through [`TaskStore::finish`].
    fn set_status<'a>(
        &'a self,
        id: &'a str,
        to: Status,
        message: Option<&'a str>,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<bool>>;

    /// Keep what a resumable run (a workflow) of a task that is not ended has done so far,
    /// replacing the checkpoint before it; a run after a restart reads it back.
    fn save_checkpoint<'a>(
        &'a self,
        id: &'a str,
        state: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<()>>;

    /// A task's last checkpoint, if any.
    fn checkpoint<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<String>>>;

    /// Record progress (0–100) and a message of a task that is not ended.
    fn set_progress<'a>(
        &'a self,
        id: &'a str,
        progress: f64,
        message: Option<&'a str>,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<()>>;

    /// End a task that has not ended (its lease released); `false` when it already had.
    fn finish<'a>(
        &'a self,
        id: &'a str,
        end: &'a Ending,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<bool>>;

    /// Claim the oldest runnable task for `worker` until `lease_until_ms`: `working`, due
    /// (`next_run_ms <= now`), and held by nobody (or by a worker whose lease ran out — a
    /// crashed replica's, then also one left `input_required`, which becomes `working`).
    /// Counts the attempt.
    fn claim<'a>(
        &'a self,
        worker: &'a str,
        now_ms: i64,
        lease_until_ms: i64,
    ) -> BoxFuture<'a, Result<Option<Task>>>;

    /// Extend `worker`'s lease on `id`; `false` when it no longer holds it.
    fn heartbeat<'a>(
        &'a self,
        id: &'a str,
        worker: &'a str,
        lease_until_ms: i64,
    ) -> BoxFuture<'a, Result<bool>>;

    /// Give a claimed task back to run again at `next_run_ms` (a retry after a failure).
    fn retry_at<'a>(
        &'a self,
        id: &'a str,
        worker: &'a str,
        next_run_ms: i64,
        message: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<bool>>;

    /// Ask the task's client for input while it runs: keep request `key` (JSON
    /// `{"method", "params"}`) and move the task to `input_required`; `false` when it has ended.
    fn ask<'a>(
        &'a self,
        id: &'a str,
        key: &'a str,
        request: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<bool>>;

    /// The task's requests not answered yet, oldest first: (key, request).
    fn pending<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Vec<(String, String)>>>;

    /// Answer outstanding request `key` (`response`: JSON `{"result"}` or `{"error"}`); the
    /// task goes back to `working` once nothing is outstanding. `false` when `key` is not
    /// outstanding (never asked, or answered already).
    fn answer<'a>(
        &'a self,
        id: &'a str,
        key: &'a str,
        response: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<bool>>;

    /// The answer to `key` once there is one (the request is then forgotten).
    fn take_answer<'a>(
        &'a self,
        id: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>>>;

    /// Forget every request of the task (its call ended, or runs again); an `input_required`
    /// task goes back to `working`.
    fn clear_input<'a>(&'a self, id: &'a str, now_ms: i64) -> BoxFuture<'a, Result<()>>;

    /// Forget ended tasks whose time to live has passed; how many.
    fn expire<'a>(&'a self, now_ms: i64) -> BoxFuture<'a, Result<usize>>;
}
