//! What ends sessions and what reads them: revocation-aware verification, RFC 7009
//! revocation, RFC 7662 introspection, the sessions list and signing out.
//!
//! Every revocation carries the [`OperationId`] of the request that made it (the token
//! revoked, the session signed out, the subject signed out everywhere), so a retry of a request
//! whose first answer was lost can tell that it may have done the revocation itself, and report
//! it again (events marked as possible repeats) instead of "already inactive".

use std::borrow::Cow;

use super::{Engine, RevocationOutcome, Session, store_error};
use crate::client::Client;
use crate::error::{Error, GrantError, TokenError};
use crate::event::Event;
use crate::family::{FamilyRecord, OperationId, RevocationReason};
use crate::jose::{AccessTokenClaims, NoCustomClaims};
use crate::opaque::{FamilyId, REFRESH_TOKEN_PREFIX, hash_secret, hashes_match};
use crate::reference::REFERENCE_TOKEN_PREFIX;
use crate::response::IntrospectionResponse;
use crate::store::{CasOutcome, TokenStore};
use serde::de::DeserializeOwned;

/// How long after a sign-out everywhere a retry of it (same subject, same idempotency key)
/// still counts the sessions that sign-out ended: long enough for any client or load-balancer retry, short
/// enough that a sign-out next week does not count this week's.
pub(crate) const SIGN_OUT_RETRY_WINDOW: i64 = 300;

