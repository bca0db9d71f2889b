//! Reference access tokens in the engine: minting them, introspecting them (one store read)
//! and revoking them one by one (RFC 7009). The format is in [`crate::reference`](mod@crate::reference).

use std::borrow::Cow;

use serde::de::DeserializeOwned;

use super::{AccessParts, Engine, RevocationOutcome, store_error};
use crate::client::Client;
use crate::error::{Error, GrantError, TokenError};
use crate::event::Event;
use crate::family::{FamilyRecord, RevokedAccessToken};
use crate::jose::{AccessTokenClaims, Audience, Confirmation};
use crate::reference::{self, AccessTokenFormat, ReferenceParts, ReferenceToken};
use crate::response::IntrospectionResponse;
use crate::store::{CasOutcome, TokenStore};

impl<S: TokenStore> Engine<S> {
    /// The access-token format for `client`: its own, or the engine's.
    pub(crate) fn format_for(&self, client: &Client) -> AccessTokenFormat {
        client.access_format().unwrap_or(self.inner.access_format)
    }

    /// Mint `client`'s access token: a JWT, or a reference token naming `p.sid` (required for
    /// one) whose scope is selected among `family_scope`'s and whose audience (`p.audience`:
    /// resource indicators, or the engine's own) among `family_resources`.
    pub(super) fn access_token_for(
        &self,
        client: &Client,
        p: &AccessParts<'_>,
        family_scope: &str,
        family_resources: Option<&str>,
    ) -> Result<String, Error> {
        match self.format_for(client) {
            AccessTokenFormat::Reference => {
                if p.subject.len() > crate::IssueRequest::MAX_SUBJECT_LEN {
                    return Err(crate::error::IssueLimit::Subject.into());
                }
                let family = p.sid.ok_or(Error::Config(
                    "engine: a reference access token needs a session record",
                ))?;
                let resources: Vec<&str> =
                    p.audience.map(|a| a.iter().collect()).unwrap_or_default();
                let parts = ReferenceParts {
                    family,
                    iat: p.now,
                    exp: p.now.saturating_add(p.ttl),
                    family_scope,
                    scope: p.scope,
                    jkt: p.jkt,
                    x5t: p.cert,
                    family_resources,
                    resources: &resources,
                    mask: None,
                };
                reference::mint(&self.inner.refresh, &parts).map(|(t, _)| t)
            }
            AccessTokenFormat::Jwt => self.access_token(p),
        }
    }

    /// A reference token and its record, if the token is active at `now`: tag, `exp` (both
    /// before any store read), then one `load_family`: the record live (not revoked, not
    /// expired, not ended by a policy major bump) and the token not revoked on its own.
    pub(crate) async fn active_reference(
        &self,
        token: &str,
    ) -> Result<Option<(ReferenceToken, FamilyRecord)>, Error> {
        let Some(r) = reference::parse(&self.inner.refresh, token) else {
            return Ok(None);
        };
        if self.now() >= r.exp {
            return Ok(None);
        }
        Ok(self.live_record(&r).await?.map(|record| (r, record)))
    }

    /// The record of a parsed, unexpired reference token, if the token is active.
    async fn live_record(&self, r: &ReferenceToken) -> Result<Option<FamilyRecord>, Error> {
        let Some(record) = self
            .inner
            .store
            .load_family(&r.family)
            .await
            .map_err(store_error)?
        else {
            return Ok(None);
        };
        let now = self.now();
        if record.id != r.family
            || !record.is_live_for_access(now, self.inner.idle_ttl)
            || record.access_token_revoked(&r.id, r.iat)
            || !self.policy_allows(&record, now).await?
        {
            return Ok(None);
        }
        Ok(Some(record))
    }

