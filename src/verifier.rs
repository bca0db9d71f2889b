//! The access-token verification hot path.
//!
//! Order of work, cheapest rejection first: length; split; header decode into a stack buffer
//! and one borrowed parse; `alg`/`crit`/embedded-key/`typ` checks; key selection by `kid`;
//! signature over the undecoded `header.payload` bytes; only then the payload is decoded and
//! parsed, once, into typed claims; then the time window, issuer, audience and required
//! claims. No I/O, no second JSON pass.

use std::sync::{Arc, PoisonError, RwLock};

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::cache::TokenCache;
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, KeyError};
use crate::event::{Event, EventSink};
use crate::jose::{
    AccessTokenClaims, Jwks, JwksOptions, NoCustomClaims, SignatureOk, Validation, VerifyingKey,
    b64_decode_into, b64_decode_room, b64_decode_vec, parse_claims, payload_error,
    verify_signature,
};
use crate::opaque::FamilyId;

/// The verification keys, replaceable at runtime. Readers clone an `Arc` under a read lock
/// held for a few nanoseconds, so a key update never waits for a verification in flight and
/// a verification never waits for more than the pointer swap. Every change bumps the
/// generation, which invalidates the verified-token cache.
#[derive(Debug)]
pub(crate) struct KeyCell {
    snapshot: RwLock<Snapshot>,
}

#[derive(Debug)]
struct Snapshot {
    keys: Arc<Vec<VerifyingKey>>,
    generation: u64,
}

impl KeyCell {
    pub(crate) fn new(keys: Vec<VerifyingKey>) -> Self {
        Self {
            snapshot: RwLock::new(Snapshot {
                keys: Arc::new(keys),
                generation: 0,
            }),
        }
    }

    #[inline]
    pub(crate) fn load(&self) -> Arc<Vec<VerifyingKey>> {
        Arc::clone(
            &self
                .snapshot
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .keys,
        )
    }

    /// The keys and the generation they belong to, read together.
    #[inline]
    fn load_with_generation(&self) -> (Arc<Vec<VerifyingKey>>, u64) {
        let s = self.snapshot.read().unwrap_or_else(PoisonError::into_inner);
        (Arc::clone(&s.keys), s.generation)
    }

    #[inline]
    fn generation(&self) -> u64 {
        self.snapshot
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .generation
    }

    pub(crate) fn store(&self, keys: Vec<VerifyingKey>) {
        let mut s = self
            .snapshot
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        s.keys = Arc::new(keys);
        s.generation = s.generation.wrapping_add(1);
    }

    /// Copy-on-write update; the new list is published only if `f` succeeds.
    pub(crate) fn update<R>(
        &self,
        f: impl FnOnce(&mut Vec<VerifyingKey>) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let mut s = self
            .snapshot
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let mut next = Vec::clone(&s.keys);
        let r = f(&mut next)?;
        s.keys = Arc::new(next);
        s.generation = s.generation.wrapping_add(1);
        Ok(r)
    }
}

fn check_distinct_kids(keys: &[VerifyingKey]) -> Result<(), KeyError> {
    for (i, k) in keys.iter().enumerate() {
        if k.kid().is_some() && keys.iter().skip(i + 1).any(|o| o.kid() == k.kid()) {
            return Err(KeyError::DuplicateKeyId);
        }
    }
    Ok(())
}

/// Verifies access tokens: sync, no I/O, `Send + Sync`, cheap to clone (clones share keys).
///
/// Build it from the issuer's [`KeySet`](crate::KeySet) ([`KeySet::verifier`](crate::KeySet::verifier)),
/// from verification keys ([`Verifier::new`]) or from a JWKS document
/// ([`Verifier::from_jwks`]); replace its keys at runtime with [`Verifier::replace_jwks`].
#[derive(Clone, Debug)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    keys: Arc<KeyCell>,
    rules: Validation,
    clock: Arc<dyn Clock>,
    events: Option<Arc<dyn EventSink>>,
    cache: Option<Arc<TokenCache>>,
}

impl core::fmt::Debug for Inner {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Verifier")
            .field("keys", &self.keys)
            .field("rules", &self.rules)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

/// A cache lookup: where the token goes, and its payload on a hit.
struct Lookup<'c> {
    cache: &'c TokenCache,
    hash: u64,
    hit: Option<Arc<[u8]>>,
}

/// Decoded payloads up to this size stay on the stack in [`Verifier::verify`].
const STACK_PAYLOAD: usize = 1024;

impl Verifier {
    pub(crate) fn with_cell(keys: Arc<KeyCell>, rules: Validation) -> Result<Self, Error> {
        rules.check()?;
        Ok(Self {
            inner: Arc::new(Inner {
                keys,
                rules,
                clock: Arc::new(SystemClock),
                events: None,
                cache: None,
            }),
        })
    }

