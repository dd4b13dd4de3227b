//! The way back to a client: an [`Outbound`] stream of messages (one POST's SSE stream, a
//! session's GET stream, or stdout).

use switchboard_protocol::Message;
use tokio::sync::mpsc;

/// One item on a client-bound stream.
#[derive(Debug)]
pub enum Out {
    /// A notification or a server→client request.
    Message(Vec<u8>),
    /// The response that ends a per-request stream.
    Final(Vec<u8>),
}

/// A client-bound stream: the SSE stream of one POST, a session's GET stream, or stdout.
#[derive(Clone, Debug)]
pub struct Outbound(mpsc::Sender<Out>);

impl Outbound {
    pub fn channel(capacity: usize) -> (Self, mpsc::Receiver<Out>) {
        let (tx, rx) = mpsc::channel(capacity);
        (Self(tx), rx)
    }

    /// Queue a notification; dropped (and logged) if the client is not reading.
    pub fn notify(&self, msg: &Message) -> bool {
        self.notify_bytes(msg.to_vec())
    }

    /// Queue a message already serialized; dropped (and logged) like [`Outbound::notify`].
    pub fn notify_bytes(&self, bytes: Vec<u8>) -> bool {
        match self.0.try_send(Out::Message(bytes)) {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!(error = %e, "client stream full or closed; message dropped");
                false
            }
        }
    }

    /// Queue a message already serialized, waiting for room; `false` once the client is gone.
    pub async fn send_bytes(&self, bytes: Vec<u8>) -> bool {
        self.0.send(Out::Message(bytes)).await.is_ok()
    }

    /// Queue a message, waiting for room.
    pub async fn send(&self, msg: &Message) -> bool {
        self.0.send(Out::Message(msg.to_vec())).await.is_ok()
    }

    /// Queue the final response.
    pub async fn finish(&self, msg: &Message) -> bool {
        self.0.send(Out::Final(msg.to_vec())).await.is_ok()
    }

    /// Resolves once the client's side is gone.
    pub async fn closed(&self) {
        self.0.closed().await
    }

    pub fn is_closed(&self) -> bool {
        self.0.is_closed()
    }
}
