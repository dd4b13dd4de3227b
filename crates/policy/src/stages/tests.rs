//! The policy stages alone: each a function of the caller, the resolved route and the
//! request's policies, tested without a gateway or an upstream.

use std::sync::Arc;

use serde_json::json;
use switchboard_config::RoleConfig;
use switchboard_protocol::{codes, to_raw};

use super::*;
use crate::roles::Policy;

fn identity(role: &str, allow: &[&str], deny: &[&str]) -> Identity {
    let policy = Policy::compile(
        &RoleConfig {
            allow: allow.iter().map(|s| (*s).to_owned()).collect(),
            deny: deny.iter().map(|s| (*s).to_owned()).collect(),
            rate_limit: None,
            tool_limits: Default::default(),
        },
        "__",
    );
    Identity {
        subject: Arc::from("alice"),
        role: Some(Arc::from(role)),
        method: "api_key",
        policy: Arc::new(policy),
    }
}

fn route(original: &str) -> &str {
    original
}

#[test]
fn a_denied_tool_or_prompt_is_answered_like_an_unknown_one() {
    let viewer = identity("viewer", &["get_*", "prompt:summary"], &["get_secret"]);
    let allowed = Target::Tool("hr__get_employee".into());
    assert!(authorize(&viewer, &allowed, Some(route("get_employee"))).is_ok());

    let denied = Target::Tool("hr__delete_employee".into());
    let e = authorize(&viewer, &denied, Some(route("delete_employee"))).unwrap_err();
    let unknown_tool = unknown("tool", "hr__delete_employee");
    assert_eq!(
        (e.code, &e.message),
        (unknown_tool.code, &unknown_tool.message)
    );
    assert_eq!(e.code, codes::INVALID_PARAMS);

    // Deny beats allow.
    let secret = Target::Tool("hr__get_secret".into());
    assert!(authorize(&viewer, &secret, Some(route("get_secret"))).is_err());

    // A name the catalogue does not know passes here: routing reports it, the same way.
    let nowhere = Target::Tool("hr__delete_everything".into());
    assert!(authorize(&viewer, &nowhere, None).is_ok());

    let prompt = Target::Prompt("docs__summary".into());
    assert!(authorize(&viewer, &prompt, Some(route("summary"))).is_ok());
    let other = Target::Prompt("docs__draft".into());
    let e = authorize(&viewer, &other, Some(route("draft"))).unwrap_err();
    assert_eq!(e.message, "Unknown prompt: docs__draft");
}

#[test]
fn a_denied_resource_is_not_found_and_gateway_methods_need_no_permission() {
    let viewer = identity("viewer", &["resource:company://*"], &[]);
    let ok = Target::Resource("company://employees/1".into());
    assert!(authorize(&viewer, &ok, None).is_ok());
    let e = authorize(
        &viewer,
        &Target::Resource("file:///etc/passwd".into()),
        None,
    )
    .unwrap_err();
    assert_eq!(e.code, codes::RESOURCE_NOT_FOUND);
    let data: serde_json::Value = serde_json::from_str(e.data.unwrap().get()).unwrap();
    assert_eq!(data, json!({"uri": "file:///etc/passwd"}));
    assert!(authorize(&viewer, &Target::Gateway, None).is_ok());
    // A role that allows everything skips the checks.
    let admin = identity("admin", &["*"], &[]);
    assert!(authorize(&admin, &Target::Tool("x__y".into()), Some(route("y"))).is_ok());
}

fn validator(schema: serde_json::Value) -> jsonschema::Validator {
    jsonschema::options().build(&schema).unwrap()
}

