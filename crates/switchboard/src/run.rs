//! `serve` and `stdio`: run the gateway until a signal or the end of input.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use switchboard_gateway::Gateway;

/// How long `serve` and `stdio` wait for upstreams before accepting clients; slower servers
/// join when ready and clients get `list_changed`.
const STARTUP_SETTLE: std::time::Duration = std::time::Duration::from_secs(15);

/// Load the config and check that its authentication can be set up (key file, PEM keys).
pub fn load(path: &Path) -> anyhow::Result<switchboard_config::Config> {
    let cfg = crate::advisor::with_builtins(switchboard_config::load(path)?)?;
    switchboard_policy::auth::Authenticator::from_config(&cfg)
        .map_err(|e| anyhow::anyhow!("{}: auth: {e}", path.display()))?;
    Ok(cfg)
}

pub async fn serve(config: &Path, listen: Option<String>) -> anyhow::Result<ExitCode> {
    let mut cfg = load(config)?;
    let listen = listen.map(|l| {
        if l.starts_with(':') {
            format!("127.0.0.1{l}")
        } else {
            l
        }
    });
    if let Some(l) = &listen {
        cfg.http.listen = l.clone();
    }
    crate::logging::init_with(&cfg.log, Some(&cfg.telemetry));
    let listener = tokio::net::TcpListener::bind(&cfg.http.listen)
        .await
        .with_context(|| format!("cannot listen on {} (http.listen)", cfg.http.listen))?;
    let addr = listener.local_addr()?;
    let admin = bind_admin(&cfg).await?;
    let path = cfg.http.path.clone();
    let grace = cfg.http.shutdown_grace.0;
    let delay = cfg.http.shutdown_delay.0;
    let gw = start_gateway(cfg, STARTUP_SETTLE, false)
        .await
        .map_err(|e| anyhow::anyhow!("{}: {e}", config.display()))?;
    for s in gw.catalog.servers().iter() {
        tracing::info!(server = %s.name, status = %s.upstream.status().describe(), "upstream");
    }
    let signal = shutdown_signal();
    let reloads = start_reloads(&gw, config, listen);
    let admin = start_admin(&gw, admin).await?;
    // The line tests and scripts wait for; keep its shape.
    eprintln!("switchboard listening on http://{addr}{path}");
    let probes = switchboard_admin::health_routes(gw.admin_view());
    let stop = leave_then_stop(gw.clone(), signal, delay);
    switchboard_gateway::http::serve(gw.clone(), listener, probes, stop).await?;
    reloads.abort();
    gw.shutdown(grace).await;
    if let Some(a) = admin {
        a.abort();
    }
    tracing::info!("stopped");
    crate::logging::shutdown();
    Ok(ExitCode::SUCCESS)
}

pub async fn stdio(config: &Path) -> anyhow::Result<ExitCode> {
    let cfg = load(config)?;
    crate::logging::init_with(&cfg.log, Some(&cfg.telemetry));
    let grace = cfg.http.shutdown_grace.0;
    let signal = shutdown_signal();
    let admin = bind_admin(&cfg).await?;
    let gw = start_gateway(cfg, STARTUP_SETTLE, true)
        .await
        .map_err(|e| anyhow::anyhow!("{}: {e}", config.display()))?;
    let reloads = start_reloads(&gw, config, None);
    let admin = start_admin(&gw, admin).await?;
    let serve =
        switchboard_gateway::stdio::serve(gw.clone(), tokio::io::stdin(), tokio::io::stdout());
    tokio::select! {
        r = serve => if let Err(e) = r {
            tracing::error!(error = %e, "reading stdin failed; stopping");
        },
        _ = signal => tracing::info!("signal received; stopping"),
    }
    // Always stop in order, whatever ended the session.
    reloads.abort();
    gw.shutdown(grace).await;
    if let Some(a) = admin {
        a.abort();
    }
    crate::logging::shutdown();
    Ok(ExitCode::SUCCESS)
}

/// How often the config file is looked at when `reload.watch` is on.
const WATCH_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// Reload the config on SIGHUP, on `POST /reload` (admin listener), and, with `reload.watch`,
/// when the file's content (or an OpenAPI document it names) changes (once it has stayed the
/// same for one look, so a file being written is not read half-way). A refused file is not retried until it changes again.
/// `listen` is the `--listen` given on the command line, which goes on overriding the file.
fn start_reloads(
    gw: &std::sync::Arc<Gateway>,
    config: &Path,
    listen: Option<String>,
) -> tokio::task::JoinHandle<()> {
    let path = config.to_path_buf();
    let source_path = path.clone();
    gw.set_config_source(std::sync::Arc::new(move || {
        let mut cfg = load(&source_path).map_err(|e| format!("{e:#}"))?;
        if let Some(l) = &listen {
            cfg.http.listen = l.clone();
        }
        Ok(cfg)
    }));
    let hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup());
    let gw = gw.clone();
    tokio::spawn(async move {
        let mut hangup = match hangup {
            Ok(h) => Some(h),
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP; reload by file watching or POST /reload");
                None
            }
        };
        // The file's content, and the size and age of every OpenAPI document the running
        // config names (a changed document reloads as a changed file does).
        let read = |p: &Path| {
            let mut seen = std::fs::read(p).ok()?;
            for s in gw.config().servers.values() {
                if let Some(fp) = s
                    .openapi
                    .as_deref()
                    .and_then(switchboard_config::file_fingerprint)
                {
                    seen.extend_from_slice(fp.as_bytes());
                }
            }
            Some(seen)
        };
        // The content last applied or refused, and the one seen on the previous look.
        let mut known = read(&path);
        let mut seen = known.clone();
        let mut tick = tokio::time::interval(WATCH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let hup = async {
                match hangup.as_mut() {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = hup => {
                    tracing::info!(file = %path.display(), "SIGHUP: reloading the config");
                    known = read(&path);
                    seen = known.clone();
                    let _ = gw.reload_from_source().await;
                }
                _ = tick.tick() => {
                    if !gw.config().reload.watch {
                        continue;
                    }
                    let now = read(&path);
                    if now.is_some() && now != known && now == seen {
                        tracing::info!(file = %path.display(), "config file changed: reloading");
                        known = now.clone();
                        let _ = gw.reload_from_source().await;
                    }
                    seen = now;
                }
            }
        }
    })
}

