//! What security costs per call: the same `tools/call` (company-api over stdio) run through
//! the gateway's pipeline in-process with security off, with an API key, and with a JWT (cached
//! after its first verification) — each with a role policy, a rate limit and the SQLite audit
//! trail. Reports the gateway process's CPU time per call (the upstream is another process, so
//! its CPU is not counted) and the wall time, median of 3 runs.
//!
//!   cargo build --release -p company-api && cargo bench -p switchboard --bench security
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard_gateway::{Admission, Gateway, Transport};
use switchboard_protocol::{Id, Request, to_raw};

const CALLS: usize = 5000;

/// A name, a config, and the credential header the client sends.
type Scenario = (&'static str, String, Option<(&'static str, String)>);
const WARMUP: usize = 500;
const HS_SECRET: &str = "bench-secret-0123456789abcdef0123456789";

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

fn cpu() -> Duration {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_PROCESS_CPUTIME_ID).unwrap();
    Duration::new(
        u64::try_from(t.tv_sec()).unwrap(),
        u32::try_from(t.tv_nsec()).unwrap(),
    )
}

fn hs256(claims: &serde_json::Value) -> String {
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let head = b64(br#"{"alg":"HS256","typ":"JWT"}"#);
    let body = b64(claims.to_string().as_bytes());
    let signed = format!("{head}.{body}");
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(HS_SECRET.as_bytes()).unwrap();
    mac.update(signed.as_bytes());
    format!("{signed}.{}", b64(&mac.finalize().into_bytes()))
}

async fn run(
    gw: &Arc<Gateway>,
    header: Option<(&str, String)>,
    concurrency: usize,
) -> (Duration, Duration) {
    let mut headers = http::HeaderMap::new();
    if let Some((k, v)) = header {
        headers.insert(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    let params = to_raw(
        &serde_json::json!({"name": "company__get_employee_info", "arguments": {"employee_id": "E001"}}),
    );
    let one = async || {
        let policies = gw.policies();
        let identity = policies.auth.authenticate(&headers).await.unwrap();
        let admission = Admission {
            transport: Transport::Http,
            session: None,
            tracked_by: None,
            out: None,
            modern: None,
            identity,
            policies,
            client_ip: Some(std::net::Ipv4Addr::LOCALHOST.into()),
            trace: None,
        };
        let req = Request {
            id: Id::Num(1),
            method: "tools/call".into(),
            params: Some(params.clone()),
        };
        let (_, call) = gw.admit(admission, req);
        let resp = call.await;
        let text = String::from_utf8(resp.to_vec()).unwrap();
        assert!(text.contains("E001"), "{text}");
    };
    for _ in 0..WARMUP {
        one().await;
    }
    let (c0, w0) = (cpu(), Instant::now());
    let workers = (0..concurrency).map(|_| async {
        for _ in 0..CALLS / concurrency {
            one().await;
        }
    });
    futures_util::future::join_all(workers).await;
    (cpu() - c0, w0.elapsed())
}

fn main() {
    let company = target_dir().join("release/company-api");
    assert!(
        company.exists(),
        "build it first: cargo build --release -p company-api ({})",
        company.display()
    );
    let dir = std::env::temp_dir().join(format!("sb-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut keys = switchboard_policy::auth::keys::KeyFile::default();
    let key = keys.create("bench", "bench");
    keys.save(&dir.join("keys.json")).unwrap();
    let server = format!(
        "servers:\n  company:\n    command: {:?}\n",
        company.display().to_string()
    );
    let secure = |audit: Option<&str>| {
        let audit = audit
            .map(|a| {
                let sink = if a.ends_with(".jsonl") {
                    "jsonl"
                } else {
                    "sqlite"
                };
                format!(
                    "audit: {{sink: {sink}, path: {:?}}}\n",
                    dir.join(a).display().to_string()
                )
            })
            .unwrap_or_default();
        format!(
            "auth:\n  api_keys: {{file: {:?}}}\n  jwt:\n    - {{issuer: bench, audience: [switchboard], algorithm: HS256, secret: {HS_SECRET:?}}}\nroles:\n  bench: {{allow: [\"get_*\", \"search_*\", \"resource:*\"], deny: [\"*__delete_*\"], rate_limit: 100000000/s}}\n{audit}{server}",
            dir.join("keys.json").display().to_string(),
        )
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let jwt = hs256(
        &serde_json::json!({"iss": "bench", "aud": "switchboard", "sub": "b", "role": "bench", "exp": now + 3600}),
    );
    let scenarios: Vec<Scenario> = vec![
        ("security off", server.clone(), None),
        (
            "API key + RBAC + rate limit",
            secure(None),
            Some(("x-api-key", key.clone())),
        ),
        (
            "JWT (cached) + RBAC + rate limit",
            secure(None),
            Some(("authorization", format!("Bearer {jwt}"))),
        ),
        (
            "API key + RBAC + rate limit + SQLite audit",
            secure(Some("a1.db")),
            Some(("x-api-key", key.clone())),
        ),
        (
            "JWT (cached) + RBAC + rate limit + SQLite audit",
            secure(Some("a2.db")),
            Some(("authorization", format!("Bearer {jwt}"))),
        ),
        (
            "JWT (cached) + RBAC + rate limit + JSONL audit",
            secure(Some("a3.jsonl")),
            Some(("authorization", format!("Bearer {jwt}"))),
        ),
    ];
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let levels: Vec<usize> = std::env::var("SWITCHBOARD_BENCH_CONCURRENCY")
        .ok()
        .and_then(|v| v.split(',').map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 16]);
    for concurrency in levels {
        println!(
            "\n{CALLS} tools/call per run, {concurrency} at a time, median of 3 runs; gateway-process CPU per call"
        );
        let mut base = None;
        // `SWITCHBOARD_BENCH_ONLY=audit` runs only the scenarios whose name contains it.
        let only = std::env::var("SWITCHBOARD_BENCH_ONLY").unwrap_or_default();
        for (name, yaml, header) in scenarios.clone() {
            if !name.contains(only.as_str()) {
                continue;
            }
            let config =
                switchboard_config::from_str(&yaml, std::path::Path::new("bench.yaml"), &|_| None)
                    .unwrap();
            let (cpu_us, wall_us) = rt.block_on(async {
                let gw = Gateway::start(config, Duration::from_secs(30))
                    .await
                    .unwrap();
                let mut runs = Vec::new();
                for _ in 0..3 {
                    let (c, w) = run(&gw, header.clone(), concurrency).await;
                    runs.push((
                        c.as_secs_f64() * 1e6 / CALLS as f64,
                        w.as_secs_f64() * 1e6 / CALLS as f64,
                    ));
                }
                gw.shutdown(Duration::from_secs(2)).await;
                runs.sort_by(|a, b| a.0.total_cmp(&b.0));
                runs[1]
            });
            let delta = base
                .map(|b: f64| format!("{:+.1}", cpu_us - b))
                .unwrap_or_else(|| "—".into());
            if base.is_none() {
                base = Some(cpu_us);
            }
            println!(
                "{name:<50} CPU {cpu_us:>7.1} µs/call (Δ {delta} µs)   wall {wall_us:>7.1} µs/call"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
