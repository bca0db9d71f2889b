//! [`IntrospectionCache`]: a gateway's (or resource server's) memory of introspection
//! answers, so that a reference access token presented again within the application's
//! revocation latency costs no call to the authorization server. No store, no engine: it sits
//! in front of whatever introspects (an HTTP call to the introspection endpoint, or
//! [`Engine::introspect`](crate::Engine::introspect) in process).

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::clock::{Clock, SystemClock};
use crate::error::Error;
use crate::response::IntrospectionResponse;

struct Entry {
    answer: Arc<IntrospectionResponse>,
    until: i64,
}

#[derive(Default)]
struct State {
    map: HashMap<[u8; 32], Entry>,
    /// Insertion order, for FIFO eviction (may hold keys already gone; compacted when long).
    order: VecDeque<[u8; 32]>,
}

/// Active introspection answers, cached for at most `max_age` (the revocation latency the
/// application accepts: a token revoked at the authorization server may still pass here for
/// up to that long) and never past the token's own `exp`.
///
/// - Keyed by SHA-256 of the token: the cache never holds a token, and its memory shows none.
/// - Only active answers with an `exp` are cached; inactive ones are asked again (they are
///   final at the server anyway, and caching them would let junk tokens evict live entries).
/// - Bounded: at most `capacity` entries, the oldest evicted first; expired entries go when
///   met.
///
/// ```
/// # async fn demo() -> Result<(), token_engine::Error> {
/// use token_engine::{IntrospectionCache, IntrospectionResponse};
/// let cache = IntrospectionCache::new(time::Duration::seconds(30), 10_000)?;
/// let answer = cache
///     .get_or_introspect("at_...", |token| async move {
///         // POST token to the introspection endpoint, parse the answer.
///         Ok::<_, token_engine::Error>(IntrospectionResponse::inactive())
///     })
///     .await?;
/// assert!(!answer.active);
/// # Ok(()) }
/// ```
pub struct IntrospectionCache {
    max_age: i64,
    capacity: usize,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

impl core::fmt::Debug for IntrospectionCache {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("IntrospectionCache")
            .field("max_age", &self.max_age)
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .finish()
    }
}

fn key(token: &str) -> [u8; 32] {
    crate::opaque::labelled_digest("token-engine introspection cache", &[token.as_bytes()])
}

impl IntrospectionCache {
    /// The largest `capacity` [`new`](Self::new) accepts.
    pub const MAX_CAPACITY: usize = 1 << 20;
    /// The longest `max_age` [`new`](Self::new) accepts: one hour (a revocation that takes
    /// longer to be seen is not one).
    pub const MAX_AGE: time::Duration = time::Duration::hours(1);

    /// A cache whose answers live at most `max_age` (whole seconds, 0 to
    /// [`MAX_AGE`](Self::MAX_AGE); 0 caches nothing) with at most `capacity` entries (1 to
    /// [`MAX_CAPACITY`](Self::MAX_CAPACITY)), on the system clock.
    pub fn new(max_age: time::Duration, capacity: usize) -> Result<Self, Error> {
        if max_age < time::Duration::ZERO
            || max_age > Self::MAX_AGE
            || max_age.subsec_nanoseconds() != 0
        {
            return Err(Error::Config(
                "introspection cache: max_age must be whole seconds between 0 and 1 hour",
            ));
        }
        if !(1..=Self::MAX_CAPACITY).contains(&capacity) {
            return Err(Error::Config(
                "introspection cache: capacity must be between 1 and 2^20",
            ));
        }
        Ok(Self {
            max_age: max_age.whole_seconds(),
            capacity,
            clock: Arc::new(SystemClock),
            state: Mutex::default(),
        })
    }

    /// The same cache reading `clock` (tests, or the application's clock).
    #[must_use]
    pub fn with_clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Plain data: a panic elsewhere leaves at worst a stale eviction order.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached answer for `token`, if one is younger than `max_age` and its token not
    /// expired.
    #[must_use]
    pub fn get(&self, token: &str) -> Option<Arc<IntrospectionResponse>> {
        let k = key(token);
        let now = self.clock.now_unix();
        let mut s = self.state();
        match s.map.get(&k) {
            Some(e) if now < e.until => Some(Arc::clone(&e.answer)),
            Some(_) => {
                s.map.remove(&k);
                None
            }
            None => None,
        }
    }

