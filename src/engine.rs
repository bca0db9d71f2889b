//! The facade: [`Engine`] wires keys, refresh secrets, store, clock, policy and events into
//! issue, refresh, verify, revoke, introspect and session management. The defaults, with the
//! reasons, are on [`EngineBuilder`].

use std::borrow::Cow;
use std::sync::Arc;

use ring::rand::{SecureRandom, SystemRandom};

use crate::client::{
    Client, IssueRequest, RefreshRequest, encode_claims, grant_scope, narrow_scope,
};
use crate::clock::Clock;
use crate::error::{Error, GrantError};
use crate::event::{Event, EventSink};
use crate::family::{
    DecideConfig, FamilyRecord, FamilySpec, RefreshFailure, Refreshed, RevocationReason,
    new_family, refresh_family,
};
use crate::jose::{AccessTokenClaims, Audience, Confirmation, b64_encode_to};
use crate::keyset::KeySet;
use crate::opaque::{FamilyId, REFRESH_TOKEN_PREFIX, RefreshKeys, RefreshToken};
use crate::policy::{PolicyRegistry, PolicyVersion};
use crate::response::{IntrospectionResponse, TokenResponse, TokenType};
use crate::store::{CasOutcome, InsertOutcome, TokenStore};
use crate::verifier::Verifier;

mod builder;

pub use builder::EngineBuilder;

