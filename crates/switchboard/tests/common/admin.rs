//! The admin API, for its tests: requests with a credential, and the check that an answer is
//! one the served OpenAPI document describes.
#![allow(dead_code)]

use serde_json::{Value, json};

/// `answer` (status, JSON body) of `method path` is one the OpenAPI document describes, with
/// a body its schema accepts.
pub fn conforms(doc: &Value, method: &str, path: &str, status: u16, body: &Value) {
    let op = &doc["paths"][path][method];
    assert!(op.is_object(), "{method} {path} is not in the document");
    let mut response = &op["responses"][status.to_string()];
    if let Some(r) = response["$ref"].as_str() {
        let pointer = r.trim_start_matches('#');
        response = doc.pointer(pointer).unwrap();
    }
    assert!(
        response.is_object(),
        "{method} {path} → {status} is not described"
    );
    let schema = &response["content"]["application/json"]["schema"];
    // The schema's `$ref`s point into the document: validate against the document itself,
    // with the response's schema applied at its root.
    let mut root = doc.clone();
    root["allOf"] = json!([schema]);
    root["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
    let validator = jsonschema::validator_for(&root).unwrap();
    let errors: Vec<String> = validator.iter_errors(body).map(|e| e.to_string()).collect();
    assert!(
        errors.is_empty(),
        "{method} {path} → {status}: {body}\n{errors:?}"
    );
}

pub async fn call(
    method: reqwest::Method,
    url: &str,
    auth: Option<(&str, &str)>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    call_with(method, url, auth, None).await
}

/// As [`call`], with a JSON `body` (sent as is).
pub async fn call_with(
    method: reqwest::Method,
    url: &str,
    auth: Option<(&str, &str)>,
    body: Option<String>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = reqwest::Client::new().request(method, url);
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b);
    }
    if let Some((k, v)) = auth {
        req = req.header(k, v);
    }
    let r = req.send().await.unwrap();
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, headers, body)
}

/// The id of API key `name`, as `GET {api}/keys` lists it to `admin_key`.
pub async fn key_id(api: &str, admin_key: &str, name: &str) -> String {
    let (status, _, keys) = call(
        reqwest::Method::GET,
        &format!("{api}/keys"),
        Some(("x-api-key", admin_key)),
    )
    .await;
    assert_eq!(status, 200, "{keys}");
    keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == name)
        .unwrap_or_else(|| panic!("no key {name}: {keys}"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}
