//! Command-line interface.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::keys::{AuditAction, KeysAction};

/// Switchboard puts many MCP servers behind one endpoint.
///
/// Start with `switchboard serve --config examples/quickstart.yaml`, then point any MCP client
/// at http://127.0.0.1:8080/mcp (or run `switchboard stdio` from Claude Desktop).
#[derive(Parser, Debug)]
#[command(name = "switchboard", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Args, Debug, Clone)]
pub struct ConfigArg {
    /// Configuration file (YAML). See `switchboard schema` for every option.
    #[arg(
        short,
        long,
        global = true,
        env = "SWITCHBOARD_CONFIG",
        default_value = "switchboard.yaml"
    )]
    pub config: PathBuf,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the gateway over Streamable HTTP (clients connect to http://LISTEN/mcp).
    ///
    /// Stops gracefully on Ctrl-C or SIGTERM: new connections are refused, calls in flight
    /// finish within `http.shutdown_grace`, then upstream servers are stopped.
    Serve {
        #[command(flatten)]
        config: ConfigArg,
        /// Listen address, overriding `http.listen` (e.g. 127.0.0.1:8080, or :0 for any port).
        #[arg(short, long)]
        listen: Option<String>,
    },
    /// Run the gateway for one client on stdin/stdout (e.g. in Claude Desktop's config).
    ///
    /// Logs go to stderr; stdout carries only MCP messages.
    Stdio {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Validate the configuration, then start every server and report its state and lists.
    ///
    /// Exits 1 if the configuration is invalid or (unless --offline) a server fails to start.
    Check {
        #[command(flatten)]
        config: ConfigArg,
        /// Only validate the file; start nothing.
        #[arg(long)]
        offline: bool,
    },
    /// List the federated tools, as clients will see them.
    Tools {
        #[command(flatten)]
        config: ConfigArg,
        /// Print the raw JSON tool list.
        #[arg(long)]
        json: bool,
    },
    /// Call one tool through the gateway and print its result.
    ///
    /// Example: switchboard call company__get_employee_info --args '{"employee_id":"E001"}'
    Call {
        /// The tool's federated name (see `switchboard tools`).
        tool: String,
        /// Arguments as a JSON object.
        #[arg(short, long, default_value = "{}")]
        args: String,
        #[command(flatten)]
        config: ConfigArg,
        /// Print the raw JSON result.
        #[arg(long)]
        json: bool,
    },
    /// Manage API keys (stored hashed in `auth.api_keys.file`; a running gateway picks up
    /// changes within seconds).
    Keys {
        #[command(subcommand)]
        action: KeysAction,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Read and check the audit trail (`audit.path`).
    Audit {
        #[command(subcommand)]
        action: AuditAction,
        /// Read these audit databases or JSONL files instead of the configured one (one per
        /// replica: `--file audit-*.db`; `verify` checks each chain, `tail` and `search`
        /// merge them by time).
        #[arg(long, global = true, num_args = 1..)]
        file: Vec<PathBuf>,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Durable tasks in the configured store (`tasks:`): list an owner's, show one, cancel.
    Tasks {
        #[command(subcommand)]
        action: crate::tasks_cli::TasksAction,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Workflows (`workflows:`): list them, or print one's step graph (Mermaid). Run one
    /// with `switchboard call workflows__<name>`.
    Workflow {
        #[command(subcommand)]
        action: WorkflowAction,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Load-test an MCP server or the gateway with `tools/call`: throughput, latency
    /// percentiles, success rate, errors; thresholds set the exit code.
    Load(Box<crate::load::LoadArgs>),
    /// Is a custom MCP server worth building? The reference ROI formula: cost, value, ROI %,
    /// break-even, and a verdict (more than $50K a year, break-even within --months).
    Roi(crate::advisor::RoiArgs),
    /// Build, use or adapt an MCP server? The reference decision matrix over six factors.
    #[command(visible_alias = "decision-matrix")]
    Matrix(crate::advisor::MatrixArgs),
    /// Serve the decision-support tools (`roi`, `decision_matrix`) as an MCP server on stdio;
    /// with `builtin.advisor: true` the gateway serves the same tools in-process as the
    /// server `switchboard`.
    #[command(hide = true)]
    Advisor,
    /// Print the JSON Schema of the configuration file (for editors and CI).
    Schema,
    /// Turn a Claude Desktop config (claude_desktop_config.json) into Switchboard YAML.
    ImportClaude {
        /// Path to claude_desktop_config.json.
        file: PathBuf,
        /// Write the YAML here instead of stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
}

pub async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve { config, listen } => crate::run::serve(&config.config, listen).await,
        Command::Stdio { config } => crate::run::stdio(&config.config).await,
        Command::Check { config, offline } => crate::inspect::check(&config.config, offline).await,
        Command::Tools { config, json } => crate::inspect::tools(&config.config, json).await,
        Command::Call {
            tool,
            args,
            config,
            json,
        } => crate::inspect::call(&config.config, &tool, &args, json).await,
        Command::Keys { action, config } => crate::keys::run(&config.config, action),
        Command::Audit {
            action,
            file,
            config,
        } => crate::keys::audit(&config.config, file, action),
        Command::Tasks { action, config } => crate::tasks_cli::run(&config.config, action).await,
        Command::Workflow { action, config } => workflow(&config.config, action),
        Command::Load(args) => crate::load::run(*args).await,
        Command::Roi(args) => crate::advisor::run_roi(&args),
        Command::Matrix(args) => crate::advisor::run_matrix(&args),
        Command::Advisor => crate::advisor::run_server().await,
        Command::Schema => {
            println!(
                "{}",
                serde_json::to_string_pretty(&switchboard_config::schema_json())?
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::ImportClaude { file, output } => {
            crate::inspect::import_claude(&file, output.as_deref())
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum WorkflowAction {
    /// Each workflow: its tool name, steps and what it calls.
    List,
    /// The step graph of workflow NAME as a Mermaid flowchart (paste it in a Markdown
    /// ```mermaid block, or https://mermaid.live).
    Graph { name: String },
}

fn workflow(config: &std::path::Path, action: WorkflowAction) -> anyhow::Result<ExitCode> {
    let cfg = switchboard_config::load(config)?;
    let tool_name = |name: &str| match cfg.federation.prefix {
        switchboard_config::PrefixMode::Server => format!(
            "{}{}{name}",
            switchboard_config::WORKFLOWS_SERVER,
            cfg.federation.separator
        ),
        switchboard_config::PrefixMode::None => name.to_owned(),
    };
    match action {
        WorkflowAction::List => {
            if cfg.workflows.is_empty() {
                println!("{}: no workflows", config.display());
            }
            for (name, wf) in &cfg.workflows {
                let tools: Vec<&str> = wf.steps.iter().map(|s| s.tool.as_str()).collect();
                println!(
                    "{}  {} steps: {}",
                    tool_name(name),
                    wf.steps.len(),
                    tools.join(", ")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        WorkflowAction::Graph { name } => match cfg.workflows.get(&name) {
            Some(wf) => {
                print!("{}", switchboard_workflow::graph::mermaid(&name, wf));
                Ok(ExitCode::SUCCESS)
            }
            None => {
                let names: Vec<&str> = cfg.workflows.keys().map(String::as_str).collect();
                eprintln!(
                    "{}: no workflow `{name}` (workflows: {})",
                    config.display(),
                    if names.is_empty() {
                        "none".to_owned()
                    } else {
                        names.join(", ")
                    }
                );
                Ok(ExitCode::FAILURE)
            }
        },
    }
}
