//! Forwarding cost: the same `tools/call` (bench-upstream's `echo`, Streamable HTTP, JSON and
//! SSE responses) sent directly to the upstream, through a plain byte-forwarding hyper proxy
//! (this harness, re-run as a child process: no MCP parsing, the floor for any HTTP gateway),
//! and through Switchboard, at concurrency 1 and 32, all in one run. The load driver is
//! `switchboard load`. CPU per call of each process comes from /proc/PID/stat (utime + stime)
//! around each run. Then: the gateway's idle RSS and with 10,000 idle legacy sessions; a 20 ms
//! tool through the gateway with the cache off and on (bench-upstream over stdio, which answers
//! one request at a time, as most stdio servers do).
//!
//!   cargo build --release -p switchboard -p bench-upstream
//!   cargo bench -p switchboard --bench forwarding            (writes target/forwarding.md)
//!
//! Environment: SB_BENCH_CALLS (default 20000 at c=32; c=1 runs a quarter), SB_BENCH_QUICK=1
//! (fewer calls), SB_BENCH_PROFILE=debug (use debug builds of the binaries: a smoke run),
//! SB_BENCH_ONLY=http-api (only the HTTP API tool rows: an `http_tools` GET through the gateway,
//! cache off and on, against the API called directly).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

const PROXY_ENV: &str = "SB_BENCH_PROXY_TO";

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

fn release_bin(name: &str) -> PathBuf {
    // SB_BENCH_PROFILE=debug: a smoke run against debug builds.
    let profile = std::env::var("SB_BENCH_PROFILE").unwrap_or_else(|_| "release".into());
    let p = target_dir().join(profile).join(name);
    assert!(
        p.exists(),
        "{} is missing: run `cargo build --release -p switchboard -p bench-upstream` first",
        p.display()
    );
    p
}

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Proc {
    fn pid(&self) -> u32 {
        self.0.id()
    }
}

