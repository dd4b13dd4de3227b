//! `check`, `tools`, `call` and `import-claude`: look at a configuration from the command line.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use switchboard_config::LogConfig;
use switchboard_gateway::{Admission, Gateway, Transport};
use switchboard_protocol::{Id, Message, Request, methods, to_raw};

async fn start(config: &Path) -> anyhow::Result<Arc<Gateway>> {
    let mut cfg = crate::run::load(config)?;
    // A gateway running on this config writes its audit file: a second writer would fork its
    // hash chain, so this command goes without one (and says so).
    if let Some(audit) = &cfg.audit
        && let Some(holder) = switchboard_audit::held_elsewhere(audit)
    {
        eprintln!(
            "note: {} is written by a running gateway ({holder}); this command's requests are not audited",
            audit.path
        );
        cfg.audit = None;
    }
    crate::logging::init(&LogConfig {
        level: "warn".into(),
        ..cfg.log.clone()
    });
    crate::run::start_gateway(cfg, Duration::MAX, false)
        .await
        .map_err(|e| anyhow::anyhow!("{}: {e}", config.display()))
}

async fn request(
    gw: &Arc<Gateway>,
    method: &str,
    params: Option<serde_json::Value>,
) -> anyhow::Result<serde_json::Value> {
    let policies = gw.policies();
    let admission = Admission {
        transport: Transport::Stdio,
        session: None,
        tracked_by: None,
        out: None,
        modern: None,
        // The operator running the command: the stdio identity.
        identity: policies.auth.stdio_identity(),
        policies,
        client_ip: None,
        trace: None,
    };
    let req = Request {
        id: Id::Num(1),
        method: method.into(),
        params: params.map(|p| to_raw(&p)),
    };
    let (_, run) = gw.admit(admission, req);
    match run.await {
        Message::Response(r) => match r.result {
            Ok(raw) => Ok(serde_json::from_str(raw.get())?),
            Err(e) => bail!("{method} failed: {}", e),
        },
        _ => bail!("{method}: no response"),
    }
}

pub async fn check(config: &Path, offline: bool) -> anyhow::Result<ExitCode> {
    let cfg = match switchboard_config::load(config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let mut workflows = String::new();
    if !cfg.workflows.is_empty() {
        workflows.push_str(&format!(", {} workflows", cfg.workflows.len()));
    }
    if !cfg.routes.is_empty() {
        workflows.push_str(&format!(", {} routes", cfg.routes.len()));
    }
    println!(
        "{}: configuration is valid ({} servers{workflows})",
        config.display(),
        cfg.servers.len()
            - usize::from(!cfg.workflows.is_empty())
            - usize::from(!cfg.routes.is_empty())
    );
    if offline {
        return Ok(ExitCode::SUCCESS);
    }
    let gw = start(config).await?;
    let snap_tools = request(&gw, methods::TOOLS_LIST, None).await.ok();
    let mut failed = false;
    for s in gw.catalog.servers().iter() {
        let status = s.upstream.status();
        let ok = status.is_ready();
        failed |= !ok;
        let n_tools = snap_tools
            .as_ref()
            .and_then(|t| t["tools"].as_array())
            .map(|a| {
                a.iter()
                    .filter(|t| {
                        t["name"].as_str().is_some_and(|n| {
                            if s.prefix.is_empty() {
                                // The routes' entry: its tools keep their names.
                                gw.config.routes.contains_key(n)
                            } else {
                                n.starts_with(&format!(
                                    "{}{}",
                                    s.prefix, gw.config.federation.separator
                                ))
                            }
                        })
                    })
                    .count()
            })
            .unwrap_or(0);
        println!(
            "  {} {:<20} {}{}",
            if ok { "ok  " } else { "FAIL" },
            s.name,
            status.describe(),
            if ok {
                format!(", {n_tools} tools")
            } else {
                String::new()
            }
        );
    }
    for (name, problem) in gw.catalog.problems() {
        if gw
            .catalog
            .servers()
            .iter()
            .any(|s| s.name == name && s.upstream.status().is_ready())
        {
            println!("  warn {name:<20} {problem}");
        }
    }
    let names: Vec<&str> = snap_tools
        .as_ref()
        .and_then(|t| t["tools"].as_array())
        .map(|a| a.iter().filter_map(|t| t["name"].as_str()).collect())
        .unwrap_or_default();
    for (view, pattern) in unmatched_view_patterns(&gw.config, &names) {
        println!("  warn view {view}: the tool pattern `{pattern}` matches no tool");
    }
    for (route, problem, fatal) in switchboard_routes::problems(&gw, &gw.config.routes) {
        failed |= fatal;
        let tag = if fatal { "FAIL" } else { "warn" };
        println!("  {tag} route {route}: {problem}");
    }
    for m in switchboard_workflow::missing_tools(&gw, &gw.config.workflows) {
        println!(
            "  warn workflow {}: step `{}` calls `{}`, which no server lists",
            m.workflow, m.step, m.tool
        );
    }
    gw.shutdown(Duration::from_secs(2)).await;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

pub async fn tools(config: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let gw = start(config).await?;
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let params = cursor.as_ref().map(|c| serde_json::json!({"cursor": c}));
        let page = request(&gw, methods::TOOLS_LIST, params).await?;
        if let Some(items) = page["tools"].as_array() {
            all.extend(items.iter().cloned());
        }
        if let Some(meta) = page.get("_meta") {
            eprintln!("note: {meta}");
        }
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&all)?);
    } else {
        let width = all
            .iter()
            .filter_map(|t| t["name"].as_str())
            .map(str::len)
            .max()
            .unwrap_or(4);
        for t in &all {
            let desc = t["description"]
                .as_str()
                .unwrap_or("")
                .lines()
                .next()
                .unwrap_or("");
            println!("{:<width$}  {desc}", t["name"].as_str().unwrap_or("?"));
        }
        eprintln!("{} tools", all.len());
    }
    gw.shutdown(Duration::from_secs(2)).await;
    Ok(ExitCode::SUCCESS)
}

