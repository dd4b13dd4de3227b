//! A call that runs inside its HTTP handler and moves to its own task if the handler stops
//! waiting for it.
//!
//! Most calls are answered with one JSON body: running them in the handler saves a task, a
//! channel and a cross-thread wake-up per call. But a client that disconnects must not cancel
//! a call half-way (its upstream request, audit record and metrics would be cut off), so when
//! the handler is dropped first, or hands the call over to a stream with [`Detach::take`], the
//! rest of the call continues on a task of its own.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

type Call<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A call polled in place until it finishes, is taken, or is dropped (then spawned).
pub(super) struct Detach<T: Send + 'static> {
    call: Option<Call<T>>,
}

impl<T: Send + 'static> Detach<T> {
    pub(super) fn new(call: impl Future<Output = T> + Send + 'static) -> Self {
        Self {
            call: Some(Box::pin(call)),
        }
    }

    /// The rest of the call, to run elsewhere (`None` once it has finished).
    pub(super) fn take(&mut self) -> Option<Call<T>> {
        self.call.take()
    }
}

impl<T: Send + 'static> Future for Detach<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let Some(call) = self.call.as_mut() else {
            // Polled after it finished or was taken: never ready again.
            return Poll::Pending;
        };
        let out = std::task::ready!(call.as_mut().poll(cx));
        self.call = None;
        Poll::Ready(out)
    }
}

impl<T: Send + 'static> Drop for Detach<T> {
    fn drop(&mut self) {
        if let Some(call) = self.call.take()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(call);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn a_finished_call_answers_in_place() {
        let mut d = Detach::new(async { 7 });
        assert_eq!((&mut d).await, 7);
        assert!(d.take().is_none());
    }

    #[tokio::test]
    async fn a_call_dropped_half_way_finishes_on_its_own_task() {
        let done = Arc::new(AtomicBool::new(false));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let flag = done.clone();
        let mut d = Detach::new(async move {
            let _ = rx.await;
            flag.store(true, Ordering::SeqCst);
        });
        // The handler waits a little, then goes away (the client disconnected).
        let waited = tokio::time::timeout(Duration::from_millis(20), &mut d).await;
        assert!(waited.is_err());
        drop(d);
        let _ = tx.send(());
        for _ in 0..200 {
            if done.load(Ordering::SeqCst) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("the dropped call never finished");
    }

    #[tokio::test]
    async fn a_taken_call_is_not_spawned_again() {
        let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let r = runs.clone();
        let mut d = Detach::new(async move {
            r.fetch_add(1, Ordering::SeqCst);
        });
        let rest = d.take();
        drop(d);
        if let Some(rest) = rest {
            rest.await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }
}
