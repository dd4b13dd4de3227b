use serde_json::json;

use super::*;

#[test]
fn shapes_reshapes_and_collects_several_outputs() {
    let s = Jq::compile("{name, projects: .current_projects}").unwrap();
    let out = s
        .apply(br#"{"name":"Ada","salary":1,"current_projects":["x"]}"#)
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v, json!({"name": "Ada", "projects": ["x"]}));
    let many = Jq::compile(".[] | .id").unwrap();
    assert_eq!(many.apply(br#"[{"id":1},{"id":2}]"#).unwrap(), "[1,2]");
    assert_eq!(Jq::compile("empty").unwrap().apply(b"{}").unwrap(), "null");
    assert_eq!(
        Jq::compile("map(select(.ok)) | length")
            .unwrap()
            .apply(br#"[{"ok":true},{"ok":false}]"#)
            .unwrap(),
        "1"
    );
}

#[test]
fn bad_expressions_and_inputs_say_what_is_wrong_and_where() {
    let e = Jq::compile("{name,").unwrap_err();
    assert!(e.message.contains("does not parse"), "{e}");
    assert!(e.offset.is_some(), "{e:?}");
    let e = Jq::compile(".a | nonesuch(1)").unwrap_err();
    assert!(e.message.contains("nonesuch"), "{e}");
    assert_eq!(e.offset, Some(5), "{e:?}");
    let s = Jq::compile(".a + 1").unwrap();
    let e = s.apply(br#"{"a":"text"}"#).unwrap_err();
    assert!(e.contains("failed"), "{e}");
    let e = s.apply(b"<html>").unwrap_err();
    assert!(e.contains("not JSON"), "{e}");
    // Nesting that would exhaust the stack is refused before jq reads it.
    let deep = format!("{}{}", "[".repeat(200_000), "]".repeat(200_000));
    let e = s.apply(deep.as_bytes()).unwrap_err();
    assert!(e.contains("not JSON"), "{e}");
    let e = Jq::compile("range(1000000)")
        .unwrap()
        .apply(b"{}")
        .unwrap_err();
    assert!(e.contains("more than"), "{e}");
}

#[test]
fn evaluates_over_values_keeping_types() {
    let ctx = json!({"inputs": {"period": "2026-Q3", "n": 3},
                     "steps": {"revenue": {"result": {"total": 150, "previous_total": 100}}}});
    let one = |code: &str| Jq::compile(code).unwrap().eval_one(&ctx).unwrap();
    assert_eq!(one(".inputs.period"), json!("2026-Q3"));
    assert_eq!(one(".inputs.n * 2"), json!(6));
    assert_eq!(
        one("(.steps.revenue.result.total / .steps.revenue.result.previous_total - 1) * 100"),
        json!(50.0)
    );
    assert_eq!(one(".missing"), json!(null));
    assert_eq!(one(".inputs | keys"), json!(["n", "period"]));
    assert_eq!(one("empty"), json!(null));
    assert_eq!(one("1, 2"), json!([1, 2]));
    assert!(truthy(&one(".steps.revenue.result.total > 0")));
    assert!(!truthy(&one(".nothing")));
    assert!(truthy(&json!(0)));
    let e = Jq::compile(".inputs.period - 1")
        .unwrap()
        .eval(&ctx)
        .unwrap_err();
    assert!(e.contains("failed"), "{e}");
    // jq's nan and infinities are not JSON.
    let e = Jq::compile("nan").unwrap().eval(&ctx).unwrap_err();
    assert!(e.contains("not JSON"), "{e}");
}
