//! Resource servers: [`JwksSource`], a key source that follows the issuer's JWK Set, fed by
//! the application's own HTTP client ([`JwksFetcher`]). The rules are on [`JwksSource`].
//!
//! [`JwksSource`] is re-exported at the crate root; what only a fetcher implementer or a
//! tuned source names is here only: [`JwksFetcher`], [`JwksResponse`], [`JwksFetchError`]
//! (the reason of [`Error::JwksFetch`]), [`JwksSourceBuilder`] and what a refresh reports.

mod flight;

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Poll;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use time::Duration;

use self::flight::{BoxFuture, Finish, Flight, Join};
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, KeyError, TokenError};
use crate::event::{Event, EventSink};
use crate::jose::Validation;
use crate::jose::{AccessTokenClaims, Jwks, JwksOptions, JwtRules, NoCustomClaims, SkippedKey};
use crate::verifier::{Checked, Profile, Verifier};

/// Fetches the issuer's JWK Set for a [`JwksSource`], with the application's HTTP client, and
/// sleeps with the application's runtime (for the fetch timeout and [`JwksSource::keep_fresh`]).
///
/// Methods return `impl Future + Send`; implementations may write `async fn`. With tokio and
/// reqwest, `examples/resource_server.rs` has a complete one; any client works. A test double:
///
/// ```
/// use std::time::Duration;
/// use token_engine::jwks::{JwksFetcher, JwksResponse};
///
/// struct Fixed(&'static str);
///
/// impl JwksFetcher for Fixed {
///     type Error = std::io::Error;
///
///     async fn fetch(&self, _url: &str) -> Result<JwksResponse, Self::Error> {
///         Ok(JwksResponse::new(self.0).cache_control("public, max-age=600"))
///     }
///
///     async fn sleep(&self, duration: Duration) {
///         tokio::time::sleep(duration).await;
///     }
/// }
/// ```
pub trait JwksFetcher: Send + Sync + 'static {
    /// What a failed fetch reports (kept in [`JwksFetchError::Failed`]).
    type Error: std::error::Error + Send + Sync + 'static;

    /// GET `url` and return the body and its cache lifetime. Any status but success should be
    /// an error. Read at most [`JwksOptions::max_bytes`] (256 KiB by default) of the body:
    /// a larger document is rejected anyway. The future may be dropped before it completes
    /// (timeout, or every waiting verification cancelled).
    fn fetch(&self, url: &str) -> impl Future<Output = Result<JwksResponse, Self::Error>> + Send;

    /// Complete after `duration` (`tokio::time::sleep`, `async_io::Timer::after`, ...).
    fn sleep(&self, duration: std::time::Duration) -> impl Future<Output = ()> + Send;
}

/// A fetched JWK Set document and how long it may be used.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct JwksResponse {
    /// The response body: a JWK Set (`{"keys": [...]}`), UTF-8 JSON.
    pub body: Vec<u8>,
    /// How long the keys may be used before they are fetched again, bounded by
    /// [`JwksSourceBuilder::lifetime_bounds`]; `None`: 1 hour, bounded likewise.
    pub max_age: Option<Duration>,
}

impl JwksResponse {
    /// A document with no stated lifetime.
    #[must_use]
    pub fn new(body: impl Into<Vec<u8>>) -> Self {
        Self {
            body: body.into(),
            max_age: None,
        }
    }

    /// The document may be used for `max_age`.
    #[must_use]
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// The lifetime a `Cache-Control` response header states (RFC 9111 §5.2.2): `max-age=N`
    /// seconds; `no-cache` or `no-store` as zero (so the lower bound applies); anything else,
    /// or no directive, leaves the lifetime unstated.
    #[must_use]
    pub fn cache_control(mut self, header: &str) -> Self {
        let mut max_age = None;
        for directive in header.split(',') {
            let (name, value) = match directive.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
                None => (directive.trim(), None),
            };
            if name.eq_ignore_ascii_case("no-cache") || name.eq_ignore_ascii_case("no-store") {
                self.max_age = Some(Duration::ZERO);
                return self;
            }
            if name.eq_ignore_ascii_case("max-age") {
                let digits =
                    value.filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()));
                // Past i64 seconds is "forever", which the upper bound turns into its own.
                max_age = digits.map(|d| Duration::seconds(d.parse().unwrap_or(i64::MAX)));
            }
        }
        self.max_age = max_age;
        self
    }
}

