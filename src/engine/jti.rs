//! Access-token ids (`jti`): derived for tokens of a session, without a system call; 16 bytes
//! from the OS generator for tokens without one.
//!
//! A token of a session (every token a refresh mints, and those issued with a refresh token)
//! gets the first 16 bytes of SHA-256 over a 128-bit secret the engine draws from the OS once,
//! when it is built, a per-engine counter, a reading of the wall clock in nanoseconds and the
//! session (family) id: 48 bytes, one SHA-256 block. With a fixed-length input behind a secret
//! prefix and a truncated output, SHA-256 is a keyed pseudo-random function here (no length
//! extension applies); HMAC would cost a second compression for nothing.
//!
//! - Within one engine the counter never repeats (2^64 tokens), so neither does the input;
//!   the truncated hashes of distinct inputs collide only as random 128-bit values do.
//! - Two engines draw different secrets: their ids collide with probability 2^-128 per pair,
//!   as two random ids would.
//! - A process copied together with its engine (a `fork` without `exec`, a virtual machine
//!   snapshot restored twice) shares the secret and the counter, which the OS generator, reseeded
//!   by the kernel on a snapshot restore, would not. Its copies repeat an id only if they mint
//!   a token of the same session with the same counter value at the same reading of the wall
//!   clock (nanoseconds on Linux, coarser on some systems) — one refresh token presented to
//!   both copies, one rotating and the other answering the retry in the grace window — and the
//!   two tokens are then of one session: same subject, client and grant, revoked together.
//!
//! A token without a session (client credentials, token exchange, `issue` without a refresh
//! token) has nothing that would keep two copies' ids apart but the clock, so it keeps 16
//! bytes from the OS generator, as every `jti` had before: one `getrandom` system call, 0.68 µs
//! on the virtual machine the benches run on. Nothing reads a `jti` as a secret: it names the
//! token (revocation lists, replay caches, logs); the secret keeps it unpredictable and
//! unlinkable all the same.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use zeroize::Zeroizing;

use crate::crypto::{digest, fill_random};
use crate::error::Error;
use crate::opaque::FamilyId;

/// Where an engine's `jti`s come from. Its `Debug` shows nothing of the secret.
pub(crate) struct JtiSource {
    secret: Zeroizing<[u8; 16]>,
    counter: AtomicU64,
}

impl core::fmt::Debug for JtiSource {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("JtiSource").finish_non_exhaustive()
    }
}

impl JtiSource {
    /// A source with a fresh secret from the OS generator.
    pub(crate) fn new() -> Result<Self, Error> {
        let mut secret = Zeroizing::new([0u8; 16]);
        fill_random(&mut secret[..])?;
        Ok(Self {
            secret,
            counter: AtomicU64::new(0),
        })
    }

    /// The next id for a token of `family`, or a random one for a token without a session.
    pub(crate) fn next(&self, family: Option<FamilyId>) -> Result<[u8; 16], Error> {
        let Some(family) = family else {
            let mut jti = [0u8; 16];
            fill_random(&mut jti)?;
            return Ok(jti);
        };
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        self.derive(family, nanos)
    }

    fn derive(&self, family: FamilyId, nanos: u64) -> Result<[u8; 16], Error> {
        let count = self.counter.fetch_add(1, Ordering::Relaxed);
        // secret (16) | counter (8) | nanoseconds (8) | family (16), the secret copied only
        // into this zeroized buffer.
        let mut input = crate::wipe::Wiped::<48>::zeroed();
        let (secret, rest) = input.split_at_mut(16);
        secret.copy_from_slice(&self.secret[..]);
        let (numbers, id) = rest.split_at_mut(16);
        let (c, n) = numbers.split_at_mut(8);
        c.copy_from_slice(&count.to_be_bytes());
        n.copy_from_slice(&nanos.to_be_bytes());
        id.copy_from_slice(family.as_bytes());
        let hash = digest::digest(&digest::SHA256, &input[..]);
        hash.as_ref()
            .first_chunk::<16>()
            .copied()
            .ok_or(Error::Crypto("SHA-256 shorter than 16 bytes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn fam(b: u8) -> FamilyId {
        FamilyId::from_bytes([b; 16])
    }

    #[test]
    fn ids_differ_within_one_source_at_one_instant_and_one_family() {
        let s = JtiSource::new().unwrap();
        let ids: HashSet<[u8; 16]> = (0..10_000).map(|_| s.derive(fam(4), 7).unwrap()).collect();
        assert_eq!(ids.len(), 10_000, "the counter alone keeps them apart");
    }

    #[test]
    fn two_sources_differ_by_their_secrets() {
        let (a, b) = (JtiSource::new().unwrap(), JtiSource::new().unwrap());
        assert_ne!(a.derive(fam(1), 7).unwrap(), b.derive(fam(1), 7).unwrap());
    }

    /// A copied process (same secret, same counter) still differs by the clock or the session;
    /// a token without a session does not depend on the copied state at all.
    #[test]
    fn a_copied_source_differs_by_the_clock_or_the_session() {
        let a = JtiSource::new().unwrap();
        let copy = || JtiSource {
            secret: a.secret.clone(),
            counter: AtomicU64::new(a.counter.load(Ordering::Relaxed)),
        };
        let id = |f, nanos| copy().derive(fam(f), nanos).unwrap();
        assert_eq!(id(1, 7), id(1, 7));
        assert_ne!(id(1, 7), id(1, 8));
        assert_ne!(id(1, 7), id(2, 7));
        assert_ne!(copy().next(None).unwrap(), copy().next(None).unwrap());
        assert_eq!(format!("{a:?}"), "JtiSource { .. }");
    }
}
