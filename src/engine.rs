//! The facade: [`Engine`] wires keys, refresh secrets, store, clock, policy and events into
//! issue, refresh, verify, revoke, introspect and session management. The defaults, with the
//! reasons, are on [`EngineBuilder`].

use std::borrow::Cow;
use std::sync::Arc;

use crate::client::{Client, IssueRequest, encode_claims, grant_scope};
use crate::clock::Clock;
use crate::error::{Error, IssueLimit};
use crate::event::{Event, EventSink};
use crate::family::{FamilySpec, OperationId, RevocationReason, new_family};
use crate::jose::{AccessTokenClaims, Audience, Confirmation, RawIds};
use crate::keyset::KeySet;
use crate::opaque::{FamilyId, RefreshKeys, RefreshToken};
use crate::policy::{PolicyCache, PolicyVersion};
use crate::response::{TokenResponse, TokenType};
use crate::store::{CasOutcome, InsertOutcome, TokenStore};
use crate::verifier::Verifier;

mod authorize;
mod builder;
mod clients;
mod code;
mod device;
mod dpop;
mod endpoint;
mod endpoints;
mod exchange;
mod id_token;
mod jti;
mod metadata;
mod par;
mod reference;
mod refresh;
mod registration;
mod resource;
mod revocation;

pub use authorize::{Approval, AuthorizationDecision, AuthorizationRequest};
pub use builder::EngineBuilder;
pub use code::{AUTHORIZATION_CODE_PREFIX, AuthorizationCode, AuthorizeRequest};
pub use device::{
    DEVICE_CODE_PREFIX, DeviceAuthorization, DeviceRequest, MemoryLimiter, UserCodeLimiter,
    normalize_user_code,
};
pub use dpop::TokenBinding;
pub use endpoint::{NoPasswordGrant, PasswordVerifier};
pub use exchange::{ACCESS_TOKEN_TYPE, TokenExchangeRequest};
pub use id_token::{IdTokenClaims, IdTokenExpectations, verify_id_token};
pub use par::{PUSHED_INTERACTION_TTL, REQUEST_URI_PREFIX};
pub(crate) use refresh::{RefreshFailure, Refreshed, refresh_loop};
pub(crate) use registration::same_loopback_but_port;
pub use registration::{RegisteredClients, RegistrationPolicy};
pub use resource::UserInfoSource;