/// Why a [`JwksSource`] could not fetch the JWK Set.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JwksFetchError {
    /// The application's [`JwksFetcher::fetch`] returned this error (or panicked).
    #[error("{0}")]
    Failed(#[source] Arc<dyn std::error::Error + Send + Sync>),
    /// The fetch did not complete within [`JwksSourceBuilder::fetch_timeout`].
    #[error("timed out")]
    TimedOut,
}

/// The fetch panicked.
#[derive(Debug, thiserror::Error)]
#[error("the JWKS fetch panicked")]
struct Panicked;

/// What made a [`JwksSource`] fetch, in its events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RefreshTrigger {
    /// [`JwksSourceBuilder::build`]: the first keys.
    Initial,
    /// The keys' lifetime ran out ([`JwksSource::keep_fresh`]).
    Expired,
    /// A token named a `kid` the keys do not have.
    UnknownKeyId,
    /// [`JwksSource::refresh`].
    Explicit,
}

/// Why a refresh failed, in [`Event::JwksRefreshFailed`]. The keys did not change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JwksFailure {
    /// The application's fetch returned an error.
    Fetch,
    /// The fetch did not complete within the timeout.
    TimedOut,
    /// The document was rejected as a whole: too large ([`KeyError::TooLarge`]), not a JWK
    /// Set ([`KeyError::JwkFormat`]), ambiguous, ...
    Document(KeyError),
    /// The document holds no key this crate can use.
    NoUsableKey,
}

/// A successful refresh: what [`JwksSource::refresh`] returns.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct JwksUpdate {
    /// The keys the source now verifies with.
    pub keys: usize,
    /// The keys of the document that were skipped, each with its reason.
    pub skipped: Vec<SkippedKey>,
    /// How long until the keys are fetched again (the document's lifetime, bounded).
    pub lifetime: Duration,
}

/// Why a fetch failed, kept to answer the verifications that waited for it.
#[derive(Clone, Debug)]
enum Failure {
    Fetch(JwksFetchError),
    Document(KeyError),
    NoUsableKey(Vec<SkippedKey>),
}

impl Failure {
    fn error(&self) -> Error {
        match self {
            Failure::Fetch(e) => Error::JwksFetch(e.clone()),
            Failure::Document(e) => Error::Key(*e),
            Failure::NoUsableKey(skipped) => Error::NoUsableKey(skipped.clone()),
        }
    }

    fn kind(&self) -> JwksFailure {
        match self {
            Failure::Fetch(JwksFetchError::TimedOut) => JwksFailure::TimedOut,
            Failure::Fetch(_) => JwksFailure::Fetch,
            Failure::Document(e) => JwksFailure::Document(*e),
            Failure::NoUsableKey(_) => JwksFailure::NoUsableKey,
        }
    }
}

/// A fetched, parsed document with at least one usable key, and its stated lifetime.
type Fetched = Result<(Jwks, Option<Duration>), Failure>;
/// What every task waiting for one fetch gets.
type Outcome = Result<JwksUpdate, Failure>;
type FetchFlight = Flight<Fetched, Outcome>;

/// Lifetime of a document that states none.
const DEFAULT_LIFETIME: Duration = Duration::hours(1);
/// [`JwksSource::keep_fresh`] looks at the schedule at least this often.
const MAX_NAP: Duration = Duration::minutes(1);

