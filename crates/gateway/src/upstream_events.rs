//! What the gateway does when its upstreams speak: each server's events on their own channel,
//! tagged with its catalogue slot; list refreshes run per server in their own tasks (requests
//! that arrive meanwhile merged into one more refresh); list changes announced to sessions and
//! listens; resource updates sent to the sessions subscribed; subscriptions renewed after a
//! restart.

use std::sync::Arc;

use switchboard_protocol::{Message, RawMap, methods, to_raw};
use switchboard_upstream::UpstreamEvent;
use tokio::sync::mpsc;

use crate::catalog::Kind;
use crate::gateway::Gateway;

impl Gateway {
    /// After an upstream (re)starts, renew the subscriptions sessions hold on it.
    fn renew_subscriptions(&self, idx: usize) {
        let Some(server) = self.catalog.servers().get(idx).cloned() else {
            return;
        };
        for uri in self.subscriptions.of_server(idx) {
            let up = server.upstream.clone();
            let params = to_raw(&serde_json::json!({"uri": uri}));
            tokio::spawn(async move {
                if let Err(e) = up
                    .call(
                        methods::RESOURCES_SUBSCRIBE,
                        Some(params),
                        Default::default(),
                    )
                    .await
                {
                    tracing::warn!(server = %up.name(), error = %e, "cannot renew a resource subscription");
                }
            });
        }
    }