    /// Remember `answer` for `token`: only an active answer with an `exp`, until
    /// `min(now + max_age, exp)`. Returns the answer, shared.
    pub fn insert(&self, token: &str, answer: IntrospectionResponse) -> Arc<IntrospectionResponse> {
        let now = self.clock.now_unix();
        let answer = Arc::new(answer);
        let until = match answer.exp {
            Some(exp) if answer.active => exp.min(now.saturating_add(self.max_age)),
            _ => return answer,
        };
        if until <= now {
            return answer;
        }
        let k = key(token);
        let mut s = self.state();
        let entry = Entry {
            answer: Arc::clone(&answer),
            until,
        };
        if s.map.insert(k, entry).is_none() {
            s.order.push_back(k);
        }
        while s.map.len() > self.capacity {
            match s.order.pop_front() {
                Some(old) => {
                    s.map.remove(&old);
                }
                None => break,
            }
        }
        if s.order.len() > self.capacity.saturating_mul(2) {
            let State { map, order } = &mut *s;
            let mut seen = std::collections::HashSet::with_capacity(map.len());
            order.retain(|k| map.contains_key(k) && seen.insert(*k));
        }
        answer
    }

    /// Forget `token` (the application learned it is revoked).
    pub fn remove(&self, token: &str) {
        self.state().map.remove(&key(token));
    }

    /// The cached answer, or `introspect(token)`'s, remembered.
    pub async fn get_or_introspect<F, Fut, E>(
        &self,
        token: &str,
        introspect: F,
    ) -> Result<Arc<IntrospectionResponse>, E>
    where
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = Result<IntrospectionResponse, E>>,
    {
        if let Some(hit) = self.get(token) {
            return Ok(hit);
        }
        let answer = introspect(token.to_owned()).await?;
        Ok(self.insert(token, answer))
    }

    /// How many answers are held (expired ones included until met).
    #[must_use]
    pub fn len(&self) -> usize {
        self.state().map.len()
    }

    /// Whether it holds nothing.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn active(exp: i64) -> IntrospectionResponse {
        let mut r = IntrospectionResponse::inactive();
        r.active = true;
        r.exp = Some(exp);
        r
    }

    #[test]
    fn bounded_by_max_age_exp_and_capacity() {
        let clock = ManualClock::new(1000);
        let c = IntrospectionCache::new(time::Duration::seconds(30), 3)
            .unwrap()
            .with_clock(clock.clone());
        c.insert("a", active(1020));
        c.insert("b", active(5000));
        c.insert("inactive", IntrospectionResponse::inactive());
        let mut no_exp = active(0);
        no_exp.exp = None;
        c.insert("no-exp", no_exp);
        c.insert("expired", active(1000));
        assert_eq!(c.len(), 2);
        clock.set(1019);
        assert!(c.get("a").is_some() && c.get("b").is_some());
        clock.set(1020);
        assert!(c.get("a").is_none(), "never past the token's exp");
        assert!(c.get("b").is_some());
        clock.set(1030);
        assert!(c.get("b").is_none(), "never past max_age");
        for i in 0..10 {
            c.insert(&format!("t{i}"), active(9999));
        }
        assert_eq!(c.len(), 3);
        assert!(
            c.get("t9").is_some() && c.get("t6").is_none(),
            "oldest evicted"
        );
        for _ in 0..100 {
            c.insert("t9", active(9999));
        }
        assert!(c.state().order.len() <= 6, "the order stays bounded");
        c.remove("t9");
        assert!(c.get("t9").is_none());
        assert!(IntrospectionCache::new(time::Duration::hours(2), 3).is_err());
        assert!(IntrospectionCache::new(time::Duration::milliseconds(1500), 3).is_err());
        assert!(IntrospectionCache::new(time::Duration::seconds(1), 0).is_err());
    }

    #[test]
    fn keyed_by_a_hash_never_the_token() {
        let c = IntrospectionCache::new(time::Duration::seconds(30), 3)
            .unwrap()
            .with_clock(ManualClock::new(1000));
        let token = "at_secret-token-text";
        c.insert(token, active(2000));
        let s = c.state();
        let k = s.map.keys().next().copied().unwrap();
        assert_eq!(k, key(token));
        assert!(!k.windows(6).any(|w| w == b"secret"));
        drop(s);
        assert!(!format!("{c:?}").contains("secret"));
    }
}
