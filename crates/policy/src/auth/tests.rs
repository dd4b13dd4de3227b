//! Authentication alone: the anonymous role, API keys, HS256 JWTs (verified, cached, expired,
//! forged), and the challenge a refusal carries.

use std::sync::Arc;

use http::{HeaderMap, HeaderValue};
use jsonwebtoken::{EncodingKey, Header, encode};

use super::*;

const SECRET: &str = "a-test-secret-that-is-at-least-32-bytes-long";

fn authenticator(yaml: &str) -> Authenticator {
    let config =
        switchboard_config::from_str(yaml, std::path::Path::new("t.yaml"), &|_| None).unwrap();
    Authenticator::from_config(&config).unwrap()
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, HeaderValue::from_str(v).unwrap());
    }
    h
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn token(claims: serde_json::Value, secret: &str) -> String {
    encode(
        &Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn without_auth_everyone_may_do_everything() {
    let a = authenticator("{}");
    assert!(!a.enabled());
    let who = a.authenticate(&HeaderMap::new()).await.unwrap();
    assert_eq!(who.method, "none");
    assert!(who.policy.allows_everything());
}

#[tokio::test]
async fn no_credential_is_the_anonymous_role_or_refused() {
    let a = authenticator("auth: {anonymous_role: viewer}\nroles:\n  viewer: {allow: ['get_*']}\n");
    let who = a.authenticate(&HeaderMap::new()).await.unwrap();
    assert_eq!(
        (who.method, who.role.as_deref()),
        ("anonymous", Some("viewer"))
    );
    assert!(!who.policy.allows_everything());

    let keys = std::env::temp_dir().join(format!("sb-auth-none-{}.json", std::process::id()));
    let strict = authenticator(&format!(
        "auth: {{api_keys: {{file: '{}'}}}}\nroles:\n  viewer: {{allow: ['get_*']}}\n",
        keys.display()
    ));
    assert!(matches!(
        strict.authenticate(&HeaderMap::new()).await,
        Err(AuthError::Missing)
    ));
    // Only Bearer is accepted in Authorization.
    let basic = strict
        .authenticate(&headers(&[("authorization", "Basic dXNlcjpwYXNz")]))
        .await;
    assert!(
        matches!(basic, Err(AuthError::Invalid(ref m)) if m.contains("Bearer")),
        "{basic:?}"
    );
    let (status, challenge) = strict.challenge(&AuthError::Missing);
    assert_eq!(status, 401);
    assert!(
        challenge.starts_with("Bearer realm=\"switchboard\""),
        "{challenge}"
    );
    let _ = std::fs::remove_file(&keys);
}

#[tokio::test]
async fn an_api_key_names_its_holder_and_role_until_it_is_unknown() {
    let path = std::env::temp_dir().join(format!("sb-auth-keys-{}.json", std::process::id()));
    let mut file = keys::KeyFile::default();
    let key = file.create("ci", "developer");
    file.save(&path).unwrap();
    let a = authenticator(&format!(
        "auth: {{api_keys: {{file: '{}'}}}}\nroles:\n  developer: {{allow: ['*']}}\n",
        path.display()
    ));
    for h in [
        headers(&[("x-api-key", &key)]),
        headers(&[("authorization", &format!("Bearer {key}"))]),
    ] {
        let who = a.authenticate(&h).await.unwrap();
        assert_eq!(
            (&*who.subject, who.role.as_deref(), who.method),
            ("key:ci", Some("developer"), "api_key")
        );
    }
    let forged = format!("{}x", &key[..key.len() - 1]);
    let e = a
        .authenticate(&headers(&[("x-api-key", &forged)]))
        .await
        .unwrap_err();
    assert!(
        matches!(e, AuthError::Invalid(ref m) if m.contains("unknown or revoked")),
        "{e:?}"
    );
    let (status, challenge) = a.challenge(&e);
    assert_eq!(status, 401);
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn a_jwt_is_verified_once_and_refused_when_expired_forged_or_foreign() {
    let a = authenticator(&format!(
        "auth:\n  jwt:\n    - {{issuer: https://issuer.test, audience: [switchboard], algorithm: HS256, secret: '{SECRET}'}}\nroles:\n  analyst: {{allow: ['get_*']}}\n"
    ));
    let claims = |exp: u64, iss: &str| serde_json::json!({"iss": iss, "aud": "switchboard", "sub": "u1", "role": "analyst", "exp": exp});
    let good = token(claims(now() + 600, "https://issuer.test"), SECRET);
    let bearer = |t: &str| headers(&[("authorization", &format!("Bearer {t}"))]);
    let who = a.authenticate(&bearer(&good)).await.unwrap();
    assert_eq!(
        (&*who.subject, who.role.as_deref(), who.method),
        ("jwt:https://issuer.test:u1", Some("analyst"), "jwt")
    );
    // Verified once: the same token is answered from the cache with the same identity.
    let again = a.authenticate(&bearer(&good)).await.unwrap();
    assert!(Arc::ptr_eq(&who, &again));

    let expired = token(claims(now() - 600, "https://issuer.test"), SECRET);
    assert!(matches!(
        a.authenticate(&bearer(&expired)).await,
        Err(AuthError::Invalid(_))
    ));
    let forged = token(
        claims(now() + 600, "https://issuer.test"),
        "another-secret-that-is-also-32-bytes-or-more",
    );
    assert!(matches!(
        a.authenticate(&bearer(&forged)).await,
        Err(AuthError::Invalid(_))
    ));
    let foreign = token(claims(now() + 600, "https://elsewhere.test"), SECRET);
    assert!(matches!(
        a.authenticate(&bearer(&foreign)).await,
        Err(AuthError::Invalid(_))
    ));
}