pub async fn call(config: &Path, tool: &str, args: &str, json: bool) -> anyhow::Result<ExitCode> {
    let args: serde_json::Value = serde_json::from_str(args).context("--args is not valid JSON")?;
    if !args.is_object() {
        bail!("--args must be a JSON object, e.g. '{{\"key\": \"value\"}}'");
    }
    let gw = start(config).await?;
    let result = request(
        &gw,
        methods::TOOLS_CALL,
        Some(serde_json::json!({"name": tool, "arguments": args})),
    )
    .await;
    gw.shutdown(Duration::from_secs(2)).await;
    let result = result?;
    let is_error = result["isError"].as_bool().unwrap_or(false);
    if json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        for item in result["content"].as_array().into_iter().flatten() {
            match item["type"].as_str() {
                Some("text") => println!("{}", item["text"].as_str().unwrap_or("")),
                Some(other) => println!(
                    "[{other} content: {}]",
                    item.get("mimeType").and_then(|m| m.as_str()).unwrap_or("")
                ),
                None => println!("{item}"),
            }
        }
        if let Some(s) = result.get("structuredContent") {
            println!("{}", serde_json::to_string_pretty(s)?);
        }
    }
    Ok(if is_error {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

pub fn import_claude(file: &Path, output: Option<&Path>) -> anyhow::Result<ExitCode> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    match switchboard_config::import_claude(&text) {
        Ok(yaml) => {
            match output {
                Some(out) => {
                    std::fs::write(out, &yaml)
                        .with_context(|| format!("cannot write {}", out.display()))?;
                    eprintln!("wrote {}", out.display());
                }
                None => print!("{yaml}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(problems) => {
            eprintln!("{}: cannot import:", file.display());
            for p in problems {
                eprintln!("  - {p}");
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Each view's tool patterns that match none of `tools` (exposed names; a tool's own name is
/// taken as what follows the first separator).
pub fn unmatched_view_patterns<'a>(
    config: &'a switchboard_config::Config,
    tools: &[&str],
) -> Vec<(&'a str, &'a str)> {
    let sep = &config.federation.separator;
    let mut out = Vec::new();
    for (name, view) in &config.views {
        for pattern in &view.tools {
            let hit = tools.iter().any(|exposed| {
                let original = exposed
                    .split_once(sep.as_str())
                    .map_or(*exposed, |(_, o)| o);
                switchboard_policy::roles::tool_matches(pattern, sep, exposed, original)
            });
            if !hit {
                out.push((name.as_str(), pattern.as_str()));
            }
        }
    }
    out
}
