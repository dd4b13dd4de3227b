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
    switchboard_gateway::auth::Authenticator::from_config(&cfg)
        .map_err(|e| anyhow::anyhow!("{}: auth: {e}", path.display()))?;
    Ok(cfg)
}

pub async fn serve(config: &Path, listen: Option<String>) -> anyhow::Result<ExitCode> {
    let mut cfg = load(config)?;
    if let Some(l) = listen {
        cfg.http.listen = if l.starts_with(':') {
            format!("127.0.0.1{l}")
        } else {
            l
        };
    }
    crate::logging::init_with(&cfg.log, Some(&cfg.telemetry));
    let listener = tokio::net::TcpListener::bind(&cfg.http.listen)
        .await
        .with_context(|| format!("cannot listen on {} (http.listen)", cfg.http.listen))?;
    let addr = listener.local_addr()?;
    let admin = bind_admin(&cfg).await?;
    let path = cfg.http.path.clone();
    let grace = cfg.http.shutdown_grace.0;
    let gw = Gateway::start(cfg, STARTUP_SETTLE)
        .await
        .map_err(|e| anyhow::anyhow!("{}: {e}", config.display()))?;
    for s in gw.catalog.servers() {
        tracing::info!(server = %s.name, status = %s.upstream.status().describe(), "upstream");
    }
    let signal = shutdown_signal();
    let admin = start_admin(&gw, admin).await?;
    // The line tests and scripts wait for; keep its shape.
    eprintln!("switchboard listening on http://{addr}{path}");
    switchboard_gateway::http::serve(gw.clone(), listener, signal).await?;
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
    let gw = Gateway::start_as(cfg, STARTUP_SETTLE, true)
        .await
        .map_err(|e| anyhow::anyhow!("{}: {e}", config.display()))?;
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
    gw.shutdown(grace).await;
    if let Some(a) = admin {
        a.abort();
    }
    crate::logging::shutdown();
    Ok(ExitCode::SUCCESS)
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
    eprintln!("switchboard admin on http://{addr} (/metrics /healthz /readyz)");
    let gw = gw.clone();
    Ok(Some(tokio::spawn(async move {
        if let Err(e) = switchboard_gateway::http::admin::serve(gw, l).await {
            tracing::error!(error = %e, "admin listener failed");
        }
    })))
}

/// Resolves on Ctrl-C or SIGTERM. The handlers are installed when this is called (not when
/// first polled), so a signal that arrives right after start-up is not lost.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
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
            _ = wait(ctrl_c) => {}
            _ = wait(term) => {}
        }
    }
}
