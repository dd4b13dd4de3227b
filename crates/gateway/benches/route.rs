//! Micro-benchmarks of the catalogue on the hot path (BENCHMARKS.md, "Hot-path
//! micro-benchmarks"): routing an exposed tool name to its server and original name, and what a
//! listing costs, on a catalogue of 10 servers × 50 tools.
//!
//! ```sh
//! cargo bench -p switchboard-gateway --bench route -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! No upstream runs: the servers' `Upstream`s are created on a runtime that is never driven
//! (so they never connect), and their tool lists are set directly with `Catalog::set_list`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use switchboard_config::{FederationConfig, ServerConfig};
use switchboard_gateway::catalog::{Catalog, Kind, Server};
use switchboard_protocol::to_raw;
use switchboard_upstream::Upstream;

const SERVERS: usize = 10;
const TOOLS: usize = 50;

fn catalog() -> Option<(tokio::runtime::Runtime, Catalog)> {
    let rt = tokio::runtime::Builder::new_current_thread().build().ok()?;
    let catalog = {
        let _in_runtime = rt.enter();
        let (events, _) = tokio::sync::mpsc::unbounded_channel();
        // Port 9 (discard) on loopback: never contacted, the runtime is never driven.
        let config: ServerConfig =
            serde_json::from_value(serde_json::json!({"url": "http://127.0.0.1:9/mcp"})).ok()?;
        let servers = (0..SERVERS)
            .map(|s| {
                let name = format!("srv{s}");
                Server {
                    name: Arc::from(name.as_str()),
                    prefix: name.clone(),
                    upstream: Upstream::start(&name, &config, events.clone()),
                    config: config.clone(),
                }
            })
            .collect();
        Catalog::new(FederationConfig::default(), servers)
    };
    for s in 0..SERVERS {
        let tools = (0..TOOLS)
            .map(|t| {
                to_raw(&serde_json::json!({
                    "name": format!("tool_{t}"),
                    "description": format!("Tool {t} of server {s}: does one thing well"),
                    "inputSchema": {"type": "object", "properties": {"q": {"type": "string"}, "limit": {"type": "integer"}}, "required": ["q"]},
                    "annotations": {"readOnlyHint": t % 2 == 0}
                }))
            })
            .collect();
        catalog.set_list(s, Kind::Tools, tools);
    }
    Some((rt, catalog))
}

fn route(c: &mut Criterion) {
    let Some((_rt, catalog)) = catalog() else {
        eprintln!("cannot build the catalogue");
        return;
    };
    assert_eq!(catalog.tools().len(), SERVERS * TOOLS);
    let mut g = c.benchmark_group("route");
    // pipeline.rs: `catalog.route_tool(name)` for every tools/call.
    g.bench_function("tool_hit", |b| {
        b.iter(|| black_box(catalog.route_tool(black_box("srv7__tool_31"))))
    });
    g.bench_function("tool_miss", |b| {
        b.iter(|| black_box(catalog.route_tool(black_box("srv7__tool_x"))))
    });
    // The cache's automatic rule reads the annotation per call when no rule decides.
    g.bench_function("read_only_idempotent", |b| {
        b.iter(|| black_box(catalog.read_only_idempotent(black_box("srv7__tool_31"))))
    });
    g.finish();

    let mut g = c.benchmark_group("list");
    // A modern client's tools/list: the merged cache hint of the 10 servers.
    g.bench_function("hint_tools", |b| {
        b.iter(|| black_box(catalog.list_hint(black_box(Kind::Tools))))
    });
    // One page of the merged list (all 500 tools, no filter): copied, not re-encoded.
    g.bench_function("tools_page_500", |b| {
        b.iter(|| black_box(catalog.page(black_box(Kind::Tools), None, None, None)))
    });
    g.finish();
}

criterion_group!(benches, route);
criterion_main!(benches);