/// The token engine. `Send + Sync`; clones share everything (one `Arc`).
///
/// Its methods, in the order an application meets them (rustdoc lists them below by the
/// file that defines them):
///
/// | task | methods |
/// |---|---|
/// | build | [`Engine::builder`] → [`EngineBuilder`] |
/// | serve the endpoints (whole request in, whole response out) | [`authorization_request`](Engine::authorization_request) and [`authorization_response`](Engine::authorization_response) around your login page, [`token_endpoint`](Engine::token_endpoint), [`device_authorization_endpoint`](Engine::device_authorization_endpoint), [`introspection_endpoint`](Engine::introspection_endpoint), [`revocation_endpoint`](Engine::revocation_endpoint), [`userinfo_endpoint`](Engine::userinfo_endpoint), [`metadata_endpoint`](Engine::metadata_endpoint), [`jwks_endpoint`](Engine::jwks_endpoint), [`pushed_authorization_endpoint`](Engine::pushed_authorization_endpoint) (PAR), [`registration_endpoint`](Engine::registration_endpoint) (dynamic registration) |
/// | protect your API | [`resource_request`](Engine::resource_request) (Bearer and DPoP, revocation, challenges); [`verifier`](Engine::verifier) for the sync check without I/O; [`verify_with_revocation`](Engine::verify_with_revocation); with your own claims type [`resource_request_as`](Engine::resource_request_as), [`verify_with_revocation_as`](Engine::verify_with_revocation_as); for another resource you serve [`resource_request_with`](Engine::resource_request_with), [`protected_resource`](Engine::protected_resource) (its RFC 9728 document), [`challenges`](Engine::challenges) |
/// | tokens without HTTP | [`issue`](Engine::issue) (after your login), [`refresh`](Engine::refresh), [`revoke`](Engine::revoke), [`introspect`](Engine::introspect) |
/// | the device verification page | [`device_request`](Engine::device_request), [`approve_device`](Engine::approve_device), [`deny_device`](Engine::deny_device) |
/// | sessions ("your devices" pages, sign-out) | [`sessions`](Engine::sessions), [`revoke_session`](Engine::revoke_session), [`sign_out_everywhere`](Engine::sign_out_everywhere), [`sign_out_everywhere_idempotent`](Engine::sign_out_everywhere_idempotent) (safe to retry) |
/// | security-policy versions | [`set_policy`](Engine::set_policy), [`policy_version`](Engine::policy_version) |
/// | the grants as calls (tests, migrations, other transports) | [`authorize`](Engine::authorize), [`exchange_code`](Engine::exchange_code), [`start_device_authorization`](Engine::start_device_authorization), [`poll_device`](Engine::poll_device), [`client_credentials`](Engine::client_credentials), [`exchange_token`](Engine::exchange_token), [`password_grant`](Engine::password_grant), [`authenticate_client`](Engine::authenticate_client), [`verify_dpop_proof`](Engine::verify_dpop_proof), [`verify_resource_request`](Engine::verify_resource_request), [`verify_resource_request_as`](Engine::verify_resource_request_as), [`verify_resource_request_for`](Engine::verify_resource_request_for) |
/// | keys, secrets, the store | [`key_set`](Engine::key_set) (rotation), [`client_secret_hasher`](Engine::client_secret_hasher), [`dpop_nonce`](Engine::dpop_nonce), [`authorization_server_metadata`](Engine::authorization_server_metadata), [`openid_configuration`](Engine::openid_configuration), [`store`](Engine::store), [`delete_expired`](Engine::delete_expired), [`now_unix`](Engine::now_unix) (its clock) |
///
/// Any [`Error`] becomes its HTTP answer (status, headers, JSON body) with
/// [`HttpResponse::from_error`](crate::HttpResponse::from_error).
pub struct Engine<S> {
    inner: Arc<Inner<S>>,
}

impl<S> Clone for Engine<S> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<S> core::fmt::Debug for Engine<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Engine")
            .field("issuer", &self.inner.issuer)
            .field("audience", &self.inner.audience)
            .field("access_ttl", &self.inner.access_ttl)
            .finish_non_exhaustive()
    }
}

struct Inner<S> {
    issuer: String,
    audience: Audience<'static>,
    keys: KeySet,
    refresh: RefreshKeys,
    store: S,
    clock: Arc<dyn Clock>,
    policy: PolicyCache,
    events: Arc<dyn EventSink>,
    verifier: Verifier,
    access_ttl: i64,
    /// Where access-token `jti`s come from.
    jti: jti::JtiSource,
    idle_ttl: i64,
    absolute_ttl: i64,
    reuse_grace: i64,
    /// Families whose `issue` failed after the store may have created them, to revoke when
    /// the store answers again (best effort, bounded).
    orphans: std::sync::Mutex<Vec<FamilyId>>,
    leeway: i64,
    code_ttl: i64,
    client_secrets: Option<crate::client_auth::ClientSecretHasher>,
    token_endpoint: Option<String>,
    password_grant: bool,
    /// Audiences token exchange may issue for: the engine's and the configured extra ones.
    exchange_audiences: Vec<String>,
    /// Verifies subject tokens of token exchange: any exchange audience is accepted, so an
    /// already delegated token can be exchanged again.
    exchange_verifier: Verifier,
    dpop_rules: crate::dpop::DpopRules,
    /// The resource indicators (RFC 8707) the engine issues tokens for.
    resources: Vec<String>,
    /// One verifier per resource, accepting that resource's tokens only.
    resource_verifiers: Vec<(String, Verifier)>,
    /// Accepts the tokens of every audience and resource (introspection, revocation).
    any_verifier: Verifier,
    /// The resource-server challenges for `dpop_rules`, written once.
    challenges: crate::challenge::Challenges,
    dpop_nonces: Option<crate::dpop::NonceKey>,
    /// The access-token format of clients that do not choose one.
    access_format: crate::reference::AccessTokenFormat,
    /// The endpoints the application mounts and the grants offered (metadata).
    endpoints: metadata::Endpoints,
    /// Pushed authorization requests (RFC 9126).
    par: par::ParSettings,
    /// Their lifetime, seconds.
    par_ttl: i64,
}

