//! The gateway as an OAuth 2.1 resource server, against a real authorization server and the
//! Python SDK client.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::*;
use crate::helpers::*;

struct OAuthSetup {
    gw: Gateway,
    _as: Proc,
    issuer: String,
    resource: String,
}

fn oauth_setup() -> OAuthSetup {
    let as_port = free_port();
    let auth_server = spawn(
        Command::new(python())
            .arg(harness().join("servers/oauth_as.py"))
            .arg(as_port.to_string()),
    );
    wait_port(as_port, Duration::from_secs(20));
    let issuer = format!("http://127.0.0.1:{as_port}");
    let port = free_port();
    let resource = format!("http://127.0.0.1:{port}/mcp");
    let yaml = format!(
        r#"auth:
  jwt:
    - {{issuer: "{issuer}", audience: ["{resource}"], algorithm: RS256, jwks_url: "{issuer}/jwks.json"}}
  oauth:
    resource: "{resource}"
    authorization_servers: ["{issuer}"]
    scopes: [mcp]
    introspection: {{url: "{issuer}/introspect", client_id: gateway, client_secret: gateway-secret}}
roles:
  developer: {{allow: ["*"]}}
  viewer: {{allow: ["get_*"]}}
servers:
{company}"#,
        company = stdio_entry("company", &workspace_bin("company-api"), &[]),
    );
    let gw = Gateway::start_at(&yaml, &format!("127.0.0.1:{port}"));
    OAuthSetup {
        gw,
        _as: auth_server,
        issuer,
        resource,
    }
}

/// A token from the test authorization server (client_credentials).
async fn token(issuer: &str, fields: &[(&str, &str)]) -> String {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_id", "tester"),
        ("client_secret", "s3cret"),
    ];
    form.extend_from_slice(fields);
    let v: Value = reqwest::Client::new()
        .post(format!("{issuer}/token"))
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn oauth_resource_server_checks_audience_scope_and_introspects() {
    let s = oauth_setup();
    let (url, issuer, resource) = (&s.gw.url, s.issuer.as_str(), s.resource.as_str());
    // No token: a challenge that points to the metadata, which points to the issuer.
    let a = tool_call(url, &[], EMPLOYEE, json!({"employee_id": "E001"})).await;
    assert_eq!(a.status, 401);
    let challenge = a.headers["www-authenticate"].to_str().unwrap().to_owned();
    let port = resource
        .trim_end_matches("/mcp")
        .rsplit(':')
        .next()
        .unwrap();
    let metadata_url = format!("http://127.0.0.1:{port}/.well-known/oauth-protected-resource/mcp");
    assert!(
        challenge.contains(&format!("resource_metadata=\"{metadata_url}\"")),
        "{challenge}"
    );
    assert!(challenge.contains("scope=\"mcp\""), "{challenge}");
    for u in [
        metadata_url.clone(),
        format!("http://127.0.0.1:{port}/.well-known/oauth-protected-resource"),
    ] {
        let m: Value = reqwest::get(&u).await.unwrap().json().await.unwrap();
        assert_eq!(m["resource"], resource, "{m}");
        assert_eq!(m["authorization_servers"][0], issuer, "{m}");
    }
    let bearer_call = |t: String| async move {
        tool_call(
            url,
            &[("authorization", &bearer(&t))],
            EMPLOYEE,
            json!({"employee_id": "E001"}),
        )
        .await
    };
    // JWTs verified through the authorization server's JWKS.
    let ok = token(issuer, &[("resource", resource), ("scope", "mcp")]).await;
    assert_eq!(bearer_call(ok).await.status, 200);
    let elsewhere = token(
        issuer,
        &[("resource", "http://127.0.0.1:1/other"), ("scope", "mcp")],
    )
    .await;
    assert_eq!(
        bearer_call(elsewhere).await.status,
        401,
        "a token for another resource"
    );
    let narrow = token(issuer, &[("resource", resource), ("scope", "profile")]).await;
    let a = bearer_call(narrow).await;
    assert_eq!(a.status, 403, "{}", a.body);
    let c = a.headers["www-authenticate"].to_str().unwrap();
    assert!(
        c.contains("insufficient_scope") && c.contains("scope=\"mcp\""),
        "{c}"
    );
    // Opaque tokens through introspection.
    let opaque = |extra: Vec<(&'static str, String)>| {
        let mut f: Vec<(&str, String)> = vec![
            ("token_format", "opaque".into()),
            ("scope", "mcp".into()),
            ("resource", resource.to_owned()),
        ];
        for (k, v) in extra {
            f.retain(|(x, _)| *x != k);
            f.push((k, v));
        }
        async move {
            let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            token(issuer, &f).await
        }
    };
    let t = opaque(vec![]).await;
    assert!(!t.contains('.'), "opaque: {t}");
    assert_eq!(bearer_call(t.clone()).await.status, 200);
    assert_eq!(bearer_call(t).await.status, 200, "cached introspection");
    assert_eq!(
        bearer_call(opaque(vec![("resource", "http://127.0.0.1:1/x".into())]).await)
            .await
            .status,
        401
    );
    assert_eq!(
        bearer_call(opaque(vec![("expires_in", "-30".into())]).await)
            .await
            .status,
        401
    );
    assert_eq!(
        bearer_call(opaque(vec![("scope", "other".into())]).await)
            .await
            .status,
        403
    );
    assert_eq!(
        bearer_call("not-a-token-the-server-issued".into())
            .await
            .status,
        401
    );
    // The role comes from the token: a viewer sees only get_*.
    let viewer = opaque(vec![("role", "viewer".into())]).await;
    let names = tools(url, &[("authorization", &bearer(&viewer))]).await;
    assert_eq!(names, vec![EMPLOYEE.to_owned()]);
}

/// The Python SDK client, told nothing but the URL, finds the authorization server through
/// RFC 9728, registers, runs authorization code + PKCE, and calls a tool — in both eras.
#[test]
fn python_sdk_client_authenticates_through_discovery() {
    let s = oauth_setup();
    for mode in ["auto", "legacy"] {
        let mut cmd = Command::new(python());
        cmd.arg(harness().join("clients/py_oauth_client.py")).args([
            &s.gw.url,
            EMPLOYEE,
            r#"{"employee_id":"E005"}"#,
            "--mode",
            mode,
        ]);
        let out = run_json(&mut cmd, Duration::from_secs(60));
        assert_eq!(out["authorized"], true, "{mode}: {out}");
        assert!(
            out["text"].as_str().unwrap().contains("E005"),
            "{mode}: {out}"
        );
        let want = if mode == "auto" {
            "2026-07-28"
        } else {
            "2025-11-25"
        };
        assert_eq!(out["protocol_version"], want, "{out}");
    }
}