/// Bind `admin.listen` (before the upstreams start, so a taken port fails fast).
async fn bind_admin(
    cfg: &switchboard_config::Config,
) -> anyhow::Result<Option<tokio::net::TcpListener>> {
    let listen = &cfg.admin.listen;
    if listen.is_empty() {
        return Ok(None);
    }
    let l = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen} (admin.listen)"))?;
    Ok(Some(l))
}

/// Serve the admin routes (`/metrics`, `/healthz`, `/readyz`) until the returned task is
/// aborted: after the drain, so `/readyz` answers 503 while calls finish.
async fn start_admin(
    gw: &std::sync::Arc<Gateway>,
    listener: Option<tokio::net::TcpListener>,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    let Some(l) = listener else {
        return Ok(None);
    };
    let addr = l.local_addr()?;
    // Tests and scripts read this line too.
    eprintln!("switchboard admin on http://{addr} (/metrics /healthz /readyz /reload)");
    let view = gw.admin_view();
    Ok(Some(tokio::spawn(async move {
        if let Err(e) = switchboard_admin::serve(view, l).await {
            tracing::error!(error = %e, "admin listener failed");
        }
    })))
}

/// Resolves when the listener should stop accepting: on Ctrl-C at once; on SIGTERM after
/// `delay` (`http.shutdown_delay`), during which the gateway is marked draining — `/readyz`
/// answers 503 and answers close their connections — so a load balancer takes the replica
/// out while it still serves. A second signal cuts the delay short.
async fn leave_then_stop(
    gw: std::sync::Arc<Gateway>,
    signal: impl std::future::Future<Output = Stop>,
    delay: std::time::Duration,
) {
    let first = signal.await;
    if delay.is_zero() || first == Stop::Interrupt {
        return;
    }
    gw.draining.cancel();
    tracing::info!(
        delay = ?delay,
        "stopping: not ready, still serving until the balancer takes this replica out"
    );
    let again = shutdown_signal();
    tokio::select! {
        _ = tokio::time::sleep(delay) => {}
        _ = again => tracing::info!("second signal: stopping now"),
    }
}

/// Which signal asked the gateway to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Interrupt,
    Terminate,
}

/// Resolves on Ctrl-C or SIGTERM. The handlers are installed when this is called (not when
/// first polled), so a signal that arrives right after start-up is not lost.
fn shutdown_signal() -> impl std::future::Future<Output = Stop> + Send + 'static {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let ctrl_c = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
    async move {
        let wait = |s: Option<tokio::signal::unix::Signal>| async move {
            match s {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = wait(ctrl_c) => Stop::Interrupt,
            _ = wait(term) => Stop::Terminate,
        }
    }
}

/// The backends this binary serves entries with besides MCP servers: the built-in advisor
/// tools, HTTP APIs (`openapi`, `http_tools`), workflows and routes (whose calls reach the
/// gateway through `slot`).
pub fn backends(
    slot: &switchboard_gateway::dispatch::DispatchSlot,
) -> anyhow::Result<switchboard_upstream::Backends> {
    let http_api = switchboard_http_api::HttpApiFactory::new().map_err(anyhow::Error::msg)?;
    let workflows = switchboard_workflow::WorkflowFactory::new(slot.clone());
    let routes = switchboard_routes::RouteFactory::new(slot.clone());
    let search = switchboard_search::SearchFactory::new(slot.clone());
    Ok(crate::advisor::backends()
        .with(http_api)
        .with(workflows)
        .with(routes)
        .with(search))
}

/// Start the gateway with this binary's backends, and warn about tools workflows call that
/// are not in the catalogue once the servers are up.
pub async fn start_gateway(
    cfg: switchboard_config::Config,
    settle: std::time::Duration,
    stdio: bool,
) -> anyhow::Result<std::sync::Arc<Gateway>> {
    let slot = switchboard_gateway::dispatch::DispatchSlot::new();
    let workflows = cfg.workflows.clone();
    let routes = cfg.routes.clone();
    let gw = Gateway::start_with_slot(cfg, settle, stdio, backends(&slot)?, Some(&slot))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for (route, problem, _) in switchboard_routes::problems(&gw, &routes) {
        tracing::warn!(%route, %problem, "route");
    }
    for m in switchboard_workflow::missing_tools(&gw, &workflows) {
        tracing::warn!(workflow = %m.workflow, step = %m.step, tool = %m.tool, "a workflow step calls a tool the catalogue does not have (yet): its runs fail at that step until it is listed");
    }
    Ok(gw)
}
