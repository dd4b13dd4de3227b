//! `ops-api`: small MCP servers (stdio) standing in for a company's systems, so the workflow
//! examples run from the repository with nothing outside it. One process serves one system:
//!
//! - `analytics`: `get_traffic_metrics {period}`
//! - `sales`: `get_revenue_metrics {period}`
//! - `support`: `get_support_metrics {period}`
//! - `chat`: `send_message {channel, text}`, `delete_message {id}`, `list_messages {channel?}`
//! - `deploy`: `check_preconditions`, `build_and_test`, `deploy`, `health_check`, `rollback`,
//!   `list_deployments`
//!
//! Figures are computed from the period's text, so they are the same on every run. A version
//! ending in `-broken` deploys but fails its health check (to show a rollback); an empty
//! version or one ending in `-untested` fails earlier. State (messages, deployments) lives as
//! long as the process.

mod tools;

use clap::{Parser, ValueEnum};
use rmcp::ServiceExt;

use crate::tools::Ops;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum System {
    Analytics,
    Sales,
    Support,
    Chat,
    Deploy,
}

/// A company system as an MCP server on stdio.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// The system to serve.
    #[arg(long, value_enum)]
    system: System,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let service = Ops::new(cli.system)
        .serve(rmcp::transport::stdio_pipes())
        .await?;
    service.waiting().await?;
    Ok(())
}
