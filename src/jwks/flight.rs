//! One fetch shared by every task that needs it, without a runtime.
//!
//! A [`Flight`] owns the fetch future. Every task that waits for it holds a [`Join`]; each
//! `Join`, when polled, registers its task's waker and then, if no other task is polling the
//! fetch at that instant, polls it itself. The fetch is polled with a waker that wakes every
//! registered task, so the fetch makes progress as long as any of them is still waiting, and a
//! waiting task that is dropped (a cancelled request) takes nothing down with it. The task
//! whose poll completes the fetch hands the result to [`Finish::finish`] (the key source
//! installs the keys there, exactly once), publishes the outcome and wakes the others.
//!
//! No lock is held across an `.await`: the locks here are held for the duration of one poll of
//! the fetch at most, and the fetch slot is only ever `try_lock`ed, never waited for.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::task::{Context, Poll, Wake, Waker};

/// A boxed fetch, polled by whichever waiting task gets to it first.
pub(super) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// What turns the fetch's result into the outcome every waiter sees: called once per flight,
/// by the task that completed the fetch (or found it panicked: `None`).
pub(super) trait Finish<R, O> {
    fn finish(&self, flight: &Arc<Flight<R, O>>, result: Option<R>) -> O;
}

/// A fetch under way and the tasks waiting for it.
pub(super) struct Flight<R, O> {
    future: Mutex<Option<BoxFuture<R>>>,
    waiters: Mutex<Waiters<O>>,
}

struct Waiters<O> {
    outcome: Option<O>,
    wakers: HashMap<u64, Waker>,
    next_id: u64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<R, O> Flight<R, O> {
    pub(super) fn new(future: BoxFuture<R>) -> Arc<Self> {
        Arc::new(Self {
            future: Mutex::new(Some(future)),
            waiters: Mutex::new(Waiters {
                outcome: None,
                wakers: HashMap::new(),
                next_id: 0,
            }),
        })
    }
}

/// The fetch's waker: wakes every waiting task, any of which may poll the fetch next.
impl<R: Send + 'static, O: Send + 'static> Wake for Flight<R, O> {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let wakers: Vec<Waker> = lock(&self.waiters).wakers.values().cloned().collect();
        for w in wakers {
            w.wake();
        }
    }
}

/// One task's wait for a [`Flight`]'s outcome.
pub(super) struct Join<'f, R, O, D> {
    flight: Arc<Flight<R, O>>,
    finisher: &'f D,
    id: Option<u64>,
}

impl<'f, R, O, D> Join<'f, R, O, D> {
    pub(super) fn new(flight: Arc<Flight<R, O>>, finisher: &'f D) -> Self {
        Self {
            flight,
            finisher,
            id: None,
        }
    }
}

impl<R, O, D> Future for Join<'_, R, O, D>
where
    R: Send + 'static,
    O: Clone + Send + 'static,
    D: Finish<R, O>,
{
    type Output = O;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<O> {
        let this = self.get_mut();
        // Register first: a completion or a wake-up after this point reaches this task.
        {
            let mut w = lock(&this.flight.waiters);
            if let Some(outcome) = &w.outcome {
                return Poll::Ready(outcome.clone());
            }
            let id = match this.id {
                Some(id) => id,
                None => {
                    w.next_id += 1;
                    this.id = Some(w.next_id);
                    w.next_id
                }
            };
            match w.wakers.get(&id) {
                Some(known) if known.will_wake(cx.waker()) => {}
                _ => {
                    w.wakers.insert(id, cx.waker().clone());
                }
            }
        }
        let (mut slot, result) = match this.flight.future.try_lock() {
            // Another task is polling the fetch right now; it wakes this one when anything
            // happens.
            Err(TryLockError::WouldBlock) => return Poll::Pending,
            // The fetch panicked inside another task's poll: the flight ends without a result.
            Err(TryLockError::Poisoned(p)) => (p.into_inner(), None),
            Ok(mut slot) => {
                let Some(future) = slot.as_mut() else {
                    // Completed by another task, which published the outcome before letting
                    // go of the slot.
                    drop(slot);
                    return match &lock(&this.flight.waiters).outcome {
                        Some(outcome) => Poll::Ready(outcome.clone()),
                        None => Poll::Pending,
                    };
                };
                let waker = Waker::from(Arc::clone(&this.flight));
                match future.as_mut().poll(&mut Context::from_waker(&waker)) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(result) => (slot, Some(result)),
                }
            }
        };
        *slot = None;
        let outcome = this.finisher.finish(&this.flight, result);
        let wakers = {
            let mut w = lock(&this.flight.waiters);
            w.outcome = Some(outcome.clone());
            std::mem::take(&mut w.wakers)
        };
        drop(slot);
        for (id, waker) in wakers {
            if Some(id) != this.id {
                waker.wake();
            }
        }
        Poll::Ready(outcome)
    }
}

impl<R, O, D> Drop for Join<'_, R, O, D> {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            lock(&self.flight.waiters).wakers.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Count(AtomicUsize);

    impl Finish<u32, u32> for Count {
        fn finish(&self, _: &Arc<Flight<u32, u32>>, result: Option<u32>) -> u32 {
            self.0.fetch_add(1, Ordering::SeqCst);
            result.unwrap_or(0) + 1
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn every_waiter_sees_one_completion_and_dropped_waiters_strand_no_one() {
        let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
        let flight = Flight::new(Box::pin(async move { rx.await.unwrap_or(7) }));
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let mut tasks = Vec::new();
        for i in 0..64 {
            let (flight, count) = (Arc::clone(&flight), Arc::clone(&count));
            tasks.push(tokio::spawn(async move {
                let join = Join::new(flight, &*count);
                if i % 2 == 0 {
                    // Half of them give up early: the rest must still get the outcome.
                    tokio::time::timeout(std::time::Duration::from_millis(5), join)
                        .await
                        .ok()
                } else {
                    Some(join.await)
                }
            }));
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        tx.send(41).unwrap();
        for (i, t) in tasks.into_iter().enumerate() {
            let got = t.await.unwrap();
            if i % 2 == 1 {
                assert_eq!(got, Some(42));
            }
        }
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        // A late joiner gets the published outcome without polling anything.
        assert_eq!(Join::new(flight, &*count).await, 42);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_panicking_fetch_ends_the_flight_without_a_result() {
        let flight: Arc<Flight<u32, u32>> = Flight::new(Box::pin(async { panic!("fetch") }));
        let count = Count(AtomicUsize::new(0));
        let f = Arc::clone(&flight);
        let first = std::panic::AssertUnwindSafe(Join::new(f, &count));
        let caught = futures_catch(first).await;
        assert!(caught.is_err());
        assert_eq!(Join::new(flight, &count).await, 1);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
    }

    /// `catch_unwind` for a future, polled to completion on this task.
    async fn futures_catch<F: Future + Unpin>(
        mut f: std::panic::AssertUnwindSafe<F>,
    ) -> std::thread::Result<F::Output> {
        std::future::poll_fn(move |cx| {
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                Pin::new(&mut *f).poll(cx)
            })) {
                Ok(Poll::Pending) => Poll::Pending,
                Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
                Err(e) => Poll::Ready(Err(e)),
            }
        })
        .await
    }
}
