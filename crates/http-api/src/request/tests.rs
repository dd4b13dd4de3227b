//! Requests built from arguments: encoding, styles, locations, bodies, and what cannot escape
//! the base URL.

use serde_json::json;

use super::*;
use crate::tool::parse_template;

fn tool(method: Method, path: &str, params: Vec<Param>, body: Body) -> Tool {
    Tool {
        name: "t".into(),
        description: None,
        input_schema: json!({"type": "object"}),
        output_schema: None,
        method,
        path: parse_template(path).unwrap(),
        params,
        body,
        rest_in_query: false,
        headers: Vec::new(),
        shaper: None,
    }
}

fn param(name: &str, location: Location, style: Style) -> Param {
    Param {
        name: name.into(),
        wire: name.into(),
        location,
        style,
        required: false,
    }
}

fn args(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

#[test]
fn path_values_are_encoded_inside_their_segment() {
    let t = tool(Method::GET, "/employees/{id}/notes", vec![], Body::None);
    let b = build(&t, "http://api.test", &args(json!({"id": "a b/../c?x#y"}))).unwrap();
    assert_eq!(
        b.url,
        "http://api.test/employees/a%20b%2F..%2Fc%3Fx%23y/notes"
    );
    let b = build(&t, "http://api.test", &args(json!({"id": 42}))).unwrap();
    assert_eq!(b.url, "http://api.test/employees/42/notes");
    // Missing, empty or structured path values are the caller's error.
    let e = build(&t, "http://api.test", &args(json!({}))).unwrap_err();
    assert!(e.0.contains("missing argument `id`"), "{e:?}");
    assert!(build(&t, "http://api.test", &args(json!({"id": ""}))).is_err());
    assert!(build(&t, "http://api.test", &args(json!({"id": ["a"]}))).is_err());
    // A value that looks like a host stays in the path of the configured base.
    let b = build(&t, "http://api.test", &args(json!({"id": "//evil.test"}))).unwrap();
    assert!(
        b.url
            .starts_with("http://api.test/employees/%2F%2Fevil.test"),
        "{}",
        b.url
    );
}

#[test]
fn query_styles_follow_openapi() {
    let q = |style| {
        let t = tool(
            Method::GET,
            "/s",
            vec![param("ids", Location::Query, style)],
            Body::None,
        );
        build(&t, "http://a", &args(json!({"ids": [1, "x y"]})))
            .unwrap()
            .url
    };
    assert_eq!(
        q(Style::Form { explode: true }),
        "http://a/s?ids=1&ids=x%20y"
    );
    assert_eq!(q(Style::Form { explode: false }), "http://a/s?ids=1,x%20y");
    assert_eq!(q(Style::SpaceDelimited), "http://a/s?ids=1%20x%20y");
    assert_eq!(q(Style::PipeDelimited), "http://a/s?ids=1%7Cx%20y");
    let o = |style| {
        let t = tool(
            Method::GET,
            "/s",
            vec![param("f", Location::Query, style)],
            Body::None,
        );
        build(&t, "http://a", &args(json!({"f": {"a": 1, "b": "c&d"}})))
            .unwrap()
            .url
    };
    assert_eq!(o(Style::Form { explode: true }), "http://a/s?a=1&b=c%26d");
    assert_eq!(
        o(Style::Form { explode: false }),
        "http://a/s?f=a,1,b,c%26d"
    );
    assert_eq!(o(Style::DeepObject), "http://a/s?f%5Ba%5D=1&f%5Bb%5D=c%26d");
}

#[test]
fn headers_cookies_and_bodies() {
    let mut t = tool(
        Method::POST,
        "/projects/{id}/status",
        vec![
            param(
                "X-Request-Id",
                Location::Header,
                Style::Form { explode: false },
            ),
            param("session", Location::Cookie, Style::Form { explode: false }),
        ],
        Body::JsonRest,
    );
    t.params[0].required = true;
    let b = build(
        &t,
        "http://a",
        &args(json!({"id": "p1", "X-Request-Id": "r-7", "session": "s 1", "status": "done", "progress": 80})),
    )
    .unwrap();
    assert_eq!(b.url, "http://a/projects/p1/status");
    assert_eq!(b.headers["x-request-id"], "r-7");
    assert_eq!(b.headers["cookie"], "session=s%201");
    let (ct, body) = b.body.unwrap();
    assert_eq!(ct, "application/json");
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body, json!({"status": "done", "progress": 80}));
    // A required header argument that is missing.
    let e = build(&t, "http://a", &args(json!({"id": "p1"}))).unwrap_err();
    assert!(e.0.contains("X-Request-Id"), "{e:?}");
    // A header value that would split the request.
    let e = build(
        &t,
        "http://a",
        &args(json!({"id": "p1", "X-Request-Id": "a\r\nEvil: 1"})),
    );
    assert!(e.is_err());

    let form = tool(Method::POST, "/f", vec![], Body::FormRest);
    let b = build(&form, "http://a", &args(json!({"q": "a b", "n": 2}))).unwrap();
    assert_eq!(
        b.body.unwrap(),
        ("application/x-www-form-urlencoded", b"q=a%20b&n=2".to_vec())
    );
    let named = tool(Method::PUT, "/j", vec![], Body::Json("payload".into()));
    let b = build(&named, "http://a", &args(json!({"payload": [1, 2]}))).unwrap();
    assert_eq!(b.body.unwrap().1, b"[1,2]".to_vec());
}

#[test]
fn a_text_body_is_one_string_argument_sent_as_its_type() {
    let t = tool(
        Method::POST,
        "/markdown/raw",
        vec![],
        Body::Text {
            arg: "body".into(),
            content_type: "text/x-markdown".into(),
        },
    );
    let b = build(&t, "http://a", &args(json!({"body": "# Title"}))).unwrap();
    assert_eq!(b.body.unwrap(), ("text/x-markdown", b"# Title".to_vec()));
    assert!(build(&t, "http://a", &args(json!({"body": {"not": "text"}}))).is_err());
}

#[test]
fn dot_segments_cannot_climb_out_of_the_template() {
    let t = tool(Method::GET, "/repos/{owner}/{repo}", vec![], Body::None);
    for (owner, repo) in [("..", "user"), (".", "x"), ("a", "..")] {
        let e = build(
            &t,
            "https://api.test/v3",
            &args(json!({"owner": owner, "repo": repo})),
        );
        assert!(e.is_err(), "{owner}/{repo} was allowed");
    }
    // Two placeholders side by side cannot spell `..` either.
    let pair = tool(Method::GET, "/x/{a}{b}", vec![], Body::None);
    assert!(
        build(
            &pair,
            "https://api.test",
            &args(json!({"a": ".", "b": "."}))
        )
        .is_err()
    );
    // An encoded dot is encoded again: a literal `%2e`, not a dot segment.
    let b = build(
        &t,
        "https://api.test/v3",
        &args(json!({"owner": "%2e%2e", "repo": "x"})),
    )
    .unwrap();
    assert_eq!(b.url, "https://api.test/v3/repos/%252e%252e/x");
    // Dots inside a value are fine.
    let b = build(
        &t,
        "https://api.test/v3",
        &args(json!({"owner": "a..b", "repo": ".git"})),
    )
    .unwrap();
    assert_eq!(b.url, "https://api.test/v3/repos/a..b/.git");
}
