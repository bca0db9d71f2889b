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

use crate::cache::{Hit, TokenCache};
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, KeyError};
use crate::event::{Event, EventSink};
use crate::jose::{
    AccessTokenClaims, Borrow, HeaderMemo, Jwks, JwksOptions, JwtRules, Keep, NoCustomClaims, Own,
    SignatureOk, SkippedKey, Validation, VerifyingKey, b64_decode_into, b64_decode_room,
    b64_decode_vec, parse_claims, parse_claims_into, payload_error, verify_signature,
};
use crate::opaque::FamilyId;

/// The verification keys, replaceable at runtime. Readers clone an `Arc` under a read lock
/// held for a few nanoseconds, so a key update never waits for a verification in flight and
/// a verification never waits for more than the pointer swap. Every change bumps the
/// generation, which invalidates the verified-token cache, and starts a new [`HeaderMemo`].
#[derive(Debug)]
pub(crate) struct KeyCell {
    snapshot: RwLock<Snapshot>,
}

#[derive(Debug)]
struct Snapshot {
    current: Arc<Keys>,
    generation: u64,
}

/// One set of keys and the foreign headers learned for it.
#[derive(Debug)]
pub(crate) struct Keys {
    pub(crate) keys: Arc<Vec<VerifyingKey>>,
    pub(crate) memo: HeaderMemo,
}

impl Keys {
    fn new(keys: Arc<Vec<VerifyingKey>>) -> Arc<Self> {
        Arc::new(Self {
            memo: HeaderMemo::for_keys(&keys),
            keys,
        })
    }
}