/// At most this many orphaned families wait for cleanup per instance; past it the oldest are
/// forgotten (they end at their idle expiry).
const MAX_ORPHANS: usize = 1024;

/// What [`Engine::revoke`] did (RFC 7009: the caller answers 200 in every case).
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevocationOutcome {
    /// The token's family is now revoked (and with it every token of the session).
    Revoked {
        /// The family.
        family: FamilyId,
    },
    /// The family was already revoked or expired; nothing changed.
    AlreadyInactive {
        /// The family.
        family: FamilyId,
    },
    /// A valid access token without a session (no `sid`): it expires on its own.
    NoSession,
    /// A reference access token is now revoked on its own (or already was); its session
    /// goes on.
    AccessTokenRevoked {
        /// The token's family.
        family: FamilyId,
    },
    /// Not a token this engine issued (malformed, forged, unknown family).
    Unknown,
}

/// A live session, for "your sessions" pages.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Session {
    /// Its family id.
    pub family: FamilyId,
    /// The client.
    pub client_id: String,
    /// The device, if bound.
    pub device_id: Option<String>,
    /// When it started.
    pub created_at: i64,
    /// Last refresh.
    pub last_used_at: i64,
    /// When it ends at the latest (idle or absolute expiry, whichever is first).
    pub expires_at: i64,
}

/// The store key of a code, device record or replay id: the store never sees the secret.
pub(crate) use crate::opaque::labelled_digest as store_key;

fn store_error<E: std::error::Error + Send + Sync + 'static>(e: E) -> Error {
    Error::Store(Box::new(e))
}

/// Everything an access token is made of.
struct AccessParts<'a> {
    subject: &'a str,
    client_id: &'a str,
    scope: &'a str,
    auth_time: i64,
    sid: Option<FamilyId>,
    tenant: Option<&'a str>,
    policy: PolicyVersion,
    jkt: Option<&'a str>,
    /// `x5t#S256` of a bound client certificate.
    cert: Option<&'a str>,
    claims: Option<&'a str>,
    now: i64,
    /// Lifetime in seconds (the client's or the engine's).
    ttl: i64,
    /// Another audience than the engine's (token exchange).
    audience: Option<&'a Audience<'a>>,
    /// The `act` claim's JSON value (token exchange).
    act: Option<&'a str>,
    /// The authentication context class (RFC 9470).
    acr: Option<&'a str>,
}

/// An access token's payload as the engine writes it: the registered claims, then `act` (a
/// JSON object, RFC 8693) and the application's claims (a JSON object without registered
/// names, checked when the session was issued) spliced in: `{..}` + `{..}` → `{..,..}`.
pub(crate) fn access_claims_json(
    claims: &AccessTokenClaims<'_>,
    raw: RawIds<'_>,
    act: Option<&str>,
    app: Option<&str>,
) -> Result<Vec<u8>, Error> {
    let mut json = claims
        .to_json_with(raw)
        .map_err(|e| Error::Serialize(e.to_string()))?;
    // A comma only after a member (`{}` has none).
    let open = |json: &mut Vec<u8>| {
        json.pop();
        if json.len() > 1 {
            json.push(b',');
        }
    };
    if let Some(act) = act {
        open(&mut json);
        json.extend_from_slice(b"\"act\":");
        json.extend_from_slice(act.as_bytes());
        json.push(b'}');
    }
    if let Some(app) = app
        .and_then(|c| c.strip_prefix('{'))
        .filter(|c| c.len() > 1)
    {
        open(&mut json);
        json.extend_from_slice(app.as_bytes());
    }
    Ok(json)
}

