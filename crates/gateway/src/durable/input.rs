//! Input a task's call needs from its client while it runs: an upstream's `elicitation/create`,
//! `sampling/createMessage` or `roots/list` during a task is kept in the task store under a
//! fresh key and the task becomes `input_required`; the worker waits for the answer in the
//! store, so any replica may take it. A 2026-07-28 client sees the request in `tasks/get`'s
//! `inputRequests` and answers with `tasks/update`; a 2025-11-25 client gets it as an ordinary
//! request (tagged `related-task`) on the stream of its `tasks/result`, and its answer is kept.

use std::sync::Arc;
use std::time::Duration;

use serde_json::value::RawValue;
use serde_json::{Value, json};
use switchboard_protocol::{ErrorObject, codes, to_raw};
use switchboard_tasks::TaskStore;
use switchboard_tasks::model::{new_id, now_ms};
use switchboard_upstream::Relay;

use super::legacy::RELATED_TASK;
use super::store_failed;
use crate::relay::CallRelay;
use crate::request::RequestCtx;

/// How often a waiting worker looks for its answer.
const POLL: Duration = Duration::from_millis(200);

/// What a kept answer holds: the client's result, or the error it answered with.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
enum Answer {
    Result(Box<RawValue>),
    Error(ErrorObject),
}

/// Ask task `id`'s client `method` with `params`, and wait for its answer (until the task
/// ends, or the call is dropped).
pub(crate) async fn ask_client(
    store: Arc<dyn TaskStore>,
    id: String,
    method: String,
    params: Option<Box<RawValue>>,
) -> Result<Box<RawValue>, ErrorObject> {
    let kind = method.split('/').next().unwrap_or("input");
    let key = format!("{kind}-{}", &new_id()[..12]);
    let request = json!({"method": method, "params": params}).to_string();
    if !store
        .ask(&id, &key, &request, now_ms())
        .await
        .map_err(store_failed)?
    {
        return Err(ErrorObject::new(
            codes::INTERNAL_ERROR,
            format!("task {id} has ended; `{method}` was not sent"),
        ));
    }
    metrics::counter!("mcp_task_input_requests_total").increment(1);
    let mut polls: u32 = 0;
    loop {
        tokio::time::sleep(POLL).await;
        polls = polls.wrapping_add(1);
        match store.take_answer(&id, &key).await {
            Ok(Some(raw)) => {
                return match serde_json::from_str::<Answer>(&raw) {
                    Ok(Answer::Result(r)) => Ok(r),
                    Ok(Answer::Error(e)) => Err(e),
                    Err(e) => Err(ErrorObject::internal(format!(
                        "the kept answer to `{method}` cannot be read: {e}"
                    ))),
                };
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(task = %id, error = %e, "cannot read a task's input"),
        }
        // Every few seconds: a task that ended meanwhile (cancelled) waits no more.
        if polls.is_multiple_of(25)
            && let Ok(Some(t)) = store.get(&id).await
            && t.status.is_terminal()
        {
            return Err(ErrorObject::new(
                codes::REQUEST_CANCELLED,
                format!("task {id} ended while `{method}` waited for its client"),
            ));
        }
    }
}

/// Keep the client's answer `answer` to request `key` of task `id`; `false` when `key` is not
/// outstanding.
async fn keep(
    store: &dyn TaskStore,
    id: &str,
    key: &str,
    answer: &Answer,
) -> Result<bool, ErrorObject> {
    let raw = serde_json::to_string(answer).map_err(ErrorObject::internal)?;
    store
        .answer(id, key, &raw, now_ms())
        .await
        .map_err(store_failed)
}

/// `inputRequests` of task `id` (2026-07-28 `tasks/get`): key → `{method, params}`.
pub(crate) async fn input_requests(store: &dyn TaskStore, id: &str) -> Result<Value, ErrorObject> {
    let pending = store.pending(id).await.map_err(store_failed)?;
    let map = pending
        .into_iter()
        .filter_map(|(k, r)| Some((k, serde_json::from_str::<Value>(&r).ok()?)))
        .collect::<serde_json::Map<_, _>>();
    Ok(Value::Object(map))
}

/// `tasks/update` (2026-07-28): keep each answer in `inputResponses` whose key is outstanding;
/// the rest are ignored, as the extension asks.
pub(crate) async fn update(
    store: &dyn TaskStore,
    id: &str,
    params: Option<&RawValue>,
) -> Result<(), ErrorObject> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct P {
        #[serde(default)]
        input_responses: Option<serde_json::Map<String, Value>>,
    }
    let p: P = params
        .map(|p| serde_json::from_str(p.get()))
        .transpose()
        .map_err(|e| ErrorObject::invalid_params(format!("tasks/update: {e}")))?
        .unwrap_or(P {
            input_responses: None,
        });
    let responses = p.input_responses.ok_or_else(|| {
        ErrorObject::invalid_params(
            "tasks/update needs `inputResponses`, an object of answers by key",
        )
    })?;
    for (key, value) in responses {
        let answer = Answer::Result(to_raw(&value));
        if !keep(store, id, &key, &answer).await? {
            tracing::debug!(task = %id, %key, "tasks/update: key not outstanding; ignored");
        }
    }
    Ok(())
}

/// While a 2025-11-25 `tasks/result` waits: send the task's outstanding requests that `sent`
/// does not hold yet to the client, on this request's stream (or its session's), and keep each
/// answer as it comes.
pub(crate) async fn deliver(
    store: &Arc<dyn TaskStore>,
    ctx: &RequestCtx,
    id: &str,
    sent: &mut std::collections::HashSet<String>,
) -> Result<(), ErrorObject> {
    let Some(session) = &ctx.session else {
        return Ok(());
    };
    for (key, request) in store.pending(id).await.map_err(store_failed)? {
        if !sent.insert(key.clone()) {
            continue;
        }
        #[derive(serde::Deserialize)]
        struct Req {
            method: String,
            #[serde(default)]
            params: Option<Value>,
        }
        let Ok(req) = serde_json::from_str::<Req>(&request) else {
            continue;
        };
        let mut params = req.params.unwrap_or_else(|| json!({}));
        if let Some(obj) = params.as_object_mut() {
            let meta = obj.entry("_meta").or_insert_with(|| json!({}));
            if let Some(meta) = meta.as_object_mut() {
                meta.insert(RELATED_TASK.into(), json!({"taskId": id}));
            }
        }
        let relay = CallRelay {
            session: session.clone(),
            out: ctx.out.clone(),
        };
        let (store, id) = (store.clone(), id.to_owned());
        // Answered whenever the client answers, even after this `tasks/result` is gone.
        tokio::spawn(async move {
            let answer = match relay.request(req.method, Some(to_raw(&params))).await {
                Ok(r) => Answer::Result(r),
                Err(e) => Answer::Error(e),
            };
            if let Err(e) = keep(store.as_ref(), &id, &key, &answer).await {
                tracing::warn!(task = %id, error = %e, "cannot keep a client's answer");
            }
        });
    }
    Ok(())
}
