//! DPoP and certificate binding in the engine: proofs verified and their `jti` recorded in the
//! store's replay group (a replay fails on every instance), [`TokenBinding`] for the grants,
//! and the resource-server check with revocation.

use super::{Engine, store_error, store_key};
use crate::client::IssueRequest;
use crate::dpop::{
    DpopError, ProofRequest, VerifiedProof, by_bound_key, needs_proof, split_authorization,
    verify_proof,
};
use crate::error::Error;
use crate::jose::{AccessTokenClaims, NoCustomClaims};
use crate::store::{InsertOutcome, ReplayStore, TokenStore};
use serde::de::DeserializeOwned;

/// How a grant's tokens are bound to their holder and their audience: a verified DPoP proof
/// (RFC 9449) and/or the SHA-256 of the client certificate the TLS layer verified (RFC
/// 8705), and the resource indicators of the token request (RFC 8707).
#[derive(Clone, Debug, Default)]
pub struct TokenBinding {
    /// The proof sent with the token request.
    pub dpop: Option<VerifiedProof>,
    /// The client certificate's SHA-256.
    pub cert_sha256: Option<[u8; 32]>,
    /// The token request's `resource` parameters (RFC 8707 §2): for the client-credentials,
    /// password and device grants, the resources to grant (each one the engine serves and
    /// the client may use); for a code, a subset of those its authorization request named.
    /// The access token's `aud` is them. Anything else is `Error::InvalidTarget`.
    pub resources: Vec<String>,
}

impl TokenBinding {
    pub(crate) fn apply(&self, mut req: IssueRequest) -> IssueRequest {
        req.resources.clone_from(&self.resources);
        if let Some(proof) = &self.dpop {
            req = req.dpop(proof.clone());
        }
        if let Some(cert) = &self.cert_sha256 {
            req = req.mtls(cert);
        }
        req
    }
}

impl<S> Engine<S> {
    /// The verifier of `resource`'s tokens, or the engine's own.
    pub(crate) fn verifier_for(&self, resource: Option<&str>) -> &crate::verifier::Verifier {
        resource
            .and_then(|r| self.inner.resource_verifiers.iter().find(|(x, _)| x == r))
            .map_or(&self.inner.verifier, |(_, v)| v)
    }
}

impl<S: TokenStore> Engine<S> {
    /// The nonce to send in a `DPoP-Nonce` header, when the engine requires nonces
    /// ([`EngineBuilder::dpop_nonces`](crate::EngineBuilder::dpop_nonces)).
    #[must_use]
    pub fn dpop_nonce(&self) -> Option<String> {
        self.inner
            .dpop_nonces
            .as_ref()
            .map(|k| k.current(self.now()))
    }
}

impl<S: ReplayStore> Engine<S> {
    /// Verify a DPoP proof sent to an endpoint of this engine (`method` and the endpoint's
    /// full `uri`), and record its `jti` so the same proof fails everywhere after. For the
    /// token endpoint, the binding of the tokens then comes from the returned proof
    /// ([`TokenBinding`], `RefreshRequest::dpop`, `IssueRequest::dpop`).
    pub async fn verify_dpop_proof(
        &self,
        proof: &str,
        method: &str,
        uri: &str,
    ) -> Result<VerifiedProof, Error> {
        self.dpop_proof(proof, method, uri, None).await
    }

    async fn dpop_proof(
        &self,
        proof: &str,
        method: &str,
        uri: &str,
        access_token: Option<&str>,
    ) -> Result<VerifiedProof, Error> {
        let now = self.now();
        let rules = &self.inner.dpop_rules;
        let verified = verify_proof(
            proof,
            &ProofRequest {
                method,
                uri,
                access_token,
                nonce: self.inner.dpop_nonces.as_ref(),
                now,
            },
            rules,
        )?;
        let id = store_key(
            "dpop_jti",
            &[verified.jkt().as_bytes(), verified.jti().as_bytes()],
        );
        let until = verified
            .iat()
            .saturating_add(rules.max_age)
            .saturating_add(rules.max_skew);
        match self
            .inner
            .store
            .insert_replay_id(&id, until, now)
            .await
            .map_err(store_error)?
        {
            InsertOutcome::Inserted => Ok(verified),
            InsertOutcome::Exists => Err(DpopError::Replayed.into()),
        }
    }