    /// Upstream events. Never waits on an upstream itself: list refreshes run in their own
    /// tasks, so one slow server cannot delay another's events.
    /// Each server's events come on its own channel, tagged with its index: an instance a
    /// reload retired is not mistaken for the new one of the same name.
    pub(crate) async fn event_loop(
        self: Arc<Self>,
        early: Vec<(usize, UpstreamEvent)>,
        streams: Vec<(usize, mpsc::UnboundedReceiver<UpstreamEvent>)>,
        mut added: mpsc::UnboundedReceiver<(usize, mpsc::UnboundedReceiver<UpstreamEvent>)>,
    ) {
        use futures_util::StreamExt;
        fn tagged(
            idx: usize,
            rx: mpsc::UnboundedReceiver<UpstreamEvent>,
        ) -> futures_util::stream::BoxStream<'static, (usize, UpstreamEvent)> {
            futures_util::stream::unfold(rx, move |mut rx| async move {
                rx.recv().await.map(|ev| ((idx, ev), rx))
            })
            .boxed()
        }
        for (i, ev) in early {
            self.on_event(i, ev);
        }
        let mut all = futures_util::stream::SelectAll::new();
        for (i, rx) in streams {
            all.push(tagged(i, rx));
        }
        loop {
            tokio::select! {
                Some((i, ev)) = all.next(), if !all.is_empty() => self.on_event(i, ev),
                stream = added.recv() => match stream {
                    Some((i, rx)) => all.push(tagged(i, rx)),
                    None => return,
                },
            }
        }
    }

    fn on_event(self: &Arc<Self>, idx: usize, ev: UpstreamEvent) {
        // Events of a server being started by a reload, or retired by one, are its own.
        if !self.catalog.servers().is_live(idx) {
            if let UpstreamEvent::Down { server, reason } = ev {
                tracing::debug!(%server, %reason, "upstream outside the catalogue down");
            }
            return;
        }
        {
            match ev {
                UpstreamEvent::Ready { .. } => {
                    self.renew_subscriptions(idx);
                    self.schedule_refresh(idx, &Kind::ALL, false);
                }
                UpstreamEvent::Down { server, reason } => {
                    tracing::debug!(%server, %reason, "upstream down");
                    metrics::counter!("mcp_upstream_restarts_total", "server" => metrics::SharedString::from(server)).increment(1);
                }
                UpstreamEvent::Notification {
                    server,
                    notification,
                } => self.on_notification(idx, &server, notification),
            }
        }
    }

    fn on_notification(
        self: &Arc<Self>,
        idx: usize,
        server: &str,
        n: switchboard_protocol::Notification,
    ) {
        let kinds: &[Kind] = match n.method.as_str() {
            methods::TOOLS_LIST_CHANGED => &[Kind::Tools],
            methods::PROMPTS_LIST_CHANGED => &[Kind::Prompts],
            methods::RESOURCES_LIST_CHANGED => &[Kind::Resources, Kind::Templates],
            methods::RESOURCES_UPDATED => {
                self.resource_updated(idx, n);
                return;
            }
            methods::MESSAGE => {
                let text = n
                    .params
                    .as_ref()
                    .map(|p| p.get().to_owned())
                    .unwrap_or_default();
                tracing::info!(%server, message = %text, "upstream log message outside any call");
                return;
            }
            other => {
                tracing::debug!(%server, method = other, "upstream notification not relayed");
                return;
            }
        };
        // The upstream said the list changed: tell clients even if the merged list looks the
        // same (it may differ in ways a client cares about).
        self.schedule_refresh(idx, kinds, true);
    }

    /// Refresh `kinds` of server `idx` in the background. Requests that arrive while a refresh
    /// of that server runs are merged into one more refresh, not queued one by one.
    fn schedule_refresh(self: &Arc<Self>, idx: usize, kinds: &[Kind], announce_always: bool) {
        {
            let mut pending = self.refreshes.lock();
            let entry = pending.entry(idx).or_default();
            for k in kinds {
                if !entry.kinds.contains(k) {
                    entry.kinds.push(*k);
                }
            }
            entry.announce_always |= announce_always;
            if entry.running {
                return;
            }
            entry.running = true;
        }
        let gw = self.clone();
        tokio::spawn(async move {
            loop {
                let (kinds, always) = {
                    let mut pending = gw.refreshes.lock();
                    let Some(entry) = pending.get_mut(&idx) else {
                        return;
                    };
                    if entry.kinds.is_empty() {
                        entry.running = false;
                        return;
                    }
                    (
                        std::mem::take(&mut entry.kinds),
                        std::mem::take(&mut entry.announce_always),
                    )
                };
                let name = gw.catalog.servers().get(idx).map(|s| s.name.clone());
                if kinds.contains(&Kind::Tools)
                    && let Some(name) = name
                {
                    // The server says its tools changed: what they returned may have too.
                    gw.cache().invalidate_server(idx, &name).await;
                }
                let changed = gw.catalog.refresh(idx, &kinds).await;
                gw.announce(if always { &kinds } else { &changed });
            }
        });
    }

    pub(crate) fn announce(&self, changed: &[Kind]) {
        let mut sent: Vec<&str> = Vec::new();
        for kind in changed {
            let method = kind.changed_notification();
            if sent.contains(&method) {
                continue;
            }
            sent.push(method);
            self.listeners.announce(*kind);
            let msg = Message::notification(method, None);
            // Only sessions that went through `initialize`: on stdio the session exists from
            // the start, and a 2026-07-28 client there hears changes through its listens.
            for s in self.sessions.all() {
                if !s.protocol_version.read().is_empty()
                    && let Some(out) = s.standalone()
                {
                    out.notify(&msg);
                }
            }
        }
    }

    fn resource_updated(&self, server: usize, n: switchboard_protocol::Notification) {
        let Some(params) = n.params else { return };
        let Ok(mut map) = RawMap::parse(&params) else {
            return;
        };
        let Some(uri) = map.get_str("uri").map(|u| u.into_owned()) else {
            return;
        };
        let exposed = self.catalog.expose_uri(server, &uri);
        self.listeners.update(&exposed);
        map.set("uri", to_raw(&exposed));
        let msg = Message::notification(methods::RESOURCES_UPDATED, Some(map.to_raw()));
        for s in self.sessions.all() {
            if s.subscriptions.lock().contains_key(&exposed) {
                self.tell_session(&s, &msg);
            }
        }
    }
}
