//! [`EngineBuilder`]: configuration, checked once at `build`.

use std::borrow::Cow;
use std::sync::Arc;

use time::Duration;

use super::{Engine, Inner};
use crate::client_auth::ClientSecretHasher;
use crate::clock::{Clock, SystemClock};
use crate::dpop::{DpopRules, NonceKey};
use crate::error::Error;
use crate::event::{EventSink, NoEvents};
use crate::jose::{Audience, SigningKey, Validation};
use crate::keyset::KeySet;
use crate::opaque::{RefreshKeys, RefreshSecret};
use crate::policy::{PolicyCache, PolicyVersion};
use crate::store::TokenStore;

/// Configures an [`Engine`], checked once at [`EngineBuilder::build`].
///
/// # Defaults, and why
///
/// | setting | default | allowed | why |
/// |---|---|---|---|
/// | `access_ttl` | 15 min | 1 min ..= 24 h | a stolen access token is usable until it expires: keep it short; refresh is cheap |
/// | `family_idle_ttl` | 7 days | 1 min ..= 365 days | a session nobody used for a week is abandoned or stolen |
/// | `family_absolute_ttl` | 30 days | idle ..= 400 days | bounds any session, however active; never slides |
/// | `reuse_grace` | 5 s | 0 ..= 60 s | a refresh whose answer is lost (the store committed the rotation, the client saw an error) is retried with the same token: inside the window the retry gets the same successor; at 0 it is reuse and revokes the session. Simulated (`tests/engine/faults.rs`), 200 sessions refreshing every 15 min for a day with 1% of answers lost and clients retrying after 1 s: 124 sessions revoked and as many false theft alarms at 0, none at 1 s or 5 s. 5 s also covers clocks a second or two apart. Set 0 only if your store and network never lose an answer |
/// | `leeway` | 30 s | 0 ..= 5 min | clock skew between servers behind NTP is far below |
/// | `policy` | 1.0 | any | this instance's minimum; bump at runtime for every instance with [`Engine::set_policy`] |
/// | `pushed_request_ttl` | 60 s | 5 s ..= 10 min | a pushed request (RFC 9126) is used by the redirect that follows the push, within seconds; short, as the RFC advises |
/// | `code_ttl` | 60 s | 10 s ..= 10 min | an authorization code is redeemed within seconds of the redirect; a short life limits a leaked one (RFC 6749 §4.1.2 recommends at most 10 minutes) |
/// | password grant | off | on with [`EngineBuilder::danger_enable_password_grant`] | RFC 9700 §2.4 forbids it for new work; only for migrations |
/// | `access_token_format` | JWT | JWT, reference | JWTs verify without a lookup and are the design's recommendation (hybrid: JWT access, opaque refresh); a client that needs instant revocation or must not see its claims gets reference tokens with [`Client::access_token_format`](crate::Client::access_token_format), or every client with this |
/// | `policy_refresh` | 5 s | 0 ..= 5 min | how stale this instance's view of the shared policy versions may be: a bump on one instance reaches every other within it, at one store read per level per interval |
///
/// Every duration is kept exactly: the engine counts in whole seconds (JWT times and family
/// records are Unix seconds), so a duration with a fraction of a second (`500 ms`,
/// `1.5 s`) is refused at [`build`](EngineBuilder::build) with an [`Error::Config`] naming the
/// option, never truncated.
///
/// The issuer, at least one audience, a signing key and a refresh secret are required.
#[must_use]
pub struct EngineBuilder {
    issuer: Option<String>,
    audiences: Vec<String>,
    keys: Option<KeySet>,
    refresh: Option<RefreshKeys>,
    access_ttl: Duration,
    idle_ttl: Duration,
    absolute_ttl: Duration,
    reuse_grace: Duration,
    leeway: Duration,
    policy: PolicyVersion,
    policy_refresh: Duration,
    clock: Arc<dyn Clock>,
    events: Arc<dyn EventSink>,
    code_ttl: Duration,
    client_secrets: Option<Result<ClientSecretHasher, Error>>,
    token_endpoint: Option<String>,
    password_grant: bool,
    exchange_audiences: Vec<String>,
    resources: Vec<String>,
    resource_metadata: Option<String>,
    dpop_rules: DpopRules,
    dpop_nonces: Option<NonceKey>,
    access_format: crate::reference::AccessTokenFormat,
    pub(super) endpoints: super::metadata::Endpoints,
    pub(super) par: super::par::ParSettings,
}