    /// What a JWT would have said, for an active reference token: the claims of
    /// [`Engine::verify_with_revocation_as`] (the application's as `T`, from the session), so
    /// the resource-server and token-exchange paths treat both formats alike. A forged or
    /// altered token is `Malformed`, an expired one `Expired`, both without a store read;
    /// any other inactive one `SessionRevoked`.
    pub(crate) async fn reference_claims<T: DeserializeOwned>(
        &self,
        token: &str,
    ) -> Result<AccessTokenClaims<'static, T>, Error> {
        let r = reference::parse(&self.inner.refresh, token).ok_or(TokenError::Malformed)?;
        if self.now() >= r.exp {
            return Err(TokenError::Expired.into());
        }
        let record = self
            .live_record(&r)
            .await?
            .ok_or(TokenError::SessionRevoked)?;
        let custom: T = serde_json::from_str(record.claims.as_deref().unwrap_or("{}"))
            .map_err(|_| TokenError::Claims)?;
        let jkt = r.jkt.as_ref().map(reference::thumbprint_text);
        let x5t = r.x5t.as_ref().map(reference::thumbprint_text);
        let mut claims = AccessTokenClaims::new(custom);
        claims.iss = Some(Cow::Owned(self.inner.issuer.clone()));
        claims.aud = Some(self.reference_audience(&r, &record));
        claims.acr = record.acr.as_deref().map(|a| Cow::Owned(a.to_owned()));
        claims.exp = Some(r.exp);
        claims.iat = Some(r.iat);
        claims.jti = Some(Cow::Owned(
            crate::jose::b64_encode_16(&r.id).as_str().to_owned(),
        ));
        claims.scope = Some(Cow::Owned(reference::scope_of(&record.scope, r.scope_mask)));
        claims.auth_time = Some(record.auth_time);
        claims.sid = (!record.access_only).then(|| Cow::Owned(record.id.to_string()));
        claims.pv = Some(record.policy);
        claims.cnf = (jkt.is_some() || x5t.is_some()).then(|| Confirmation {
            jkt: jkt.map(Cow::Owned),
            x5t_s256: x5t.map(Cow::Owned),
            jwk: None,
        });
        claims.sub = Some(Cow::Owned(record.subject.as_ref().to_owned()));
        claims.client_id = Some(Cow::Owned(record.client_id.as_ref().to_owned()));
        claims.tenant = record.tenant.as_deref().map(|t| Cow::Owned(t.to_owned()));
        Ok(claims)
    }

    /// A reference token's audience: its resource indicators, or (mask 0) the engine's own.
    /// A mask that selects none of the session's resources never falls back to the engine's
    /// audiences: it names nothing, and every audience check refuses it.
    fn reference_audience(&self, r: &ReferenceToken, record: &FamilyRecord) -> Audience<'static> {
        if r.resource_mask == 0 {
            return self.inner.audience.clone();
        }
        let resources = reference::resources_of(record.resources.as_deref(), r.resource_mask);
        match resources.as_slice() {
            [] => Audience::Many(Vec::new()),
            [one] => Audience::One(Cow::Owned((*one).to_owned())),
            many => Audience::Many(many.iter().map(|r| Cow::Owned((*r).to_owned())).collect()),
        }
    }

    /// Refuse a reference token's claims where `resource`'s verifier would refuse a JWT with
    /// the same `aud` (RFC 8707): at a resource the engine serves, the token must name it;
    /// elsewhere it must name one of the engine's own audiences.
    pub(super) fn check_reference_audience<T>(
        &self,
        resource: Option<&str>,
        claims: &AccessTokenClaims<'_, T>,
    ) -> Result<(), Error> {
        let aud = claims.aud.as_ref();
        let served = resource.filter(|r| self.inner.resources.iter().any(|x| x == r));
        let ok = match served {
            Some(r) => aud.is_some_and(|a| a.contains(r)),
            None => aud.is_some_and(|a| self.inner.audience.iter().any(|own| a.contains(own))),
        };
        if ok {
            Ok(())
        } else {
            Err(TokenError::Audience.into())
        }
    }

    /// RFC 7662 for a reference token.
    pub(crate) async fn introspect_reference(
        &self,
        token: &str,
    ) -> Result<IntrospectionResponse, Error> {
        let Some((r, record)) = self.active_reference(token).await? else {
            return Ok(IntrospectionResponse::inactive());
        };
        let jkt = r.jkt.as_ref().map(reference::thumbprint_text);
        let x5t = r.x5t.as_ref().map(reference::thumbprint_text);
        let aud = self.reference_audience(&r, &record);
        let mut out = IntrospectionResponse::inactive();
        out.active = true;
        out.token_type = Some(if jkt.is_some() { "DPoP" } else { "Bearer" }.to_owned());
        out.scope = Some(reference::scope_of(&record.scope, r.scope_mask));
        out.client_id = Some(record.client_id.as_ref().to_owned());
        out.sub = Some(record.subject.as_ref().to_owned());
        out.exp = Some(r.exp);
        out.iat = Some(r.iat);
        out.aud = Some(aud);
        out.iss = Some(self.inner.issuer.clone());
        out.jti = Some(crate::jose::b64_encode_16(&r.id).as_str().to_owned());
        out.cnf = (jkt.is_some() || x5t.is_some()).then(|| Confirmation {
            jkt: jkt.map(Cow::Owned),
            x5t_s256: x5t.map(Cow::Owned),
            jwk: None,
        });
        Ok(out)
    }

    /// RFC 7009 for a reference token: revoke this token alone (its session goes on), with
    /// bounded storage ([`FamilyRecord::revoke_access_token`]). A token of another client is
    /// [`Error::UnauthorizedClient`]; a forged one is `Unknown` without a store read.
    pub(crate) async fn revoke_reference(
        &self,
        client: &Client,
        token: &str,
    ) -> Result<RevocationOutcome, Error> {
        let Some(r) = reference::parse(&self.inner.refresh, token) else {
            return Ok(RevocationOutcome::Unknown);
        };
        let family = r.family;
        let store = &self.inner.store;
        for _ in 0..super::refresh::MAX_REVOKE_ATTEMPTS {
            let Some(mut record) = store.load_family(&family).await.map_err(store_error)? else {
                return Ok(RevocationOutcome::Unknown);
            };
            if client.id() != &*record.client_id {
                return Err(Error::UnauthorizedClient);
            }
            let now = self.now();
            if now >= r.exp || !record.is_live_for_access(now, self.inner.idle_ttl) {
                return Ok(RevocationOutcome::AlreadyInactive { family });
            }
            let expected = record.version;
            let entry = RevokedAccessToken {
                id: r.id,
                iat: r.iat,
                exp: r.exp,
            };
            if !record.revoke_access_token(entry, now) {
                // Revoked already: by this request's earlier attempt (answer lost) or
                // another; either way the token is revoked.
                self.emit(Event::AccessTokenRevoked {
                    family,
                    possible_repeat: true,
                });
                return Ok(RevocationOutcome::AccessTokenRevoked { family });
            }
            if store
                .compare_and_swap_family(expected, &record)
                .await
                .map_err(store_error)?
                == CasOutcome::Swapped
            {
                self.emit(Event::AccessTokenRevoked {
                    family,
                    possible_repeat: false,
                });
                return Ok(RevocationOutcome::AccessTokenRevoked { family });
            }
        }
        Err(Error::InvalidGrant(GrantError::Contention))
    }
}