/// Builds a [`JwksSource`]; from [`JwksSource::builder`].
///
/// | setting | default | allowed |
/// |---|---|---|
/// | [`cooldown`](Self::cooldown) | 30 s | 0 to 1 h |
/// | [`lifetime_bounds`](Self::lifetime_bounds) | 5 min to 24 h (1 h when the response states none) | 1 s ≤ min ≤ max ≤ 30 days |
/// | [`fetch_timeout`](Self::fetch_timeout) | 10 s | over 0, up to 5 min |
/// | [`options`](Self::options) | [`JwksOptions::default`] | |
/// | [`clock`](Self::clock) | [`SystemClock`] | |
#[must_use]
pub struct JwksSourceBuilder<F> {
    url: String,
    fetcher: F,
    rules: Validation,
    options: JwksOptions,
    cooldown: Duration,
    min_lifetime: Duration,
    max_lifetime: Duration,
    timeout: Duration,
    clock: Arc<dyn Clock>,
    events: Option<Arc<dyn EventSink>>,
}

impl<F: JwksFetcher> JwksSourceBuilder<F> {
    /// The least time between two fetches triggered by unknown `kid`s (a fetch under way is
    /// always joined instead). Zero turns the cooldown off, leaving single-flight. Whole
    /// seconds (a fraction is refused at `build`, never truncated).
    pub fn cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// Bounds on the keys' lifetime: a response's `max-age` below `min` counts as `min` (so an
    /// issuer sending `no-cache` is not fetched on a loop), above `max` as `max`. Whole
    /// seconds (a fraction is refused at `build`, never truncated).
    pub fn lifetime_bounds(mut self, min: Duration, max: Duration) -> Self {
        self.min_lifetime = min;
        self.max_lifetime = max;
        self
    }

    /// How long a fetch may take before it is abandoned and counts as failed.
    pub fn fetch_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How the JWK Set is imported (limits, a default algorithm for RSA keys without `alg`).
    pub fn options(mut self, options: JwksOptions) -> Self {
        self.options = options;
        self
    }

    /// Read time from `clock` (tests, simulations): token validation, the cooldown and the
    /// keys' lifetime.
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Report refreshes, failed refreshes and failed verifications to `sink`.
    pub fn events(mut self, sink: Arc<dyn EventSink>) -> Self {
        self.events = Some(sink);
        self
    }

    fn check(&self) -> Result<(), Error> {
        if self.url.is_empty() {
            return Err(Error::Config("jwks source: the JWKS URL is empty"));
        }
        // The source counts in whole seconds: a fraction would be truncated, so it is refused.
        let whole = |d: Duration| d.subsec_nanoseconds() == 0;
        if self.cooldown.is_negative()
            || self.cooldown > Duration::hours(1)
            || !whole(self.cooldown)
        {
            return Err(Error::Config(
                "jwks source: cooldown must be whole seconds between 0 and 1 hour",
            ));
        }
        if self.min_lifetime < Duration::SECOND
            || self.min_lifetime > self.max_lifetime
            || self.max_lifetime > Duration::days(30)
            || !whole(self.min_lifetime)
            || !whole(self.max_lifetime)
        {
            return Err(Error::Config(
                "jwks source: lifetime bounds must be whole seconds with 1 s <= min <= max <= 30 days",
            ));
        }
        if !self.timeout.is_positive() || self.timeout > Duration::minutes(5) {
            return Err(Error::Config(
                "jwks source: fetch timeout must be over 0 and at most 5 minutes",
            ));
        }
        Ok(())
    }

    /// Check the settings and fetch the first keys. Fails if the settings are out of range
    /// ([`Error::Config`]) or the first fetch fails: a source never verifies with an empty
    /// key set.
    pub async fn build(self) -> Result<JwksSource<F>, Error> {
        self.check()?;
        let mut verifier =
            Verifier::new(Vec::new(), self.rules)?.with_shared_clock(Arc::clone(&self.clock));
        if let Some(sink) = &self.events {
            verifier = verifier.with_events(Arc::clone(sink));
        }
        let now = self.clock.now_unix();
        let source = JwksSource {
            inner: Arc::new(Inner {
                url: self.url.into(),
                fetcher: Arc::new(self.fetcher),
                verifier,
                options: self.options,
                cooldown: self.cooldown,
                min_lifetime: self.min_lifetime,
                max_lifetime: self.max_lifetime,
                timeout: std::time::Duration::try_from(self.timeout).unwrap_or_default(),
                clock: self.clock,
                events: self.events,
                state: Mutex::new(State {
                    flight: None,
                    last_kid_fetch: None,
                    refresh_at: now,
                    last_failure: None,
                }),
            }),
        };
        source.fetch(RefreshTrigger::Initial).await?;
        Ok(source)
    }
}