    /// A resource request to this engine's audience (RFC 9449 §7): the `Authorization`
    /// header's value (`DPoP <token>` or `Bearer <token>`), the `DPoP` header if any, the
    /// method and the full URI. A DPoP-bound token needs the `DPoP` scheme and a proof by its
    /// key with `ath`; a bound token sent as `Bearer`, or an unbound one as `DPoP`, is refused.
    /// The token is verified with revocation; the proof's `jti` is recorded. Refusals are
    /// `invalid_token` or `invalid_dpop_proof`. The caller passes single header values, so a
    /// request with two `DPoP` (or `Authorization`) fields must be refused before this call
    /// (RFC 9449 §4.3): [`Engine::resource_request`] does the same over the whole HTTP
    /// request, refuses repeated fields, and answers refusals with their challenges.
    ///
    /// The claims come with no application claims; [`Engine::verify_resource_request_as`]
    /// returns them as the application's type.
    pub async fn verify_resource_request(
        &self,
        authorization: &str,
        dpop: Option<&str>,
        method: &str,
        uri: &str,
    ) -> Result<AccessTokenClaims<'static>, Error> {
        self.verify_resource_request_as::<NoCustomClaims>(authorization, dpop, method, uri)
            .await
    }

    /// [`Engine::verify_resource_request`] with the application's claims as `T` (for example
    /// the `role` of the quick start): one verification, revocation and the DPoP proof
    /// checked, the application's claims read.
    pub async fn verify_resource_request_as<T: DeserializeOwned>(
        &self,
        authorization: &str,
        dpop: Option<&str>,
        method: &str,
        uri: &str,
    ) -> Result<AccessTokenClaims<'static, T>, Error> {
        self.verify_resource_request_for::<T>(None, authorization, dpop, method, uri)
            .await
    }

    /// [`Engine::verify_resource_request_as`] at one of this engine's resources (RFC 8707,
    /// [`EngineBuilder::resource`](crate::EngineBuilder::resource)): the token's `aud` must
    /// name `resource`; a token for another resource, or for the engine's own audiences, is
    /// `invalid_token` (`TokenError::Audience`). `None` checks the engine's own audiences;
    /// a resource the engine does not serve checks them and requires the token's `aud` to
    /// name that resource too, so naming a resource never accepts a token that is not for it.
    pub async fn verify_resource_request_for<T: DeserializeOwned>(
        &self,
        resource: Option<&str>,
        authorization: &str,
        dpop: Option<&str>,
        method: &str,
        uri: &str,
    ) -> Result<AccessTokenClaims<'static, T>, Error> {
        let (dpop_scheme, token) = split_authorization(authorization)?;
        let claims = if token.starts_with(crate::reference::REFERENCE_TOKEN_PREFIX) {
            // A reference token: introspected in process (one store read), its audience
            // checked as `resource`'s verifier would, then the same binding checks as a JWT.
            let claims = self.reference_claims::<T>(token).await?;
            self.check_reference_audience(resource, &claims)?;
            claims
        } else {
            let verifier = self.verifier_for(resource);
            self.verify_with_revocation_by::<T>(verifier, token).await?
        };
        // A resource the engine does not serve fell back to the engine's own audiences above;
        // the token must still name it.
        if let Some(r) = resource
            && !self.inner.resources.iter().any(|x| x == r)
            && !claims.aud.as_ref().is_some_and(|a| a.contains(r))
        {
            return Err(crate::error::TokenError::Audience.into());
        }
        if needs_proof(dpop_scheme, &claims)? {
            let proof = dpop.ok_or(DpopError::Missing)?;
            let verified = self.dpop_proof(proof, method, uri, Some(token)).await?;
            by_bound_key(&verified, &claims)?;
        }
        Ok(claims)
    }
}