/// The `aud` of a token for `resources` (RFC 8707): `None` (the engine's audiences) for none.
fn resource_audience<'a>(resources: &[&'a str]) -> Option<Audience<'a>> {
    match resources {
        [] => None,
        [one] => Some(Audience::One(Cow::Borrowed(one))),
        many => Some(Audience::Many(
            many.iter().map(|r| Cow::Borrowed(*r)).collect(),
        )),
    }
}

impl Engine<()> {
    /// Start configuring an engine.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }
}

impl<S: TokenStore> Engine<S> {
    /// The verifier for this engine's access tokens (shares its keys, clock and policy).
    #[must_use]
    pub fn verifier(&self) -> &Verifier {
        &self.inner.verifier
    }

    /// The signing keys (rotate them here).
    #[must_use]
    pub fn key_set(&self) -> &KeySet {
        &self.inner.keys
    }

    /// The effective security-policy version for `tenant` (`None`: sessions without a
    /// tenant): the maximum of this engine's configured minimum
    /// ([`EngineBuilder::policy`]), the global version saved in the store and the tenant's.
    /// Read through this instance's cache, so it may be up to
    /// [`EngineBuilder::policy_refresh`] old.
    pub async fn policy_version(&self, tenant: Option<&str>) -> Result<PolicyVersion, Error> {
        self.effective_policy(tenant, self.now()).await
    }

    /// Save the security-policy version of `tenant` (`None`: the global level) in the store,
    /// or with `version: None` remove the level. Every engine over the same store applies it
    /// within its [`EngineBuilder::policy_refresh`]; this one at once. Bump the major to force
    /// every older session to re-authenticate at its next refresh (and make its access tokens
    /// fail [`Engine::verify_with_revocation`]); bump the minor to upgrade sessions silently at
    /// their next rotation. Lowering a version never brings back a revoked session, and never
    /// goes below an engine's configured minimum.
    pub async fn set_policy(
        &self,
        tenant: Option<&str>,
        version: Option<PolicyVersion>,
    ) -> Result<(), Error> {
        self.inner
            .store
            .save_policy(tenant, version)
            .await
            .map_err(store_error)?;
        self.inner.policy.put(tenant, version, self.now());
        Ok(())
    }

    /// The stored version of one level, through the cache.
    async fn policy_level(
        &self,
        tenant: Option<&str>,
        now: i64,
    ) -> Result<Option<PolicyVersion>, Error> {
        if let Some(v) = self.inner.policy.fresh(tenant, now) {
            return Ok(v);
        }
        let v = self
            .inner
            .store
            .load_policy(tenant)
            .await
            .map_err(store_error)?;
        self.inner.policy.put(tenant, v, now);
        Ok(v)
    }

    /// The effective version for `tenant` at `now`.
    pub(crate) async fn effective_policy(
        &self,
        tenant: Option<&str>,
        now: i64,
    ) -> Result<PolicyVersion, Error> {
        if let Some((global, own)) = self.inner.policy.fresh_pair(tenant, now) {
            return Ok(self.inner.policy.effective(global, own));
        }
        let global = self.policy_level(None, now).await?;
        let own = match tenant {
            Some(t) => self.policy_level(Some(t), now).await?,
            None => None,
        };
        Ok(self.inner.policy.effective(global, own))
    }

    /// The store.
    #[must_use]
    pub fn store(&self) -> &S {
        &self.inner.store
    }

    fn now(&self) -> i64 {
        self.inner.clock.now_unix()
    }

    /// Now, Unix seconds, by this engine's clock (what its checks use).
    #[must_use]
    pub fn now_unix(&self) -> i64 {
        self.now()
    }

    fn emit(&self, event: Event) {
        self.inner.events.record(&event);
    }