/// A resource server's key source: the issuer's JWK Set, fetched through the application's
/// [`JwksFetcher`], refreshed when its lifetime runs out and refetched on an unknown `kid`.
/// Cheap to clone; clones share everything.
///
/// It keeps a [`Verifier`] supplied with the keys at the issuer's `jwks_uri`. The
/// crate still does no HTTP and needs no runtime: the application implements [`JwksFetcher`]
/// (one GET with any client, and a sleep from its runtime) and the source decides when to call
/// it:
///
/// - **Known keys** verify synchronously, exactly as [`Verifier::verify`] does: no lock but the
///   verifier's pointer read, no await, no fetch.
/// - **An unknown `kid`** (the issuer rotated) triggers a refetch, at most once per
///   [`cooldown`](JwksSourceBuilder::cooldown) (30 s by default), and **single-flight**: every
///   verification that misses while a fetch is under way waits for that fetch instead of
///   starting its own, so a thousand concurrent requests cost one GET and a flood of made-up
///   `kid`s costs one GET per cooldown. Only this path awaits.
/// - **Lifetime**: the keys are fetched again when the response's cache lifetime (its
///   `Cache-Control: max-age`, see [`JwksResponse::cache_control`]) runs out, bounded to
///   [`lifetime_bounds`](JwksSourceBuilder::lifetime_bounds) (5 min to 24 h; 1 h when the
///   response names none). [`JwksSource::keep_fresh`] is the future that does this: spawn it.
/// - **Failures keep the keys**: a fetch that fails, times out, or returns a document that is
///   too large, malformed or has no usable key leaves the current keys in place (never an
///   empty set), is reported as [`Event::JwksRefreshFailed`] and, from
///   [`JwksSource::refresh`], as a typed error. A verification that waited for such a fetch
///   gets that error (`server_error`: retry), not `invalid_token`.
/// - **Removed keys stop verifying** as soon as a refresh replaces the set.
///
/// # Timeouts without a runtime
///
/// The library cannot sleep, so the fetch timeout is raced against the application's own
/// [`JwksFetcher::sleep`]: when the sleep ends first, the fetch future is dropped (which
/// cancels it with any async HTTP client) and the fetch counts as failed
/// ([`JwksFetchError::TimedOut`]). The alternative, handing the fetch a deadline to honour,
/// would leave a fetch that ignores it hanging every verification that waits for it.
///
/// # Example
///
/// ```
/// # use std::time::Duration as StdDuration;
/// # use token_engine::jwks::{JwksFetcher, JwksResponse};
/// # struct MyHttpFetcher;
/// # impl JwksFetcher for MyHttpFetcher {
/// #     type Error = std::io::Error;
/// #     async fn fetch(&self, _: &str) -> Result<JwksResponse, Self::Error> {
/// #         Ok(JwksResponse::new(r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"a","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#))
/// #     }
/// #     async fn sleep(&self, d: StdDuration) { tokio::time::sleep(d).await }
/// # }
/// use token_engine::{JwksSource, Validation};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), token_engine::Error> {
/// let source = JwksSource::builder(
///     "https://auth.example.com/.well-known/jwks.json",
///     MyHttpFetcher, // your JwksFetcher
///     Validation::new("https://auth.example.com", "https://api.example.com"),
/// )
/// .build()
/// .await?;
/// tokio::spawn(source.keep_fresh()); // refresh when the keys' lifetime runs out
///
/// # let bearer_token = "e30.e30.e30";
/// // In a request handler:
/// match source.verify(bearer_token).await {
///     Ok(claims) => { /* authorised as claims.sub */ }
///     Err(e) => { /* 401 with e.oauth_code(), or 500 for a failed fetch */ }
/// }
/// # Ok(()) }
/// ```
pub struct JwksSource<F> {
    inner: Arc<Inner<F>>,
}

