//! A session-era upstream's own 2025-11-25 tasks, bridged to a 2026-07-28 client that declares
//! the tasks extension: the call goes up with `params.task`, the nested `CreateTaskResult`
//! comes back flat (`resultType: "task"`, `ttlMs`, `pollIntervalMs`), and `tasks/get` asks the
//! upstream's `tasks/get` — and once the task ended, its `tasks/result` — to answer the
//! extension's `DetailedTask` with the result or the error inlined. A tool's `isError` result
//! (a `failed` task for 2025-11-25) is a `completed` task with that result, as the extension
//! says. Input the upstream asks during its task is not bridged: such a task shows `working`
//! with a status message saying so (its requests go to a 2025-11-25 client's `tasks/result`).

use serde_json::value::RawValue;
use serde_json::{Value, json};
use switchboard_protocol::{ErrorObject, RawMap, methods, to_raw};

use crate::catalog::{Route, ToolEntry};
use crate::gateway::Gateway;
use crate::request::RequestCtx;

/// The extension's `Task` fields from a 2025-11-25 `Task`, under the id the client knows.
fn modern_task(legacy: &Value, scoped: &str) -> Value {
    let mut t = json!({
        "taskId": scoped,
        "status": legacy.get("status").cloned().unwrap_or(json!("working")),
        "createdAt": legacy.get("createdAt").cloned().unwrap_or(Value::Null),
        "lastUpdatedAt": legacy.get("lastUpdatedAt").cloned().unwrap_or(Value::Null),
        "ttlMs": legacy.get("ttl").cloned().unwrap_or(Value::Null),
    });
    if let Some(p) = legacy.get("pollInterval").filter(|p| p.is_number()) {
        t["pollIntervalMs"] = p.clone();
    }
    if let Some(m) = legacy.get("statusMessage").filter(|m| m.is_string()) {
        t["statusMessage"] = m.clone();
    }
    t
}

fn parse(raw: &RawValue) -> Result<Value, ErrorObject> {
    serde_json::from_str(raw.get())
        .map_err(|e| ErrorObject::internal(format!("the upstream's task answer: {e}")))
}

/// `tools/call` of an upstream task tool for a 2026-07-28 client.
pub(crate) async fn call(
    gw: &Gateway,
    ctx: &RequestCtx,
    entry: &ToolEntry,
    params: Option<&RawValue>,
) -> Result<Box<RawValue>, ErrorObject> {
    let server = gw
        .catalog
        .servers()
        .get(entry.route.server)
        .map(|s| s.name.clone())
        .ok_or_else(|| ErrorObject::internal("the tool's server is gone"))?;
    let named = switchboard_protocol::rawmap::with_param(params, "name", &entry.route.original)?;
    let mut map =
        RawMap::parse(&named).map_err(|e| ErrorObject::invalid_params(format!("params: {e}")))?;
    map.set("task", to_raw(&json!({})));
    let result = gw
        .forward(ctx, &entry.route, methods::TOOLS_CALL, map.to_raw())
        .await?;
    let v = parse(&result)?;
    let Some(task) = v.get("task") else {
        // The upstream answered at once: a plain result.
        return Ok(result);
    };
    let id = task
        .get("taskId")
        .and_then(Value::as_str)
        .ok_or_else(|| ErrorObject::internal("the upstream's task has no taskId"))?;
    let tag = gw.mrtr.tag(&["task", &ctx.identity.subject, &server, id]);
    let mut created = modern_task(task, &format!("{server}.{id}.{tag}"));
    created["resultType"] = json!("task");
    Ok(to_raw(&created))
}

/// `tasks/get|update|cancel` of a 2026-07-28 client for such a task (`params` already carry
/// the upstream's id; `scoped` is the client's).
pub(crate) async fn method(
    gw: &Gateway,
    ctx: &RequestCtx,
    route: &Route,
    method: &str,
    params: Box<RawValue>,
    scoped: &str,
) -> Result<Box<RawValue>, ErrorObject> {
    match method {
        methods::TASKS_CANCEL => {
            // Already ended is not an error for the extension: the same empty ack.
            if let Err(e) = gw.forward(ctx, route, method, params).await
                && e.code != switchboard_protocol::codes::INVALID_PARAMS
            {
                return Err(e);
            }
            Ok(switchboard_protocol::empty_object())
        }
        // The upstream's input requests are not bridged: nothing is outstanding here.
        methods::TASKS_UPDATE => Ok(switchboard_protocol::empty_object()),
        methods::TASKS_GET => {
            let got = parse(&gw.forward(ctx, route, method, params.clone()).await?)?;
            let mut task = modern_task(&got, scoped);
            match got.get("status").and_then(Value::as_str) {
                Some("completed" | "failed") => {
                    match gw.forward(ctx, route, methods::TASKS_RESULT, params).await {
                        Ok(r) => {
                            let mut r = parse(&r)?;
                            if let Some(meta) = r.get_mut("_meta").and_then(Value::as_object_mut) {
                                meta.remove(crate::durable::RELATED_TASK);
                            }
                            task["status"] = json!("completed");
                            task["result"] = r;
                        }
                        Err(e) => {
                            task["status"] = json!("failed");
                            task["error"] = serde_json::to_value(&e).unwrap_or(Value::Null);
                        }
                    }
                }
                Some("input_required") => {
                    task["status"] = json!("working");
                    task["statusMessage"] = json!(
                        "the upstream waits for input that switchboard does not bridge to 2026-07-28 clients"
                    );
                }
                _ => {}
            }
            Ok(to_raw(&task))
        }
        other => Err(ErrorObject::method_not_found(other)),
    }
}
