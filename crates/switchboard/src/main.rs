//! The `switchboard` command: run the gateway (`serve`, `stdio`) and inspect a configuration
//! (`check`, `tools`, `call`, `schema`, `import-claude`), manage API keys (`keys`), and decide
//! whether a custom MCP server pays (`roi`, `matrix`; as MCP tools: `advisor`).

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod advisor;
mod cli;
mod inspect;
mod keys;
mod load;
mod logging;
mod run;
mod tasks_cli;

use std::process::ExitCode;

/// jemalloc: per-thread caches instead of glibc's locked arenas. Profiles of the forwarding
/// path showed a quarter of the gateway's CPU in glibc malloc and its lock contention
/// (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("switchboard: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(cli::dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("switchboard: {e:#}");
            ExitCode::FAILURE
        }
    }
}