impl core::fmt::Debug for EngineBuilder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EngineBuilder")
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .field("access_ttl", &self.access_ttl)
            .finish_non_exhaustive()
    }
}

impl Default for EngineBuilder {
    fn default() -> Self {
        Self {
            issuer: None,
            audiences: Vec::new(),
            keys: None,
            refresh: None,
            access_ttl: Duration::minutes(15),
            idle_ttl: Duration::days(7),
            absolute_ttl: Duration::days(30),
            reuse_grace: Duration::seconds(5),
            leeway: crate::jose::DEFAULT_LEEWAY,
            policy: PolicyVersion::new(1, 0),
            policy_refresh: Duration::seconds(5),
            code_ttl: Duration::seconds(60),
            client_secrets: None,
            token_endpoint: None,
            password_grant: false,
            exchange_audiences: Vec::new(),
            resources: Vec::new(),
            resource_metadata: None,
            dpop_rules: DpopRules::default(),
            dpop_nonces: None,
            access_format: crate::reference::AccessTokenFormat::Jwt,
            endpoints: super::metadata::Endpoints::default(),
            par: super::par::ParSettings::default(),
            clock: Arc::new(SystemClock),
            events: Arc::new(NoEvents),
        }
    }
}

impl EngineBuilder {
    /// The access-token format of clients that do not choose one
    /// ([`Client::access_token_format`](crate::Client::access_token_format)). Default
    /// [`AccessTokenFormat::Jwt`](crate::AccessTokenFormat::Jwt).
    pub fn access_token_format(mut self, format: crate::reference::AccessTokenFormat) -> Self {
        self.access_format = format;
        self
    }

    /// The `iss` of every access token (required).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// An `aud` for the access tokens (at least one is required; several make `aud` an array).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// The signing key (or use [`EngineBuilder::key_set`] to share a rotating set).
    pub fn signing_key(mut self, key: SigningKey) -> Self {
        self.keys = Some(KeySet::new(key));
        self
    }

    /// The key set to sign with; rotations on it apply to the engine at once.
    pub fn key_set(mut self, keys: KeySet) -> Self {
        self.keys = Some(keys);
        self
    }

    /// The refresh-token master secret (required, or [`EngineBuilder::refresh_keys`]).
    pub fn refresh_secret(mut self, secret: RefreshSecret) -> Self {
        self.refresh = Some(RefreshKeys::new(secret));
        self
    }

    /// Several refresh secrets, while one is being rotated out.
    pub fn refresh_keys(mut self, keys: RefreshKeys) -> Self {
        self.refresh = Some(keys);
        self
    }

    /// Access-token lifetime: whole seconds, 1 minute to 24 hours (checked at `build`).
    pub fn access_ttl(mut self, ttl: Duration) -> Self {
        self.access_ttl = ttl;
        self
    }

    /// How long a session may go unused: whole seconds, 1 minute to 365 days (checked at
    /// `build`).
    pub fn family_idle_ttl(mut self, ttl: Duration) -> Self {
        self.idle_ttl = ttl;
        self
    }

    /// How long a session may last at most: whole seconds, at least the idle lifetime and at
    /// most 400 days (checked at `build`).
    pub fn family_absolute_ttl(mut self, ttl: Duration) -> Self {
        self.absolute_ttl = ttl;
        self
    }

