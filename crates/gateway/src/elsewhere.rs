//! Conversations between replicas (`cluster:`): one replica asks another to do something it
//! cannot (continue a parked call the other holds, replay a stream the other keeps), and the
//! other replies as it goes — at once that it took the request, then the messages for the
//! asker's client, then the outcome, with "alive" every [`ALIVE_EVERY`] while nothing else is
//! said — over the store's pub/sub (`letters.rs`). The asker counts the other as gone after
//! [`TAKEN_WITHIN`] without a first reply or [`SILENCE`] without any, and says so clearly
//! instead of waiting forever.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use switchboard_cluster::{Cluster, Letter};
use switchboard_protocol::ErrorObject;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::gateway::Gateway;
use crate::letters::Ask;
use crate::outbound::{Out, Outbound};

pub(crate) type Answer = Result<Box<RawValue>, ErrorObject>;

/// How long the other replica has to say it took a request.
const TAKEN_WITHIN: Duration = Duration::from_secs(5);
/// How often a replica working on another's request says it is alive.
const ALIVE_EVERY: Duration = Duration::from_secs(3);
/// Silence after which the other replica counts as gone.
const SILENCE: Duration = Duration::from_secs(10);

/// Replies come to the asking replica's own channel: numbers unique in this process are enough.
static NEXT_CORR: AtomicU64 = AtomicU64::new(1);

/// A reply letter's body.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Reply {
    Taken,
    Alive,
    /// A message for the asker's client, as it goes on the wire.
    Message(String),
    Done(Answer),
}

/// What the asker hears next.
pub(crate) enum Heard {
    Message(String),
    Done(Answer),
    /// The other replica is gone: why it is thought so.
    Gone(&'static str),
}

/// Requests this replica asked of others, and requests it works on for others.
#[derive(Default)]
pub struct Elsewhere {
    /// Asked, by correlation number: where their replies go.
    waiting: Mutex<HashMap<u64, mpsc::UnboundedSender<Reply>>>,
    /// Worked on for others, by (replica, correlation): how to stop them.
    running: Mutex<HashMap<(String, u64), CancellationToken>>,
}

/// A request asked of another replica, and its replies.
pub(crate) struct Conversation {
    cluster: Cluster,
    pub(crate) replica: String,
    corr: u64,
    replies: mpsc::UnboundedReceiver<Reply>,
    taken: bool,
    /// The outcome was heard (or the other replica is gone): nothing to cancel.
    over: bool,
    elsewhere: Arc<Elsewhere>,
}

impl Drop for Conversation {
    /// Dropped before the outcome (the asker's client went away): the other replica is told
    /// to stop.
    fn drop(&mut self) {
        self.elsewhere.waiting.lock().remove(&self.corr);
        if !self.over
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            let letter = letter(&self.cluster, self.corr, &Ask::Cancel);
            let (cluster, replica) = (self.cluster.clone(), self.replica.clone());
            rt.spawn(async move {
                let _ = cluster.post(&replica, &letter).await;
            });
        }
    }
}

impl Conversation {
    /// The next thing heard from the other replica.
    pub(crate) async fn next(&mut self) -> Heard {
        loop {
            let wait = if self.taken { SILENCE } else { TAKEN_WITHIN };
            let heard = match tokio::time::timeout(wait, self.replies.recv()).await {
                Ok(Some(Reply::Taken | Reply::Alive)) => {
                    self.taken = true;
                    continue;
                }
                Ok(Some(Reply::Message(m))) => return Heard::Message(m),
                Ok(Some(Reply::Done(answer))) => Heard::Done(answer),
                Ok(None) => Heard::Gone("could not be heard"),
                Err(_) if self.taken => Heard::Gone("stopped answering midway"),
                Err(_) => Heard::Gone("did not answer (stopped or unreachable)"),
            };
            self.over = true;
            return heard;
        }
    }

    /// Tell the other replica the asker's client went away.
    pub(crate) async fn cancel(&mut self) {
        self.over = true;
        let letter = letter(&self.cluster, self.corr, &Ask::Cancel);
        let _ = self.cluster.post(&self.replica, &letter).await;
    }
}

fn letter(cluster: &Cluster, corr: u64, ask: &Ask) -> Letter {
    Letter::Request {
        from: cluster.replica_id().to_owned(),
        corr,
        body: switchboard_protocol::to_raw(ask),
    }
}