    /// A verifier over these keys. Their `kid`s must be distinct
    /// ([`KeyError::DuplicateKeyId`]): a `kid` must name one key.
    ///
    /// A token's `kid` is a hint (RFC 7515 §4.1.4): when no key has it, the keys without a
    /// `kid` that are bound to the token's `alg` are tried, if there are at most four (a key
    /// with another `kid` never is). So a key loaded from SPKI, PEM or raw bytes verifies the
    /// tokens of a [`KeySet`](crate::KeySet), which name their key.
    pub fn new(keys: Vec<VerifyingKey>, rules: Validation) -> Result<Self, Error> {
        check_distinct_kids(&keys)?;
        Self::with_cell(Arc::new(KeyCell::new(keys)), rules)
    }

    /// A verifier over the usable keys of a JWKS document (see [`Jwks::parse`] for the rules;
    /// skipped keys are reported by [`Verifier::replace_jwks`]). Fails if no key is usable.
    pub fn from_jwks(json: &str, rules: Validation) -> Result<Self, Error> {
        let jwks = Jwks::parse(json, &JwksOptions::default())?;
        if jwks.keys.is_empty() {
            return Err(KeyError::UnsupportedKey.into());
        }
        Self::new(jwks.keys, rules)
    }

    /// The same verifier reading time from `clock` (tests, simulations).
    #[must_use]
    pub fn with_clock(self, clock: impl Clock + 'static) -> Self {
        self.with_shared_clock(Arc::new(clock))
    }

    fn rebuild(&self, f: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = Inner {
            keys: Arc::clone(&self.inner.keys),
            rules: self.inner.rules.clone(),
            clock: Arc::clone(&self.inner.clock),
            events: self.inner.events.clone(),
            cache: self.inner.cache.clone(),
        };
        f(&mut inner);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The same verifier reading time from a shared clock.
    #[must_use]
    pub fn with_shared_clock(self, clock: Arc<dyn Clock>) -> Self {
        self.rebuild(|i| i.clock = clock)
    }

    /// The same verifier reporting failures ([`Event::VerificationFailed`]) to `sink`.
    #[must_use]
    pub fn with_events(self, sink: Arc<dyn EventSink>) -> Self {
        self.rebuild(|i| i.events = Some(sink))
    }

    /// The same verifier with a verified-token cache of about `capacity` entries (at most
    /// 2^20): repeated presentations of the same asymmetrically signed token skip the header
    /// and signature checks; the claims are still parsed and validated against the clock on
    /// every hit. Failures are never cached; key changes invalidate every entry; only tokens
    /// up to 2 KiB are cached, so memory stays under about `capacity × 4 KiB`. Off by default.
    #[must_use]
    pub fn with_cache(self, capacity: usize) -> Self {
        self.rebuild(|i| i.cache = Some(Arc::new(TokenCache::new(capacity))))
    }

    /// The verifier's current time (its clock).
    pub(crate) fn now(&self) -> i64 {
        self.inner.clock.now_unix()
    }

    /// Number of tokens in the verified-token cache (0 without one).
    #[must_use]
    pub fn cached_tokens(&self) -> usize {
        self.inner.cache.as_ref().map_or(0, |c| c.len())
    }

    /// Report a failure to the event sink, if any. Off the hot path.
    #[cold]
    pub(crate) fn report(&self, e: Error) -> Error {
        if let (Some(sink), Error::InvalidToken(reason)) = (&self.inner.events, &e) {
            sink.record(&Event::VerificationFailed { reason: *reason });
        }
        e
    }

    /// Replace the keys (distinct `kid`s, as for [`Verifier::new`]). Verifications already
    /// running finish with the keys they started with; the next one uses the new keys.
    pub fn replace_keys(&self, keys: Vec<VerifyingKey>) -> Result<(), Error> {
        check_distinct_kids(&keys)?;
        self.inner.keys.store(keys);
        Ok(())
    }

    /// Replace the keys with the usable keys of a JWKS document (a resource server picking up
    /// the authorization server's rotation). On error the current keys stay. Returns the
    /// import report.
    pub fn replace_jwks(&self, json: &str, options: &JwksOptions) -> Result<Jwks, Error> {
        let jwks = Jwks::parse(json, options)?;
        if jwks.keys.is_empty() {
            return Err(KeyError::UnsupportedKey.into());
        }
        self.inner.keys.store(jwks.keys.clone());
        Ok(jwks)
    }

    /// The validation rules.
    #[must_use]
    pub fn rules(&self) -> &Validation {
        &self.inner.rules
    }

    /// The current keys.
    #[must_use]
    pub fn keys(&self) -> Arc<Vec<VerifyingKey>> {
        self.inner.keys.load()
    }

    /// Check the signature and header; return the base64url payload.
    #[inline]
    fn check<'t>(&self, token: &'t str) -> Result<(SignatureOk<'t>, u64), Error> {
        let rules = &self.inner.rules;
        if token.len() > rules.max_len() {
            return Err(crate::TokenError::TooLong.into());
        }
        let (keys, generation) = self.inner.keys.load_with_generation();
        Ok((
            verify_signature(token, &keys, |typ| rules.check_typ(typ))?,
            generation,
        ))
    }

