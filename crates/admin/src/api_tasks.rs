//! The admin API's tasks (`tasks:`, the tasks the gateway runs itself): every owner's tasks
//! or one owner's (`/admin/api/tasks[?owner=SUBJECT]`), any task by id (`/admin/api/tasks/{id}`), and
//! cancelling one (`POST /admin/api/tasks/{id}/cancel`, `admin:*`; its run stops and its owner
//! sees it cancelled).

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use switchboard_gateway::admin_view::{AdminView, TasksError};
use switchboard_policy::roles::AdminAccess;

use super::api::{admit, refuse};
use super::json;

fn failed(e: TasksError) -> Response {
    match e {
        TasksError::NotConfigured => refuse(StatusCode::CONFLICT, e.to_string()),
        TasksError::Store(_) => refuse(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

fn unknown(id: &str) -> Response {
    refuse(StatusCode::NOT_FOUND, format!("no task `{id}`"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    /// Whose tasks (the identity's subject, as the audit trail shows it); absent: everyone's.
    owner: Option<String>,
    /// The last task id of the page before (from `next`).
    after: Option<String>,
    /// At most this many (default 50, at most 200).
    limit: Option<usize>,
}

pub(crate) async fn list(
    State(view): State<AdminView>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(r) = admit(&view, &headers, AdminAccess::Read, "admin/tasks.list").await {
        return r;
    }
    let q = match super::api::query(query, "?owner=SUBJECT&after=ID&limit=N") {
        Ok(q) => q,
        Err(why) => return refuse(StatusCode::BAD_REQUEST, why),
    };
    let limit = q.limit.unwrap_or(50);
    if limit == 0 || limit > 200 {
        return refuse(StatusCode::BAD_REQUEST, "`limit` must be 1 to 200");
    }
    match view
        .tasks(q.owner.as_deref(), q.after.as_deref(), limit + 1)
        .await
    {
        Ok(mut tasks) => {
            let more = tasks.len() > limit;
            tasks.truncate(limit);
            let next = more
                .then(|| {
                    tasks
                        .last()
                        .and_then(|t| t["taskId"].as_str())
                        .map(str::to_owned)
                })
                .flatten();
            json(StatusCode::OK, &json!({"tasks": tasks, "next": next}))
        }
        Err(e) => failed(e),
    }
}

pub(crate) async fn get(
    State(view): State<AdminView>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = admit(&view, &headers, AdminAccess::Read, "admin/tasks.get").await {
        return r;
    }
    match view.task(&id).await {
        Ok(Some(t)) => json(StatusCode::OK, &t),
        Ok(None) => unknown(&id),
        Err(e) => failed(e),
    }
}

pub(crate) async fn cancel(
    State(view): State<AdminView>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let admin = match admit(&view, &headers, AdminAccess::Full, "admin/tasks.cancel").await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let (response, outcome) = match view.cancel_task(&id).await {
        Ok(Some(t)) => (json(StatusCode::OK, &t), "ok"),
        Ok(None) => (unknown(&id), "error"),
        Err(e) => (failed(e), "error"),
    };
    view.audit_action(Some(&admin.identity), "admin/tasks.cancel", outcome);
    response
}