impl KeyCell {
    pub(crate) fn new(keys: Vec<VerifyingKey>) -> Self {
        Self {
            snapshot: RwLock::new(Snapshot {
                current: Keys::new(Arc::new(keys)),
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
                .current
                .keys,
        )
    }

    /// The keys with their memo and the generation they belong to, read together.
    #[inline]
    fn load_with_generation(&self) -> (Arc<Keys>, u64) {
        let s = self.snapshot.read().unwrap_or_else(PoisonError::into_inner);
        (Arc::clone(&s.current), s.generation)
    }

    #[inline]
    pub(crate) fn generation(&self) -> u64 {
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
        s.current = Keys::new(Arc::new(keys));
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
        let mut next = Vec::clone(&s.current.keys);
        let r = f(&mut next)?;
        s.current = Keys::new(Arc::new(next));
        s.generation = s.generation.wrapping_add(1);
        Ok(r)
    }
}

/// `jwks` if it has a usable key; [`Error::NoUsableKey`] with the reasons otherwise.
pub(crate) fn usable(jwks: Jwks) -> Result<Jwks, Error> {
    if jwks.keys.is_empty() {
        Err(Error::NoUsableKey(jwks.skipped))
    } else {
        Ok(jwks)
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

    /// A verifier over the usable keys of a JWK Set document, imported with the default
    /// [`JwksOptions`] (see [`Jwks::parse`] for the rules). Fails if no key is usable
    /// ([`Error::NoUsableKey`], with each key's reason). Keys skipped beside usable ones are
    /// not reported here: use [`Verifier::from_jwks_with`] to see them, or to import RSA keys
    /// without `alg`.
    pub fn from_jwks(json: &str, rules: Validation) -> Result<Self, Error> {
        Self::from_jwks_with(json, rules, &JwksOptions::default()).map(|(v, _)| v)
    }

    /// A verifier over the usable keys of a JWK Set document imported with `options`, and the
    /// keys that were skipped, each with its reason. Fails if no key is usable
    /// ([`Error::NoUsableKey`]).
    ///
    /// ```
    /// use token_engine::{Algorithm, JwksOptions, Validation, Verifier};
    ///
    /// # fn main() -> Result<(), token_engine::Error> {
    /// # let jwks = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"a","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},{"kty":"EC","crv":"P-521","kid":"b"}]}"#;
    /// let options = JwksOptions::new().default_rsa_algorithm(Algorithm::RS256);
    /// let rules = Validation::new("https://auth.example.com", "https://api.example.com");
    /// let (verifier, skipped) = Verifier::from_jwks_with(jwks, rules, &options)?;
    /// for key in &skipped {
    ///     eprintln!("JWKS: skipped {key}"); // key 1 (kid "b"): unsupported curve
    /// }
    /// # assert_eq!(skipped.len(), 1);
    /// # assert_eq!(verifier.keys().len(), 1);
    /// # Ok(()) }
    /// ```
    pub fn from_jwks_with(
        json: &str,
        rules: Validation,
        options: &JwksOptions,
    ) -> Result<(Self, Vec<SkippedKey>), Error> {
        let jwks = usable(Jwks::parse(json, options)?)?;
        Ok((Self::new(jwks.keys, rules)?, jwks.skipped))
    }

    /// Now, Unix seconds, by this verifier's clock: the time its checks use (and what a
    /// route's [`Requirements`](crate::Requirements) should be checked at).
    #[must_use]
    pub fn now_unix(&self) -> i64 {
        self.inner.clock.now_unix()
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
    /// and signature checks; the claims are still validated against the clock on every hit
    /// (parsed again by `verify_as` and `verify_borrowed`; kept and shared by
    /// [`Verifier::verify_shared`], whose hit is a lookup). Failures are never cached; key
    /// changes invalidate every entry; only tokens up to 2 KiB are cached, so memory stays
    /// under about `capacity × 4 KiB`, plus the claims `verify_shared` keeps (one set per
    /// entry it has read). Off by default.
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

    /// Replace the keys with the usable keys of a JWK Set document (a resource server picking
    /// up the authorization server's rotation by hand; a [`JwksSource`](crate::JwksSource)
    /// does it for you). On error the current keys stay: a document with no usable key is
    /// [`Error::NoUsableKey`]. Returns the import report, skipped keys included.
    pub fn replace_jwks(&self, json: &str, options: &JwksOptions) -> Result<Jwks, Error> {
        let jwks = usable(Jwks::parse(json, options)?)?;
        self.inner.keys.store(jwks.keys.clone());
        Ok(jwks)
    }

    /// Replace the keys with an imported set that has at least one key.
    pub(crate) fn store_keys(&self, keys: Vec<VerifyingKey>) {
        self.inner.keys.store(keys);
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

    /// The generation of the current keys: it changes with every key change.
    pub(crate) fn key_generation(&self) -> u64 {
        self.inner.keys.generation()
    }

    /// Split, check the header under `profile`'s `typ` rule, select the key and check the
    /// signature, against the current keys.
    #[inline]
    pub(crate) fn check<'t>(&self, token: &'t str, profile: Profile<'_>) -> Checked<'t> {
        let max_len = match profile {
            Profile::Access => self.inner.rules.max_len(),
            Profile::Jwt(rules) => rules.max_len(),
        };
        if token.len() > max_len {
            return Checked {
                generation: 0,
                result: Err(crate::TokenError::TooLong.into()),
            };
        }
        let (keys, generation) = self.inner.keys.load_with_generation();
        let (list, memo) = (&keys.keys[..], Some(&keys.memo));
        let result = match profile {
            Profile::Access => {
                verify_signature(token, list, memo, |typ| self.inner.rules.check_typ(typ))
            }
            Profile::Jwt(rules) => verify_signature(token, list, memo, |typ| rules.check_typ(typ)),
        };
        Checked {
            generation,
            result: result.map_err(Error::from),
        }
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

    /// Whether the verified-token cache holds this token: its verification needs no key.
    #[inline]
    pub(crate) fn is_cached(&self, token: &str) -> bool {
        self.inner.cache.is_some() && self.cached(token).is_some_and(|l| l.hit.is_some())
    }

    /// The claims of a verified payload, checked against the [`Validation`], written into
    /// `out` (`Some` when this returns `Ok`, `None` when it fails), borrowing from the
    /// payload ([`Borrow`]) or owning their strings ([`Own`]). Written where the caller keeps
    /// them, the claims (a few hundred bytes) are not copied at each level on the way out.
    #[inline]
    fn claims_into<'de, 'o, T: Deserialize<'de>, K: Keep<'de, 'o>>(
        &self,
        payload: &'de [u8],
        out: &mut Option<AccessTokenClaims<'o, T>>,
    ) -> Result<(), Error> {
        parse_claims_into::<T, K>(payload, out)?;
        let checked = match out {
            Some(claims) => self
                .inner
                .rules
                .check_claims(claims, self.inner.clock.now_unix()),
            None => Err(crate::TokenError::Claims),
        };
        checked.map_err(|e| {
            *out = None;
            e.into()
        })
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
        self.verify_as_checked(token, None)
            .map_err(|e| self.report(e))
    }

    /// [`Verifier::verify_as`], returning the claims behind an [`Arc`]: with the
    /// verified-token cache ([`Verifier::with_cache`]), a repeated asymmetrically signed
    /// token is a lookup, with no parse and no copy. The claims parsed the first time are kept
    /// in the token's cache entry and the same `Arc` is returned on every hit, after the
    /// [`Validation`] checks have run again on them against the clock (an expired token is
    /// refused and dropped). An entry keeps the claims of one type `T`: asking for the same
    /// token as another type parses it again and keeps that one. Without a cache, or for a
    /// token the cache does not hold (HMAC, over 2 KiB), this is `verify_as` with its result
    /// moved into an `Arc` (with a cache, after a lookup that misses).
    ///
    /// Because `T` is parsed once per cached token and shared by every request that presents
    /// it, its `Deserialize` should be a pure function of the claims (a check in it that reads
    /// the clock or other state runs on the first presentation only: put such checks after
    /// this call), and it should have no interior mutability (a change one request makes
    /// would be seen by the next).
    pub fn verify_shared<T: DeserializeOwned + Send + Sync + 'static>(
        &self,
        token: &str,
    ) -> Result<Arc<AccessTokenClaims<'static, T>>, Error> {
        self.verify_shared_inner(token).map_err(|e| self.report(e))
    }

    fn verify_shared_inner<T: DeserializeOwned + Send + Sync + 'static>(
        &self,
        token: &str,
    ) -> Result<Arc<AccessTokenClaims<'static, T>>, Error> {
        let Some(cache) = self
            .inner
            .cache
            .as_deref()
            .filter(|_| token.len() <= crate::cache::MAX_CACHED_TOKEN)
        else {
            return self.verify_as_checked::<T>(token, None).map(Arc::new);
        };
        let hash = cache.hash(token);
        let generation = self.inner.keys.generation();
        let claims =
            match cache.get_shared::<AccessTokenClaims<'static, T>>(hash, token, generation) {
                Some(Hit::Shared(claims)) => {
                    return match self.inner.rules.check_claims(&claims, self.now()) {
                        Ok(()) => Ok(claims),
                        Err(e) => {
                            cache.remove(hash, token);
                            Err(e.into())
                        }
                    };
                }
                Some(Hit::Payload(payload)) => {
                    let mut out = None;
                    let parsed = self.claims_into::<T, Own>(&payload, &mut out);
                    match (parsed, out) {
                        (Ok(()), Some(c)) => Arc::new(c),
                        (parsed, _) => {
                            cache.remove(hash, token);
                            return Err(parsed.err().unwrap_or(crate::TokenError::Claims.into()));
                        }
                    }
                }
                // A miss: `verify_as_checked` caches the token if it may be cached.
                None => Arc::new(self.verify_as_checked::<T>(token, None)?),
            };
        cache.share(hash, token, generation, claims.clone());
        Ok(claims)
    }

