//! Streamable HTTP transport: rmcp's `StreamableHttpService` (stateful
//! sessions) mounted at `/mcp` on an axum router.

use std::{net::SocketAddr, sync::Arc};

use axum::serve::ListenerExt;
use rmcp::transport::{
    StreamableHttpServerConfig, StreamableHttpService,
    streamable_http_server::session::local::LocalSessionManager,
};
use tokio::net::TcpListener;

use crate::server::CompanyApi;

/// Serve until SIGINT/SIGTERM. Every session shares `api`'s state. Requests must name a
/// loopback host, the listening address, or one of `allowed_hosts`.
pub async fn serve(
    addr: SocketAddr,
    api: CompanyApi,
    allowed_hosts: Vec<String>,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "::1"].map(String::from).into();
    if !local.ip().is_loopback() && !local.ip().is_unspecified() {
        hosts.push(local.ip().to_string());
    }
    hosts.extend(allowed_hosts);
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(hosts)
        .with_allowed_origins(["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"]);
    let cancel = config.cancellation_token.clone();
    let service = StreamableHttpService::new(
        move || Ok(api.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let app = axum::Router::new().route_service("/mcp", service);
    eprintln!("listening on http://{local}/mcp");
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::warn!(%error, "could not set TCP_NODELAY");
        }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            // End open SSE streams so the graceful shutdown can finish.
            cancel.cancel();
        })
        .await?;
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let interrupt = tokio::signal::ctrl_c();
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = interrupt => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = interrupt.await;
        }
    }
}
