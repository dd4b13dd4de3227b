//! An HTTP answer → an MCP tool result. JSON becomes `structuredContent` (an object) and its
//! text; text stays text; images become image content; other bytes an embedded resource. A
//! non-2xx answer is a result with `isError: true`, the status and a bounded excerpt — the
//! model sees what the API said; it is never a gateway error. Long texts are cut at
//! `max_response_bytes` with a note saying so.

use base64::Engine;
use serde_json::{Value, json};

use crate::shape::Shaper;

/// Most bytes of a failed answer quoted back.
const EXCERPT: usize = 2048;

/// What came back.
pub struct Answer<'a> {
    pub status: http::StatusCode,
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
    /// `METHOD /path` for messages.
    pub what: &'a str,
    /// The request URL (an embedded resource's `uri`).
    pub url: &'a str,
}

/// The tool result for `answer`, shaped by `shaper` when it is JSON.
pub fn result(answer: &Answer<'_>, shaper: Option<&Shaper>, max_bytes: usize) -> Value {
    let ct = answer
        .content_type
        .map(|c| {
            c.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    if !answer.status.is_success() {
        let excerpt = String::from_utf8_lossy(&answer.body[..answer.body.len().min(EXCERPT)]);
        let more = if answer.body.len() > EXCERPT {
            " […]"
        } else {
            ""
        };
        let text = format!(
            "HTTP {} from {}{}",
            answer.status,
            answer.what,
            if excerpt.trim().is_empty() {
                String::new()
            } else {
                format!(": {}{more}", excerpt.trim())
            }
        );
        return json!({"content": [{"type": "text", "text": text}], "isError": true});
    }
    if answer.body.is_empty() {
        let text = format!("HTTP {} from {} (no content)", answer.status, answer.what);
        return json!({"content": [{"type": "text", "text": text}]});
    }
    let is_json = ct == "application/json"
        || ct.ends_with("+json")
        || (ct.is_empty() && looks_like_json(answer.body));
    if is_json {
        let shaped = match shaper {
            Some(s) => match s.apply(answer.body) {
                Ok(text) => text.into_bytes(),
                Err(e) => return error_result(&format!("{} answered, but {e}", answer.what)),
            },
            None => answer.body.to_vec(),
        };
        let value: Option<Value> = serde_json::from_slice(&shaped).ok();
        let text = match &value {
            Some(v) => v.to_string(),
            None => String::from_utf8_lossy(&shaped).into_owned(),
        };
        let (text, _) = truncate(text, max_bytes);
        let mut r = json!({"content": [{"type": "text", "text": text}]});
        // An object is structured content (the MCP shape), whole: a tool that declares an
        // output schema must return it; the text beside it is what is cut.
        if let Some(obj @ Value::Object(_)) = value {
            r["structuredContent"] = obj;
        }
        return r;
    }
    if ct.starts_with("text/")
        || ct.is_empty() && std::str::from_utf8(answer.body).is_ok()
        || ct == "application/xml"
    {
        let (text, _) = truncate(String::from_utf8_lossy(answer.body).into_owned(), max_bytes);
        return json!({"content": [{"type": "text", "text": text}]});
    }
    let data = base64::engine::general_purpose::STANDARD.encode(answer.body);
    if ct.starts_with("image/") || ct.starts_with("audio/") {
        let kind = if ct.starts_with("image/") {
            "image"
        } else {
            "audio"
        };
        return json!({"content": [{"type": kind, "data": data, "mimeType": ct}]});
    }
    let mime = if ct.is_empty() {
        "application/octet-stream".to_owned()
    } else {
        ct
    };
    json!({"content": [{"type": "resource", "resource": {"uri": answer.url, "mimeType": mime, "blob": data}}]})
}

/// A tool result saying what went wrong (the API could not be reached, its answer was too
/// large, it could not be shaped).
pub fn error_result(text: &str) -> Value {
    json!({"content": [{"type": "text", "text": text}], "isError": true})
}

fn looks_like_json(body: &[u8]) -> bool {
    matches!(
        body.iter().find(|b| !b.is_ascii_whitespace()),
        Some(b'{' | b'[')
    )
}

/// `text` cut to at most `max` bytes (on a character boundary) with a note, and whether it
/// was cut.
fn truncate(mut text: String, max: usize) -> (String, bool) {
    if text.len() <= max {
        return (text, false);
    }
    let total = text.len();
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push_str(&format!(
        "\n[… cut: the answer was {total} bytes; this tool returns at most {max} (max_response_bytes)]"
    ));
    (text, true)
}

#[cfg(test)]
mod tests;
