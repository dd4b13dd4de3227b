//! Pub/sub for [`SqliteStore`]: a `messages` table written by `publish`, and a poller task
//! that reads it after a row-id cursor and hands new rows to this process's subscribers.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use rusqlite::{Connection, params};

use super::{Inner, SqliteStore, now_ms};
use crate::{PubSub, StoreError, Subscription};

/// How often the poller looks for new messages.
const POLL_EVERY: Duration = Duration::from_millis(50);

/// How many messages one query of the poller reads (it reads again while it gets this many).
const POLL_BATCH: i64 = 500;

/// How long published messages stay in the table (for subscribers of slow processes).
const RETENTION_MS: i64 = 60_000;

/// At most how often `publish` deletes messages older than [`RETENTION_MS`].
const PRUNE_EVERY_MS: i64 = 5_000;

impl PubSub for SqliteStore {
    fn publish<'a>(
        &'a self,
        channel: &'a str,
        payload: Vec<u8>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let channel = channel.to_owned();
        Box::pin(self.run("publish", move |c, inner| {
            let now = now_ms();
            c.prepare_cached(
                "INSERT INTO messages (channel, payload, created_at) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![channel, payload, now])?;
            if now - inner.last_prune.load(Ordering::Relaxed) >= PRUNE_EVERY_MS {
                inner.last_prune.store(now, Ordering::Relaxed);
                c.prepare_cached("DELETE FROM messages WHERE created_at < ?1")?
                    .execute([now - RETENTION_MS])?;
            }
            Ok(())
        }))
    }

    fn subscribe<'a>(
        &'a self,
        channel: &'a str,
    ) -> BoxFuture<'a, Result<Subscription, StoreError>> {
        let channel = channel.to_owned();
        Box::pin(async move {
            // Registering and reading the newest id under the connection's lock orders this
            // against the poller (which holds it while it reads): every message published after
            // this returns has a higher id than both the cursor and `newest`.
            let (subscription, newest) = self
                .run("subscribe", move |c, inner| {
                    let newest = newest_id(c)?;
                    Ok((inner.hub.subscribe(&channel, &channel, newest), newest))
                })
                .await?;
            if !self.inner.poller_started.swap(true, Ordering::AcqRel) {
                tokio::spawn(poll(Arc::downgrade(&self.inner), newest));
            }
            Ok(subscription)
        })
    }
}

/// The highest message id in the table (0 when empty).
fn newest_id(c: &Connection) -> rusqlite::Result<u64> {
    let id: i64 = c
        .prepare_cached("SELECT COALESCE(MAX(id), 0) FROM messages")?
        .query_row([], |r| r.get(0))?;
    Ok(u64::try_from(id).unwrap_or(0))
}

/// The poller: every [`POLL_EVERY`] hands messages above `cursor` to the subscribers, until the
/// store is dropped. Failures are logged once, and again when polling works again.
async fn poll(store: Weak<Inner>, mut cursor: u64) {
    let mut tick = tokio::time::interval(POLL_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tick.tick().await;
        let Some(inner) = store.upgrade() else {
            return;
        };
        let what = inner.what.clone();
        let polled = tokio::task::spawn_blocking(move || inner.poll_once(cursor)).await;
        match polled {
            Ok(Ok(next)) => {
                cursor = next;
                if failing {
                    failing = false;
                    tracing::info!("{what}: reading published messages works again");
                }
            }
            Ok(Err(e)) if !failing => {
                failing = true;
                tracing::warn!("{what}: cannot read published messages (will retry): {e}");
            }
            Err(e) if !failing => {
                failing = true;
                tracing::warn!("{what}: reading published messages was cancelled: {e}");
            }
            Ok(Err(_)) | Err(_) => {}
        }
    }
}

impl Inner {
    /// One round of the poller: delivers the messages above `cursor` and returns the new
    /// cursor. With no subscriber alive it only moves the cursor to the newest message.
    fn poll_once(&self, mut cursor: u64) -> rusqlite::Result<u64> {
        let c = self.conn.lock();
        if !self.hub.has_subscribers() {
            return newest_id(&c);
        }
        let mut stmt = c.prepare_cached(
            "SELECT id, channel, payload FROM messages WHERE id > ?1 ORDER BY id LIMIT ?2",
        )?;
        loop {
            let mut rows = stmt.query(params![
                i64::try_from(cursor).unwrap_or(i64::MAX),
                POLL_BATCH
            ])?;
            let mut read = 0;
            while let Some(row) = rows.next()? {
                let id = u64::try_from(row.get::<_, i64>(0)?).unwrap_or(0);
                let channel: String = row.get(1)?;
                let payload: Vec<u8> = row.get(2)?;
                self.hub.deliver(&channel, id, Bytes::from(payload));
                cursor = id;
                read += 1;
            }
            if read < POLL_BATCH {
                return Ok(cursor);
            }
        }
    }
}
