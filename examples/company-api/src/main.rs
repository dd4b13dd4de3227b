//! `company-api`: the reference document's "company internal API" as an MCP
//! server (employees, projects, documents) over stdio or Streamable HTTP.

mod data;
mod http;
mod search;
mod server;
mod tools;

use std::{net::SocketAddr, path::PathBuf};

use clap::Parser;
use rmcp::ServiceExt;
use tracing_subscriber::EnvFilter;

use crate::{data::Company, server::CompanyApi};

/// Company internal API as an MCP server: stdio unless `--http` is given.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// Serve Streamable HTTP at this address (path `/mcp`, stateful sessions)
    /// instead of stdio. Port 0 picks a free port; the real address is
    /// printed on stderr as `listening on http://ADDR/mcp`.
    #[arg(long, value_name = "ADDR")]
    http: Option<SocketAddr>,
    /// Load employees, projects and documents from this JSON file instead of
    /// the bundled data set (same shape as data/company.json).
    #[arg(long, value_name = "FILE")]
    data: Option<PathBuf>,
    /// With `--http`: also accept requests whose Host is NAME (repeatable), for a server
    /// reached by name on a private network (a compose service, say). Loopback names are
    /// always accepted; any other Host is refused (DNS rebinding protection).
    #[arg(long, value_name = "NAME")]
    allow_host: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let api = CompanyApi::new(Company::load(cli.data.as_deref())?);
    match cli.http {
        Some(addr) => http::serve(addr, api, cli.allow_host).await,
        None => {
            let service = api.serve(rmcp::transport::stdio_pipes()).await?;
            service.waiting().await?;
            Ok(())
        }
    }
}
