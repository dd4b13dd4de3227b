//! HTTP answers as tool results.

use http::StatusCode;
use serde_json::json;

use super::*;

fn answer<'a>(status: u16, ct: Option<&'a str>, body: &'a [u8]) -> Answer<'a> {
    Answer {
        status: StatusCode::from_u16(status).unwrap(),
        content_type: ct,
        body,
        what: "GET /employees/E1",
        url: "http://api.test/employees/E1",
    }
}

#[test]
fn json_objects_are_structured_and_shaped() {
    let body = br#"{"name":"Ada","salary":100,"current_projects":["x"]}"#;
    let r = result(
        &answer(200, Some("application/json; charset=utf-8"), body),
        None,
        100_000,
    );
    assert_eq!(r["structuredContent"]["name"], "Ada");
    let text: Value = serde_json::from_str(r["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(text["salary"], 100);
    assert!(r.get("isError").is_none());
    let shaper = Shaper::compile("{name, projects: .current_projects}").unwrap();
    let r = result(
        &answer(200, Some("application/json"), body),
        Some(&shaper),
        100_000,
    );
    assert_eq!(
        r["structuredContent"],
        json!({"name": "Ada", "projects": ["x"]})
    );
    // An array is text only (structured content is an object).
    let r = result(
        &answer(200, Some("application/json"), b"[1,2]"),
        None,
        100_000,
    );
    assert!(r.get("structuredContent").is_none());
    assert_eq!(r["content"][0]["text"], "[1,2]");
    // A shaping failure is the tool's error, naming the expression.
    let bad = Shaper::compile(".name + 1").unwrap();
    let r = result(
        &answer(200, Some("application/json"), body),
        Some(&bad),
        100_000,
    );
    assert_eq!(r["isError"], true);
    assert!(
        r["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains(".name + 1"),
        "{r}"
    );
}

#[test]
fn failures_are_tool_errors_with_the_status_and_an_excerpt() {
    let r = result(
        &answer(
            404,
            Some("application/json"),
            br#"{"error":"no such employee"}"#,
        ),
        None,
        1000,
    );
    assert_eq!(r["isError"], true);
    let text = r["content"][0]["text"].as_str().unwrap();
    assert!(
        text.starts_with("HTTP 404 Not Found from GET /employees/E1: "),
        "{text}"
    );
    assert!(text.contains("no such employee"), "{text}");
    let html = format!("<html>{}</html>", "x".repeat(10_000));
    let r = result(&answer(500, Some("text/html"), html.as_bytes()), None, 1000);
    let text = r["content"][0]["text"].as_str().unwrap();
    assert!(text.len() < 2200 && text.ends_with("[…]"), "{}", text.len());
    let r = result(&answer(502, None, b""), None, 1000);
    assert_eq!(
        r["content"][0]["text"],
        "HTTP 502 Bad Gateway from GET /employees/E1"
    );
}

#[test]
fn text_images_binaries_empty_and_long_answers() {
    let r = result(
        &answer(200, Some("text/plain"), "héllo".as_bytes()),
        None,
        1000,
    );
    assert_eq!(r["content"][0]["text"], "héllo");
    let png = [0x89u8, b'P', b'N', b'G'];
    let r = result(&answer(200, Some("image/png"), &png), None, 1000);
    assert_eq!(
        (
            r["content"][0]["type"].as_str(),
            r["content"][0]["mimeType"].as_str()
        ),
        (Some("image"), Some("image/png"))
    );
    assert_eq!(r["content"][0]["data"], "iVBORw==");
    let r = result(&answer(200, Some("application/pdf"), b"%PDF-1"), None, 1000);
    assert_eq!(r["content"][0]["type"], "resource");
    assert_eq!(
        r["content"][0]["resource"]["uri"],
        "http://api.test/employees/E1"
    );
    let r = result(&answer(204, None, b""), None, 1000);
    assert!(
        r["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("no content")
    );
    // The text is cut at max_response_bytes, on a character boundary, with a note; the
    // structured copy stays whole (a declared output schema requires it).
    let long = json!({"items": vec!["é"; 200]}).to_string();
    let r = result(
        &answer(200, Some("application/json"), long.as_bytes()),
        None,
        101,
    );
    let text = r["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("[… cut: the answer was"), "{text}");
    assert_eq!(
        r["structuredContent"]["items"].as_array().unwrap().len(),
        200
    );
}
