//! What the security tests share: a gateway with API keys, three JWT issuers (HS256 secret,
//! RS256 public key file, RS256 JWKS served over HTTP), and clients speaking raw 2026-07-28.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode, jwk};
use serde_json::{Value, json};

use crate::common::*;
pub use crate::common::{keys_cli, modern, tool_call};

pub const AUD: &str = "switchboard-test";
pub const HS_SECRET: &str = "0123456789abcdef0123456789abcdef-hs-secret";

pub struct Setup {
    pub gw: Gateway,
    pub dir: PathBuf,
    pub rs_key: Vec<u8>,
    pub jwks_dir: PathBuf,
    pub _jwks: Proc,
}

pub fn openssl_rsa(path: &Path) -> Vec<u8> {
    let ok = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(path)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(ok, "openssl genpkey failed");
    std::fs::read(path).unwrap()
}

pub fn public_pem(private: &Path, out: &Path) {
    let ok = Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(private)
        .arg("-out")
        .arg(out)
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

pub fn write_jwks(dir: &Path, keys: &[(&str, &[u8])]) {
    let keys: Vec<jwk::Jwk> = keys
        .iter()
        .map(|(kid, pem)| {
            let mut k = jwk::Jwk::from_encoding_key(
                &EncodingKey::from_rsa_pem(pem).unwrap(),
                Algorithm::RS256,
            )
            .unwrap();
            k.common.key_id = Some((*kid).to_owned());
            k
        })
        .collect();
    let tmp = dir.join("jwks.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec(&jwk::JwkSet { keys }).unwrap()).unwrap();
    std::fs::rename(tmp, dir.join("jwks.json")).unwrap();
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub fn claims(iss: &str, role: &str) -> Value {
    json!({"iss": iss, "aud": AUD, "sub": "alice", "role": role, "exp": now() + 600, "nbf": now() - 5})
}

pub fn hs(claims: &Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(HS_SECRET.as_bytes()),
    )
    .unwrap()
}

pub fn rs(claims: &Value, pem: &[u8], kid: Option<&str>) -> String {
    let mut h = Header::new(Algorithm::RS256);
    h.kid = kid.map(str::to_owned);
    encode(&h, claims, &EncodingKey::from_rsa_pem(pem).unwrap()).unwrap()
}

pub fn setup(name: &str) -> Setup {
    let dir = scratch_dir(&format!("sec-{name}"));
    let rs_key = openssl_rsa(&dir.join("rs.pem"));
    public_pem(&dir.join("rs.pem"), &dir.join("rs.pub.pem"));
    let jwks_dir = dir.join("jwks");
    std::fs::create_dir_all(&jwks_dir).unwrap();
    let k1 = openssl_rsa(&dir.join("k1.pem"));
    write_jwks(&jwks_dir, &[("k1", &k1)]);
    let port = free_port();
    let jwks = spawn(
        Command::new(python())
            .args([
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                &port.to_string(),
                "--directory",
            ])
            .arg(&jwks_dir),
    );
    wait_port(port, Duration::from_secs(20));
    let yaml = format!(
        r#"auth:
  api_keys: {{file: "{keys}"}}
  jwt:
    - {{issuer: "https://hs.test", audience: ["{AUD}"], algorithm: HS256, secret: "{HS_SECRET}"}}
    - {{issuer: "https://rs.test", audience: ["{AUD}"], algorithm: RS256, public_key_file: "{pubkey}"}}
    - {{issuer: "https://jwks.test", audience: ["{AUD}"], algorithm: RS256, jwks_url: "http://127.0.0.1:{port}/jwks.json"}}
roles:
  admin: {{allow: ["*"]}}
  viewer: {{allow: ["get_*", "search_*", "resource:*", "prompt:*"], deny: ["company__search_*"]}}
  metered: {{allow: ["*"], rate_limit: "10/hour"}}
servers:
{company}"#,
        keys = dir.join("keys.json").display(),
        pubkey = dir.join("rs.pub.pem").display(),
        company = stdio_entry("company", &workspace_bin("company-api"), &[]),
    );
    let gw = Gateway::start(&yaml);
    std::fs::write(dir.join("k1.pem"), &k1).unwrap();
    Setup {
        gw,
        dir,
        rs_key,
        jwks_dir,
        _jwks: jwks,
    }
}

pub async fn tools(url: &str, auth: &[(&str, &str)]) -> Vec<String> {
    let a = modern(url, auth, "tools/list", None, json!({})).await;
    assert_eq!(a.status, 200, "{}", a.body);
    a.body["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

pub const EMPLOYEE: &str = "company__get_employee_info";
