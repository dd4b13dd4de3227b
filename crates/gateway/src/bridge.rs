//! Era bridges for calls whose client and upstream speak different protocol eras.
//!
//! **Legacy client, 2026-07-28 upstream** ([`drive_input_required`]): the gateway is the
//! modern client. It stamps the session's version, capabilities, client info and log level in
//! `_meta`; when the upstream answers `input_required`, each input request becomes a real
//! server→client request on the legacy client's stream, and the call is retried with the
//! answers and the upstream's `requestState`, until a final result (docs/design §5.6).
//! Nothing is kept between rounds: the loop lives inside the client's request.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::value::RawValue;
use switchboard_protocol::{ErrorObject, RawMap, meta::set_meta, methods, to_raw, version};
use switchboard_upstream::Relay;

use crate::session::Session;
use switchboard_policy::request_state::{
    INPUT_REQUESTS, INPUT_RESPONSES, REQUEST_STATE, RESULT_TYPE,
};
use switchboard_protocol::log_level::level_name;

/// Most rounds of `input_required` before the call fails (as the Python SDK's client).
pub const MAX_ROUNDS: usize = 10;

/// The modern `_meta` a legacy session's request carries to a 2026-07-28 upstream.
pub fn session_meta(session: &Session) -> Vec<(&'static str, Box<RawValue>)> {
    let mut caps = session.client_capabilities();
    // 2025 tasks are not the 2026 tasks extension; the upstream must not see them.
    if let Some(map) = caps.as_object_mut() {
        map.remove("tasks");
    }
    if !caps.is_object() {
        caps = serde_json::json!({});
    }
    let mut meta = vec![
        (
            version::META_PROTOCOL_VERSION,
            to_raw(version::MODERN_VERSIONS[0]),
        ),
        (version::META_CLIENT_CAPABILITIES, to_raw(&caps)),
        (
            version::META_LOG_LEVEL,
            to_raw(level_name(session.log_level())),
        ),
    ];
    let info = session.client_info.read().clone();
    if info.is_object() {
        meta.push((version::META_CLIENT_INFO, to_raw(&info)));
    }
    meta
}

/// Run a legacy session's call against a 2026-07-28 upstream, answering its `input_required`
/// rounds through the client.
pub async fn drive_input_required<F, Fut>(
    session: &Session,
    relay: Option<&Arc<dyn Relay>>,
    params: Box<RawValue>,
    call: F,
) -> Result<Box<RawValue>, ErrorObject>
where
    F: Fn(Box<RawValue>) -> Fut,
    Fut: Future<Output = Result<Box<RawValue>, ErrorObject>>,
{
    let base = set_meta(Some(&params), &session_meta(session));
    let mut responses: Option<Box<RawValue>> = None;
    let mut state: Option<String> = None;
    let mut wait = Duration::from_millis(50);
    for _ in 0..MAX_ROUNDS {
        let params = with_answers(&base, responses.take(), state.take());
        let result = call(params).await?;
        let Ok(map) = RawMap::parse(&result) else {
            return Ok(result);
        };
        if map.get_str(RESULT_TYPE).as_deref()
            != Some(switchboard_policy::request_state::INPUT_REQUIRED)
        {
            return Ok(legacy_result(result));
        }
        state = map
            .get(REQUEST_STATE)
            .and_then(|s| serde_json::from_str::<String>(s.get()).ok());
        let requests: serde_json::Map<String, serde_json::Value> = map
            .get(INPUT_REQUESTS)
            .and_then(|r| serde_json::from_str(r.get()).ok())
            .unwrap_or_default();
        if requests.is_empty() {
            // Only state: the upstream is working; ask again shortly.
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_millis(250));
            continue;
        }
        let Some(relay) = relay else {
            return Err(ErrorObject::internal(
                "the upstream asked for input, but this client cannot be asked",
            ));
        };
        let asks = requests.into_iter().map(|(key, req)| {
            let relay = relay.clone();
            async move {
                let method = req
                    .get("method")
                    .and_then(|m| m.as_str())
                    .unwrap_or_default()
                    .to_owned();
                let mut params = req.get("params").cloned().unwrap_or(serde_json::json!({}));
                // 2025-11-25 URL-mode elicitation identifies itself; 2026 dropped the id.
                if method == methods::ELICITATION_CREATE
                    && params.get("mode").and_then(|m| m.as_str()) == Some("url")
                    && params.get("elicitationId").is_none()
                    && let Some(p) = params.as_object_mut()
                {
                    p.insert(
                        "elicitationId".into(),
                        uuid::Uuid::new_v4().to_string().into(),
                    );
                }
                let answer = relay.request(method, Some(to_raw(&params))).await?;
                Ok::<_, ErrorObject>((key, answer))
            }
        });
        let answers = futures_util::future::try_join_all(asks).await?;
        let mut out = RawMap::new();
        for (key, answer) in answers {
            out.set(&key, answer);
        }
        responses = Some(out.to_raw());
        wait = Duration::from_millis(50);
    }
    Err(ErrorObject::internal(format!(
        "the upstream still asked for input after {MAX_ROUNDS} rounds"
    )))
}

fn with_answers(
    base: &RawValue,
    responses: Option<Box<RawValue>>,
    state: Option<String>,
) -> Box<RawValue> {
    if responses.is_none() && state.is_none() {
        return base.to_owned();
    }
    let Ok(mut map) = RawMap::parse(base) else {
        return base.to_owned();
    };
    if let Some(r) = responses {
        map.set(INPUT_RESPONSES, r);
    }
    if let Some(s) = state {
        map.set_str(REQUEST_STATE, &s);
    }
    map.to_raw()
}

/// A modern result as a session-era client expects it: without `resultType`.
fn legacy_result(result: Box<RawValue>) -> Box<RawValue> {
    let Ok(mut map) = RawMap::parse(&result) else {
        return result;
    };
    if map.remove(RESULT_TYPE) {
        map.to_raw()
    } else {
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_and_state_are_added_to_the_original_params() {
        let base = RawValue::from_string(r#"{"name":"t","_meta":{"a":1}}"#.into()).unwrap();
        assert_eq!(with_answers(&base, None, None).get(), base.get());
        let r = with_answers(
            &base,
            Some(to_raw(&serde_json::json!({"k": {"x": 1}}))),
            Some("s".into()),
        );
        assert_eq!(
            r.get(),
            r#"{"name":"t","_meta":{"a":1},"inputResponses":{"k":{"x":1}},"requestState":"s"}"#
        );
        let modern =
            RawValue::from_string(r#"{"resultType":"complete","content":[]}"#.into()).unwrap();
        assert_eq!(legacy_result(modern).get(), r#"{"content":[]}"#);
    }
}
