//! Credentials: API keys and JWTs, and the attacks on them.

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn api_keys_missing_wrong_revoked() {
    let s = setup("keys");
    let url = &s.gw.url;
    let cfg = &s.gw.config;
    // No credential: 401 with a Bearer challenge.
    let a = tool_call(url, &[], EMPLOYEE, json!({"employee_id": "E001"})).await;
    assert_eq!(a.status, 401, "{}", a.body);
    assert!(
        a.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let key = keys_cli(cfg, &["create", "--name", "ops", "--role", "admin"]);
    assert!(key.starts_with("sb_"), "{key}");
    let stored = std::fs::read_to_string(s.dir.join("keys.json")).unwrap();
    assert!(!stored.contains(&key), "the key itself must not be stored");
    for header in [("x-api-key", key.clone()), ("authorization", bearer(&key))] {
        let a = tool_call(
            url,
            &[(header.0, &header.1)],
            EMPLOYEE,
            json!({"employee_id": "E001"}),
        )
        .await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert!(
            a.body["result"]["content"][0]["text"]
                .as_str()
                .unwrap()
                .contains("E001")
        );
    }
    // A near miss is refused, with a reason in the challenge.
    let mut wrong = key.clone();
    wrong.pop();
    let a = tool_call(url, &[("x-api-key", &wrong)], EMPLOYEE, json!({})).await;
    assert_eq!(a.status, 401);
    assert!(
        a.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    // Revoked through the CLI: refused by the running gateway within seconds.
    assert!(keys_cli(cfg, &["list"]).contains("ops"));
    keys_cli(cfg, &["revoke", "ops"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let a = tool_call(
            url,
            &[("x-api-key", &key)],
            EMPLOYEE,
            json!({"employee_id": "E001"}),
        )
        .await;
        if a.status == 401 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "revoked key still accepted"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn jwt_attacks_are_refused() {
    let s = setup("jwt");
    let url = &s.gw.url;
    let ok = hs(&claims("https://hs.test", "admin"));
    assert_eq!(
        tool_call(
            url,
            &[("authorization", &bearer(&ok))],
            EMPLOYEE,
            json!({"employee_id": "E002"})
        )
        .await
        .status,
        200
    );

    let mut rows: Vec<(&str, String)> = Vec::new();
    // alg none: header {"alg":"none"}, no signature.
    let b64 = |v: &Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    rows.push((
        "alg none",
        format!(
            "{}.{}.",
            b64(&json!({"alg": "none", "typ": "JWT"})),
            b64(&claims("https://hs.test", "admin"))
        ),
    ));
    let mut c = claims("https://hs.test", "admin");
    c["exp"] = json!(now() - 3600);
    rows.push(("expired", hs(&c)));
    let mut c = claims("https://hs.test", "admin");
    c["nbf"] = json!(now() + 3600);
    rows.push(("not yet valid", hs(&c)));
    let mut c = claims("https://hs.test", "admin");
    c["aud"] = json!("another-service");
    rows.push(("meant for another resource", hs(&c)));
    rows.push(("unknown issuer", hs(&claims("https://evil.test", "admin"))));
    // Key confusion: an HS256 token "signed" with the RS256 issuer's public key.
    let public = std::fs::read(s.dir.join("rs.pub.pem")).unwrap();
    rows.push((
        "HS/RS key confusion",
        encode(
            &Header::new(Algorithm::HS256),
            &claims("https://rs.test", "admin"),
            &EncodingKey::from_secret(&public),
        )
        .unwrap(),
    ));
    // Signed by a key the issuer does not use.
    let other = openssl_rsa(&s.dir.join("other.pem"));
    rows.push((
        "wrong RS key",
        rs(&claims("https://rs.test", "admin"), &other, None),
    ));
    rows.push((
        "unknown kid",
        rs(&claims("https://jwks.test", "admin"), &other, Some("k9")),
    ));
    let mut tampered = ok.clone();
    tampered.insert(tampered.len() - 3, 'x');
    rows.push(("tampered signature", tampered));
    for (row, token) in rows {
        let a = tool_call(
            url,
            &[("authorization", &bearer(&token))],
            EMPLOYEE,
            json!({"employee_id": "E002"}),
        )
        .await;
        assert_eq!(a.status, 401, "{row}: {}", a.body);
    }
    // The real RS256 issuer works.
    let a = tool_call(
        url,
        &[(
            "authorization",
            &bearer(&rs(&claims("https://rs.test", "admin"), &s.rs_key, None)),
        )],
        EMPLOYEE,
        json!({"employee_id": "E003"}),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
}

#[tokio::test]
async fn jwks_rotation_is_followed() {
    let s = setup("jwks");
    let url = &s.gw.url;
    let k1 = std::fs::read(s.dir.join("k1.pem")).unwrap();
    let t1 = rs(&claims("https://jwks.test", "admin"), &k1, Some("k1"));
    assert_eq!(
        tool_call(
            url,
            &[("authorization", &bearer(&t1))],
            EMPLOYEE,
            json!({"employee_id": "E001"})
        )
        .await
        .status,
        200
    );
    // The issuer rotates to k2 (publishing both); a k2 token makes the gateway refetch.
    let k2 = openssl_rsa(&s.dir.join("k2.pem"));
    write_jwks(&s.jwks_dir, &[("k1", &k1), ("k2", &k2)]);
    let t2 = rs(&claims("https://jwks.test", "admin"), &k2, Some("k2"));
    let a = tool_call(
        url,
        &[("authorization", &bearer(&t2))],
        EMPLOYEE,
        json!({"employee_id": "E001"}),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    // A token whose kid claims k2 but is signed with k1 is refused.
    let forged = rs(&claims("https://jwks.test", "admin"), &k1, Some("k2"));
    assert_eq!(
        tool_call(
            url,
            &[("authorization", &bearer(&forged))],
            EMPLOYEE,
            json!({})
        )
        .await
        .status,
        401
    );
}