/// Start `cmd` and wait for a stderr line containing `marker`; returns the rest of the line.
fn start(cmd: &mut Command, marker: &str) -> (Proc, String) {
    let mut child = Proc(
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut err = BufReader::new(child.0.stderr.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        if err.read_line(&mut line).unwrap() == 0 {
            panic!("{cmd:?} exited before saying `{marker}`");
        }
        if let Some(at) = line.find(marker) {
            let rest = line[at + marker.len()..].trim().to_owned();
            // Keep draining stderr so the child never blocks on a full pipe.
            std::thread::spawn(move || {
                let mut sink = String::new();
                while err.read_line(&mut sink).unwrap_or(0) > 0 {
                    sink.clear();
                }
            });
            return (child, rest);
        }
    }
}

/// CPU time (user + system) of a process so far.
fn cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command (which may hold spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    // /proc counts in USER_HZ, which Linux fixes at 100 for user space.
    Duration::from_micros(ticks * 10_000)
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

struct Run {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    ok: u64,
    requests: u64,
    /// µs of CPU per call, per measured process.
    cpu_us: Vec<f64>,
    driver_us: f64,
}

/// What `switchboard load` drives.
enum Target<'a> {
    Url(&'a str),
    /// A stdio server the driver starts itself: program and arguments.
    Stdio(&'a Path, &'a [&'a str]),
}

fn load(target: Target<'_>, tool: &str, args: &str, c: usize, n: u64, watch: &[u32]) -> Run {
    let warm = (n / 10).clamp(50, 2000);
    let before: Vec<Duration> = watch.iter().map(|&p| cpu(p)).collect();
    let mut cmd = Command::new(release_bin("switchboard"));
    cmd.args([
        "load",
        "--tool",
        tool,
        "--args",
        args,
        "--json",
        "--no-progress",
    ])
    .args(["-c", &c.to_string(), "-n", &n.to_string()])
    .args(["--warmup", &warm.to_string()]);
    match target {
        Target::Url(url) => cmd.args(["--url", url, "--protocol", "legacy"]),
        Target::Stdio(program, rest) => cmd.arg("--").arg(program).args(rest),
    };
    let out = cmd.output().unwrap();
    let after: Vec<Duration> = watch.iter().map(|&p| cpu(p)).collect();
    assert!(
        out.status.success(),
        "load failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let total = (n + warm) as f64;
    Run {
        rps: r["rps"].as_f64().unwrap_or(0.0),
        p50_ms: r["latency_ms"]["p50"].as_f64().unwrap_or(0.0),
        p99_ms: r["latency_ms"]["p99"].as_f64().unwrap_or(0.0),
        ok: r["ok"].as_u64().unwrap_or(0),
        requests: r["requests"].as_u64().unwrap_or(0),
        cpu_us: before
            .iter()
            .zip(&after)
            .map(|(b, a)| (*a - *b).as_secs_f64() * 1e6 / total)
            .collect(),
        driver_us: r["load_cpu_us_per_call"].as_f64().unwrap_or(0.0),
    }
}

const ROUNDS: usize = 3;

/// The run with the median CPU per call of the first measured process.
fn median(mut runs: Vec<Run>) -> Run {
    runs.sort_by(|a, b| a.cpu_us[0].total_cmp(&b.cpu_us[0]));
    runs.swap_remove(runs.len() / 2)
}

fn gateway(yaml: &str, dir: &Path) -> (Proc, String) {
    let cfg = dir.join(format!("gw-{}.yaml", yaml.len()));
    std::fs::write(&cfg, yaml).unwrap();
    start(
        Command::new(release_bin("switchboard"))
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&cfg)
            .env("RUST_LOG", "warn"),
        "switchboard listening on ",
    )
}

fn main() {
    if let Ok(to) = std::env::var(PROXY_ENV) {
        return proxy::run(to.parse().unwrap());
    }
    let quick = std::env::var_os("SB_BENCH_QUICK").is_some();
    // SB_BENCH_ONLY=http-api: only the HTTP API tool rows.
    let only_http_api = std::env::var("SB_BENCH_ONLY").is_ok_and(|v| v == "http-api");
    let n32: u64 = std::env::var("SB_BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 2000 } else { 20_000 });
    let dir = std::env::temp_dir().join(format!("sb-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut md = String::new();
    if only_http_api {
        http_api_tools(&mut md, &dir, n32);
        print!("{md}");
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    writeln!(
        md,
        "Machine: {cores} cores; everything on 127.0.0.1; release builds; load driver `switchboard load` (lean HTTP/1.1, one keep-alive connection per worker). Calls per run: {n32} at c=32, {} at c=1, plus 10% warm-up (counted in CPU per call); each row is the median (by CPU per call) of {ROUNDS} interleaved rounds.\n",
        n32 / 4
    )
    .unwrap();
    writeln!(md, "| responses | c | target | calls/s | × direct | p50 ms | p99 ms | target CPU µs/call | upstream CPU µs/call | driver CPU µs/call |").unwrap();
    writeln!(md, "|---|---|---|---|---|---|---|---|---|---|").unwrap();
    let mut ratios = Vec::new();
    for sse in [false, true] {
        let mut up_cmd = Command::new(release_bin("bench-upstream"));
        up_cmd.args(["--http", "127.0.0.1:0"]);
        if sse {
            up_cmd.arg("--sse");
        }
        let (up, up_url) = start(&mut up_cmd, "listening on ");
        let up_addr: SocketAddr = up_url
            .trim_start_matches("http://")
            .trim_end_matches("/mcp")
            .parse()
            .unwrap();
        let (px, px_url) = start(
            Command::new(std::env::current_exe().unwrap()).env(PROXY_ENV, up_addr.to_string()),
            "proxy listening on ",
        );
        let (gw, gw_url) = gateway(
            &format!(
                "cache: {{enabled: false}}\nservers:\n  up:\n    url: {up_url}\n    protocol: legacy\n"
            ),
            &dir,
        );
        let kind = if sse { "SSE" } else { "JSON" };
        for c in [1usize, 32] {
            let n = if c == 1 { n32 / 4 } else { n32 };
            let args = r#"{"text":"hello"}"#;
            // Three rounds, interleaved so drift hits every target alike; the median of each.
            let (mut d, mut p, mut g) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..ROUNDS {
                d.push(load(Target::Url(&up_url), "echo", args, c, n, &[up.pid()]));
                p.push(load(
                    Target::Url(&px_url),
                    "echo",
                    args,
                    c,
                    n,
                    &[px.pid(), up.pid()],
                ));
                g.push(load(
                    Target::Url(&gw_url),
                    "up__echo",
                    args,
                    c,
                    n,
                    &[gw.pid(), up.pid()],
                ));
            }
            let (direct, proxied, through) = (median(d), median(p), median(g));
            for (name, r) in [
                ("direct", &direct),
                ("plain proxy", &proxied),
                ("switchboard", &through),
            ] {
                assert_eq!(r.ok, r.requests, "{name}: failed calls");
                let (target_cpu, up_cpu) = match r.cpu_us.as_slice() {
                    [up] => ("–".to_owned(), *up),
                    [t, up] => (format!("{t:.1}"), *up),
                    _ => unreachable!(),
                };
                writeln!(
                    md,
                    "| {kind} | {c} | {name} | {:.0} | {:.2} | {:.3} | {:.3} | {target_cpu} | {up_cpu:.1} | {:.1} |",
                    r.rps,
                    r.rps / direct.rps,
                    r.p50_ms,
                    r.p99_ms,
                    r.driver_us
                )
                .unwrap();
            }
            ratios.push(format!(
                "{kind}, c={c}: gateway CPU/call ÷ proxy CPU/call = {:.2}; throughput ÷ direct = {:.2}; p50 added over the proxy = {:.3} ms",
                through.cpu_us[0] / proxied.cpu_us[0],
                through.rps / direct.rps,
                through.p50_ms - proxied.p50_ms
            ));
        }
        drop((gw, px, up));
    }
    writeln!(md).unwrap();
    for r in &ratios {
        writeln!(md, "- {r}").unwrap();
    }

    // A stdio upstream: the load driver starts it itself (direct), or the gateway does.
    let stdio_up = release_bin("bench-upstream");
    let n = n32;
    let direct = load(
        Target::Stdio(&stdio_up, &["--concurrent"]),
        "echo",
        r#"{"text":"hello"}"#,
        32,
        n,
        &[],
    );
    assert_eq!(direct.ok, direct.requests, "stdio direct: failed calls");
    let direct = direct.rps;
    let (gw, gw_url) = gateway(
        &format!(
            "cache: {{enabled: false}}\nservers:\n  up:\n    command: {}\n    args: [--concurrent]\n",
            stdio_up.display()
        ),
        &dir,
    );
    let through = load(
        Target::Url(&gw_url),
        "up__echo",
        r#"{"text":"hello"}"#,
        32,
        n,
        &[gw.pid()],
    );
    assert_eq!(
        through.ok, through.requests,
        "stdio through the gateway: failed calls"
    );
    drop(gw);
    writeln!(
        md,
        "\nA stdio upstream (bench-upstream --concurrent), c=32: direct over stdio (the load driver's own stdio client) {direct:.0} calls/s; HTTP client → gateway → stdio {:.0} calls/s ({:.2}× direct), gateway CPU {:.1} µs/call, p50 {:.3} ms.",
        through.rps,
        through.rps / direct,
        through.cpu_us[0],
        through.p50_ms
    )
    .unwrap();

    // Memory: idle, and with 10,000 idle legacy sessions.
    let sessions = if quick { 1000 } else { 10_000 };
    let (up, up_url) = start(
        Command::new(release_bin("bench-upstream")).args(["--http", "127.0.0.1:0"]),
        "listening on ",
    );
    let (gw, gw_url) = gateway(
        &format!(
            "http:\n  max_sessions: 20000\nservers:\n  up:\n    url: {up_url}\n    protocol: legacy\n"
        ),
        &dir,
    );
    std::thread::sleep(Duration::from_millis(500));
    let idle = rss_kib(gw.pid());
    open_sessions(&gw_url, sessions);
    std::thread::sleep(Duration::from_millis(500));
    let loaded = rss_kib(gw.pid());
    writeln!(
        md,
        "\nMemory (VmRSS): idle gateway {:.1} MB; with {sessions} idle legacy sessions {:.1} MB (+{:.1} MB, {:.2} KB per session).",
        idle as f64 / 1024.0,
        loaded as f64 / 1024.0,
        (loaded - idle.min(loaded)) as f64 / 1024.0,
        (loaded - idle.min(loaded)) as f64 / sessions as f64
    )
    .unwrap();
    drop((gw, up));

    // A 20 ms tool at c=32, cache off and on.
    let mut slow = Vec::new();
    for (label, cache) in [("off", "cache: {enabled: false}\n"), ("on", "")] {
        let (gw, gw_url) = gateway(
            &format!(
                "{cache}servers:\n  slow:\n    command: {}\n",
                stdio_up.display()
            ),
            &dir,
        );
        let n = if label == "off" { 500 } else { n32 };
        let r = load(
            Target::Url(&gw_url),
            "slow__slow",
            r#"{"ms":20}"#,
            32,
            n,
            &[gw.pid()],
        );
        assert_eq!(r.ok, r.requests, "slow tool, cache {label}: failed calls");
        slow.push((label, r));
    }
    writeln!(md, "\nA 20 ms tool (`slow`, bench-upstream over stdio, one request at a time) through the gateway at c=32:\n").unwrap();
    writeln!(
        md,
        "| cache | calls/s | p50 ms | p99 ms | gateway CPU µs/call |"
    )
    .unwrap();
    writeln!(md, "|---|---|---|---|---|").unwrap();
    for (label, r) in &slow {
        writeln!(
            md,
            "| {label} | {:.0} | {:.3} | {:.3} | {:.1} |",
            r.rps, r.p50_ms, r.p99_ms, r.cpu_us[0]
        )
        .unwrap();
    }
    writeln!(
        md,
        "\nCached ÷ uncached throughput: {:.0}×",
        slow[1].1.rps / slow[0].1.rps
    )
    .unwrap();

    http_api_tools(&mut md, &dir, n32);

    print!("{md}");
    let out = target_dir().join("forwarding.md");
    std::fs::write(&out, &md).unwrap();
    eprintln!("written to {}", out.display());
    let _ = std::fs::remove_dir_all(&dir);
}

/// An HTTP API tool (`http_tools`: bench-upstream's plain JSON `GET /rest/echo`) through the
/// gateway, cache off and on, against the same GET sent to the API directly; c=32, rounds
/// interleaved, medians.
fn http_api_tools(md: &mut String, dir: &Path, n: u64) {
    let (up, up_url) = start(
        Command::new(release_bin("bench-upstream")).args(["--http", "127.0.0.1:0"]),
        "listening on ",
    );
    let addr: SocketAddr = up_url
        .trim_start_matches("http://")
        .trim_end_matches("/mcp")
        .parse()
        .unwrap();
    let tools = format!(
        "servers:\n  api:\n    base_url: http://{addr}\n    http_tools:\n      echo: {{path: /rest/echo, input_schema: {{type: object, properties: {{text: {{type: string}}}}}}}}\n"
    );
    let (off, off_url) = gateway(&format!("cache: {{enabled: false}}\n{tools}"), dir);
    let (on, on_url) = gateway(&tools, dir);
    let args = r#"{"text":"hello"}"#;
    let (mut d, mut u, mut c) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        d.push(rest_direct(addr, "/rest/echo?text=hello", 32, n, up.pid()));
        let r = load(
            Target::Url(&off_url),
            "api__echo",
            args,
            32,
            n,
            &[off.pid(), up.pid()],
        );
        assert_eq!(r.ok, r.requests, "HTTP API tool: failed calls");
        u.push(r);
        let r = load(
            Target::Url(&on_url),
            "api__echo",
            args,
            32,
            n,
            &[on.pid(), up.pid()],
        );
        assert_eq!(r.ok, r.requests, "cached HTTP API tool: failed calls");
        c.push(r);
    }
    let (d, u, c) = (median(d), median(u), median(c));
    writeln!(md, "\nAn HTTP API tool (`http_tools`, bench-upstream's plain JSON `GET /rest/echo`), c=32, {n} calls per run, median of {ROUNDS} interleaved rounds:\n").unwrap();
    writeln!(
        md,
        "| path | calls/s | p50 ms | p99 ms | gateway CPU µs/call | API CPU µs/call |"
    )
    .unwrap();
    writeln!(md, "|---|---|---|---|---|---|").unwrap();
    writeln!(md, "| GET to the API directly (keep-alive, one connection per worker) | {:.0} | {:.3} | {:.3} | – | {:.1} |", d.rps, d.p50_ms, d.p99_ms, d.cpu_us[0]).unwrap();
    for (label, r) in [
        ("tool through the gateway, cache off", &u),
        ("tool through the gateway, cache on", &c),
    ] {
        writeln!(
            md,
            "| {label} | {:.0} | {:.3} | {:.3} | {:.1} | {:.1} |",
            r.rps, r.p50_ms, r.p99_ms, r.cpu_us[0], r.cpu_us[1]
        )
        .unwrap();
    }
}

/// `n` GETs of `path` at `addr` from `c` workers, each on its own keep-alive connection;
/// `watch`'s CPU per call.
fn rest_direct(addr: SocketAddr, path: &str, c: usize, n: u64, watch: u32) -> Run {
    use http_body_util::{BodyExt, Empty};
    use hyper_util::rt::TokioIo;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let per = n / c as u64;
    let c0 = cpu(watch);
    let started = std::time::Instant::now();
    let mut lat: Vec<Duration> = rt.block_on(async {
        let workers = (0..c).map(|_| async move {
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            tcp.set_nodelay(true).unwrap();
            let (mut send, conn) =
                hyper::client::conn::http1::handshake::<_, Empty<bytes::Bytes>>(TokioIo::new(tcp))
                    .await
                    .unwrap();
            tokio::spawn(conn);
            let mut lat = Vec::with_capacity(per as usize);
            for _ in 0..per {
                let t = std::time::Instant::now();
                let req = hyper::Request::get(path)
                    .header("host", addr.to_string())
                    .body(Empty::new())
                    .unwrap();
                send.ready().await.unwrap();
                let resp = send.send_request(req).await.unwrap();
                assert!(resp.status().is_success());
                resp.into_body().collect().await.unwrap();
                lat.push(t.elapsed());
            }
            lat
        });
        futures_util::future::join_all(workers)
            .await
            .into_iter()
            .flatten()
            .collect()
    });
    let elapsed = started.elapsed();
    let total = lat.len() as f64;
    lat.sort();
    let pct = |p: f64| lat[((total * p) as usize).min(lat.len() - 1)].as_secs_f64() * 1e3;
    Run {
        rps: total / elapsed.as_secs_f64(),
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
        ok: lat.len() as u64,
        requests: lat.len() as u64,
        cpu_us: vec![(cpu(watch) - c0).as_secs_f64() * 1e6 / total],
        driver_us: 0.0,
    }
}

/// Open `n` legacy sessions (initialize + initialized) and leave them idle.
fn open_sessions(url: &str, n: usize) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = reqwest::Client::new();
        let init =
            serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "bench", "version": "0"}}})
            .to_string();
        let client = Arc::new(client);
        let chunks: Vec<_> = (0..8)
            .map(|w| {
                let (client, init, url) = (client.clone(), init.clone(), url.to_owned());
                tokio::spawn(async move {
                    for _ in (w..n).step_by(8) {
                        let r = client
                            .post(&url)
                            .header("content-type", "application/json")
                            .header("accept", "application/json, text/event-stream")
                            .body(init.clone())
                            .send()
                            .await
                            .unwrap();
                        let id = r.headers()["mcp-session-id"].to_str().unwrap().to_owned();
                        let _ = r.bytes().await;
                        client
                            .post(&url)
                            .header("content-type", "application/json")
                            .header("accept", "application/json, text/event-stream")
                            .header("mcp-session-id", id)
                            .header("mcp-protocol-version", "2025-11-25")
                            .body(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
                            .send()
                            .await
                            .unwrap();
                    }
                })
            })
            .collect();
        for c in chunks {
            c.await.unwrap();
        }
    });
}

/// The floor: a plain HTTP/1.1 proxy that forwards requests and responses as bytes, one
/// upstream keep-alive connection per client connection, no MCP parsing at all.
mod proxy {
    use std::net::SocketAddr;
    use std::sync::Arc;

    use hyper::body::Incoming;
    use hyper::{Request, Response};
    use hyper_util::rt::TokioIo;

    pub fn run(upstream: SocketAddr) {
        // The gateway's runtime: one worker per core, as a production proxy would run.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            eprintln!(
                "proxy listening on http://{}/mcp",
                listener.local_addr().unwrap()
            );
            loop {
                let (client, _) = listener.accept().await.unwrap();
                client.set_nodelay(true).unwrap();
                tokio::spawn(async move {
                    let Ok(up) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    up.set_nodelay(true).unwrap();
                    let Ok((send, conn)) =
                        hyper::client::conn::http1::handshake::<_, Incoming>(TokioIo::new(up))
                            .await
                    else {
                        return;
                    };
                    tokio::spawn(conn);
                    let send = Arc::new(tokio::sync::Mutex::new(send));
                    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let send = send.clone();
                        async move {
                            let r: Result<Response<Incoming>, hyper::Error> =
                                send.lock().await.send_request(req).await;
                            r
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(client), service)
                        .await;
                });
            }
        });
    }
}