impl<F> Clone for JwksSource<F> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<F> core::fmt::Debug for JwksSource<F> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("JwksSource")
            .field("url", &self.inner.url)
            .field("keys", &self.inner.verifier.keys().len())
            .finish_non_exhaustive()
    }
}

struct Inner<F> {
    url: Arc<str>,
    fetcher: Arc<F>,
    verifier: Verifier,
    options: JwksOptions,
    cooldown: Duration,
    min_lifetime: Duration,
    max_lifetime: Duration,
    timeout: std::time::Duration,
    clock: Arc<dyn Clock>,
    events: Option<Arc<dyn EventSink>>,
    state: Mutex<State>,
}

/// When to fetch, and the fetch under way. Locked only briefly, never across an await.
struct State {
    flight: Option<(Arc<FetchFlight>, RefreshTrigger)>,
    /// When the last fetch triggered by an unknown `kid` started (the cooldown's origin).
    last_kid_fetch: Option<i64>,
    /// When the keys' lifetime runs out.
    refresh_at: i64,
    /// Why the last fetch failed, until one succeeds.
    last_failure: Option<Failure>,
}

/// What a verification that missed should do.
enum Next {
    /// The keys changed since the miss: verify again.
    Retry,
    /// Wait for this fetch.
    Wait(Arc<FetchFlight>),
    /// No fetch within the cooldown; the last fetch failed this way, if it did.
    Cooldown(Option<Failure>),
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<F: JwksFetcher> JwksSource<F> {
    /// A source for the JWK Set at `url`, fetched by `fetcher`, verifying access tokens under
    /// `rules`. See [`JwksSourceBuilder`] for the settings; nothing is fetched before
    /// [`JwksSourceBuilder::build`].
    pub fn builder(url: impl Into<String>, fetcher: F, rules: Validation) -> JwksSourceBuilder<F> {
        JwksSourceBuilder {
            url: url.into(),
            fetcher,
            rules,
            options: JwksOptions::default(),
            cooldown: Duration::seconds(30),
            min_lifetime: Duration::minutes(5),
            max_lifetime: Duration::hours(24),
            timeout: Duration::seconds(10),
            clock: Arc::new(SystemClock),
            events: None,
        }
    }

    /// The verifier over the current keys: synchronous, never fetches. Tokens with a `kid` it
    /// does not know fail with [`TokenError::UnknownKeyId`] here; the `verify` methods of the
    /// source refetch for them.
    #[must_use]
    pub fn verifier(&self) -> &Verifier {
        &self.inner.verifier
    }

    /// The JWK Set URL.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// When the keys' lifetime runs out (Unix seconds): [`JwksSource::keep_fresh`] fetches
    /// then.
    #[must_use]
    pub fn refresh_at(&self) -> i64 {
        lock(&self.inner.state).refresh_at
    }

    /// Verify an access token: [`Verifier::verify`], refetching the keys first if its `kid`
    /// is unknown (see [`JwksSource`]).
    pub async fn verify(&self, token: &str) -> Result<AccessTokenClaims<'static>, Error> {
        self.verify_as::<NoCustomClaims>(token).await
    }