    /// Check signature, header, issuer and audience but not the time window; return the
    /// `sid`. For revocation (RFC 7009 allows revoking expired tokens).
    pub(crate) fn verify_ignoring_expiry(&self, token: &str) -> Result<Option<FamilyId>, Error> {
        let payload_b64 = self.check(token, Profile::Access).result?.payload;
        let mut buf = Vec::new();
        b64_decode_vec(payload_b64, &mut buf).map_err(|e| payload_error(payload_b64, e))?;
        let mut claims = parse_claims::<NoCustomClaims>(&buf)?;
        (claims.exp, claims.nbf, claims.iat) = (None, None, None);
        let rules = self.inner.rules.clone().required(&[]);
        rules.check_claims(&claims, self.inner.clock.now_unix())?;
        Ok(claims.sid.as_deref().and_then(FamilyId::parse))
    }

    /// [`Verifier::verify_as`] without the failure event; `checked` is the outcome of
    /// `self.check(token, Profile::Access)` when the caller already has it.
    pub(crate) fn verify_as_checked<'t, T: DeserializeOwned>(
        &self,
        token: &'t str,
        checked: Option<Checked<'t>>,
    ) -> Result<AccessTokenClaims<'static, T>, Error> {
        let cached = self.cached(token);
        if let Some(Lookup {
            cache,
            hash,
            hit: Some(payload),
        }) = &cached
        {
            let mut out = None;
            return match self.claims_into::<T, Own>(payload, &mut out) {
                Ok(()) => out.ok_or_else(|| crate::TokenError::Claims.into()),
                Err(e) => {
                    cache.remove(*hash, token);
                    Err(e)
                }
            };
        }
        let checked = checked.unwrap_or_else(|| self.check(token, Profile::Access));
        let ok = checked.result?;
        let mut out = None;
        with_payload(ok.payload, |payload| {
            self.claims_into::<T, Own>(payload, &mut out)?;
            if let (
                Some(Lookup {
                    cache,
                    hash,
                    hit: None,
                }),
                true,
            ) = (cached, ok.asymmetric)
            {
                cache.insert(hash, token, payload, checked.generation);
            }
            Ok(())
        })?;
        out.ok_or_else(|| crate::TokenError::Claims.into())
    }

    /// Verify an access token, decoding its payload into `buf` (reused across calls: after
    /// the first call no allocation is needed) and returning claims that borrow from it.
    pub fn verify_borrowed<'b, T: Deserialize<'b>>(
        &self,
        token: &str,
        buf: &'b mut Vec<u8>,
    ) -> Result<AccessTokenClaims<'b, T>, Error> {
        self.verify_borrowed_checked(token, buf, None)
            .map_err(|e| self.report(e))
    }

    /// [`Verifier::verify_borrowed`] without the failure event; `checked` as for
    /// [`Verifier::verify_as_checked`].
    pub(crate) fn verify_borrowed_checked<'t, 'b, T: Deserialize<'b>>(
        &self,
        token: &'t str,
        buf: &'b mut Vec<u8>,
        checked: Option<Checked<'t>>,
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
            _ => {
                let checked = checked.unwrap_or_else(|| self.check(token, Profile::Access));
                let ok = checked.result?;
                b64_decode_vec(ok.payload, buf).map_err(|e| payload_error(ok.payload, e))?;
                Some((ok.asymmetric, checked.generation))
            }
        };
        let payload: &'b [u8] = buf;
        let mut out = None;
        let claims = self.claims_into::<T, Borrow>(payload, &mut out);
        if let Some(Lookup { cache, hash, hit }) = &cached {
            match (&claims, hit, fresh) {
                (Err(_), Some(_), _) => cache.remove(*hash, token),
                (Ok(_), None, Some((true, generation))) => {
                    cache.insert(*hash, token, payload, generation)
                }
                _ => {}
            }
        }
        claims?;
        out.ok_or_else(|| crate::TokenError::Claims.into())
    }

    /// Verify a signed JWT that is not an access token (an ID token, a signed webhook) with
    /// this verifier's keys and clock, under `rules` instead of the verifier's
    /// [`Validation`]: the JWS rules are the same, the claim checks are the ones `rules`
    /// names. Returns the registered claims it found and the others as `T`.
    ///
    /// ```
    /// use token_engine::jose::sign_compact;
    /// use token_engine::{Algorithm, Claim, JwtRules, KeySet, SigningKey, Validation};
    ///
    /// # fn main() -> Result<(), token_engine::Error> {
    /// #[derive(serde::Deserialize)]
    /// struct IdToken {
    ///     nonce: String,
    /// }
    ///
    /// let keys = KeySet::new(SigningKey::generate(Algorithm::EdDSA)?.0.with_kid("k1"));
    /// let verifier = keys.verifier(Validation::new("https://idp.example.com", "https://api.example.com"))?;
    /// let exp = time::OffsetDateTime::now_utc().unix_timestamp() + 300;
    /// let body = format!(r#"{{"iss":"https://idp.example.com","sub":"u1","aud":"my-client","exp":{exp},"nonce":"n-0S6"}}"#);
    /// let id_token = sign_compact(&keys.signing_key(), Some("JWT"), body.as_bytes())?;
    ///
    /// let rules = JwtRules::new()
    ///     .issuer("https://idp.example.com")
    ///     .audience("my-client")
    ///     .require(&[Claim::Sub, Claim::Exp]);
    /// let claims = verifier.verify_jwt::<IdToken>(&id_token, &rules)?;
    /// assert_eq!(claims.custom.nonce, "n-0S6");
    /// // The same token is not an access token: wrong `typ`, wrong audience.
    /// assert!(verifier.verify(&id_token).is_err());
    /// # Ok(()) }
    /// ```
    pub fn verify_jwt<T: DeserializeOwned>(
        &self,
        token: &str,
        rules: &JwtRules,
    ) -> Result<AccessTokenClaims<'static, T>, Error> {
        self.verify_jwt_checked(token, rules, None)
            .map_err(|e| self.report(e))
    }

    /// [`Verifier::verify_jwt`] without the failure event; `checked` is the outcome of
    /// `self.check(token, Profile::Jwt(rules))` when the caller already has it. The
    /// verified-token cache is not used: it holds tokens checked under the access-token rules.
    pub(crate) fn verify_jwt_checked<'t, T: DeserializeOwned>(
        &self,
        token: &'t str,
        rules: &JwtRules,
        checked: Option<Checked<'t>>,
    ) -> Result<AccessTokenClaims<'static, T>, Error> {
        rules.check()?;
        let checked = checked.unwrap_or_else(|| self.check(token, Profile::Jwt(rules)));
        let ok = checked.result?;
        let mut out = None;
        with_payload(ok.payload, |payload| {
            parse_claims_into::<T, Own>(payload, &mut out)?;
            match &out {
                Some(claims) => Ok(rules.check_claims(claims, self.inner.clock.now_unix())?),
                None => Err(crate::TokenError::Claims.into()),
            }
        })?;
        out.ok_or_else(|| crate::TokenError::Claims.into())
    }
}

