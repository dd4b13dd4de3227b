//! A connection's task woken by itself while it runs is polled again at once, instead of
//! being handed back to the scheduler.
//!
//! hyper's request-body channel wakes the connection task every time the handler takes a
//! chunk, even when the connection already sent the whole body and closed its side — and the
//! handler runs inside that same task. Tokio treats a task woken while it runs as a yield: it
//! requeues it and wakes an idle worker to take it, which finds nothing to do and parks again.
//! One call at a time that is a futex wake and two context switches per call (BENCHMARKS.md,
//! "Where the gateway's time goes"). [`SelfWakeAbsorbed`] wraps a connection future with a
//! waker of its own: a wake that arrives while the future is being polled is remembered and
//! answered by polling it again before returning (a few times at most, then it yields as
//! before); any other wake goes to the task's waker as usual. Nothing is lost: the state
//! moves atomically between idle, polling and woken-while-polling.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll, Wake, Waker};

const IDLE: u8 = 0;
const POLLING: u8 = 1;
const WOKEN: u8 = 2;

/// At most this many polls again in one go; past them the task yields to the scheduler (so a
/// future that keeps waking itself cannot starve the others).
const AGAIN: usize = 8;

struct Flag {
    state: AtomicU8,
    /// The task's own waker, for wakes that come while it is not being polled.
    task: parking_lot::Mutex<Option<Waker>>,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let mut seen = self.state.load(Ordering::Acquire);
        loop {
            match seen {
                WOKEN => return,
                POLLING => match self.state.compare_exchange_weak(
                    POLLING,
                    WOKEN,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => return,
                    Err(now) => seen = now,
                },
                _ => {
                    if let Some(w) = self.task.lock().as_ref() {
                        w.wake_by_ref();
                    }
                    return;
                }
            }
        }
    }
}

/// `inner`, its self-wakes answered in place (see the module's documentation).
pub struct SelfWakeAbsorbed<F> {
    inner: Pin<Box<F>>,
    flag: Arc<Flag>,
    waker: Waker,
    /// Wakes answered in place so far (for tests and measurements).
    pub absorbed: u64,
}

impl<F: Future> SelfWakeAbsorbed<F> {
    pub fn new(inner: F) -> Self {
        let flag = Arc::new(Flag {
            state: AtomicU8::new(IDLE),
            task: parking_lot::Mutex::new(None),
        });
        Self {
            inner: Box::pin(inner),
            waker: Waker::from(flag.clone()),
            flag,
            absorbed: 0,
        }
    }
}

impl<F: Future> Future for SelfWakeAbsorbed<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        {
            let mut task = this.flag.task.lock();
            if !task.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *task = Some(cx.waker().clone());
            }
        }
        let mut inner_cx = Context::from_waker(&this.waker);
        for _ in 0..=AGAIN {
            this.flag.state.store(POLLING, Ordering::Release);
            if let Poll::Ready(out) = this.inner.as_mut().poll(&mut inner_cx) {
                this.flag.state.store(IDLE, Ordering::Release);
                return Poll::Ready(out);
            }
            // Not woken meanwhile: wait for the next wake, which now goes to the task.
            if this
                .flag
                .state
                .compare_exchange(POLLING, IDLE, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return Poll::Pending;
            }
            this.absorbed += 1;
        }
        // Woken again and again: yield like any task woken while it runs.
        this.flag.state.store(IDLE, Ordering::Release);
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Counts the wakes the task gets.
    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Wakes itself during its first `n` polls, then is ready.
    struct WakesItself {
        n: usize,
        polls: usize,
    }
    impl Future for WakesItself {
        type Output = usize;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
            self.polls += 1;
            if self.polls > self.n {
                return Poll::Ready(self.polls);
            }
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    fn poll_once<F: Future>(f: &mut SelfWakeAbsorbed<F>, count: &Arc<Count>) -> Poll<F::Output> {
        let waker = Waker::from(count.clone());
        Pin::new(f).poll(&mut Context::from_waker(&waker))
    }

    #[test]
    fn a_wake_during_its_own_poll_is_answered_in_place() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let mut f = SelfWakeAbsorbed::new(WakesItself { n: 3, polls: 0 });
        assert_eq!(poll_once(&mut f, &count), Poll::Ready(4));
        assert_eq!(count.0.load(Ordering::SeqCst), 0, "the task was woken");
        assert_eq!(f.absorbed, 3);
    }

    #[test]
    fn a_future_that_keeps_waking_itself_yields_to_the_scheduler() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let mut f = SelfWakeAbsorbed::new(WakesItself { n: 100, polls: 0 });
        assert_eq!(poll_once(&mut f, &count), Poll::Pending);
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "it must yield, woken");
        assert_eq!(f.absorbed, AGAIN as u64 + 1);
    }

    /// Pending until its waker, kept, is woken from elsewhere.
    struct Parked(Arc<parking_lot::Mutex<Option<Waker>>>, Arc<AtomicUsize>);
    impl Future for Parked {
        type Output = ();
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.1.load(Ordering::SeqCst) > 0 {
                return Poll::Ready(());
            }
            *self.0.lock() = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    #[test]
    fn a_wake_after_its_poll_reaches_the_task() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let (slot, go) = (Arc::default(), Arc::new(AtomicUsize::new(0)));
        let mut f = SelfWakeAbsorbed::new(Parked(Arc::clone(&slot), go.clone()));
        assert_eq!(poll_once(&mut f, &count), Poll::Pending);
        go.store(1, Ordering::SeqCst);
        let kept = slot.lock().take().unwrap();
        std::thread::spawn(move || kept.wake()).join().unwrap();
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "the wake was lost");
        assert_eq!(poll_once(&mut f, &count), Poll::Ready(()));
        assert_eq!(f.absorbed, 0);
    }
}