    /// The cache, the token's slot hash and, on a hit, the verified payload of exactly this
    /// token under the current keys. `None` without a cache or for uncacheable tokens.
    #[inline]
    fn cached(&self, token: &str) -> Option<Lookup<'_>> {
        let cache = self.inner.cache.as_deref()?;
        if token.len() > crate::cache::MAX_CACHED_TOKEN {
            return None;
        }
        let hash = cache.hash(token);
        let hit = cache.get(hash, token, self.inner.keys.generation());
        Some(Lookup { cache, hash, hit })
    }

    #[inline]
    fn claims<'b, T: Deserialize<'b>>(
        &self,
        payload: &'b [u8],
    ) -> Result<AccessTokenClaims<'b, T>, Error> {
        let claims = parse_claims::<T>(payload)?;
        self.inner
            .rules
            .check_claims(&claims, self.inner.clock.now_unix())?;
        Ok(claims)
    }

    /// Verify an access token and return its registered claims (custom claims ignored).
    pub fn verify(&self, token: &str) -> Result<AccessTokenClaims<'static>, Error> {
        self.verify_as::<NoCustomClaims>(token)
    }

    /// Verify an access token and return its claims with the application's claims as `T`.
    pub fn verify_as<T: DeserializeOwned>(
        &self,
        token: &str,
    ) -> Result<AccessTokenClaims<'static, T>, Error> {
        self.verify_as_inner(token).map_err(|e| self.report(e))
    }

    /// Check signature, header, issuer and audience but not the time window; return the
    /// `sid`. For revocation (RFC 7009 allows revoking expired tokens).
    pub(crate) fn verify_ignoring_expiry(&self, token: &str) -> Result<Option<FamilyId>, Error> {
        let payload_b64 = self.check(token)?.0.payload;
        let mut buf = Vec::new();
        b64_decode_vec(payload_b64, &mut buf).map_err(|e| payload_error(payload_b64, e))?;
        let mut claims = parse_claims::<NoCustomClaims>(&buf)?;
        (claims.exp, claims.nbf, claims.iat) = (None, None, None);
        let rules = self.inner.rules.clone().required(&[]);
        rules.check_claims(&claims, self.inner.clock.now_unix())?;
        Ok(claims.sid.as_deref().and_then(FamilyId::parse))
    }

    fn verify_as_inner<T: DeserializeOwned>(
        &self,
        token: &str,
    ) -> Result<AccessTokenClaims<'static, T>, Error> {
        let cached = self.cached(token);
        if let Some(Lookup {
            cache,
            hash,
            hit: Some(payload),
        }) = &cached
        {
            return match self.claims::<T>(payload) {
                Ok(c) => Ok(c.into_owned()),
                Err(e) => {
                    cache.remove(*hash, token);
                    Err(e)
                }
            };
        }
        let (ok, generation) = self.check(token)?;
        let payload_b64 = ok.payload;
        let mut stack = [0u8; STACK_PAYLOAD];
        let mut heap = Vec::new();
        let payload = if b64_decode_room(payload_b64.len()) <= STACK_PAYLOAD {
            b64_decode_into(payload_b64, &mut stack).map_err(|e| payload_error(payload_b64, e))?
        } else {
            b64_decode_vec(payload_b64, &mut heap).map_err(|e| payload_error(payload_b64, e))?;
            &heap[..]
        };
        let claims = self.claims::<T>(payload)?.into_owned();
        if let (
            Some(Lookup {
                cache,
                hash,
                hit: None,
            }),
            true,
        ) = (cached, ok.asymmetric)
        {
            cache.insert(hash, token, payload, generation);
        }
        Ok(claims)
    }

    /// Verify an access token, decoding its payload into `buf` (reused across calls: after
    /// the first call no allocation is needed) and returning claims that borrow from it.
    pub fn verify_borrowed<'b, T: Deserialize<'b>>(
        &self,
        token: &str,
        buf: &'b mut Vec<u8>,
    ) -> Result<AccessTokenClaims<'b, T>, Error> {
        let cached = self.cached(token);
        let fresh = match &cached {
            Some(Lookup {
                hit: Some(payload), ..
            }) => {
                buf.clear();
                buf.extend_from_slice(payload);
                None
            }
            _ => match self.check(token) {
                Ok((ok, generation)) => {
                    if let Err(e) = b64_decode_vec(ok.payload, buf) {
                        return Err(self.report(payload_error(ok.payload, e).into()));
                    }
                    Some((ok.asymmetric, generation))
                }
                Err(e) => return Err(self.report(e)),
            },
        };
        let payload: &'b [u8] = buf;
        let claims = self.claims::<T>(payload);
        if let Some(Lookup { cache, hash, hit }) = &cached {
            match (&claims, hit, fresh) {
                (Err(_), Some(_), _) => cache.remove(*hash, token),
                (Ok(_), None, Some((true, generation))) => {
                    cache.insert(*hash, token, payload, generation)
                }
                _ => {}
            }
        }
        claims.map_err(|e| self.report(e))
    }
}
