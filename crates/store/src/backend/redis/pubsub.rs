//! Pub/sub for [`RedisStore`]: `PUBLISH` on the shared connection, and one dedicated RESP3
//! connection per store whose pushed messages are handed to this process's subscribers.

use std::sync::Arc;
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Msg, ProtocolVersion, PushInfo, PushKind};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use tokio::sync::watch;

use super::RedisStore;
use crate::pubsub::Hub;
use crate::{PubSub, StoreError, Subscription};

/// How often the subscriber connection is checked (a failed check makes it reconnect and
/// resubscribe).
const SUBSCRIBER_CHECK_EVERY: Duration = Duration::from_secs(5);

/// How long opening the subscriber connection may take.
const OPEN_WITHIN: Duration = Duration::from_secs(5);

impl RedisStore {
    /// The Redis client id of the subscriber connection (tests kill it to check recovery).
    #[cfg(test)]
    pub(crate) async fn subscriber_id(&self) -> i64 {
        let mut manager = self.subscriber().await.unwrap();
        ::redis::cmd("CLIENT")
            .arg("ID")
            .query_async(&mut manager)
            .await
            .unwrap()
    }

    /// The subscriber connection, opened on first use.
    async fn subscriber(&self) -> Result<ConnectionManager, StoreError> {
        self.subscriber
            .get_or_try_init(|| self.open_subscriber())
            .await
            .cloned()
    }

    async fn open_subscriber(&self) -> Result<ConnectionManager, StoreError> {
        let info = self.conn.client().get_connection_info().clone();
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let client = ::redis::Client::open(info.set_redis_settings(settings))
            .map_err(|e| self.failed("opening the subscriber connection", &e))?;
        let hub = Arc::clone(&self.hub);
        let what = self.what.clone();
        let config = ConnectionManagerConfig::new()
            .set_push_sender(move |push: PushInfo| -> Result<(), ()> {
                on_push(&hub, &what, push);
                Ok(())
            })
            .set_automatic_resubscription()
            .set_connection_timeout(Some(OPEN_WITHIN));
        let opening = ConnectionManager::new_with_config(client, config);
        let manager = tokio::time::timeout(OPEN_WITHIN, opening)
            .await
            .map_err(|_| {
                StoreError::Timeout(format!(
                    "{}: no answer opening the subscriber connection within {OPEN_WITHIN:?}",
                    self.what
                ))
            })?
            .map_err(|e| self.failed("opening the subscriber connection", &e))?;
        tokio::spawn(check_subscriber(manager.clone(), self.alive.subscribe()));
        Ok(manager)
    }
}

/// Hands a pushed pub/sub message to the subscribers.
fn on_push(hub: &Hub, what: &str, push: PushInfo) {
    match push.kind {
        PushKind::Message => {
            if let Some(msg) = Msg::from_push_info(push) {
                let payload = Bytes::copy_from_slice(msg.get_payload_bytes());
                hub.deliver(msg.get_channel_name(), 0, payload);
            }
        }
        PushKind::Disconnection => tracing::warn!(
            "{what}: lost the pub/sub connection; reconnecting and resubscribing \
             (messages published meanwhile are lost)"
        ),
        _ => {}
    }
}

/// Pings the subscriber connection now and then, which makes it reconnect after an outage
/// longer than its own retries; ends when the store is dropped.
async fn check_subscriber(mut manager: ConnectionManager, mut alive: watch::Receiver<()>) {
    loop {
        tokio::select! {
            _ = alive.changed() => return,
            () = tokio::time::sleep(SUBSCRIBER_CHECK_EVERY) => {
                let _ = ::redis::cmd("PING").query_async::<()>(&mut manager).await;
            }
        }
    }
}

impl PubSub for RedisStore {
    fn publish<'a>(
        &'a self,
        channel: &'a str,
        payload: Vec<u8>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            ::redis::cmd("PUBLISH")
                .arg(self.key("ch", channel))
                .arg(payload)
                .query_async::<()>(&mut self.conn.manager())
                .await
                .map_err(|e| self.failed("PUBLISH", &e))
        })
    }

    fn subscribe<'a>(
        &'a self,
        channel: &'a str,
    ) -> BoxFuture<'a, Result<Subscription, StoreError>> {
        Box::pin(async move {
            let name = self.key("ch", channel);
            let mut subscribed = self.subscribed.lock().await;
            let mut manager = self.subscriber().await?;
            let idle: Vec<String> = subscribed
                .iter()
                .filter(|n| **n != name && self.hub.forget_if_idle(n))
                .cloned()
                .collect();
            for n in idle {
                manager
                    .unsubscribe(&n)
                    .await
                    .map_err(|e| self.failed("UNSUBSCRIBE", &e))?;
                subscribed.remove(&n);
            }
            if subscribed.contains(&name) {
                // Messages already on their way to this connection were published before this
                // call: a round trip lets them pass before the new subscription listens.
                ::redis::cmd("PING")
                    .query_async::<()>(&mut manager)
                    .await
                    .map_err(|e| self.failed("PING", &e))?;
                return Ok(self.hub.subscribe(&name, channel, 0));
            }
            // Registered before SUBSCRIBE is confirmed, so nothing after that is missed.
            let subscription = self.hub.subscribe(&name, channel, 0);
            manager
                .subscribe(&name)
                .await
                .map_err(|e| self.failed("SUBSCRIBE", &e))?;
            subscribed.insert(name);
            Ok(subscription)
        })
    }
}