impl Gateway {
    /// Ask `replica` for `ask`; an error when there is no cluster or the store cannot pass
    /// it on.
    pub(crate) async fn ask_replica(
        &self,
        replica: &str,
        ask: &Ask,
    ) -> Result<Conversation, String> {
        let Some(cluster) = self.cluster.clone() else {
            return Err("no cluster store is configured".into());
        };
        let corr = NEXT_CORR.fetch_add(1, Ordering::Relaxed);
        let (tx, replies) = mpsc::unbounded_channel();
        self.elsewhere.waiting.lock().insert(corr, tx);
        let mut conversation = Conversation {
            replica: replica.to_owned(),
            corr,
            replies,
            taken: false,
            over: false,
            elsewhere: self.elsewhere.clone(),
            cluster,
        };
        let asked = letter(&conversation.cluster, corr, ask);
        if let Err(e) = conversation.cluster.post(replica, &asked).await {
            conversation.over = true;
            return Err(e.to_string());
        }
        Ok(conversation)
    }

    /// A letter replying to a request this replica asked.
    pub(crate) fn deliver_reply(&self, corr: u64, body: &RawValue) {
        let Ok(reply) = serde_json::from_str::<Reply>(body.get()) else {
            tracing::warn!(
                corr,
                "a reply from another replica that is not one; dropped"
            );
            return;
        };
        if let Some(tx) = self.elsewhere.waiting.lock().get(&corr) {
            let _ = tx.send(reply);
        }
    }

    /// Replica `from` asked this one something under `corr`: where the work's messages go,
    /// where its outcome goes, and the token `from` cancels it with. Replies are posted in
    /// order (the messages sent before the outcome, then the outcome).
    pub(crate) fn answer_replica(
        &self,
        from: String,
        corr: u64,
    ) -> Option<(Outbound, oneshot::Sender<Answer>, CancellationToken)> {
        let cluster = self.cluster.clone()?;
        let cancel = CancellationToken::new();
        let key = (from.clone(), corr);
        self.elsewhere
            .running
            .lock()
            .insert(key.clone(), cancel.clone());
        let (out, messages) = Outbound::channel(64);
        let (done_tx, done) = oneshot::channel();
        let elsewhere = self.elsewhere.clone();
        tokio::spawn(async move {
            post_replies(&cluster, &from, corr, messages, done).await;
            elsewhere.running.lock().remove(&key);
        });
        Some((out, done_tx, cancel))
    }

    /// Replica `from` says the client of its request `corr` went away.
    pub(crate) fn cancel_for_replica(&self, from: String, corr: u64) {
        if let Some(token) = self.elsewhere.running.lock().get(&(from, corr)) {
            token.cancel();
        }
    }

    /// Reply to replica `from`'s request `corr` with its outcome alone.
    pub(crate) async fn reply_done(&self, from: &str, corr: u64, answer: Answer) {
        if let Some(cluster) = &self.cluster {
            post(cluster, from, corr, Reply::Done(answer)).await;
        }
    }
}

async fn post(cluster: &Cluster, to: &str, corr: u64, body: Reply) {
    let letter = Letter::Reply {
        corr,
        body: switchboard_protocol::to_raw(&body),
    };
    if let Err(e) = cluster.post(to, &letter).await {
        tracing::warn!(replica = %to, error = %e, "a reply to another replica not posted");
    }
}

/// Post replies to replica `to` in order: taken, the messages as they come (and alive while
/// none do), then the outcome after the messages sent before it.
async fn post_replies(
    cluster: &Cluster,
    to: &str,
    corr: u64,
    mut messages: mpsc::Receiver<Out>,
    mut done: oneshot::Receiver<Answer>,
) {
    post(cluster, to, corr, Reply::Taken).await;
    let mut alive =
        tokio::time::interval_at(tokio::time::Instant::now() + ALIVE_EVERY, ALIVE_EVERY);
    loop {
        tokio::select! {
            biased;
            Some(m) = messages.recv() => post(cluster, to, corr, message(m)).await,
            answer = &mut done => {
                while let Ok(m) = messages.try_recv() {
                    post(cluster, to, corr, message(m)).await;
                }
                let answer = answer.unwrap_or_else(|_| Err(ErrorObject::internal("the work ended without an outcome")));
                post(cluster, to, corr, Reply::Done(answer)).await;
                return;
            }
            _ = alive.tick() => post(cluster, to, corr, Reply::Alive).await,
        }
    }
}

fn message(m: Out) -> Reply {
    let (Out::Message(bytes) | Out::Final(bytes)) = m;
    Reply::Message(String::from_utf8_lossy(&bytes).into_owned())
}