    /// Verify an access token with the application's claims as `T`: [`Verifier::verify_as`],
    /// refetching on an unknown `kid`.
    pub async fn verify_as<T: DeserializeOwned>(
        &self,
        token: &str,
    ) -> Result<AccessTokenClaims<'static, T>, Error> {
        let v = &self.inner.verifier;
        let checked = if v.is_cached(token) {
            None
        } else {
            Some(self.check(token, Profile::Access).await)
        };
        v.verify_as_checked(token, checked).map_err(|e| v.report(e))
    }

    /// Verify an access token into `buf`: [`Verifier::verify_borrowed`], refetching on an
    /// unknown `kid`.
    pub async fn verify_borrowed<'b, T: Deserialize<'b>>(
        &self,
        token: &str,
        buf: &'b mut Vec<u8>,
    ) -> Result<AccessTokenClaims<'b, T>, Error> {
        let v = &self.inner.verifier;
        let checked = if v.is_cached(token) {
            None
        } else {
            Some(self.check(token, Profile::Access).await)
        };
        v.verify_borrowed_checked(token, buf, checked)
            .map_err(|e| v.report(e))
    }

    /// Verify a signed JWT that is not an access token: [`Verifier::verify_jwt`], refetching
    /// on an unknown `kid`.
    pub async fn verify_jwt<T: DeserializeOwned>(
        &self,
        token: &str,
        rules: &JwtRules,
    ) -> Result<AccessTokenClaims<'static, T>, Error> {
        let v = &self.inner.verifier;
        rules.check()?;
        let checked = self.check(token, Profile::Jwt(rules)).await;
        v.verify_jwt_checked(token, rules, Some(checked))
            .map_err(|e| v.report(e))
    }

    /// Fetch the keys now (or wait for the fetch under way). On success the source verifies
    /// with the new keys only; on failure the current keys stay and the error says why:
    /// [`Error::JwksFetch`] (failed, timed out), [`Error::Key`] (too large, not a JWK Set,
    /// ambiguous), [`Error::NoUsableKey`] (with each key's reason).
    pub async fn refresh(&self) -> Result<JwksUpdate, Error> {
        self.fetch(RefreshTrigger::Explicit).await
    }

    /// The future that keeps the keys fresh: it fetches them again whenever their lifetime
    /// runs out, retrying a failed fetch after the cooldown (at least 1 s), and ends once
    /// every other handle to the source is dropped. Spawn it on the application's runtime
    /// (`tokio::spawn(source.keep_fresh())`). Without it, keys change only on unknown `kid`s
    /// and [`JwksSource::refresh`] calls, so a key the issuer removed would keep verifying.
    pub fn keep_fresh(&self) -> impl Future<Output = ()> + Send + 'static {
        let weak = Arc::downgrade(&self.inner);
        let fetcher = Arc::clone(&self.inner.fetcher);
        async move {
            let mut fetched = false;
            loop {
                let wait = {
                    let Some(inner) = weak.upgrade() else { return };
                    let due = lock(&inner.state).refresh_at;
                    let wait = (due - inner.clock.now_unix()).clamp(0, MAX_NAP.whole_seconds());
                    // Never two fetches back to back, whatever the clock says.
                    wait.max(i64::from(fetched))
                };
                fetched = false;
                if wait > 0 {
                    let wait = std::time::Duration::from_secs(wait.unsigned_abs());
                    fetcher.sleep(wait).await;
                    continue;
                }
                let Some(inner) = weak.upgrade() else { return };
                // A failure is reported by the event and rescheduled by `finish`.
                let _ = JwksSource { inner }.fetch(RefreshTrigger::Expired).await;
                fetched = true;
            }
        }
    }

    /// Start a fetch (or join the one under way) and wait for it.
    async fn fetch(&self, trigger: RefreshTrigger) -> Result<JwksUpdate, Error> {
        let flight = {
            let mut state = lock(&self.inner.state);
            self.inner.flight(&mut state, trigger)
        };
        Join::new(flight, &*self.inner).await.map_err(|f| f.error())
    }

    /// Check `token`'s signature; on an unknown `kid`, refetch (under the cooldown, at most
    /// one fetch per call) and check again.
    async fn check<'t>(&self, token: &'t str, profile: Profile<'_>) -> Checked<'t> {
        let v = &self.inner.verifier;
        let mut checked = v.check(token, profile);
        let mut waited = false;
        // A few rounds at most: keys replaced by someone else between the check and the
        // decision make one more round; this call waits for one fetch at most.
        for _ in 0..4 {
            let unknown = matches!(
                checked.result,
                Err(Error::InvalidToken(TokenError::UnknownKeyId))
            );
            if !unknown || waited {
                break;
            }
            match self.inner.next_after_miss(checked.generation) {
                Next::Retry => {}
                Next::Cooldown(failure) => {
                    if let Some(f) = failure {
                        checked.result = Err(f.error());
                    }
                    break;
                }
                Next::Wait(flight) => {
                    waited = true;
                    if let Err(f) = Join::new(flight, &*self.inner).await {
                        checked.result = Err(f.error());
                        break;
                    }
                }
            }
            checked = v.check(token, profile);
        }
        checked
    }
}

