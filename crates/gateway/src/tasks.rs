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

impl Gateway {
    /// `tasks/get|update|cancel` (the 2026-07-28 tasks extension): routed by the task id the
    /// gateway handed out, `<server>.<upstream task id>`; nothing is remembered.
    pub(crate) async fn task(
        &self,
        ctx: &RequestCtx,
        method: &str,
        params: Option<&RawValue>,
    ) -> Result<Box<RawValue>, ErrorObject> {
        if ctx.modern.is_none() {
            // 2025-11-25 clients: the tasks the gateway runs (upstream tasks are not relayed
            // to them).
            return match &self.durable {
                Some(d) if method != methods::TASKS_UPDATE => {
                    d.legacy_method(ctx, method, params).await
                }
                _ => Err(ErrorObject::method_not_found(method)),
            };
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
        let params = params.ok_or_else(|| {
            ErrorObject::invalid_params(format!("{method} needs params with `taskId`"))
        })?;
        let task_id = RawMap::parse(params)
            .ok()
            .and_then(|m| m.get_str("taskId").map(|t| t.into_owned()))
            .ok_or_else(|| {
                ErrorObject::invalid_params(format!("{method} needs a string `taskId`"))
            })?;
        // A task the gateway runs itself (its ids have no `.`), else an upstream's.
        if !task_id.contains('.')
            && let Some(d) = &self.durable
        {
            return d.method(ctx, method, &task_id, Some(params)).await;
        }
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
        let params = switchboard_protocol::rawmap::with_param(Some(params), "taskId", upstream_id)?;
        self.forward(ctx, &route, method, params).await
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