    /// How long around a rotation the previous refresh token may be presented again (an
    /// honest retry, for example after a lost answer) and get the same successor; a replay
    /// outside the window is reuse. Default 5 s. `Duration::ZERO` is strict mode: any
    /// replay revokes the session, which assumes a store and a network that never lose an
    /// answer (a client that retries after one loses its session and raises a false alarm).
    ///
    /// Whole seconds, 0 to 60 (checked at `build`): the engine records rotations to the
    /// second, so `500 ms` cannot be honoured and is refused rather than silently becoming
    /// strict mode.
    pub fn reuse_grace(mut self, grace: Duration) -> Self {
        self.reuse_grace = grace;
        self
    }

    /// Clock-skew leeway of the engine's verifier and of client assertions: whole seconds,
    /// 0 to 5 minutes (checked at `build`).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// This instance's minimum global security-policy version. The versions every instance
    /// applies live in the store ([`Engine::set_policy`]); the effective version is the
    /// maximum of this minimum and the stored ones, so a deployment that raises it in its
    /// configuration enforces it on the instances that run that configuration.
    pub fn policy(mut self, version: PolicyVersion) -> Self {
        self.policy = version;
        self
    }

    /// How long this instance may use a policy version read from the store before reading it
    /// again: the bound on how long a bump made on another instance takes to apply here.
    /// Zero reads the store on every use. Whole seconds, 0 to 5 minutes (checked at `build`).
    pub fn policy_refresh(mut self, interval: Duration) -> Self {
        self.policy_refresh = interval;
        self
    }

    /// How long an authorization code stays redeemable: whole seconds, 10 seconds to
    /// 10 minutes (checked at `build`).
    pub fn code_ttl(mut self, ttl: Duration) -> Self {
        self.code_ttl = ttl;
        self
    }

    /// The key client secrets are hashed under (needed for `client_secret_basic` and
    /// `client_secret_post` clients; at least 32 bytes). Hash secrets for your client table
    /// with [`Engine::client_secret_hasher`] or a [`ClientSecretHasher`] over the same key.
    pub fn client_secret_key(mut self, key: &[u8]) -> Self {
        self.client_secrets = Some(ClientSecretHasher::new(key));
        self
    }

    /// The token endpoint's URL, accepted as the audience of `private_key_jwt` client
    /// assertions (beside the issuer).
    pub fn token_endpoint(mut self, url: impl Into<String>) -> Self {
        self.token_endpoint = Some(url.into());
        self
    }

    /// Offer the resource owner password credentials grant. RFC 9700 §2.4 says it MUST NOT
    /// be used: it teaches users to type their password into clients and defeats MFA. Only
    /// for migrating legacy clients; each client must also be allowed `GrantType::Password`.
    pub fn danger_enable_password_grant(mut self) -> Self {
        self.password_grant = true;
        self
    }

    /// An audience token exchange (RFC 8693) may issue tokens for, beside the engine's own
    /// audiences: a downstream service a caller may delegate to.
    pub fn exchange_audience(mut self, audience: impl Into<String>) -> Self {
        self.exchange_audiences.push(audience.into());
        self
    }

    /// A protected resource this engine issues tokens for (RFC 8707): an absolute URI
    /// without a fragment, such as `https://api.example.com/mcp`. A client naming it with
    /// `resource` at the authorization or token endpoint gets access tokens whose `aud` is
    /// that resource (several: each of them), which that resource accepts and the others
    /// refuse (each verifies its own audience: `Validation::new(issuer, resource)`, or over
    /// this engine [`Requirements::audience`](crate::Requirements::audience) with
    /// [`Engine::resource_request_with`] or [`Engine::verify_resource_request_for`]). The
    /// engine's own verifier ([`Engine::verifier`], [`Engine::verify_with_revocation`],
    /// [`Engine::resource_request`]) keeps accepting only the engine's audiences, so adding
    /// a resource never widens what an existing route accepts; introspection, revocation and
    /// token exchange accept every resource's tokens. Call once per resource.
    pub fn resource(mut self, uri: impl Into<String>) -> Self {
        self.resources.push(uri.into());
        self
    }