impl<F: JwksFetcher> Inner<F> {
    /// The fetch under way, or a new one for `trigger`.
    fn flight(&self, state: &mut State, trigger: RefreshTrigger) -> Arc<FetchFlight> {
        if let Some((flight, _)) = &state.flight {
            return Arc::clone(flight);
        }
        let flight = Flight::new(self.fetch_future());
        state.flight = Some((Arc::clone(&flight), trigger));
        flight
    }

    /// A verification missed with keys of `generation`: retry, wait for a fetch, or give up.
    fn next_after_miss(&self, generation: u64) -> Next {
        let mut state = lock(&self.state);
        if self.verifier.key_generation() != generation {
            return Next::Retry;
        }
        if state.flight.is_none() {
            let now = self.clock.now_unix();
            let cooling = state
                .last_kid_fetch
                .is_some_and(|t| now < t.saturating_add(self.cooldown.whole_seconds()));
            if cooling {
                return Next::Cooldown(state.last_failure.clone());
            }
            state.last_kid_fetch = Some(now);
        }
        Next::Wait(self.flight(&mut state, RefreshTrigger::UnknownKeyId))
    }

    /// The fetch, raced against the timeout, and the document's import.
    fn fetch_future(&self) -> BoxFuture<Fetched> {
        let fetcher = Arc::clone(&self.fetcher);
        let url = Arc::clone(&self.url);
        let options = self.options.clone();
        let timeout = self.timeout;
        Box::pin(async move {
            let response = {
                let mut fetch = pin!(fetcher.fetch(&url));
                let mut sleep = pin!(fetcher.sleep(timeout));
                poll_fn(|cx| {
                    if let Poll::Ready(r) = fetch.as_mut().poll(cx) {
                        return Poll::Ready(Some(r));
                    }
                    sleep.as_mut().poll(cx).map(|()| None)
                })
                .await
            };
            let response = match response {
                None => return Err(Failure::Fetch(JwksFetchError::TimedOut)),
                Some(Err(e)) => return Err(Failure::Fetch(JwksFetchError::Failed(Arc::new(e)))),
                Some(Ok(response)) => response,
            };
            import(&response.body, &options).map(|jwks| (jwks, response.max_age))
        })
    }

    fn lifetime(&self, stated: Option<Duration>) -> Duration {
        stated
            .unwrap_or(DEFAULT_LIFETIME)
            .clamp(self.min_lifetime, self.max_lifetime)
    }

    fn emit(&self, event: Event) {
        if let Some(sink) = &self.events {
            sink.record(&event);
        }
    }
}

/// Import a fetched body: bounded, UTF-8, a JWK Set with at least one usable key.
fn import(body: &[u8], options: &JwksOptions) -> Result<Jwks, Failure> {
    if body.len() > options.max_bytes {
        return Err(Failure::Document(KeyError::TooLarge));
    }
    let text = std::str::from_utf8(body).map_err(|_| Failure::Document(KeyError::JwkFormat))?;
    let jwks = Jwks::parse(text, options).map_err(Failure::Document)?;
    if jwks.keys.is_empty() {
        return Err(Failure::NoUsableKey(jwks.skipped));
    }
    Ok(jwks)
}