/// Which rules a signature check applies: the `typ` rule and the length limit.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Profile<'r> {
    /// The verifier's own [`Validation`].
    Access,
    /// These rules, for [`Verifier::verify_jwt`].
    Jwt(&'r JwtRules),
}

/// The outcome of [`Verifier::check`], with the generation of the keys it ran against (0
/// when it needed none): on [`TokenError::UnknownKeyId`](crate::TokenError::UnknownKeyId) a
/// key source compares it with the current generation to tell whether the keys changed since.
#[derive(Debug)]
pub(crate) struct Checked<'t> {
    pub(crate) generation: u64,
    pub(crate) result: Result<SignatureOk<'t>, Error>,
}

/// Decode a payload segment (on the stack when it is small) and hand it to `f`.
#[inline]
fn with_payload<R>(
    payload_b64: &[u8],
    f: impl FnOnce(&[u8]) -> Result<R, Error>,
) -> Result<R, Error> {
    let mut stack = [0u8; STACK_PAYLOAD];
    let mut heap = Vec::new();
    let payload = if b64_decode_room(payload_b64.len()) <= STACK_PAYLOAD {
        b64_decode_into(payload_b64, &mut stack).map_err(|e| payload_error(payload_b64, e))?
    } else {
        b64_decode_vec(payload_b64, &mut heap).map_err(|e| payload_error(payload_b64, e))?;
        &heap[..]
    };
    f(payload)
}
