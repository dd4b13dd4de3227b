//! `tasks/*` of the 2026-07-28 tasks extension: tasks the gateway runs itself go to
//! `durable/`; upstream tasks are relayed between modern clients and modern upstreams, task ids
//! scoped `<server>.<upstream id>.<tag>` on the way out — the tag binds the id to the identity
//! that created it (HMAC under the `mrtr.keys`) — and `tasks/*` routed back by them: anyone
//! else gets the answer for an unknown task, and nothing is remembered.

use serde_json::value::RawValue;
use switchboard_protocol::{ErrorObject, RawMap, methods};

use crate::catalog::Route;
use crate::gateway::Gateway;
use crate::request::RequestCtx;

/// The `taskId` of a `tasks/*` request.
fn task_id_of(method: &str, params: Option<&RawValue>) -> Result<String, ErrorObject> {
    let params = params.ok_or_else(|| {
        ErrorObject::invalid_params(format!("{method} needs params with `taskId`"))
    })?;
    RawMap::parse(params)
        .ok()
        .and_then(|m| m.get_str("taskId").map(|t| t.into_owned()))
        .ok_or_else(|| ErrorObject::invalid_params(format!("{method} needs a string `taskId`")))
}

/// `result` with the task id fields an upstream wrote replaced by the id the client knows:
/// `taskId` (a task), `task.taskId` (a 2025-11-25 `CreateTaskResult`), and the `related-task`
/// `_meta` (a 2025-11-25 `tasks/result`).
fn rescope(result: Box<RawValue>, scoped: &str) -> Box<RawValue> {
    let Ok(mut v) = serde_json::from_str::<serde_json::Value>(result.get()) else {
        return result;
    };
    for pointer in [
        "/taskId",
        "/task/taskId",
        "/_meta/io.modelcontextprotocol~1related-task/taskId",
    ] {
        if let Some(id) = v.pointer_mut(pointer) {
            *id = serde_json::Value::String(scoped.to_owned());
        }
    }
    switchboard_protocol::to_raw(&v)
}

impl Gateway {
    /// `tasks/*`: a gateway task (its id has no `.`) goes to `durable/`; an upstream's task is
    /// routed by the id the gateway handed out, `<server>.<upstream task id>.<tag>`, for the
    /// identity the tag names only; nothing is remembered.
    pub(crate) async fn task(
        &self,
        ctx: &RequestCtx,
        method: &str,
        params: Option<&RawValue>,
    ) -> Result<Box<RawValue>, ErrorObject> {
        if ctx.modern.is_none() {
            return self.legacy_task(ctx, method, params).await;
        }
        // Removed by the 2026-07-28 extension.
        if matches!(method, methods::TASKS_RESULT | methods::TASKS_LIST) {
            return Err(ErrorObject::method_not_found(method));
        }
        if !crate::durable::declares_tasks(ctx) {
            return Err(crate::durable::tasks_required(&format!(
                "{method} needs the {} extension in the request's client capabilities",
                methods::TASKS_EXTENSION
            )));
        }
        let task_id = task_id_of(method, params)?;
        if !task_id.contains('.')
            && let Some(d) = &self.durable
        {
            return d.method(ctx, method, &task_id, params).await;
        }
        self.relay_task(ctx, method, params, &task_id).await
    }

    /// `tasks/get|result|list|cancel` of a 2025-11-25 client: the gateway's own tasks, or an
    /// upstream's relayed ones (`tasks/list` lists the gateway's only: an upstream's list holds
    /// every client's tasks).
    async fn legacy_task(
        &self,
        ctx: &RequestCtx,
        method: &str,
        params: Option<&RawValue>,
    ) -> Result<Box<RawValue>, ErrorObject> {
        if method == methods::TASKS_UPDATE {
            return Err(ErrorObject::method_not_found(method));
        }
        if method != methods::TASKS_LIST {
            let task_id = task_id_of(method, params)?;
            if task_id.contains('.') {
                return self.relay_task(ctx, method, params, &task_id).await;
            }
        }
        match &self.durable {
            Some(d) => d.legacy_method(ctx, method, params).await,
            None if method == methods::TASKS_LIST => Err(ErrorObject::method_not_found(method)),
            None => Err(ErrorObject::invalid_params(
                "Failed to retrieve task: Task not found",
            )),
        }
    }

    /// An upstream's task: checked against the caller, forwarded with the upstream's id, and
    /// answered with the id the caller knows.
    async fn relay_task(
        &self,
        ctx: &RequestCtx,
        method: &str,
        params: Option<&RawValue>,
        task_id: &str,
    ) -> Result<Box<RawValue>, ErrorObject> {
        let unknown = || ErrorObject::invalid_params(format!("Unknown task: {task_id}"));
        let (scoped, tag) = task_id.rsplit_once('.').ok_or_else(unknown)?;
        let (server, upstream_id) = scoped.split_once('.').ok_or_else(unknown)?;
        if !self
            .mrtr
            .verify_tag(&["task", &ctx.identity.subject, server, upstream_id], tag)
        {
            return Err(unknown());
        }
        let index = self.catalog.server_index(server).ok_or_else(unknown)?;
        let route = Route {
            server: index,
            original: upstream_id.to_owned(),
        };
        let params = switchboard_protocol::rawmap::with_param(params, "taskId", upstream_id)?;
        let result = self.forward(ctx, &route, method, params).await?;
        Ok(if ctx.modern.is_none() {
            rescope(result, task_id)
        } else {
            result
        })
    }

    /// A 2025-11-25 `tools/call` with `params.task` of a tool its upstream runs as a task: the
    /// call is relayed as it is, and the task id in the answer scoped and bound to the caller.
    pub(crate) async fn relay_legacy_task_call(
        &self,
        ctx: &RequestCtx,
        entry: &crate::catalog::ToolEntry,
        params: Option<&RawValue>,
    ) -> Result<Box<RawValue>, ErrorObject> {
        let server = self
            .catalog
            .servers()
            .get(entry.route.server)
            .map(|s| s.name.clone())
            .ok_or_else(|| ErrorObject::internal("the tool's server is gone"))?;
        let upstream_params =
            switchboard_protocol::rawmap::with_param(params, "name", &entry.route.original)?;
        let result = self
            .forward(ctx, &entry.route, methods::TOOLS_CALL, upstream_params)
            .await?;
        let Some(id) = serde_json::from_str::<serde_json::Value>(result.get())
            .ok()
            .and_then(|v| v.pointer("/task/taskId")?.as_str().map(str::to_owned))
        else {
            // The upstream answered without a task (it may): the answer as it is.
            return Ok(result);
        };
        let tag = self
            .mrtr
            .tag(&["task", &ctx.identity.subject, &server, &id]);
        Ok(rescope(result, &format!("{server}.{id}.{tag}")))
    }
}

/// A task id from an upstream as clients see it: `<server>.<id>.<tag>`, the tag binding it to
/// `owner`, so that `tasks/*` can be routed back — for its owner only — without remembering
/// anything.
pub(crate) fn scope_task_id(
    keys: &switchboard_policy::request_state::StateKeys,
    owner: &str,
    server: &str,
    result: Box<RawValue>,
) -> Box<RawValue> {
    let Ok(mut map) = RawMap::parse(&result) else {
        return result;
    };
    let Some(id) = map.get_str("taskId").map(|t| t.into_owned()) else {
        return result;
    };
    let tag = keys.tag(&["task", owner, server, &id]);
    map.set_str("taskId", &format!("{server}.{id}.{tag}"));
    map.to_raw()
}
