//! Measures the index over a catalogue and a query set, without a gateway:
//! `cargo run -p switchboard-search --example search_eval -- TOOLS.json QUERIES.json...`
//! (TOOLS.json: a `tools/list` array, e.g. `switchboard tools --json`; QUERIES.json: the
//! `{"queries": [{"q", "expect"}]}` shape of crates/switchboard/tests/data). Prints each
//! miss with what was found, and the share found in the top 5.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use serde_json::Value;
use switchboard_search::index::Index;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let tools: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(&args[0]).expect("tools file")).unwrap();
    let t = Instant::now();
    let index = Index::build(tools, "__");
    println!("{} tools indexed in {:?}", index.docs.len(), t.elapsed());
    if let Ok(q) = std::env::var("QUERY") {
        for (score, d) in index.search(&q, 10, &|_| true) {
            println!("{score:8.3} {}", d.name);
        }
        return;
    }
    if let Ok(out) = std::env::var("DUMP") {
        // Each query's top 50, for comparing rankings offline.
        let mut all = Vec::new();
        for file in &args[1..] {
            let set: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
            for q in set["queries"].as_array().unwrap() {
                let top: Vec<String> = index
                    .search(q["q"].as_str().unwrap(), 50, &|_| true)
                    .into_iter()
                    .map(|(_, d)| d.name.clone())
                    .collect();
                all.push(top);
            }
        }
        std::fs::write(out, serde_json::to_string(&all).unwrap()).unwrap();
        return;
    }
    for file in &args[1..] {
        let set: Value =
            serde_json::from_str(&std::fs::read_to_string(file).expect("queries file")).unwrap();
        let queries = set["queries"].as_array().unwrap();
        let (mut hits, mut took) = (0, std::time::Duration::ZERO);
        for q in queries {
            let t = Instant::now();
            let found: Vec<String> = index
                .search(q["q"].as_str().unwrap(), 5, &|_| true)
                .into_iter()
                .map(|(_, d)| d.name.clone())
                .collect();
            took += t.elapsed();
            let expect: Vec<&str> = q["expect"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e.as_str().unwrap())
                .collect();
            if found.iter().any(|f| expect.contains(&f.as_str())) {
                hits += 1;
            } else {
                println!("MISS {:?} want {:?}\n     got {:?}", q["q"], expect, found);
            }
        }
        println!(
            "{file}: {hits}/{} in the top 5 ({:.0} %), {:?} per search",
            queries.len(),
            hits as f64 * 100.0 / queries.len() as f64,
            took / queries.len() as u32
        );
    }
}
