//! Time, injected: the [`Clock`] trait, the [`SystemClock`] and a settable [`ManualClock`].
//!
//! Every time-dependent decision in the crate reads a `Clock` handed to it; nothing reads the
//! system time directly, so tests move time instead of sleeping.

use core::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use time::{Duration, OffsetDateTime};

/// A source of the current time, in whole seconds since the Unix epoch (JWT `NumericDate`).
pub trait Clock: Send + Sync + fmt::Debug {
    /// Seconds since 1970-01-01T00:00:00Z.
    fn now_unix(&self) -> i64;

    /// The current time as an [`OffsetDateTime`] in UTC.
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.now_unix()).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

/// The operating system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix(&self) -> i64 {
        match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            // A clock set before 1970 reads as the epoch: every token then looks issued in the
            // future, which fails closed.
            Err(_) => 0,
        }
    }
}

/// A clock that only moves when told to: for tests and simulations.
///
/// Clones share the same time, so a test can keep one handle and give another to the engine.
#[derive(Clone, Debug)]
pub struct ManualClock {
    now: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock reading `unix_seconds`.
    #[must_use]
    pub fn new(unix_seconds: i64) -> Self {
        Self {
            now: Arc::new(AtomicI64::new(unix_seconds)),
        }
    }

    /// Set the time.
    pub fn set(&self, unix_seconds: i64) {
        self.now.store(unix_seconds, Ordering::SeqCst);
    }

    /// Move the time by `by` (negative moves it back), saturating at the `i64` range.
    pub fn advance(&self, by: Duration) {
        let secs = by.whole_seconds();
        let _ = self
            .now
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |t| {
                Some(t.saturating_add(secs))
            });
    }
}

impl Clock for ManualClock {
    fn now_unix(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now_unix(&self) -> i64 {
        (**self).now_unix()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told_and_clones_share_time() {
        let c = ManualClock::new(1_000);
        let other = c.clone();
        assert_eq!(c.now_unix(), 1_000);
        c.advance(Duration::minutes(2));
        assert_eq!(other.now_unix(), 1_120);
        other.set(5);
        assert_eq!(c.now_unix(), 5);
        c.advance(Duration::seconds(i64::MAX));
        assert_eq!(c.now_unix(), i64::MAX);
        assert_eq!(
            c.now().unix_timestamp(),
            OffsetDateTime::UNIX_EPOCH.unix_timestamp()
        );
    }

    #[test]
    fn system_clock_is_after_2024() {
        assert!(SystemClock.now_unix() > 1_700_000_000);
    }
}
