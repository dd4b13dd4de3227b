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
pub(crate) fn task_id_of(method: &str, params: Option<&RawValue>) -> Result<String, ErrorObject> {
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
pub(crate) fn rescope(result: Box<RawValue>, scoped: &str) -> Box<RawValue> {
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
        if ctx.modern.is_some() && !self.speaks_modern(index) {
            return crate::task_bridge::method(self, ctx, &route, method, params, task_id).await;
        }
        let result = self.forward(ctx, &route, method, params).await?;
        Ok(if ctx.modern.is_none() {
            rescope(result, task_id)
        } else {
            result
        })
    }

    /// A `tools/call` of a task tool, when it becomes a task (or is refused for not being one):
    /// the gateway's own (`durable/`), a 2025-11-25 upstream's relayed to a 2025-11-25 client,
    /// or bridged to a 2026-07-28 client. `None`: a plain call.
    pub(crate) async fn task_call(
        &self,
        ctx: &RequestCtx,
        name: &str,
        entry: &crate::catalog::ToolEntry,
        params: Option<&RawValue>,
    ) -> Option<Result<Box<RawValue>, ErrorObject>> {
        let rule = self
            .durable
            .as_ref()
            .and_then(|d| d.rule(name, &entry.route.original).map(|r| (d, r)));
        let required =
            |r: &switchboard_config::TaskRule| r.mode == switchboard_config::TaskMode::Required;
        if ctx.modern.is_none() {
            // 2025-11-25: the client asks with `params.task`.
            let asked = match crate::durable::requested(params) {
                Ok(a) => a,
                Err(e) => return Some(Err(e)),
            };
            return match (rule, asked) {
                (Some((d, _)), Some(ttl)) => Some(d.create(ctx, name, params, Some(ttl)).await),
                (Some((_, r)), None) if required(r) => Some(Err(crate::durable::required(name))),
                (None, Some(_)) if entry.upstream_tasks => {
                    Some(self.relay_legacy_task_call(ctx, entry, params).await)
                }
                (None, Some(_)) => Some(Err(crate::durable::forbidden(name))),
                _ => None,
            };
        }
        // 2026-07-28: the client declares the extension on the request.
        let declared = crate::durable::declares_tasks(ctx);
        match rule {
            Some((d, _)) if declared => Some(d.create(ctx, name, params, None).await),
            Some((_, r)) if required(r) => Some(Err(crate::durable::tasks_required(&format!(
                "{name} runs as a task: declare the {} extension in the request's client capabilities",
                methods::TASKS_EXTENSION
            )))),
            Some(_) => None,
            None if entry.upstream_tasks && declared => {
                Some(crate::task_bridge::call(self, ctx, entry, params).await)
            }
            None => None,
        }
    }

    /// Whether server `index` speaks 2026-07-28 (its tasks are the extension's).
    fn speaks_modern(&self, index: usize) -> bool {
        self.catalog
            .servers()
            .get(index)
            .and_then(|s| s.upstream.info())
            .is_some_and(|i| i.modern.is_some())
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
