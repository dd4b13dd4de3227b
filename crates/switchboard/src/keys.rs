//! `switchboard keys create|list|revoke`: the API key store named by `auth.api_keys.file`;
//! `switchboard audit tail|search|verify`: the audit trail named by `audit.path`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use switchboard_policy::auth::keys::KeyFile;

use switchboard_audit as audit;

#[derive(Subcommand, Debug)]
pub enum KeysAction {
    /// Make a key; it is printed once and never stored.
    Create {
        /// A name for the key's holder (unique; used to revoke it).
        #[arg(long)]
        name: String,
        /// The role it grants (one of `roles:`, or admin/developer/viewer by default).
        #[arg(long)]
        role: String,
    },
    /// List keys (never their secrets).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by id or name.
    Revoke { key: String },
}

#[derive(Subcommand, Debug)]
pub enum AuditAction {
    /// The newest records.
    Tail {
        #[arg(short = 'n', long, default_value_t = 20)]
        lines: usize,
        #[arg(long)]
        json: bool,
    },
    /// Records whose subject, method, target or outcome contains TEXT.
    Search {
        text: String,
        #[arg(long)]
        json: bool,
    },
    /// Check the hash chain: exits 1 and names the first bad record if any record was edited,
    /// removed or reordered.
    Verify,
}

fn store_path(config: &Path) -> anyhow::Result<(PathBuf, Vec<String>)> {
    let cfg = switchboard_config::load(config)?;
    let roles: Vec<String> = cfg.effective_roles().keys().cloned().collect();
    let Some(file) = cfg.auth.as_ref().and_then(|a| a.api_keys.as_ref()) else {
        bail!(
            "{}: no `auth.api_keys.file` configured; add\n  auth:\n    api_keys: {{file: switchboard-keys.json}}",
            config.display()
        );
    };
    Ok((PathBuf::from(&file.file), roles))
}

pub fn run(config: &Path, action: KeysAction) -> anyhow::Result<ExitCode> {
    let (path, roles) = store_path(config)?;
    let mut file = KeyFile::load(&path)?;
    match action {
        KeysAction::Create { name, role } => {
            if !roles.contains(&role) {
                bail!(
                    "role `{role}` is not defined; use one of: {}",
                    roles.join(", ")
                );
            }
            if file
                .keys
                .iter()
                .any(|k| k.name == name && k.revoked.is_none())
            {
                bail!("a key named `{name}` exists; revoke it first or pick another name");
            }
            let key = file.create(&name, &role);
            file.save(&path)
                .with_context(|| format!("saving {}", path.display()))?;
            eprintln!("created key `{name}` (role {role}); it is shown only now:");
            println!("{key}");
        }
        KeysAction::List { json } => {
            if json {
                println!("{}", serde_json::to_string_pretty(&file.keys)?);
            } else {
                println!(
                    "{:<14} {:<20} {:<12} {:<22} STATUS",
                    "ID", "NAME", "ROLE", "CREATED"
                );
                for k in &file.keys {
                    let status = match &k.revoked {
                        Some(t) => format!("revoked {t}"),
                        None => "active".into(),
                    };
                    println!(
                        "{:<14} {:<20} {:<12} {:<22} {status}",
                        k.id, k.name, k.role, k.created
                    );
                }
            }
        }
        KeysAction::Revoke { key } => {
            let rec = file.revoke(&key)?.clone();
            file.save(&path)
                .with_context(|| format!("saving {}", path.display()))?;
            eprintln!("revoked key {} ({}, role {})", rec.id, rec.name, rec.role);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn audit(config: &Path, files: Vec<PathBuf>, action: AuditAction) -> anyhow::Result<ExitCode> {
    let paths = if files.is_empty() {
        let cfg = switchboard_config::load(config)?;
        let Some(a) = cfg.audit else {
            bail!(
                "{}: no `audit:` section; pass --file or configure one",
                config.display()
            );
        };
        vec![PathBuf::from(a.path)]
    } else {
        files
    };
    // Several files (one per replica): records merged by time.
    let read_all = |filter: Option<&str>| -> anyhow::Result<Vec<audit::Record>> {
        let mut all = Vec::new();
        for p in &paths {
            all.extend(audit::read(p, filter)?);
        }
        if paths.len() > 1 {
            all.sort_by(|a, b| a.time.cmp(&b.time));
        }
        Ok(all)
    };
    let print = |records: &[audit::Record], json: bool| {
        for r in records {
            if json {
                println!("{}", serde_json::to_string(r).unwrap_or_default());
            } else {
                println!(
                    "{:>6} {} {:<24} {:<10} {:<14} {:<32} {:<14} {:>8}us",
                    r.seq,
                    r.time,
                    r.subject,
                    r.role.as_deref().unwrap_or("-"),
                    r.method,
                    r.target.as_deref().unwrap_or("-"),
                    r.outcome,
                    r.latency_us
                );
            }
        }
    };
    match action {
        AuditAction::Tail { lines, json } => {
            let all = read_all(None)?;
            print(&all[all.len().saturating_sub(lines)..], json);
        }
        AuditAction::Search { text, json } => {
            print(&read_all(Some(&text))?, json);
        }
        AuditAction::Verify => {
            // Each file is its own chain (one per replica): every one must be intact.
            let mut broken = false;
            for p in &paths {
                let all = audit::read(p, None)?;
                let name = if paths.len() > 1 {
                    format!("{}: ", p.display())
                } else {
                    String::new()
                };
                match audit::verify(&all) {
                    Ok((n, head)) => {
                        println!("ok: {name}{n} records, chain intact; head {head}");
                    }
                    Err(b) if paths.len() > 1 => {
                        println!("BROKEN: {name}at record {}: {}", b.seq, b.why);
                        broken = true;
                    }
                    Err(b) => {
                        println!("BROKEN at record {}: {}", b.seq, b.why);
                        broken = true;
                    }
                }
            }
            if broken {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
