//! A step's tool result as expressions see it, and the run's answer as a tool result.
//!
//! A step's `result` is its call's `structuredContent` when there is one, else its text
//! (parsed as JSON when it is JSON, as many tools answer JSON in a text block), else the
//! content blocks themselves. A result with `isError` is the step's failure, its text the
//! `error`.

use serde_json::{Value, json};
use switchboard_protocol::ErrorObject;

/// Why a call of a step failed.
#[derive(Debug, Clone)]
pub enum CallFailure {
    /// The tool answered with `isError`: its text.
    Tool(String),
    /// A JSON-RPC error (unknown or denied tool, invalid arguments, upstream down, timeout…).
    Rpc(ErrorObject),
    /// The step's own `timeout` ran out.
    Timeout(std::time::Duration),
    /// The run was cancelled (by the client, its timeout, or an aborting failure).
    Cancelled,
    /// What the tool answered is not a tool result.
    Malformed(String),
}

impl CallFailure {
    /// Whether trying again may help: not for a tool the caller cannot call or arguments
    /// the tool refuses, nor after a cancellation.
    pub fn retryable(&self) -> bool {
        match self {
            Self::Rpc(e) => !matches!(
                e.code,
                switchboard_protocol::codes::INVALID_PARAMS
                    | switchboard_protocol::codes::METHOD_NOT_FOUND
            ),
            Self::Cancelled | Self::Malformed(_) => false,
            Self::Tool(_) | Self::Timeout(_) => true,
        }
    }
}

impl std::fmt::Display for CallFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tool(text) => write!(f, "the tool reported an error: {text}"),
            Self::Rpc(e) => write!(f, "{} (code {})", e.message, e.code),
            Self::Timeout(d) => write!(f, "no answer within the step's timeout of {d:?}"),
            Self::Cancelled => f.write_str("cancelled"),
            Self::Malformed(why) => write!(f, "the answer is not a tool result: {why}"),
        }
    }
}

/// The `result` of a call's tool result, or its failure.
pub fn step_value(raw: &str) -> Result<Value, CallFailure> {
    let result: Value =
        serde_json::from_str(raw).map_err(|e| CallFailure::Malformed(e.to_string()))?;
    let Some(obj) = result.as_object() else {
        return Err(CallFailure::Malformed("not a JSON object".into()));
    };
    let content = obj.get("content").and_then(Value::as_array);
    if obj.get("isError").and_then(Value::as_bool) == Some(true) {
        let text = content.map(|c| texts(c)).filter(|t| !t.is_empty());
        return Err(CallFailure::Tool(text.unwrap_or_else(|| {
            obj.get("structuredContent")
                .map_or_else(|| "(no message)".to_owned(), Value::to_string)
        })));
    }
    if let Some(structured) = obj.get("structuredContent") {
        return Ok(structured.clone());
    }
    let Some(content) = content else {
        return Ok(Value::Null);
    };
    if content
        .iter()
        .all(|b| b.get("type").and_then(Value::as_str) == Some("text"))
    {
        let text = texts(content);
        return Ok(serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text)));
    }
    Ok(Value::Array(content.clone()))
}

fn texts(content: &[Value]) -> String {
    content
        .iter()
        .filter_map(|b| b.get("text").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The run's answer: the output as text (and as `structuredContent` when it is an object),
/// or an `isError` result saying what failed; `meta` (the run's steps) under `_meta`.
pub fn tool_result(outcome: Result<Value, String>, meta: Value) -> Value {
    match outcome {
        Ok(output) => {
            let text = match &output {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let mut r = json!({"content": [{"type": "text", "text": text}]});
            if output.is_object() {
                r["structuredContent"] = output;
            }
            r["_meta"] = json!({ META_KEY: meta });
            r
        }
        Err(message) => json!({
            "content": [{"type": "text", "text": message}],
            "isError": true,
            "_meta": { META_KEY: meta },
        }),
    }
}

/// Where a workflow's answer says how its run went (run id, each step's status, attempts
/// and time).
pub const META_KEY: &str = "io.switchboard/workflow";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_are_structured_then_json_text_then_text_then_blocks() {
        let v =
            step_value(r#"{"content":[{"type":"text","text":"x"}],"structuredContent":{"a":1}}"#);
        assert_eq!(v.unwrap(), json!({"a": 1}));
        let v = step_value(r#"{"content":[{"type":"text","text":"{\"total\": 5}"}]}"#);
        assert_eq!(v.unwrap(), json!({"total": 5}));
        let v = step_value(
            r#"{"content":[{"type":"text","text":"hello"},{"type":"text","text":"world"}]}"#,
        );
        assert_eq!(v.unwrap(), json!("hello\nworld"));
        let v =
            step_value(r#"{"content":[{"type":"image","data":"AA==","mimeType":"image/png"}]}"#);
        assert_eq!(v.unwrap()[0]["type"], "image");
        match step_value(r#"{"content":[{"type":"text","text":"boom"}],"isError":true}"#) {
            Err(CallFailure::Tool(t)) => assert_eq!(t, "boom"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(step_value("[1]"), Err(CallFailure::Malformed(_))));
    }
}
