//! The verified-token cache: repeated presentations of the same asymmetrically signed token
//! skip the header parse and the signature check (as Envoy's JWT filter does).
//!
//! Safety rules:
//! - Only tokens that passed *everything* (signature, header, claims, time window) are
//!   stored; failures are never cached, so a bad token can never be served from it.
//! - A hit is an exact byte match of the whole token (the hash only picks the slot).
//! - Every hit re-runs the claim validation against the clock (on the payload it parses
//!   again, or on the claims [`Verifier::verify_shared`](crate::Verifier::verify_shared)
//!   kept): an entry never outlives its token's `exp`, `nbf` still applies.
//! - Entries remember the key-set generation they were verified under: replacing, rotating
//!   or retiring keys invalidates them all.
//! - Bounded: a fixed number of entries (FIFO eviction per shard), and only tokens up to
//!   [`MAX_CACHED_TOKEN`] bytes, so memory stays under about `capacity × 2 × 2 KiB`, plus,
//!   for the entries `verify_shared` has read, one set of the claims it returned.

use std::any::Any;
use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Longest token the cache stores (longer ones are verified every time).
pub const MAX_CACHED_TOKEN: usize = 2048;
/// Largest capacity accepted.
pub const MAX_CACHE_CAPACITY: usize = 1 << 20;
const SHARDS: usize = 16;

struct Entry {
    token: Box<[u8]>,
    payload: Arc<[u8]>,
    generation: u64,
    /// The claims `verify_shared` parsed from `payload` (of the type it was last asked for).
    shared: Option<Arc<dyn Any + Send + Sync>>,
}

/// A hit: the claims kept as `V` when there are some, else the payload to parse.
pub(crate) enum Hit<V> {
    Shared(Arc<V>),
    Payload(Arc<[u8]>),
}

#[derive(Default)]
struct Shard {
    map: HashMap<u64, Entry>,
    order: VecDeque<u64>,
}

/// A bounded, sharded map from token to its verified, decoded payload.
pub(crate) struct TokenCache {
    shards: Box<[Mutex<Shard>]>,
    per_shard: usize,
    /// The random seed of [`TokenCache::hash`], one per cache.
    seed: u64,
}

impl core::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TokenCache")
            .field("capacity", &(self.per_shard * SHARDS))
            .finish_non_exhaustive()
    }
}