impl<F: JwksFetcher> Finish<Fetched, Outcome> for Inner<F> {
    /// Install the keys (or keep them), reschedule, report: once per fetch.
    fn finish(&self, flight: &Arc<FetchFlight>, fetched: Option<Fetched>) -> Outcome {
        let fetched = fetched
            .unwrap_or_else(|| Err(Failure::Fetch(JwksFetchError::Failed(Arc::new(Panicked)))));
        let now = self.clock.now_unix();
        let outcome = fetched.map(|(jwks, stated)| {
            let update = JwksUpdate {
                keys: jwks.keys.len(),
                skipped: jwks.skipped,
                lifetime: self.lifetime(stated),
            };
            self.verifier.store_keys(jwks.keys);
            update
        });
        let trigger = {
            let mut state = lock(&self.state);
            let trigger = match &state.flight {
                Some((f, trigger)) if Arc::ptr_eq(f, flight) => {
                    let trigger = *trigger;
                    state.flight = None;
                    trigger
                }
                _ => RefreshTrigger::Explicit,
            };
            match &outcome {
                Ok(update) => {
                    state.refresh_at = now.saturating_add(update.lifetime.whole_seconds());
                    state.last_failure = None;
                }
                Err(failure) => {
                    // Retry after the cooldown: at once if the keys were due, and no later
                    // than that if they were not.
                    let retry = now.saturating_add(self.cooldown.whole_seconds().max(1));
                    state.refresh_at = if state.refresh_at <= now {
                        retry
                    } else {
                        state.refresh_at.min(retry)
                    };
                    state.last_failure = Some(failure.clone());
                }
            }
            trigger
        };
        let url = self.url.to_string();
        self.emit(match &outcome {
            Ok(update) => Event::JwksRefreshed {
                url,
                trigger,
                keys: update.keys,
                skipped: update.skipped.clone(),
            },
            Err(failure) => Event::JwksRefreshFailed {
                url,
                trigger,
                reason: failure.kind(),
            },
        });
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_states_the_lifetime() {
        let age = |h: &str| JwksResponse::new("").cache_control(h).max_age;
        assert_eq!(age("max-age=600"), Some(Duration::seconds(600)));
        assert_eq!(
            age("public, MAX-AGE = 60 , must-revalidate"),
            Some(Duration::seconds(60))
        );
        assert_eq!(age("max-age=\"60\""), Some(Duration::seconds(60)));
        assert_eq!(age("no-cache"), Some(Duration::ZERO));
        assert_eq!(age("max-age=600, no-store"), Some(Duration::ZERO));
        assert_eq!(
            age("max-age=99999999999999999999999"),
            Some(Duration::seconds(i64::MAX))
        );
        for none in [
            "",
            "public",
            "max-age",
            "max-age=",
            "max-age=-1",
            "max-age=1e3",
            "s-maxage=60",
        ] {
            assert_eq!(age(none), None, "{none}");
        }
    }

    #[test]
    fn import_rejects_what_cannot_replace_the_keys() {
        let opts = JwksOptions::new().max_bytes(64);
        assert!(matches!(
            import(&[b' '; 65], &opts),
            Err(Failure::Document(KeyError::TooLarge))
        ));
        assert!(matches!(
            import(b"\xff", &opts),
            Err(Failure::Document(KeyError::JwkFormat))
        ));
        assert!(matches!(
            import(br#"{"keys":[]}"#, &opts),
            Err(Failure::NoUsableKey(v)) if v.is_empty()
        ));
        let p521 = br#"{"keys":[{"kty":"EC","crv":"P-521","kid":"a"}]}"#;
        match import(p521, &opts) {
            Err(Failure::NoUsableKey(v)) => {
                assert_eq!(v.len(), 1);
                // ring has no P-521; with aws-lc-rs this key only lacks its coordinates.
                let reason = if cfg!(any(feature = "aws-lc-rs", feature = "fips")) {
                    KeyError::JwkFormat
                } else {
                    KeyError::UnsupportedCurve
                };
                assert_eq!(v[0].reason, reason);
            }
            other => panic!("{other:?}"),
        }
    }
}