/// The token engine. `Send + Sync`; clones share everything (one `Arc`).
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
    policy: Arc<PolicyRegistry>,
    events: Arc<dyn EventSink>,
    verifier: Verifier,
    access_ttl: i64,
    idle_ttl: i64,
    absolute_ttl: i64,
    reuse_grace: i64,
}

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
    policy: PolicyVersion,
    jkt: Option<&'a str>,
    claims: Option<&'a str>,
    now: i64,
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

    /// The security-policy versions (bump them here).
    #[must_use]
    pub fn policy(&self) -> &PolicyRegistry {
        &self.inner.policy
    }

    /// The store.
    #[must_use]
    pub fn store(&self) -> &S {
        &self.inner.store
    }

    fn now(&self) -> i64 {
        self.inner.clock.now_unix()
    }

    fn emit(&self, event: Event) {
        self.inner.events.record(&event);
    }

    fn access_token(&self, p: &AccessParts<'_>) -> Result<String, Error> {
        let mut jti = [0u8; 16];
        SystemRandom::new()
            .fill(&mut jti)
            .map_err(|_| Error::Crypto("random generator failed"))?;
        let mut jti_text = String::with_capacity(22);
        b64_encode_to(&jti, &mut jti_text);
        let claims: AccessTokenClaims<'_> = AccessTokenClaims {
            iss: Some(Cow::Borrowed(&self.inner.issuer)),
            sub: Some(Cow::Borrowed(p.subject)),
            aud: Some(self.inner.audience.clone()),
            exp: Some(p.now.saturating_add(self.inner.access_ttl)),
            iat: Some(p.now),
            jti: Some(Cow::Owned(jti_text)),
            client_id: Some(Cow::Borrowed(p.client_id)),
            scope: Some(Cow::Borrowed(p.scope)),
            auth_time: Some(p.auth_time),
            sid: p.sid.map(|s| Cow::Owned(s.to_string())),
            pv: Some(p.policy),
            cnf: p.jkt.map(Confirmation::jkt),
            ..AccessTokenClaims::default()
        };
        let mut json = serde_json::to_vec(&claims).map_err(|e| Error::Serialize(e.to_string()))?;
        // Splice the application's claims (a JSON object without registered names, checked
        // when the session was issued) into the registered ones: `{..}` + `{..}` → `{..,..}`.
        if let Some(app) = p
            .claims
            .and_then(|c| c.strip_prefix('{'))
            .filter(|c| c.len() > 1)
        {
            json.pop();
            json.push(b',');
            json.extend_from_slice(app.as_bytes());
        }
        self.inner.keys.sign_access_token_json(&json)
    }

    fn response(
        &self,
        access_token: String,
        refresh_token: Option<RefreshToken>,
        scope: &str,
        jkt: bool,
    ) -> TokenResponse {
        TokenResponse {
            access_token,
            token_type: if jkt {
                TokenType::DPoP
            } else {
                TokenType::Bearer
            },
            expires_in: u64::try_from(self.inner.access_ttl).unwrap_or(0),
            refresh_token,
            scope: (!scope.is_empty()).then(|| scope.to_owned()),
        }
    }

    /// Issue tokens after the application authenticated the user: creates a family (unless
    /// the request says no refresh token) and returns the token response. The access token
    /// carries `sid` (the family id) and `pv` (the effective policy version).
    pub async fn issue(&self, client: &Client, req: IssueRequest) -> Result<TokenResponse, Error> {
        if req.subject.is_empty() {
            return Err(Error::InvalidRequest("empty subject"));
        }
        let scope = grant_scope(client, req.scope.as_deref())?;
        let claims = encode_claims(&req.claims)?;
        let now = self.now();
        let auth_time = req.auth_time.unwrap_or(now);
        let policy = self.inner.policy.effective(req.tenant.as_deref());
        let mut parts = AccessParts {
            subject: &req.subject,
            client_id: client.id(),
            scope: &scope,
            auth_time,
            sid: None,
            policy,
            jkt: None,
            claims: claims.as_deref(),
            now,
        };
        if !req.refresh_token {
            let access = self.access_token(&parts)?;
            return Ok(self.response(access, None, &scope, false));
        }
        let spec = FamilySpec {
            subject: &req.subject,
            client_id: client.id(),
            scope: &scope,
            tenant: req.tenant.as_deref(),
            device_id: req.device_id.as_deref(),
            dpop_jkt: None,
            claims: claims.clone(),
            auth_time,
            policy,
            absolute_ttl_secs: self.inner.absolute_ttl,
        };
        // 128-bit random ids do not collide; the loop only guards against a broken RNG.
        for _ in 0..3 {
            let fam = new_family(&self.inner.refresh, &spec, now)?;
            match self
                .inner
                .store
                .create_family(&fam.record)
                .await
                .map_err(store_error)?
            {
                InsertOutcome::Exists => continue,
                InsertOutcome::Inserted => {
                    parts.sid = Some(fam.record.id);
                    let access = self.access_token(&parts)?;
                    self.emit(Event::Issued {
                        family: fam.record.id,
                        client_id: client.id().to_owned(),
                        subject: req.subject.clone(),
                    });
                    return Ok(self.response(access, Some(fam.token), &scope, false));
                }
            }
        }
        Err(Error::Crypto(
            "family id collisions: random generator broken",
        ))
    }

    /// Refresh: rotation with reuse detection (load → decide → compare-and-swap, bounded
    /// retries). The scope may be narrowed, never widened; a token used by a client other
    /// than its own counts as reuse.
    pub async fn refresh(
        &self,
        client: &Client,
        refresh_token: &str,
        req: RefreshRequest,
    ) -> Result<TokenResponse, Error> {
        let presented = match self.inner.refresh.parse(refresh_token) {
            Ok(p) => p,
            Err(reason) => {
                self.emit(Event::RefreshRejected {
                    family: None,
                    reason,
                });
                return Err(Error::InvalidGrant(reason));
            }
        };
        let now = self.now();
        let policy = &self.inner.policy;
        let cfg = DecideConfig {
            keys: &self.inner.refresh,
            client_id: client.id(),
            policy: PolicyVersion::default(),
            reuse_grace_secs: self.inner.reuse_grace,
            idle_ttl_secs: self.inner.idle_ttl,
        };
        // Reuse detection comes first: a replayed token revokes the family whatever scope it
        // asks for. Only a request that would succeed is checked for a widened scope.
        let scope_check =
            |record: &FamilyRecord| narrow_scope(&record.scope, req.scope.as_deref()).map(|_| ());
        let outcome = refresh_family(
            &self.inner.store,
            &presented,
            now,
            &cfg,
            |tenant| policy.effective(tenant),
            scope_check,
        )
        .await;
        let (record, token) = match outcome {
            Ok(Refreshed::Rotated {
                record,
                token,
                policy_upgraded,
            }) => {
                self.emit(Event::Refreshed {
                    family: record.id,
                    generation: record.generation,
                    policy_upgraded: policy_upgraded.then_some(record.policy),
                });
                (record, token)
            }
            Ok(Refreshed::GraceRetry { record, token }) => {
                self.emit(Event::GraceRetryServed {
                    family: record.id,
                    generation: record.generation,
                });
                (record, token)
            }
            Err(failure) => return Err(self.refresh_failed(failure, presented.family(), client)),
        };
        let scope = narrow_scope(&record.scope, req.scope.as_deref())?;
        let access = self.access_token(&AccessParts {
            subject: &record.subject,
            client_id: &record.client_id,
            scope: &scope,
            auth_time: record.auth_time,
            sid: Some(record.id),
            policy: record.policy,
            jkt: record.dpop_jkt.as_deref(),
            claims: record.claims.as_deref(),
            now,
        })?;
        Ok(self.response(access, Some(token), &scope, record.dpop_jkt.is_some()))
    }

    fn refresh_failed(&self, failure: RefreshFailure, family: FamilyId, client: &Client) -> Error {
        match failure {
            RefreshFailure::Store(e) => e,
            RefreshFailure::Request(e) => e,
            RefreshFailure::Rejected(reason, record) => {
                let known = record.is_some()
                    || !matches!(reason, GrantError::UnknownFamily | GrantError::Contention);
                self.emit(Event::RefreshRejected {
                    family: known.then_some(family),
                    reason,
                });
                Error::InvalidGrant(reason)
            }
            RefreshFailure::Revoked(revoked) => {
                let record = revoked.record;
                match revoked.reason {
                    RevocationReason::PolicyChanged => {
                        self.emit(Event::ReauthenticationRequired {
                            family: record.id,
                            subject: record.subject.clone(),
                        });
                        self.emit(Event::FamilyRevoked {
                            family: record.id,
                            reason: revoked.reason,
                        });
                        Error::ReauthenticationRequired
                    }
                    reason => {
                        self.emit(Event::ReuseDetected {
                            family: record.id,
                            client_id: record.client_id.clone(),
                            subject: record.subject.clone(),
                            presented_by: client.id().to_owned(),
                        });
                        self.emit(Event::FamilyRevoked {
                            family: record.id,
                            reason,
                        });
                        Error::ReuseDetected
                    }
                }
            }
        }
    }

    /// Verify an access token and also reject it when its session (`sid`) is revoked or
    /// expired, or its policy major is older than the current one. One store read.
    pub async fn verify_with_revocation(
        &self,
        token: &str,
    ) -> Result<AccessTokenClaims<'static>, Error> {
        self.inner
            .verifier
            .verify_with_revocation(&self.inner.store, token)
            .await
    }

    /// Revoke a token (RFC 7009). A refresh token revokes its family; an access token
    /// revokes its family through `sid`. Malformed or unknown tokens are not an error (answer
    /// 200 anyway); the outcome says what happened. A token of another client is
    /// [`Error::UnauthorizedClient`] and revokes nothing.
    pub async fn revoke(&self, client: &Client, token: &str) -> Result<RevocationOutcome, Error> {
        let family = if token.starts_with(REFRESH_TOKEN_PREFIX) {
            match self.inner.refresh.parse(token) {
                Ok(p) => p.family(),
                Err(_) => return Ok(RevocationOutcome::Unknown),
            }
        } else {
            match self.inner.verifier.verify_ignoring_expiry(token) {
                Ok(Some(sid)) => sid,
                Ok(None) => return Ok(RevocationOutcome::NoSession),
                Err(_) => return Ok(RevocationOutcome::Unknown),
            }
        };
        self.revoke_family(Some(client), family, RevocationReason::TokenRevoked)
            .await
    }

    async fn revoke_family(
        &self,
        client: Option<&Client>,
        family: FamilyId,
        reason: RevocationReason,
    ) -> Result<RevocationOutcome, Error> {
        let store = &self.inner.store;
        for _ in 0..crate::family::MAX_CAS_ATTEMPTS {
            let Some(mut record) = store.load_family(&family).await.map_err(store_error)? else {
                return Ok(RevocationOutcome::Unknown);
            };
            if client.is_some_and(|c| c.id() != record.client_id) {
                return Err(Error::UnauthorizedClient);
            }
            let now = self.now();
            if !record.is_live(now, self.inner.idle_ttl) {
                return Ok(RevocationOutcome::AlreadyInactive { family });
            }
            let expected = record.version;
            record.revoke(reason, now);
            if store
                .compare_and_swap_family(expected, &record)
                .await
                .map_err(store_error)?
                == CasOutcome::Swapped
            {
                self.emit(Event::FamilyRevoked { family, reason });
                return Ok(RevocationOutcome::Revoked { family });
            }
        }
        Err(Error::InvalidGrant(GrantError::Contention))
    }

    /// Introspect a token (RFC 7662). Anything invalid, expired, revoked or unknown is
    /// `{"active":false}`, with no detail. Only a store failure is an error.
    pub async fn introspect(&self, token: &str) -> Result<IntrospectionResponse, Error> {
        if token.starts_with(REFRESH_TOKEN_PREFIX) {
            let Ok(p) = self.inner.refresh.parse(token) else {
                return Ok(IntrospectionResponse::inactive());
            };
            let Some(record) = self
                .inner
                .store
                .load_family(&p.family())
                .await
                .map_err(store_error)?
            else {
                return Ok(IntrospectionResponse::inactive());
            };
            let now = self.now();
            let expires_at = self.family_expiry(&record);
            let current = p.generation() == record.generation
                && crate::opaque::hashes_match(
                    &crate::opaque::hash_secret(&p.secret),
                    &record.current_secret_hash.0,
                );
            let stale =
                self.inner.policy.effective(record.tenant.as_deref()).major > record.policy.major;
            if !record.is_live(now, self.inner.idle_ttl) || !current || stale {
                return Ok(IntrospectionResponse::inactive());
            }
            let mut r = IntrospectionResponse::inactive();
            r.active = true;
            r.scope = Some(record.scope.clone());
            r.client_id = Some(record.client_id.clone());
            r.sub = Some(record.subject.clone());
            r.exp = Some(expires_at);
            r.iat = Some(if record.rotated_at == 0 {
                record.created_at
            } else {
                record.rotated_at
            });
            r.iss = Some(self.inner.issuer.clone());
            r.token_type = Some("refresh_token".to_owned());
            return Ok(r);
        }
        match self.verify_with_revocation(token).await {
            Ok(c) => {
                let mut r = IntrospectionResponse::inactive();
                r.active = true;
                r.token_type = Some(
                    if c.cnf.as_ref().is_some_and(|c| c.jkt.is_some()) {
                        "DPoP"
                    } else {
                        "Bearer"
                    }
                    .to_owned(),
                );
                r.scope = c.scope.map(Cow::into_owned);
                r.client_id = c.client_id.map(Cow::into_owned);
                r.sub = c.sub.map(Cow::into_owned);
                r.exp = c.exp;
                r.iat = c.iat;
                r.aud = c.aud;
                r.iss = c.iss.map(Cow::into_owned);
                r.jti = c.jti.map(Cow::into_owned);
                r.cnf = c.cnf;
                Ok(r)
            }
            Err(Error::Store(e)) => Err(Error::Store(e)),
            Err(_) => Ok(IntrospectionResponse::inactive()),
        }
    }

    fn family_expiry(&self, record: &FamilyRecord) -> i64 {
        record.expires_at(self.inner.idle_ttl)
    }

    /// The subject's live sessions (active, not expired), most recently used first.
    pub async fn sessions(&self, subject: &str) -> Result<Vec<Session>, Error> {
        let now = self.now();
        let mut out: Vec<Session> = self
            .inner
            .store
            .list_families(subject)
            .await
            .map_err(store_error)?
            .into_iter()
            .filter(|f| f.subject == subject && f.is_live(now, self.inner.idle_ttl))
            .map(|f| Session {
                family: f.id,
                client_id: f.client_id.clone(),
                device_id: f.device_id.clone(),
                created_at: f.created_at,
                last_used_at: f.last_used_at,
                expires_at: self.family_expiry(&f),
            })
            .collect();
        out.sort_by_key(|s| core::cmp::Reverse(s.last_used_at));
        Ok(out)
    }

    /// Sign one session out (it must belong to `subject`).
    pub async fn revoke_session(
        &self,
        subject: &str,
        family: FamilyId,
    ) -> Result<RevocationOutcome, Error> {
        match self
            .inner
            .store
            .load_family(&family)
            .await
            .map_err(store_error)?
        {
            Some(f) if f.subject == subject => {
                self.revoke_family(None, family, RevocationReason::Logout)
                    .await
            }
            _ => Ok(RevocationOutcome::Unknown),
        }
    }

    /// Sign the subject out everywhere: revoke every session. Returns how many live sessions
    /// ended (expired ones are revoked too, but not counted or reported).
    pub async fn sign_out_everywhere(&self, subject: &str) -> Result<u64, Error> {
        let now = self.now();
        let families = self
            .inner
            .store
            .list_families(subject)
            .await
            .map_err(store_error)?;
        self.inner
            .store
            .revoke_subject(subject, RevocationReason::SignOutEverywhere, now)
            .await
            .map_err(store_error)?;
        let mut ended = 0;
        for f in families
            .iter()
            .filter(|f| f.subject == subject && f.is_live(now, self.inner.idle_ttl))
        {
            ended += 1;
            self.emit(Event::FamilyRevoked {
                family: f.id,
                reason: RevocationReason::SignOutEverywhere,
            });
        }
        Ok(ended)
    }

    /// Delete expired records from the store (call it periodically).
    pub async fn delete_expired(&self) -> Result<u64, Error> {
        self.inner
            .store
            .delete_expired(self.now())
            .await
            .map_err(store_error)
    }
}