#[test]
fn arguments_are_checked_against_the_schema_with_every_failing_path() {
    let v = validator(json!({
        "type": "object",
        "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
        "required": ["id"]
    }));
    let ok = to_raw(&json!({"name": "t", "arguments": {"id": 7}}));
    assert!(validate_arguments("t", Some(&v), Some(&ok)).is_ok());

    let bad = to_raw(&json!({"name": "t", "arguments": {"id": "seven", "name": 3}}));
    let e = validate_arguments("t", Some(&v), Some(&bad)).unwrap_err();
    assert_eq!(e.code, codes::INVALID_PARAMS);
    assert!(
        e.message.starts_with("Invalid arguments for tool t: /"),
        "{}",
        e.message
    );
    let data: serde_json::Value = serde_json::from_str(e.data.unwrap().get()).unwrap();
    let paths: Vec<&str> = data["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"/id") && paths.contains(&"/name"),
        "{paths:?}"
    );

    // No arguments at all are checked as `{}`: the required one is missing.
    let none = to_raw(&json!({"name": "t"}));
    let e = validate_arguments("t", Some(&v), Some(&none)).unwrap_err();
    assert!(
        e.message.contains("\"id\" is a required property"),
        "{}",
        e.message
    );

    // No compiled schema: nothing to check.
    assert!(validate_arguments("t", None, Some(&bad)).is_ok());
}

async fn limits(yaml: &str) -> Limits {
    let config =
        switchboard_config::from_str(yaml, std::path::Path::new("t.yaml"), &|_| None).unwrap();
    Limits::from_config(&config).await.unwrap()
}

const METERED: &str = "auth: {anonymous_role: metered}
roles:
  metered: {allow: ['*'], rate_limit: 2/min, tool_limits: {'get_*': 1/hour}}
";

#[tokio::test]
async fn a_role_budget_is_spent_by_every_request_but_ping() {
    let limits = limits(METERED).await;
    let who = identity("metered", &["*"], &[]);
    for _ in 0..5 {
        assert!(rate_limit(&limits, &who, methods::PING, None).await.is_ok());
    }
    assert!(
        rate_limit(&limits, &who, methods::TOOLS_LIST, None)
            .await
            .is_ok()
    );
    assert!(
        rate_limit(&limits, &who, methods::TOOLS_LIST, None)
            .await
            .is_ok()
    );
    let e = rate_limit(&limits, &who, methods::TOOLS_LIST, None)
        .await
        .unwrap_err();
    assert_eq!(e.code, codes::RATE_LIMITED);
    assert!(
        e.message.contains("2/min for role metered"),
        "{}",
        e.message
    );
    let data: serde_json::Value = serde_json::from_str(e.data.unwrap().get()).unwrap();
    let retry = data["retryAfterMs"].as_u64().unwrap();
    assert!(retry > 0 && retry <= 30_000, "{retry}");

    // Another subject of the same role has a budget of its own; no role, no limit.
    let bob = Identity {
        subject: Arc::from("bob"),
        ..who.clone()
    };
    assert!(
        rate_limit(&limits, &bob, methods::TOOLS_LIST, None)
            .await
            .is_ok()
    );
    let roleless = Identity {
        role: None,
        ..who.clone()
    };
    for _ in 0..5 {
        assert!(
            rate_limit(&limits, &roleless, methods::TOOLS_LIST, None)
                .await
                .is_ok()
        );
    }
}

#[tokio::test]
async fn a_tool_budget_is_spent_only_by_the_tools_it_names() {
    let limits = limits(METERED).await;
    let who = identity("metered", &["*"], &[]);
    let get = Some(("hr__get_employee", "get_employee"));
    assert!(
        rate_limit(&limits, &who, methods::TOOLS_CALL, get)
            .await
            .is_ok()
    );
    let e = rate_limit(&limits, &who, methods::TOOLS_CALL, get)
        .await
        .unwrap_err();
    assert!(
        e.message
            .contains("1/hour for hr__get_employee with role metered"),
        "{}",
        e.message
    );
    // A tool the pattern does not name spends only the role budget — which is now spent.
    let e = rate_limit(
        &limits,
        &who,
        methods::TOOLS_CALL,
        Some(("hr__update", "update")),
    )
    .await
    .unwrap_err();
    assert!(
        e.message.contains("2/min for role metered"),
        "{}",
        e.message
    );
}