    /// Sign an access token, refusing one its verifiers would refuse: a subject over
    /// [`IssueRequest::MAX_SUBJECT_LEN`] or a token longer than the engine's verifier accepts.
    /// Every path that mints an access token comes through here.
    fn access_token(&self, p: &AccessParts<'_>) -> Result<String, Error> {
        if p.subject.len() > IssueRequest::MAX_SUBJECT_LEN {
            return Err(IssueLimit::Subject.into());
        }
        let jti = self.inner.jti.next(p.sid)?;
        // `jti` and `sid` go to the writer as bytes, encoded in place.
        let raw = RawIds {
            jti: Some(&jti),
            sid: p.sid.as_ref().map(FamilyId::as_bytes),
        };
        let claims: AccessTokenClaims<'_> = AccessTokenClaims {
            iss: Some(Cow::Borrowed(&self.inner.issuer)),
            sub: Some(Cow::Borrowed(p.subject)),
            aud: Some(p.audience.unwrap_or(&self.inner.audience).borrowed()),
            exp: Some(p.now.saturating_add(p.ttl)),
            iat: Some(p.now),
            client_id: Some(Cow::Borrowed(p.client_id)),
            scope: Some(Cow::Borrowed(p.scope)),
            auth_time: Some(p.auth_time),
            acr: p.acr.map(Cow::Borrowed),
            tenant: p.tenant.map(Cow::Borrowed),
            pv: Some(p.policy),
            cnf: (p.jkt.is_some() || p.cert.is_some()).then(|| Confirmation {
                jkt: p.jkt.map(Cow::Borrowed),
                x5t_s256: p.cert.map(Cow::Borrowed),
                jwk: None,
            }),
            ..AccessTokenClaims::default()
        };
        let json = access_claims_json(&claims, raw, p.act, p.claims)?;
        let token = self.inner.keys.sign_access_token_json(&json)?;
        if token.len() > self.inner.verifier.rules().max_len() {
            return Err(IssueLimit::AccessToken.into());
        }
        Ok(token)
    }

    /// The access-token lifetime for `client` (its own, checked, or the engine's).
    fn ttl_for(&self, client: &Client) -> Result<i64, Error> {
        Ok(client.access_ttl_secs()?.unwrap_or(self.inner.access_ttl))
    }

    fn response(
        &self,
        access_token: String,
        refresh_token: Option<RefreshToken>,
        scope: impl Into<String>,
        jkt: bool,
        ttl: i64,
    ) -> TokenResponse {
        // An owned scope (a refresh's narrowed one) moves into the response; a borrowed one is
        // copied.
        let scope: String = scope.into();
        TokenResponse {
            access_token,
            token_type: if jkt {
                TokenType::DPoP
            } else {
                TokenType::Bearer
            },
            expires_in: u64::try_from(ttl).unwrap_or(0),
            refresh_token,
            scope: (!scope.is_empty()).then_some(scope),
            id_token: None,
            issued_token_type: None,
        }
    }

    /// Issue tokens after the application authenticated the user: creates a family (unless
    /// the request says no refresh token) and returns the token response. The access token
    /// carries `sid` (the family id), `pv` (the effective policy version) and, when the
    /// request names one, `tenant`.
    ///
    /// It never mints a token its verifiers refuse: a subject over
    /// [`IssueRequest::MAX_SUBJECT_LEN`] bytes, application claims over
    /// [`IssueRequest::MAX_CLAIMS_LEN`] bytes of JSON, or a token longer than the engine's
    /// verifier accepts ([`DEFAULT_MAX_TOKEN_LEN`](crate::jose::DEFAULT_MAX_TOKEN_LEN),
    /// 8 KiB, the default of every verifier) is refused with [`Error::IssueLimit`] before
    /// anything is stored. The same check guards every other path that mints an access token
    /// (refresh, code, device, exchange, client credentials).
    ///
    /// If the store fails while creating the family, the answer is `Error::Store` and nobody
    /// receives the family's tokens; but the store may have committed it before failing to
    /// answer. The engine then revokes that family ([`RevocationReason::IssueFailed`]) on a
    /// best-effort basis: at once if the store answers, otherwise at the next `issue` or
    /// `delete_expired` of this instance (up to 1,024 pending). A family whose creation
    /// commits only after that cleanup read it, or whose instance stops first, stays listed
    /// until its idle expiry, and no token for it exists.
    pub async fn issue(&self, client: &Client, req: IssueRequest) -> Result<TokenResponse, Error> {
        self.clean_orphans().await;
        if req.subject.is_empty() {
            return Err(Error::InvalidRequest("empty subject"));
        }
        if req.subject.len() > IssueRequest::MAX_SUBJECT_LEN {
            return Err(IssueLimit::Subject.into());
        }
        // No store has to hold U+0000 (PostgreSQL `text` cannot): refused here.
        let nul = |s: Option<&str>| s.is_some_and(|s| s.contains('\0'));
        if nul(Some(&req.subject)) || nul(req.tenant.as_deref()) || nul(req.device_id.as_deref()) {
            return Err(Error::InvalidRequest(
                "U+0000 in a subject, tenant or device id",
            ));
        }
        if client.requires_dpop() && req.dpop.is_none() {
            return Err(crate::dpop::DpopError::Missing.into());
        }
        let jkt = req.dpop.as_ref().map(crate::dpop::VerifiedProof::jkt);
        let scope = grant_scope(client, req.scope.as_deref())?;
        let claims = encode_claims(&req.claims)?;
        if req
            .acr
            .as_deref()
            .is_some_and(|a| !crate::resource_indicator::is_acr(a))
        {
            return Err(Error::InvalidRequest(
                "acr must be 1 to 256 bytes of visible ASCII",
            ));
        }
        let resources = crate::resource_indicator::grant(
            &self.inner.resources,
            client.allowed_resources(),
            &req.resources,
        )?;
        let granted = (!resources.is_empty()).then(|| resources.join(" "));
        let token_resources =
            crate::resource_indicator::narrow(granted.as_deref(), &req.token_resources)?;
        let audience = resource_audience(&token_resources);
        let now = self.now();
        let auth_time = req.auth_time.unwrap_or(now);
        let policy = self.effective_policy(req.tenant.as_deref(), now).await?;
        let mut parts = AccessParts {
            subject: &req.subject,
            client_id: client.id(),
            scope: &scope,
            auth_time,
            sid: None,
            tenant: req.tenant.as_deref(),
            policy,
            jkt,
            cert: req.cert_thumbprint.as_deref(),
            claims: claims.as_deref(),
            now,
            ttl: self.ttl_for(client)?,
            audience: audience.as_ref(),
            act: None,
            acr: req.acr.as_deref(),
        };
        let reference = self.format_for(client) == crate::reference::AccessTokenFormat::Reference;
        if !req.refresh_token && !reference {
            let access = self.access_token(&parts)?;
            return Ok(self.response(access, None, &scope, jkt.is_some(), parts.ttl));
        }
        let spec = FamilySpec {
            subject: &req.subject,
            client_id: client.id(),
            scope: &scope,
            tenant: req.tenant.as_deref(),
            device_id: req.device_id.as_deref(),
            dpop_jkt: jkt,
            cert_thumbprint: req.cert_thumbprint.as_deref(),
            claims: claims.clone(),
            resources: granted.as_deref(),
            acr: req.acr.as_deref(),
            auth_time,
            policy,
            absolute_ttl_secs: self.inner.absolute_ttl,
        };
        // 128-bit random ids do not collide; the loop only guards against a broken RNG.
        for _ in 0..3 {
            let mut fam = new_family(&self.inner.refresh, &spec, now)?;
            if !req.refresh_token {
                // A reference token without a session: its own record, ending with it.
                fam.record.access_only = true;
                fam.record.absolute_expires_at = now.saturating_add(parts.ttl);
            }
            // Signed before the family is stored, so a token the limits refuse leaves nothing
            // behind.
            parts.sid = Some(fam.record.id);
            let access = self.access_token_for(client, &parts, &scope, granted.as_deref())?;
            let created = self.inner.store.create_family(&fam.record).await;
            let created = match created {
                Ok(outcome) => outcome,
                Err(e) => {
                    // The create may have committed with its answer lost: nobody will get
                    // this family's tokens, so it must not stay live.
                    self.orphaned(fam.record.id).await;
                    return Err(store_error(e));
                }
            };
            let created = match created {
                // A create re-sent after a lost answer (a dropped connection, a driver's
                // retry) finds its own first attempt: the very record, so ours, not a
                // collision (taken for one, it would stay live with nobody holding it).
                // 128 random bits and a fresh secret hash make any other family differ.
                InsertOutcome::Exists => match self.inner.store.load_family(&fam.record.id).await {
                    Ok(Some(stored)) if stored == fam.record => InsertOutcome::Inserted,
                    Ok(_) => InsertOutcome::Exists,
                    Err(e) => {
                        self.orphaned(fam.record.id).await;
                        return Err(store_error(e));
                    }
                },
                InsertOutcome::Inserted => InsertOutcome::Inserted,
            };
            match created {
                InsertOutcome::Exists => continue,
                InsertOutcome::Inserted => {
                    let bound = jkt.is_some();
                    if !req.refresh_token {
                        return Ok(self.response(access, None, &scope, bound, parts.ttl));
                    }
                    self.emit(Event::Issued {
                        family: fam.record.id,
                        client_id: client.id().to_owned(),
                        subject: req.subject.clone(),
                    });
                    return Ok(self.response(access, Some(fam.token), &scope, bound, parts.ttl));
                }
            }
        }
        Err(Error::Crypto(
            "family id collisions: random generator broken",
        ))
    }

    /// Revoke a family whose creation may have committed although `issue` failed; remember it
    /// for later if the store does not answer.
    async fn orphaned(&self, id: FamilyId) {
        if !self.revoke_orphan(id).await {
            let mut orphans = self
                .inner
                .orphans
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if orphans.len() >= MAX_ORPHANS {
                orphans.remove(0);
            }
            orphans.push(id);
        }
    }

    /// Retry the cleanup of orphaned families, if any: a few per call, so a store that is
    /// still down costs a request at most a few failed reads.
    async fn clean_orphans(&self) {
        let pending: Vec<FamilyId> = {
            let mut orphans = self
                .inner
                .orphans
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let n = orphans.len().min(4);
            orphans.drain(..n).collect()
        };
        for id in pending {
            self.orphaned(id).await;
        }
    }

    /// Revoke an orphaned family if the store holds it untouched. `false` when the store
    /// failed (try again later); `true` when done or nothing to do.
    async fn revoke_orphan(&self, id: FamilyId) -> bool {
        let store = &self.inner.store;
        let record = match store.load_family(&id).await {
            Ok(Some(r)) => r,
            Ok(None) => return true,
            Err(_) => return false,
        };
        // Nobody holds a token of it, so it can only be untouched; anything else is not ours.
        if !record.is_active() || record.generation != 0 || record.version != 0 {
            return true;
        }
        let mut revoked = record;
        let reason = RevocationReason::IssueFailed;
        revoked.revoke(
            reason,
            self.now(),
            OperationId::of("issue_failed", &[id.as_bytes()]),
        );
        match store.compare_and_swap_family(0, &revoked).await {
            Ok(CasOutcome::Swapped) => {
                self.emit(Event::FamilyRevoked {
                    family: id,
                    reason,
                    possible_repeat: false,
                });
                true
            }
            Ok(CasOutcome::Conflict) => true,
            Err(_) => false,
        }
    }

    /// Delete expired records from the store (call it periodically). Also retries the
    /// cleanup of families left by failed `issue` calls.
    pub async fn delete_expired(&self) -> Result<u64, Error> {
        self.clean_orphans().await;
        self.inner
            .store
            .delete_expired(self.now())
            .await
            .map_err(store_error)
    }
}

#[cfg(test)]
mod tests;