impl<S: TokenStore> Engine<S> {
    /// Verify an access token and also reject it when its session (`sid`) is revoked or
    /// expired (absolute or idle), or unknown in the store, or when its `pv` major is older
    /// than the current effective version of its tenant. Tokens without `sid` (issued
    /// without a refresh token) skip the session check, not the policy check: their tenant
    /// comes from their `tenant` claim. At most one store read, plus a policy read when this
    /// instance's cached policy version is older than [`EngineBuilder::policy_refresh`](crate::EngineBuilder::policy_refresh).
    ///
    /// The claims come with no application claims; [`Engine::verify_with_revocation_as`]
    /// returns them as the application's type.
    ///
    /// JWTs only: a reference access token (`at_...`) fails here; check those with
    /// [`Engine::introspect`] (or the introspection endpoint).
    pub async fn verify_with_revocation(
        &self,
        token: &str,
    ) -> Result<AccessTokenClaims<'static>, Error> {
        self.verify_with_revocation_as::<NoCustomClaims>(token)
            .await
    }

    /// [`Engine::verify_with_revocation`] with the application's claims as `T` (the
    /// [`Verifier::verify_as`](crate::Verifier::verify_as) of the revocation-checked path):
    /// a route that must honour revocation reads its `role` claim from this one
    /// verification.
    pub async fn verify_with_revocation_as<T: DeserializeOwned>(
        &self,
        token: &str,
    ) -> Result<AccessTokenClaims<'static, T>, Error> {
        self.verify_with_revocation_by(&self.inner.verifier, token)
            .await
    }

    /// [`Engine::verify_with_revocation_as`] with another verifier of this engine's keys.
    pub(crate) async fn verify_with_revocation_by<T: DeserializeOwned>(
        &self,
        verifier: &crate::verifier::Verifier,
        token: &str,
    ) -> Result<AccessTokenClaims<'static, T>, Error> {
        let claims = verifier.verify_as::<T>(token)?;
        let now = self.now();
        let mut tenant: Option<std::sync::Arc<str>> = claims.tenant.as_deref().map(Into::into);
        if let Some(sid) = claims.sid.as_deref() {
            let family = FamilyId::parse(sid)
                .ok_or_else(|| verifier.report(TokenError::SessionRevoked.into()))?;
            let record = self
                .inner
                .store
                .load_family(&family)
                .await
                .map_err(store_error)?;
            match record {
                Some(r) if r.is_live(now, self.inner.idle_ttl) => tenant = r.tenant,
                _ => return Err(verifier.report(TokenError::SessionRevoked.into())),
            }
        }
        let current = self.effective_policy(tenant.as_deref(), now).await?;
        if claims.pv.is_none_or(|pv| pv.major < current.major) {
            return Err(verifier.report(TokenError::PolicyStale.into()));
        }
        Ok(claims)
    }

    /// Revoke a token (RFC 7009). A refresh token revokes its family; an access token
    /// revokes its family through `sid`. Malformed or unknown tokens are not an error (answer
    /// 200 anyway); the outcome says what happened. A token of another client is
    /// [`Error::UnauthorizedClient`] and revokes nothing. Revoking the same token again after
    /// an answer was lost reports [`RevocationOutcome::Revoked`] again (the store did revoke
    /// it), with the event marked as a possible repeat.
    ///
    /// A reference access token (`at_...`) is revoked on its own, not its session: at once
    /// for every engine over the store, with storage bounded per session (see
    /// [`crate::reference`](mod@crate::reference)); the outcome is [`RevocationOutcome::AccessTokenRevoked`]. A
    /// forged or altered one is `Unknown` without a store read.
    pub async fn revoke(&self, client: &Client, token: &str) -> Result<RevocationOutcome, Error> {
        if token.starts_with(REFERENCE_TOKEN_PREFIX) {
            return self.revoke_reference(client, token).await;
        }
        let family = if token.starts_with(REFRESH_TOKEN_PREFIX) {
            match self.inner.refresh.parse(token) {
                Ok(p) => p.family(),
                Err(_) => return Ok(RevocationOutcome::Unknown),
            }
        } else {
            match self.inner.any_verifier.verify_ignoring_expiry(token) {
                Ok(Some(sid)) => sid,
                Ok(None) => return Ok(RevocationOutcome::NoSession),
                Err(_) => return Ok(RevocationOutcome::Unknown),
            }
        };
        let op = OperationId::of("revoke", &[token.as_bytes()]);
        self.revoke_family(Some(client), family, RevocationReason::TokenRevoked, op)
            .await
    }

    /// Load → check → compare-and-swap to revoked, with bounded retries.
    pub(crate) async fn revoke_family(
        &self,
        client: Option<&Client>,
        family: FamilyId,
        reason: RevocationReason,
        op: OperationId,
    ) -> Result<RevocationOutcome, Error> {
        let store = &self.inner.store;
        for _ in 0..super::refresh::MAX_REVOKE_ATTEMPTS {
            let Some(mut record) = store.load_family(&family).await.map_err(store_error)? else {
                return Ok(RevocationOutcome::Unknown);
            };
            if client.is_some_and(|c| c.id() != &*record.client_id) {
                return Err(Error::UnauthorizedClient);
            }
            let now = self.now();
            if let Some((reason, _, by)) = record.revocation()
                && by == op
            {
                // This request's own earlier attempt revoked it; its answer was lost.
                self.emit(Event::FamilyRevoked {
                    family,
                    reason,
                    possible_repeat: true,
                });
                return Ok(RevocationOutcome::Revoked { family });
            }
            if !record.is_live(now, self.inner.idle_ttl) {
                return Ok(RevocationOutcome::AlreadyInactive { family });
            }
            let expected = record.version;
            record.revoke(reason, now, op);
            if store
                .compare_and_swap_family(expected, &record)
                .await
                .map_err(store_error)?
                == CasOutcome::Swapped
            {
                self.emit(Event::FamilyRevoked {
                    family,
                    reason,
                    possible_repeat: false,
                });
                return Ok(RevocationOutcome::Revoked { family });
            }
        }
        Err(Error::InvalidGrant(GrantError::Contention))
    }

    /// Introspect a token (RFC 7662). Anything invalid, expired, revoked or unknown is
    /// `{"active":false}`, with no detail. Only a store failure is an error.
    ///
    /// A reference access token (`at_...`) costs one store read (`load_family`, plus a policy
    /// read when this instance's cached version is stale); a forged, altered or expired one
    /// none. It is active while its session (or its own record, for a grant without a
    /// refresh token) is live, its policy major current, and it is not revoked on its own;
    /// `cnf` reports its DPoP key or certificate binding. This is how a resource server
    /// given reference tokens checks them: the [`Verifier`](crate::Verifier) and the
    /// `verify*` methods are for JWTs only.
    pub async fn introspect(&self, token: &str) -> Result<IntrospectionResponse, Error> {
        if token.starts_with(REFERENCE_TOKEN_PREFIX) {
            return self.introspect_reference(token).await;
        }
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
            let current = p.generation() == record.generation
                && hashes_match(&hash_secret(&p.secret), &record.current_secret_hash.0);
            if !current || !self.is_live_session(&record, now).await? {
                return Ok(IntrospectionResponse::inactive());
            }
            let mut r = IntrospectionResponse::inactive();
            r.active = true;
            r.scope = Some(record.scope.as_ref().to_owned());
            r.client_id = Some(record.client_id.as_ref().to_owned());
            r.sub = Some(record.subject.as_ref().to_owned());
            r.exp = Some(record.expires_at(self.inner.idle_ttl));
            r.iat = Some(if record.rotated_at == 0 {
                record.created_at
            } else {
                record.rotated_at
            });
            r.iss = Some(self.inner.issuer.clone());
            r.token_type = Some("refresh_token".to_owned());
            return Ok(r);
        }
        match self
            .verify_with_revocation_by::<NoCustomClaims>(&self.inner.any_verifier, token)
            .await
        {
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

    /// Whether a family is a live session at `now`: not revoked, not expired, and not ended
    /// by a policy major bump of its tenant (a refresh would revoke it).
    async fn is_live_session(&self, record: &FamilyRecord, now: i64) -> Result<bool, Error> {
        Ok(record.is_live(now, self.inner.idle_ttl) && self.policy_allows(record, now).await?)
    }

    /// Whether the current policy still allows the family (no major bump past it).
    pub(crate) async fn policy_allows(
        &self,
        record: &FamilyRecord,
        now: i64,
    ) -> Result<bool, Error> {
        let current = self.effective_policy(record.tenant.as_deref(), now).await?;
        Ok(current.major <= record.policy.major)
    }

    /// The subject's live sessions (active, not expired, not ended by a policy major bump),
    /// most recently used first.
    pub async fn sessions(&self, subject: &str) -> Result<Vec<Session>, Error> {
        let now = self.now();
        let families = self
            .inner
            .store
            .list_families(subject)
            .await
            .map_err(store_error)?;
        let mut out = Vec::new();
        for f in families {
            if *f.subject == *subject && !f.access_only && self.is_live_session(&f, now).await? {
                out.push(Session {
                    family: f.id,
                    expires_at: f.expires_at(self.inner.idle_ttl),
                    client_id: f.client_id.as_ref().to_owned(),
                    device_id: f.device_id.as_deref().map(str::to_owned),
                    created_at: f.created_at,
                    last_used_at: f.last_used_at,
                });
            }
        }
        out.sort_by_key(|s| core::cmp::Reverse(s.last_used_at));
        Ok(out)
    }

    /// Sign one session out (it must belong to `subject`). A retry after a lost answer
    /// reports [`RevocationOutcome::Revoked`] again.
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
            Some(f) if *f.subject == *subject => {
                let op = OperationId::of("revoke_session", &[family.as_bytes()]);
                self.revoke_family(None, family, RevocationReason::Logout, op)
                    .await
            }
            _ => Ok(RevocationOutcome::Unknown),
        }
    }

    /// Sign the subject out everywhere: revoke every session. Returns how many live sessions
    /// this call ended, read back from the store after the revocation: the families that it
    /// revoked and that were live sessions then (expired families, and ones a policy major
    /// bump had already ended, are revoked too but not counted or reported). It emits one
    /// [`Event::FamilyRevoked`] per session it counts.
    ///
    /// Each call is its own sign-out: called twice within minutes, with a new login in
    /// between, the second call ends the new session and returns 1, whatever the first one
    /// did. So a retry of this call after a lost answer ends whatever is still live and
    /// returns 0 for what the lost attempt ended (and the events of that attempt stay
    /// unreported). To retry and get the lost attempt's count and events back, use
    /// [`Engine::sign_out_everywhere_idempotent`] with the same key on every attempt.
    pub async fn sign_out_everywhere(&self, subject: &str) -> Result<u64, Error> {
        let mut nonce = [0u8; 16];
        crate::crypto::fill_random(&mut nonce)?;
        let op = OperationId::of("sign_out_everywhere", &[subject.as_bytes(), &nonce]);
        self.sign_out(subject, op).await
    }

    /// [`Engine::sign_out_everywhere`], retryable: `idempotency_key` names the user's request
    /// (an `Idempotency-Key` header, or an id the application saved before the first
    /// attempt), the same on every attempt of that request and different for each new
    /// request. Within 5 minutes of the attempt that committed, a retry with the same key
    /// counts the sessions that attempt ended (plus any it ends itself) and reports them
    /// again as possible repeats (`possible_repeat: true`), so an answer lost on the way back
    /// loses neither the count nor the events. A call with a new key is a new sign-out and
    /// counts only what it ends, as [`Engine::sign_out_everywhere`] does.
    ///
    /// The key is hashed with the subject into the revocation's
    /// [`OperationId`]; it is not stored, and keys of different subjects never meet. An
    /// empty key is refused ([`Error::InvalidRequest`]): it would make every sign-out of the
    /// subject the same request.
    pub async fn sign_out_everywhere_idempotent(
        &self,
        subject: &str,
        idempotency_key: &[u8],
    ) -> Result<u64, Error> {
        if idempotency_key.is_empty() {
            return Err(Error::InvalidRequest("empty sign-out idempotency key"));
        }
        let op = OperationId::of(
            "sign_out_everywhere_idempotent",
            &[subject.as_bytes(), idempotency_key],
        );
        self.sign_out(subject, op).await
    }

    /// Revoke every family of `subject` under `op`; count and report those revoked under
    /// `op` within the retry window that were live sessions then.
    async fn sign_out(&self, subject: &str, op: OperationId) -> Result<u64, Error> {
        let now = self.now();
        let reason = RevocationReason::SignOutEverywhere;
        let revoked_now = self
            .inner
            .store
            .revoke_subject(subject, reason, now, op)
            .await
            .map_err(store_error)?;
        let families = self
            .inner
            .store
            .list_families(subject)
            .await
            .map_err(store_error)?;
        let mut ended = 0;
        for f in families.iter().filter(|f| *f.subject == *subject) {
            let Some((r, at, by)) = f.revocation() else {
                continue;
            };
            if r != reason
                || by != op
                || f.access_only
                || at.abs_diff(now) > SIGN_OUT_RETRY_WINDOW.unsigned_abs()
            {
                continue;
            }
            // Was it a live session when the sign-out reached it?
            let expired = at >= f.expires_at(self.inner.idle_ttl);
            if expired || !self.policy_allows(f, now).await? {
                continue;
            }
            ended += 1;
            self.emit(Event::FamilyRevoked {
                family: f.id,
                reason,
                possible_repeat: revoked_now == 0 || at != now,
            });
        }
        Ok(ended)
    }
}
