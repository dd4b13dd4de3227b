//! The built-in advisor served inside the gateway's process: a [`Backend`] answering with
//! `mcp.rs`'s [`handle`](super::mcp::handle), and the [`BackendFactory`] that claims the entry
//! [`inject`](super::inject) adds (and no other), so no `switchboard advisor` child is started.

use std::sync::Arc;
use std::time::Duration;

use switchboard_config::ServerConfig;
use switchboard_protocol::RawValue;
use switchboard_upstream::{
    Backend, BackendFactory, Backends, BoxFuture, CallError, CallOptions, Era, InitInfo, Status,
    UpstreamEvent,
};
use tokio::sync::{mpsc, watch};

use super::mcp;

/// The backends the binary starts its gateway with: the advisor's.
pub fn backends() -> Backends {
    Backends::none().with(AdvisorFactory)
}

/// Serves the built-in server `switchboard` ([`super::is_builtin`]) in-process.
pub struct AdvisorFactory;

impl BackendFactory for AdvisorFactory {
    fn build(
        &self,
        name: &Arc<str>,
        config: &ServerConfig,
        status: watch::Sender<Status>,
        events: mpsc::UnboundedSender<UpstreamEvent>,
    ) -> Option<Arc<dyn Backend>> {
        if !super::is_builtin(name, config) {
            return None;
        }
        // Ready at once, in the session era only (as the stdio server: modern clients are
        // bridged by the gateway).
        let info = InitInfo::in_process(
            mcp::SERVER_NAME,
            env!("CARGO_PKG_VERSION"),
            mcp::capabilities(),
            Some(mcp::INSTRUCTIONS.to_owned()),
        );
        status.send_replace(Status::Ready(Arc::new(info)));
        let _ = events.send(UpstreamEvent::Ready {
            server: name.clone(),
        });
        tracing::debug!(server = %name, "built-in advisor served in-process");
        Some(Arc::new(Advisor {
            name: name.clone(),
            status,
        }))
    }
}

/// The advisor's tools, computed on the caller's task (pure and quick: nothing to cancel).
struct Advisor {
    name: Arc<str>,
    status: watch::Sender<Status>,
}

impl Backend for Advisor {
    fn call<'a>(
        &'a self,
        method: &'a str,
        params: Option<Box<RawValue>>,
        _opts: CallOptions,
        _era: Era,
        _timeout: Duration,
    ) -> BoxFuture<'a, Result<Box<RawValue>, CallError>> {
        let result = if matches!(*self.status.borrow(), Status::Stopped) {
            Err(CallError::Unavailable {
                server: self.name.to_string(),
                reason: "stopped".into(),
            })
        } else {
            mcp::handle(method, params.as_deref()).map_err(CallError::Rpc)
        };
        Box::pin(std::future::ready(result))
    }

    /// `notifications/cancelled` (every call is answered at once), roots changes (the tools
    /// use none): nothing to do.
    fn notify(&self, _method: &str, _params: Option<Box<RawValue>>) {}

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        self.status.send_replace(Status::Stopped);
        Box::pin(std::future::ready(()))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use switchboard_protocol::to_raw;
    use switchboard_upstream::Upstream;

    use super::*;

    fn entry() -> ServerConfig {
        let mut cfg = switchboard_config::Config::default();
        cfg.builtin.advisor = true;
        super::super::inject(&mut cfg).unwrap();
        cfg.servers[super::super::SERVER].clone()
    }

    #[tokio::test]
    async fn the_injected_entry_is_served_in_process() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let up = Upstream::start_with(super::super::SERVER, &entry(), tx, &backends());
        let info = up.info().expect("ready at once");
        assert_eq!(info.server_name, "switchboard-advisor");
        assert!(info.legacy && info.modern.is_none() && info.has("tools"));
        assert!(matches!(rx.try_recv(), Ok(UpstreamEvent::Ready { .. })));

        let list = up
            .call("tools/list", None, CallOptions::default())
            .await
            .unwrap();
        let list: Value = serde_json::from_str(list.get()).unwrap();
        assert_eq!(list["tools"][0]["name"], "roi");
        let args = json!({"name": "decision_matrix", "arguments": {
            "tool_popularity": "widely-used", "business_logic": "standard",
            "development_time": "1-day", "maintenance": "community",
            "competitive_advantage": "none", "team_expertise": "any"}});
        let r = up
            .call("tools/call", Some(to_raw(&args)), CallOptions::default())
            .await
            .unwrap();
        let r: Value = serde_json::from_str(r.get()).unwrap();
        assert_eq!(r["structuredContent"]["recommendation"], "use", "{r}");
        for method in ["server/discover", "resources/list"] {
            let e = up
                .call(method, None, CallOptions::default())
                .await
                .unwrap_err();
            assert!(matches!(&e, CallError::Rpc(o) if o.code == -32601), "{e:?}");
        }

        up.shutdown().await;
        assert!(matches!(up.status(), Status::Stopped));
        let e = up
            .call("tools/list", None, CallOptions::default())
            .await
            .unwrap_err();
        assert!(matches!(e, CallError::Unavailable { .. }), "{e:?}");
    }

    #[test]
    fn other_entries_are_not_claimed() {
        let (status, _) = watch::channel(Status::Starting);
        let (events, _) = mpsc::unbounded_channel();
        let cat = ServerConfig::stdio("/bin/cat", vec!["advisor".into()]);
        let name: Arc<str> = Arc::from("switchboard");
        assert!(
            AdvisorFactory
                .build(&name, &cat, status.clone(), events.clone())
                .is_none()
        );
        let other: Arc<str> = Arc::from("tools");
        assert!(
            AdvisorFactory
                .build(&other, &entry(), status, events)
                .is_none()
        );
    }
}
