//! Resource subscriptions of sessions shared by replicas (`cluster:`; the store's side is
//! `switchboard-cluster`'s `subscriptions.rs`). The replica a `resources/subscribe` lands on
//! subscribes upstream as it always does and records that it holds the subscription; the
//! updates it hears go to the session's stream wherever it is open (`letters.rs`). An
//! unsubscribe landing on another replica is passed to the holder. The replica holding the
//! session's stream takes over, when the stream opens and then every [`ORPHANS_EVERY`], the
//! subscriptions whose holder died.

use std::time::Duration;

use switchboard_cluster::Letter;

use crate::gateway::Gateway;
use crate::letters::Ask;
use crate::session::Session;

/// How often the replica holding a session's stream looks for subscriptions whose holder died.
pub(crate) const ORPHANS_EVERY: Duration = Duration::from_secs(20);

impl Gateway {
    /// `session` subscribed to `uri` through this replica, which holds the upstream
    /// subscription: recorded for the other replicas (a failure is logged; the subscription
    /// works, but only this replica knows it).
    pub(crate) async fn share_subscription(&self, session: &Session, uri: &str) {
        let Some(c) = &self.cluster else { return };
        if let Err(e) = c
            .record_subscription(&session.id, uri, self.config.http.session_idle_timeout.0)
            .await
        {
            tracing::warn!(session = %session.id, uri, error = %e, "subscription not recorded in the cluster store");
        }
    }

    /// `session` unsubscribed from `uri` through this replica: the record goes, and the
    /// replica holding the upstream subscription, if another one, is told to let it go.
    pub(crate) async fn unshare_subscription(&self, session: &Session, uri: &str) {
        let Some(c) = &self.cluster else { return };
        let holder = match c.drop_subscription(&session.id, uri).await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(session = %session.id, uri, error = %e, "subscription not removed from the cluster store");
                return;
            }
        };
        let Some(holder) = holder.filter(|h| h != c.replica_id()) else {
            return;
        };
        let letter = Letter::Request {
            from: c.replica_id().to_owned(),
            corr: 0,
            body: switchboard_protocol::to_raw(&Ask::Unsubscribe {
                session: session.id.to_string(),
                uri: uri.to_owned(),
            }),
        };
        if let Err(e) = c.post(&holder, &letter).await {
            tracing::warn!(session = %session.id, uri, replica = %holder, error = %e, "unsubscribe not passed to the replica holding the subscription");
        }
    }

    /// Another replica received `session`'s unsubscribe from `uri`, held here.
    pub(crate) fn unsubscribe_here(&self, session: &str, uri: &str) {
        let route = self
            .sessions
            .get(session)
            .and_then(|s| s.subscriptions.lock().remove(uri));
        if let Some(route) = route {
            self.release_subscription(&route);
            tracing::info!(
                session,
                uri,
                "subscription let go for a client that unsubscribed through another replica"
            );
        }
    }

    /// Take over `session`'s subscriptions whose holder died: subscribe upstream here.
    pub(crate) async fn adopt_orphaned_subscriptions(&self, session: &Session) {
        let Some(c) = &self.cluster else { return };
        let orphans = match c.orphaned_subscriptions(&session.id).await {
            Ok(o) => o,
            Err(e) => {
                tracing::debug!(session = %session.id, error = %e, "orphaned subscriptions not looked up");
                return;
            }
        };
        for (uri, from) in orphans {
            match c.take_subscription(&session.id, &uri, &from).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(session = %session.id, uri, error = %e, "orphaned subscription not taken over");
                    continue;
                }
            }
            let Some(route) = self.catalog.route_resource(&uri) else {
                tracing::warn!(session = %session.id, uri, "an orphaned subscription to a resource no server offers now; dropped");
                continue;
            };
            if session.subscriptions.lock().contains_key(&uri) {
                continue;
            }
            if self.isolated(route.server) {
                // A per-session instance is not shared: subscribing it needs the session's
                // own upstream, which this replica starts on the next request.
                continue;
            }
            session
                .subscriptions
                .lock()
                .insert(uri.clone(), route.clone());
            self.acquire_subscription(&route).await;
            tracing::info!(session = %session.id, uri, replica = %from, "took over a subscription whose replica is gone");
        }
    }
}