    /// The URL of the protected resource metadata (RFC 9728) of the resources this engine
    /// guards itself (UserInfo, [`Engine::resource_request`]): written as
    /// `resource_metadata` in their `WWW-Authenticate` challenges (RFC 9728 §5.1).
    pub fn resource_metadata(mut self, url: impl Into<String>) -> Self {
        self.resource_metadata = Some(url.into());
        self
    }

    /// How DPoP proofs are checked (accepted algorithms, `iat` window). Default: ES256,
    /// ES384, EdDSA, RS256, PS256; 60 s old at most, 5 s ahead at most.
    pub fn dpop_rules(mut self, rules: DpopRules) -> Self {
        self.dpop_rules = rules;
        self
    }

    /// Require server nonces in DPoP proofs (RFC 9449 §8), stateless: every instance built
    /// with the same key accepts the others' nonces. Hand them out with
    /// [`Engine::dpop_nonce`] in a `DPoP-Nonce` header.
    pub fn dpop_nonces(mut self, key: NonceKey) -> Self {
        self.dpop_nonces = Some(key);
        self
    }

    /// The clock (tests, simulations).
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Where audit events go.
    pub fn events(mut self, sink: impl EventSink + 'static) -> Self {
        self.events = Arc::new(sink);
        self
    }

    /// Check the configuration and build the engine over `store`.
    pub fn build<S: TokenStore>(self, store: S) -> Result<Engine<S>, Error> {
        let issuer = self
            .issuer
            .filter(|i| !i.is_empty())
            .ok_or(Error::Config("engine: an issuer is required"))?;
        if self.audiences.is_empty() || self.audiences.iter().any(String::is_empty) {
            return Err(Error::Config(
                "engine: at least one non-empty audience is required",
            ));
        }
        let keys = self
            .keys
            .ok_or(Error::Config("engine: a signing key is required"))?;
        let refresh = self
            .refresh
            .ok_or(Error::Config("engine: a refresh secret is required"))?;
        // The engine counts in whole seconds (JWT times, family records), so a duration with a
        // fraction of a second is refused rather than truncated: a 500 ms `reuse_grace` would
        // otherwise be strict mode.
        let within = |d: Duration, lo: Duration, hi: Duration| {
            d >= lo && d <= hi && d.subsec_nanoseconds() == 0
        };
        if !within(self.access_ttl, Duration::minutes(1), Duration::hours(24)) {
            return Err(Error::Config(
                "engine: access_ttl must be whole seconds between 1 minute and 24 hours",
            ));
        }
        if !within(self.idle_ttl, Duration::minutes(1), Duration::days(365)) {
            return Err(Error::Config(
                "engine: family_idle_ttl must be whole seconds between 1 minute and 365 days",
            ));
        }
        if !within(self.absolute_ttl, self.idle_ttl, Duration::days(400)) {
            return Err(Error::Config(
                "engine: family_absolute_ttl must be whole seconds, at least family_idle_ttl and at most 400 days",
            ));
        }
        if !within(self.reuse_grace, Duration::ZERO, Duration::seconds(60)) {
            return Err(Error::Config(
                "engine: reuse_grace must be whole seconds between 0 and 60",
            ));
        }
        if !within(self.leeway, Duration::ZERO, crate::jose::MAX_LEEWAY) {
            return Err(Error::Config(
                "engine: leeway must be whole seconds between 0 and 5 minutes",
            ));
        }
        let client_secrets = self
            .client_secrets
            .transpose()
            .map_err(|_| Error::Config("engine: client_secret_key must be at least 32 bytes"))?;
        let rules = &self.dpop_rules;
        let asymmetric = rules.algorithms.iter().all(|a| !a.is_symmetric());
        if rules.algorithms.is_empty() || !asymmetric {
            return Err(Error::Config(
                "engine: DPoP algorithms must be asymmetric, at least one",
            ));
        }
        if !(1..=600).contains(&rules.max_age) || !(0..=60).contains(&rules.max_skew) {
            return Err(Error::Config(
                "engine: DPoP max_age must be 1 s to 10 min, max_skew 0 to 60 s",
            ));
        }
        if !within(self.code_ttl, Duration::seconds(10), Duration::minutes(10)) {
            return Err(Error::Config(
                "engine: code_ttl must be whole seconds between 10 seconds and 10 minutes",
            ));
        }
        if !within(self.policy_refresh, Duration::ZERO, Duration::minutes(5)) {
            return Err(Error::Config(
                "engine: policy_refresh must be whole seconds between 0 and 5 minutes",
            ));
        }
        let par_ttl = self.par.check()?;
        let mut rules = Validation::new(
            issuer.clone(),
            self.audiences.first().cloned().unwrap_or_default(),
        )
        .leeway(self.leeway);
        for a in self.audiences.iter().skip(1) {
            rules = rules.also_audience(a.clone());
        }
        if !self
            .resources
            .iter()
            .all(|r| crate::resource_indicator::is_resource_uri(r))
        {
            return Err(Error::Config(
                "engine: a resource must be an absolute URI without a fragment (RFC 8707), at most 512 bytes of visible ASCII",
            ));
        }
        // The engine's own verifier keeps the engine's audiences: a resource's tokens pass
        // only where the resource is named (its own verifier, below), or where every token of
        // the engine must (introspection, revocation, token exchange).
        let mut any_rules = rules.clone();
        for r in &self.resources {
            any_rules = any_rules.also_audience(r.clone());
        }
        let resource_verifiers = self
            .resources
            .iter()
            .map(|r| {
                let v = keys
                    .verifier(Validation::new(issuer.clone(), r.clone()).leeway(self.leeway))?
                    .with_shared_clock(Arc::clone(&self.clock))
                    .with_events(Arc::clone(&self.events));
                Ok((r.clone(), v))
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let any_verifier = keys
            .verifier(any_rules.clone())?
            .with_shared_clock(Arc::clone(&self.clock));
        let mut exchange_rules = any_rules;
        for a in &self.exchange_audiences {
            exchange_rules = exchange_rules.also_audience(a.clone());
        }
        let exchange_verifier = keys
            .verifier(exchange_rules)?
            .with_shared_clock(Arc::clone(&self.clock));
        let policy = PolicyCache::new(self.policy, self.policy_refresh.whole_seconds());
        let verifier = keys
            .verifier(rules)?
            .with_shared_clock(Arc::clone(&self.clock))
            .with_events(Arc::clone(&self.events));
        let audience = match self.audiences.as_slice() {
            [one] => Audience::One(Cow::Owned(one.clone())),
            many => Audience::Many(many.iter().cloned().map(Cow::Owned).collect()),
        };
        Ok(Engine {
            inner: Arc::new(Inner {
                issuer,
                audience,
                keys,
                refresh,
                store,
                clock: self.clock,
                policy,
                events: self.events,
                verifier,
                access_ttl: self.access_ttl.whole_seconds(),
                jti: super::jti::JtiSource::new()?,
                idle_ttl: self.idle_ttl.whole_seconds(),
                absolute_ttl: self.absolute_ttl.whole_seconds(),
                reuse_grace: self.reuse_grace.whole_seconds(),
                orphans: std::sync::Mutex::default(),
                leeway: self.leeway.whole_seconds(),
                code_ttl: self.code_ttl.whole_seconds(),
                client_secrets,
                token_endpoint: self.token_endpoint,
                password_grant: self.password_grant,
                exchange_verifier,
                challenges: crate::challenge::Challenges::new(&self.dpop_rules)
                    .with_resource_metadata(self.resource_metadata),
                resources: self.resources,
                resource_verifiers,
                any_verifier,
                dpop_rules: self.dpop_rules,
                dpop_nonces: self.dpop_nonces,
                access_format: self.access_format,
                endpoints: self.endpoints,
                par: self.par,
                par_ttl,
                exchange_audiences: self
                    .audiences
                    .iter()
                    .chain(&self.exchange_audiences)
                    .cloned()
                    .collect(),
            }),
        })
    }
}
