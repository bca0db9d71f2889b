//! Token exchange (RFC 8693), the seed's delegated token between microservices: a service
//! holding a user's access token exchanges it for one with another audience, for the same
//! user, with scopes only narrowed, an `act` claim naming the acting client (nested when the
//! token was already delegated), and a lifetime never past the original's.

use serde::Deserialize;

use super::{AccessParts, Engine, TokenBinding};
use crate::client::{Client, GrantType, narrow_scope};
use crate::error::{Error, GrantError};
use crate::jose::Audience;
use crate::opaque::FamilyId;
use crate::reference::REFERENCE_TOKEN_PREFIX;
use crate::response::TokenResponse;
use crate::store::TokenStore;

/// `urn:ietf:params:oauth:token-type:access_token`: the only token type exchanged and issued.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// A token-exchange request's parameters (RFC 8693 §2.1), as received.
#[derive(Clone, Copy, Default)]
pub struct TokenExchangeRequest<'a> {
    /// `subject_token`: an access token this engine issued.
    pub subject_token: &'a str,
    /// `subject_token_type`: must be [`ACCESS_TOKEN_TYPE`].
    pub subject_token_type: &'a str,
    /// `audience`: one of the engine's audiences or those configured with
    /// `EngineBuilder::exchange_audience`; default the engine's first.
    pub audience: Option<&'a str>,
    /// `scope`: at most the subject token's; default all of it.
    pub scope: Option<&'a str>,
    /// `requested_token_type`: absent or [`ACCESS_TOKEN_TYPE`].
    pub requested_token_type: Option<&'a str>,
}

impl core::fmt::Debug for TokenExchangeRequest<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TokenExchangeRequest")
            .field("subject_token", &"[redacted]")
            .field("subject_token_type", &self.subject_token_type)
            .field("audience", &self.audience)
            .field("scope", &self.scope)
            .field("requested_token_type", &self.requested_token_type)
            .finish()
    }
}

/// The `act` claim of a token that is already delegated.
#[derive(Deserialize)]
struct Act {
    act: Option<serde_json::Value>,
}

impl<S: TokenStore> Engine<S> {
    /// Exchange a valid access token for one with another audience (RFC 8693). The subject
    /// token must verify with revocation (signature, time, session, policy); an expired,
    /// revoked or foreign token is `InvalidGrant(InvalidSubject)`. The new token keeps the
    /// subject, session (`sid`, so signing the session out ends it too), tenant and policy
    /// version, names `client` as `client_id` and in `act`, and expires no later than the
    /// subject token. No refresh token.
    ///
    /// The subject token may also be an active reference access token (a gateway exchanging
    /// the client's opaque token for an internal JWT: the "phantom token" pattern); the
    /// issued token is always a JWT. A delegated token made from a reference token of a grant
    /// without a refresh token carries no `sid`, so it lives out its (short) lifetime even if
    /// that reference token is revoked.
    /// `binding` binds the tokens (a verified DPoP proof, a client certificate;
    /// `TokenBinding::default()` for none).
    pub async fn exchange_token(
        &self,
        client: &Client,
        req: TokenExchangeRequest<'_>,
        binding: TokenBinding,
    ) -> Result<TokenResponse, Error> {
        if client.requires_dpop() && binding.dpop.is_none() {
            return Err(crate::dpop::DpopError::Missing.into());
        }
        if !client.allows(GrantType::TokenExchange) {
            return Err(Error::UnauthorizedClient);
        }
        if req.subject_token_type != ACCESS_TOKEN_TYPE {
            return Err(Error::InvalidRequest("unsupported subject_token_type"));
        }
        if req
            .requested_token_type
            .is_some_and(|t| t != ACCESS_TOKEN_TYPE)
        {
            return Err(Error::InvalidRequest("unsupported requested_token_type"));
        }
        let subject = if req.subject_token.starts_with(REFERENCE_TOKEN_PREFIX) {
            // A reference token (the gateway's phantom-token exchange): active, or refused.
            self.reference_claims::<Act>(req.subject_token)
                .await
                .map_err(|e| match e {
                    Error::Store(e) => Error::Store(e),
                    _ => Error::InvalidGrant(GrantError::InvalidSubject),
                })?
        } else {
            let verifier = &self.inner.exchange_verifier;
            // One verification gives the session check and the `act` claim.
            self.verify_with_revocation_by::<Act>(verifier, req.subject_token)
                .await
                .map_err(|e| match e {
                    Error::Store(e) => Error::Store(e),
                    _ => Error::InvalidGrant(GrantError::InvalidSubject),
                })?
        };
        let previous = subject.custom.act.clone();
        let audience = match req.audience {
            None => None,
            Some(a) if self.inner.exchange_audiences.iter().any(|x| x == a) => {
                Some(Audience::One(std::borrow::Cow::Borrowed(a)))
            }
            Some(_) => return Err(Error::InvalidTarget),
        };
        let granted = subject.scope.as_deref().unwrap_or_default();
        let scope = narrow_scope(granted, req.scope)?;
        let now = self.now();
        let left = subject.exp.map_or(0, |exp| exp.saturating_sub(now));
        let ttl = self.ttl_for(client)?.min(left);
        if ttl <= 0 {
            return Err(GrantError::InvalidSubject.into());
        }
        let mut act = serde_json::json!({ "sub": client.id() });
        if let (Some(prev), Some(obj)) = (previous, act.as_object_mut()) {
            obj.insert("act".to_owned(), prev);
        }
        let act = act.to_string();
        let cert = binding.cert_sha256.as_ref().map(crate::client::x5t_s256);
        let sid = subject.sid.as_deref().and_then(FamilyId::parse);
        let access = self.access_token(&AccessParts {
            subject: subject.sub.as_deref().unwrap_or_default(),
            client_id: client.id(),
            scope: &scope,
            auth_time: subject.auth_time.unwrap_or(now),
            sid,
            tenant: subject.tenant.as_deref(),
            policy: subject.pv.unwrap_or_default(),
            jkt: binding.dpop.as_ref().map(crate::dpop::VerifiedProof::jkt),
            cert: cert.as_deref(),
            claims: None,
            now,
            ttl,
            audience: audience.as_ref(),
            act: Some(&act),
            acr: subject.acr.as_deref(),
        })?;
        let mut response = self.response(access, None, &*scope, binding.dpop.is_some(), ttl);
        response.issued_token_type = Some(ACCESS_TOKEN_TYPE.to_owned());
        Ok(response)
    }
}
