//! `switchboard tasks`: the durable tasks kept in the configured store (`tasks:`), read and
//! cancelled without a gateway — the same store a running gateway (or all replicas) uses.

use std::path::Path;
use std::process::ExitCode;

use anyhow::bail;
use clap::Subcommand;
use serde_json::json;
use switchboard_gateway::durable::Durable;
use switchboard_tasks::model::now_ms;
use switchboard_tasks::{Ending, Status, Task};

#[derive(Subcommand, Debug)]
pub enum TasksAction {
    /// An owner's tasks (the caller's subject: an API key's name, a token's `sub`,
    /// `anonymous`), newest first.
    List {
        #[arg(long)]
        owner: String,
        #[arg(short = 'n', long, default_value_t = 20)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// One task: its owner, tool, status, times, attempts, and its result or error.
    Get {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Cancel a task that has not ended (a gateway running it stops its call).
    Cancel { id: String },
}

pub async fn run(config: &Path, action: TasksAction) -> anyhow::Result<ExitCode> {
    let cfg = switchboard_config::load(config)?;
    let Some(tasks) = cfg.tasks.as_ref() else {
        bail!(
            "{}: no `tasks:` section, so no task store to read",
            config.display()
        );
    };
    let durable = Durable::open(tasks, &cfg.federation.separator)
        .await
        .map_err(|e| anyhow::anyhow!("{}: {e}", config.display()))?;
    let store = durable.store();
    let detail = |t: &Task| {
        let mut v = durable.shape(t);
        v["owner"] = json!(t.owner);
        v["tool"] = json!(t.tool);
        v["attempts"] = json!(t.attempts);
        if let Some(p) = t.progress {
            v["progress"] = json!(p);
        }
        v
    };
    match action {
        TasksAction::List { owner, limit, json } => {
            for t in store.list(&owner, None, limit).await? {
                if json {
                    println!("{}", detail(&t));
                } else {
                    let v = durable.shape(&t);
                    println!(
                        "{}  {:<10} {:<32} {}  attempts {}{}",
                        t.id,
                        t.status.as_str(),
                        t.tool,
                        v["createdAt"].as_str().unwrap_or_default(),
                        t.attempts,
                        t.status_message
                            .as_deref()
                            .map(|m| format!("  {m}"))
                            .unwrap_or_default()
                    );
                }
            }
        }
        TasksAction::Get { id, json } => {
            let Some(t) = store.get(&id).await? else {
                eprintln!("no task {id}");
                return Ok(ExitCode::FAILURE);
            };
            let v = detail(&t);
            if json {
                println!("{v}");
            } else {
                println!("{}", serde_json::to_string_pretty(&v)?);
            }
        }
        TasksAction::Cancel { id } => {
            let Some(t) = store.get(&id).await? else {
                eprintln!("no task {id}");
                return Ok(ExitCode::FAILURE);
            };
            let end = Ending {
                status: Status::Cancelled,
                message: Some("cancelled from the command line".into()),
                outcome: None,
            };
            if store.finish(&id, &end, now_ms()).await? {
                println!("cancelled {id}");
            } else {
                println!("{id} had already ended ({})", t.status.as_str());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
