//! Session-era sessions shared by replicas (`cluster:`): a session's record written to the
//! cluster store when it opens or changes, and a session this replica has not seen rebuilt
//! from its record, under the same id, when the client's request lands here
//! (`switchboard-cluster` keeps the records). What a record does not carry stays with the
//! replica that had it: streams, calls in flight, server→client requests waiting for an
//! answer — though their answers reach them, forwarded by the replica that received them
//! (`forward_answer`, `letters.rs`) —, resource subscriptions (docs/deploy.md).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use switchboard_cluster::SessionRecord;
use switchboard_protocol::{Message, Response};

use crate::gateway::Gateway;
use crate::session::Session;

impl Gateway {
    /// The record of `session` as it is now.
    fn session_record(session: &Session) -> SessionRecord {
        SessionRecord {
            id: session.id.to_string(),
            owner: session.owner().map(|o| o.to_string()),
            protocol_version: session.protocol_version.read().clone(),
            client_capabilities: session.client_capabilities(),
            client_info: session.client_info.read().clone(),
            log_level: session.log_level(),
            replica: String::new(),
        }
    }

    fn session_ttl(&self) -> Duration {
        self.config.http.session_idle_timeout.0
    }

    /// Write `session`'s record (no-op without `cluster:`); a failure is logged: the session
    /// still works on this replica.
    pub async fn share_session(&self, session: &Session) {
        let Some(c) = &self.cluster else {
            return;
        };
        session.join_cluster(c);
        session.mark_shared();
        if let Err(e) = c
            .save_session(Self::session_record(session), self.session_ttl())
            .await
        {
            tracing::warn!(session = %session.id, error = %e, "session record not written: the session works on this replica only");
        }
    }

    /// Write `session`'s record in the background (a change the next request need not wait
    /// for).
    pub fn share_session_later(&self, session: &Session) {
        let Some(c) = self.cluster.clone() else {
            return;
        };
        session.mark_shared();
        let (record, ttl) = (Self::session_record(session), self.session_ttl());
        tokio::spawn(async move {
            let id = record.id.clone();
            if let Err(e) = c.save_session(record, ttl).await {
                tracing::warn!(session = %id, error = %e, "session record not written");
            }
        });
    }

    /// Renew `session`'s record's time to live, at most every quarter of it (in the
    /// background: the request does not wait for the store).
    pub fn keep_session_shared(self: &Arc<Self>, session: &Arc<Session>) {
        let Some(c) = &self.cluster else {
            return;
        };
        let ttl = self.session_ttl();
        if session.shared_for() < ttl / 4 {
            return;
        }
        session.mark_shared();
        let (c, id) = (c.clone(), session.id.clone());
        tokio::spawn(async move {
            if let Err(e) = c.touch_session(&id, ttl).await {
                tracing::warn!(session = %id, error = %e, "session record not renewed");
            }
        });
    }

    /// The session `id` from the cluster store, made a session of this replica (same id,
    /// owner, version, client capabilities, log level); `None` when no record is kept (or
    /// without `cluster:`).
    pub async fn adopt_session(&self, id: &str) -> Option<Arc<Session>> {
        let c = self.cluster.as_ref()?;
        let record = match c.load_session(id).await {
            Ok(Some(r)) => r,
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(session = %id, error = %e, "session record not readable");
                return None;
            }
        };
        let session = Session::new(Arc::from(record.id.as_str()));
        if let Some(o) = &record.owner {
            session.set_owner(&Arc::from(o.as_str()));
        }
        session.set_client(
            &record.protocol_version,
            record.client_capabilities,
            record.client_info,
        );
        session.set_log_level(record.log_level);
        session.join_cluster(c);
        session.initialized.store(true, Ordering::Relaxed);
        session.touch();
        session.mark_shared();
        // Two requests of one session arriving at once: the first adopted copy wins.
        let session = self.sessions.insert_if_absent(session);
        tracing::info!(session = %id, from = %record.replica, "session continued on this replica");
        Some(session)
    }

    /// The client ended session `id`: its record goes too.
    pub async fn unshare_session(&self, id: &str) {
        if let Some(c) = &self.cluster
            && let Err(e) = c.remove_session(id).await
        {
            tracing::warn!(session = %id, error = %e, "session record not removed (it expires)");
        }
    }
}

impl Gateway {
    /// A client's answer to a request of ours nobody here waits for: passed to the replica
    /// that waits for it (with `cluster:`), in the background. `false` when there is no
    /// cluster to ask.
    pub(crate) fn forward_answer(&self, session: &Session, r: Response) -> bool {
        let Some(c) = session.cluster().cloned() else {
            return false;
        };
        let id = r.id.to_string();
        let message = String::from_utf8_lossy(&Message::Response(r).to_vec()).into_owned();
        let session_id = session.id.clone();
        tokio::spawn(async move {
            match c.forward_answer(&session_id, &id, message).await {
                Ok(true) => {
                    tracing::info!(session = %session_id, id = %id, "answer passed to the replica waiting for it")
                }
                Ok(false) => {
                    tracing::debug!(session = %session_id, id = %id, "client answered a request nobody waits for")
                }
                Err(e) => {
                    tracing::warn!(session = %session_id, id = %id, error = %e, "answer not passed on")
                }
            }
        });
        true
    }
}

/// How long a replica's hold on a session's stream lasts unless renewed (a replica that dies
/// lets go within this), and how often it is renewed.
const STREAM_HOLD: Duration = Duration::from_secs(60);
const STREAM_RENEW: Duration = crate::shared_subscriptions::ORPHANS_EVERY;

impl Gateway {
    /// `session`'s standalone stream is open here (with `cluster:`): other replicas' messages
    /// for it come here while it stays open.
    /// While it holds the stream, it takes over the session's subscriptions whose replica died
    /// (`shared_subscriptions.rs`).
    pub(crate) fn hold_stream(
        self: &Arc<Self>,
        session: &Arc<Session>,
        out: crate::outbound::Outbound,
    ) {
        let Some(c) = self.cluster.clone() else {
            return;
        };
        let (id, closed) = (session.id.clone(), session.closed.clone());
        let (gw, session) = (Arc::downgrade(self), Arc::downgrade(session));
        tokio::spawn(async move {
            loop {
                if let Err(e) = c.hold_stream(&id, STREAM_HOLD).await {
                    tracing::warn!(session = %id, error = %e, "the session's stream not announced: other replicas' messages for it are lost");
                }
                if let (Some(gw), Some(session)) = (gw.upgrade(), session.upgrade()) {
                    gw.adopt_orphaned_subscriptions(&session).await;
                }
                tokio::select! {
                    _ = tokio::time::sleep(STREAM_RENEW) => {}
                    _ = out.closed() => break,
                    _ = closed.cancelled() => break,
                }
            }
            // A newer stream of the session opened here keeps the hold.
            if session.upgrade().is_some_and(|s| s.has_standalone()) {
                return;
            }
            if let Err(e) = c.release_stream(&id).await {
                tracing::debug!(session = %id, error = %e, "the session's stream not released (it expires)");
            }
        });
    }
}
