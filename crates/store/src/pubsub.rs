//! [`PubSub`]: fire-and-forget messages on named channels, and [`Subscription`], the receiving
//! end; plus the in-process fan-out every backend delivers through.

use std::collections::HashMap;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use tokio::sync::broadcast;

use crate::StoreError;

/// How many undelivered messages a [`Subscription`] holds before the oldest are dropped.
pub const SUBSCRIBER_BUFFER: usize = 1024;

/// Messages on named channels, delivered to whoever is subscribed when they are published
/// (at most once: nothing is kept for subscribers that come later, or for a subscriber while
/// its connection to the store is being re-established).
///
/// Messages from one publisher arrive in the order published. A subscriber that falls behind
/// never slows publishers: each subscription buffers up to [`SUBSCRIBER_BUFFER`] messages, and
/// when a new one arrives on a full buffer the **oldest** is dropped; the subscriber's next
/// [`Subscription::recv`] logs a warning saying how many it lost and goes on with the oldest
/// message still held.
pub trait PubSub: Send + Sync {
    /// Sends `payload` to the current subscribers of `channel` (none is fine).
    fn publish<'a>(
        &'a self,
        channel: &'a str,
        payload: Vec<u8>,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Subscribes to `channel`: every message published after this returns is delivered to the
    /// subscription (unless dropped as described on [`PubSub`]), none published before it was
    /// called. Dropping the subscription unsubscribes.
    fn subscribe<'a>(&'a self, channel: &'a str)
    -> BoxFuture<'a, Result<Subscription, StoreError>>;
}

/// One message on its way to subscribers: `id` orders messages of a store that numbers them
/// (SQLite), else 0.
#[derive(Clone, Debug)]
pub(crate) struct Delivery {
    pub(crate) id: u64,
    pub(crate) payload: Bytes,
}

/// The receiving end of [`PubSub::subscribe`].
#[derive(Debug)]
pub struct Subscription {
    channel: String,
    rx: broadcast::Receiver<Delivery>,
    /// Messages numbered up to this were published before the subscription began.
    skip_through: u64,
}

impl Subscription {
    /// The next message, waiting for one; `None` once the store is gone.
    pub async fn recv(&mut self) -> Option<Vec<u8>> {
        loop {
            match self.rx.recv().await {
                Ok(d) if d.id != 0 && d.id <= self.skip_through => {}
                Ok(d) => return Some(Vec::from(d.payload)),
                Err(broadcast::error::RecvError::Lagged(dropped)) => tracing::warn!(
                    channel = %self.channel,
                    dropped,
                    "a subscriber fell behind: its {dropped} oldest unread messages were dropped"
                ),
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// The channel subscribed to.
    pub fn channel(&self) -> &str {
        &self.channel
    }
}

/// Fans messages out to the subscriptions of this process, one broadcast channel per channel
/// name (the name as the backend knows it, e.g. with a Redis key prefix).
#[derive(Default)]
pub(crate) struct Hub {
    channels: Mutex<HashMap<String, broadcast::Sender<Delivery>>>,
}

impl Hub {
    /// A subscription to `name`, shown to its owner as `channel`, skipping messages numbered
    /// `skip_through` or less.
    pub(crate) fn subscribe(&self, name: &str, channel: &str, skip_through: u64) -> Subscription {
        let mut channels = self.channels.lock();
        let rx = match channels.get(name) {
            Some(tx) => tx.subscribe(),
            None => {
                let (tx, rx) = broadcast::channel(SUBSCRIBER_BUFFER);
                channels.insert(name.to_owned(), tx);
                rx
            }
        };
        Subscription {
            channel: channel.to_owned(),
            rx,
            skip_through,
        }
    }

    /// Hands a message to the subscribers of `name`; forgets the channel once nobody listens.
    pub(crate) fn deliver(&self, name: &str, id: u64, payload: Bytes) {
        let mut channels = self.channels.lock();
        if let Some(tx) = channels.get(name)
            && tx.send(Delivery { id, payload }).is_err()
        {
            channels.remove(name);
        }
    }

    /// Whether any subscription of this process is alive.
    pub(crate) fn has_subscribers(&self) -> bool {
        self.channels
            .lock()
            .values()
            .any(|tx| tx.receiver_count() > 0)
    }

    /// Forgets `name` if nobody listens to it any more; `true` when it was forgotten.
    pub(crate) fn forget_if_idle(&self, name: &str) -> bool {
        let mut channels = self.channels.lock();
        match channels.get(name) {
            Some(tx) if tx.receiver_count() > 0 => false,
            _ => {
                channels.remove(name);
                true
            }
        }
    }
}