fn lock(m: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    // A poisoned shard only means a panic elsewhere mid-operation on plain data: the worst
    // case is a stale eviction order, never a wrong entry (entries are checked on hit).
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl TokenCache {
    /// A cache of about `capacity` entries (rounded up to a multiple of the shard count).
    pub(crate) fn new(capacity: usize) -> Self {
        let per_shard = capacity.clamp(1, MAX_CACHE_CAPACITY).div_ceil(SHARDS);
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            per_shard,
            seed: RandomState::new().hash_one(0x746f_6b65_6e73_u64),
        }
    }

    fn shard(&self, hash: u64) -> Option<&Mutex<Shard>> {
        self.shards.get((hash as usize) % SHARDS)
    }

    /// The hash that locates `token`: four independent multiply-rotate lanes over its bytes,
    /// eight at a time, seeded at random per cache (so a slot cannot be aimed at from the token
    /// alone): about a seventh of SipHash's instructions on a 529-byte token (callgrind). It
    /// is not a cryptographic hash and need not be: a hit needs the whole token to match byte
    /// for byte, and only tokens that verified are ever inserted.
    #[inline]
    pub(crate) fn hash(&self, token: &str) -> u64 {
        const K: u64 = 0x9e37_79b9_7f4a_7c15;
        let word = |b: &[u8]| {
            let mut w = [0u8; 8];
            for (d, s) in w.iter_mut().zip(b) {
                *d = *s;
            }
            u64::from_le_bytes(w)
        };
        let bytes = token.as_bytes();
        let mut lanes = [
            self.seed,
            self.seed.rotate_left(16) ^ K,
            self.seed.rotate_left(32).wrapping_add(K),
            !self.seed ^ (bytes.len() as u64),
        ];
        let mut blocks = bytes.chunks_exact(32);
        for block in &mut blocks {
            for (lane, w) in lanes.iter_mut().zip(block.chunks_exact(8)) {
                *lane = (*lane ^ word(w)).wrapping_mul(K).rotate_left(29);
            }
        }
        for (lane, w) in lanes.iter_mut().zip(blocks.remainder().chunks(8)) {
            *lane = (*lane ^ word(w)).wrapping_mul(K).rotate_left(29);
        }
        let [a, b, c, d] = lanes;
        let h =
            (a ^ b.rotate_left(17) ^ c.rotate_left(31) ^ d.rotate_left(47) ^ bytes.len() as u64)
                .wrapping_mul(K);
        h ^ (h >> 32)
    }

    /// The cached payload of exactly `token`, verified under key generation `generation`.
    #[inline]
    pub(crate) fn get(&self, hash: u64, token: &str, generation: u64) -> Option<Arc<[u8]>> {
        let shard = lock(self.shard(hash)?);
        let e = shard.map.get(&hash)?;
        (e.generation == generation && *e.token == *token.as_bytes())
            .then(|| Arc::clone(&e.payload))
    }

    /// Like [`TokenCache::get`], but the claims kept as `V` by [`TokenCache::share`] when
    /// there are some: a hit without a parse.
    #[inline]
    pub(crate) fn get_shared<V: Any + Send + Sync>(
        &self,
        hash: u64,
        token: &str,
        generation: u64,
    ) -> Option<Hit<V>> {
        let shard = lock(self.shard(hash)?);
        let e = shard.map.get(&hash)?;
        if e.generation != generation || *e.token != *token.as_bytes() {
            return None;
        }
        Some(
            match e.shared.as_ref().map(|v| Arc::clone(v).downcast::<V>()) {
                Some(Ok(v)) => Hit::Shared(v),
                _ => Hit::Payload(Arc::clone(&e.payload)),
            },
        )
    }

    /// Keep `value` (the claims parsed from the payload of exactly `token`) in its entry,
    /// if the entry is still there under key generation `generation`.
    pub(crate) fn share(
        &self,
        hash: u64,
        token: &str,
        generation: u64,
        value: Arc<dyn Any + Send + Sync>,
    ) {
        let Some(m) = self.shard(hash) else { return };
        let mut shard = lock(m);
        let old = match shard.map.get_mut(&hash) {
            Some(e) if e.generation == generation && *e.token == *token.as_bytes() => {
                e.shared.replace(value)
            }
            _ => Some(value),
        };
        // Claims of the application's type are dropped after the lock is released: their
        // `Drop` is the application's code.
        drop(shard);
        drop(old);
    }

    /// Forget `token` (its cached payload failed validation, e.g. it expired).
    pub(crate) fn remove(&self, hash: u64, token: &str) {
        if let Some(m) = self.shard(hash) {
            let mut shard = lock(m);
            if shard
                .map
                .get(&hash)
                .is_some_and(|e| *e.token == *token.as_bytes())
            {
                let removed = shard.map.remove(&hash);
                shard.order.retain(|h| *h != hash);
                drop(shard);
                drop(removed);
            }
        }
    }

    /// Remember a token that passed every check.
    pub(crate) fn insert(&self, hash: u64, token: &str, payload: &[u8], generation: u64) {
        if token.len() > MAX_CACHED_TOKEN {
            return;
        }
        let Some(m) = self.shard(hash) else { return };
        let entry = Entry {
            token: token.as_bytes().into(),
            payload: payload.into(),
            generation,
            shared: None,
        };
        let mut shard = lock(m);
        // Entries leaving the cache are dropped after the lock is released (the claims
        // `verify_shared` kept are the application's type, their `Drop` its code).
        let mut gone = Vec::new();
        if let Some(replaced) = shard.map.remove(&hash) {
            // Same slot: replace (a colliding different token simply takes the slot over).
            shard.order.retain(|h| *h != hash);
            gone.push(replaced);
        }
        while shard.map.len() >= self.per_shard {
            match shard.order.pop_front() {
                Some(old) => gone.extend(shard.map.remove(&old)),
                None => break,
            }
        }
        shard.map.insert(hash, entry);
        shard.order.push_back(hash);
        drop(shard);
        drop(gone);
    }

    /// Number of cached entries.
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).map.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_tells_near_tokens_apart_and_spreads_them() {
        let c = TokenCache::new(16);
        let base: Vec<u8> = (0..97u8).map(|i| b'A' + i % 26).collect();
        let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
        let h0 = c.hash(&text(&base));
        for at in 0..base.len() {
            let mut t = base.clone();
            t[at] ^= 0x01;
            assert_ne!(c.hash(&text(&t)), h0, "flipped at {at}");
        }
        // Tokens that differ in a few characters spread over every shard.
        let mut shards = [0usize; SHARDS];
        for n in 0..2000 {
            let t = format!("eyJhbGciOiJFUzI1NiJ9.{n:08}.sig");
            shards[(c.hash(&t) as usize) % SHARDS] += 1;
        }
        assert!(shards.iter().all(|&k| k > 60), "{shards:?}");
        // Seeded per cache.
        assert_ne!(
            TokenCache::new(16).hash("a.b.c"),
            TokenCache::new(16).hash("a.b.c")
        );
    }

    #[test]
    fn exact_match_generation_and_bounds() {
        let c = TokenCache::new(32);
        let h = c.hash("a.b.c");
        c.insert(h, "a.b.c", b"{}", 1);
        assert_eq!(c.get(h, "a.b.c", 1).as_deref(), Some(&b"{}"[..]));
        assert_eq!(c.get(h, "a.b.c", 2), None, "another key generation");
        assert_eq!(c.get(h, "a.b.d", 1), None, "same slot, other token");
        // Claims kept for `verify_shared`: found as their own type only, only for this token
        // and key generation, and gone with a new insert.
        assert!(matches!(
            c.get_shared::<u32>(h, "a.b.c", 1),
            Some(Hit::Payload(_))
        ));
        c.share(h, "a.b.c", 1, Arc::new(7u32));
        c.share(h, "a.b.c", 2, Arc::new(8u32));
        c.share(h, "a.b.d", 1, Arc::new(9u32));
        assert!(matches!(c.get_shared::<u32>(h, "a.b.c", 1), Some(Hit::Shared(v)) if *v == 7));
        assert!(matches!(
            c.get_shared::<u64>(h, "a.b.c", 1),
            Some(Hit::Payload(_))
        ));
        assert!(c.get_shared::<u32>(h, "a.b.c", 2).is_none());
        assert!(c.get_shared::<u32>(h, "a.b.d", 1).is_none());
        c.insert(h, "a.b.c", b"{}", 1);
        assert!(matches!(
            c.get_shared::<u32>(h, "a.b.c", 1),
            Some(Hit::Payload(_))
        ));
        c.remove(h, "a.b.c");
        assert_eq!(c.get(h, "a.b.c", 1), None);
        for i in 0..1000 {
            let t = format!("t{i}");
            c.insert(c.hash(&t), &t, b"{}", 1);
        }
        assert!(c.len() <= 32, "{}", c.len());
        let long = "x".repeat(MAX_CACHED_TOKEN + 1);
        c.insert(c.hash(&long), &long, b"{}", 1);
        assert_eq!(c.get(c.hash(&long), &long, 1), None);
    }
}
