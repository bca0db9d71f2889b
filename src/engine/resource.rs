//! The resource-server side over the whole request: [`Engine::resource_request`] checks a
//! request to an API of this engine (Bearer or DPoP, with revocation) and answers a refusal
//! with its challenge exactly as RFC 6750 §3 and RFC 9449 §7.1 define it; the OpenID Connect
//! UserInfo endpoint ([`Engine::userinfo_endpoint`]) is built on it.

use core::future::Future;

use serde_json::{Map, Value};

use super::Engine;
use crate::challenge::{Challenges, Requirements};
use crate::error::{Error, TokenError};
use crate::http::{Endpoint, HttpRequest, HttpResponse};
use crate::jose::{AccessTokenClaims, NoCustomClaims};
use crate::store::ReplayStore;
use serde::de::DeserializeOwned;

/// The claims of a user for the UserInfo endpoint: the application's user table.
pub trait UserInfoSource: Send + Sync {
    /// The claims of `subject` that `scopes` (the access token's) allow, for example `name`
    /// and `email` for `profile` and `email` (OpenID Connect Core §5.4). `sub` is always set
    /// by the engine (a `sub` here is ignored). `None`: the user no longer exists (the token
    /// is answered `invalid_token`). An error is a backend failure.
    fn claims(
        &self,
        subject: &str,
        scopes: &[&str],
    ) -> impl Future<Output = Result<Option<Map<String, Value>>, Error>> + Send;
}

impl<S> Engine<S> {
    /// The challenges of this engine's resource-server refusals (RFC 6750 §3, RFC 9449
    /// §7.1): the DPoP algorithms it accepts and, when it requires nonces, the current one.
    #[must_use]
    pub fn challenges(&self) -> Challenges
    where
        S: crate::store::TokenStore,
    {
        self.inner.challenges.clone().with_nonce(self.dpop_nonce())
    }
}

impl<S: ReplayStore> Engine<S> {
    /// Check a request to a protected resource of this engine's audience (`uri`: its full
    /// URL as the client sent it, for DPoP's `htu`), and that the token grants every scope
    /// of `scopes`. Bearer and DPoP tokens (RFC 6750, RFC 9449 §7): a DPoP-bound token needs
    /// the `DPoP` scheme and a proof by its key (its `jti` recorded); the token is verified
    /// with revocation ([`Engine::verify_with_revocation`]). A refusal is the response to
    /// send: `401` with `Bearer` and `DPoP` challenges and no error code when the request
    /// carried no credentials (RFC 6750 §3.1); `invalid_token`, `invalid_dpop_proof` or
    /// `use_dpop_nonce` (with `DPoP-Nonce`) on the scheme the request used; `400`
    /// `invalid_request` for repeated `Authorization` headers; `401` `invalid_dpop_proof`
    /// for more than one `DPoP` header (RFC 9449 §4.3); `403` `insufficient_scope` naming
    /// the scopes needed; `500` when the store fails (never an invalid token).
    ///
    /// A reference access token (`at_...`, [`crate::AccessTokenFormat::Reference`]) is
    /// introspected in process instead of verified (one store read), with the same binding
    /// checks and the same claims (the application's from its session).
    pub async fn resource_request(
        &self,
        request: &HttpRequest<'_>,
        uri: &str,
        scopes: &[&str],
    ) -> Result<AccessTokenClaims<'static>, HttpResponse> {
        self.resource_request_as::<NoCustomClaims>(request, uri, scopes)
            .await
    }

    /// [`Engine::resource_request`] returning the application's claims (`role`,
    /// `tenant_id`, ...) as `T` beside the standard ones, from the same single verification.
    pub async fn resource_request_as<T: DeserializeOwned>(
        &self,
        request: &HttpRequest<'_>,
        uri: &str,
        scopes: &[&str],
    ) -> Result<AccessTokenClaims<'static, T>, HttpResponse> {
        let credentials = self.inner.challenges.credentials(request)?;
        let claims = self
            .resource_claims::<T>(None, request, uri, &credentials)
            .await?;
        self.inner
            .challenges
            .require_scopes(&credentials, &claims, scopes)?;
        Ok(claims)
    }

    /// [`Engine::resource_request_as`] for a route with [`Requirements`]: its audience (a
    /// resource of this engine, RFC 8707: tokens for another resource are `invalid_token`),
    /// scopes, and how recently and strongly the user authenticated (RFC 9470: `401`
    /// `insufficient_user_authentication` with `acr_values` / `max_age`).
    pub async fn resource_request_with<T: DeserializeOwned>(
        &self,
        request: &HttpRequest<'_>,
        uri: &str,
        requirements: &Requirements,
    ) -> Result<AccessTokenClaims<'static, T>, HttpResponse> {
        let credentials = self.inner.challenges.credentials(request)?;
        let claims = self
            .resource_claims::<T>(requirements.audience_required(), request, uri, &credentials)
            .await?;
        // No nonce in these refusals: the challenges as configured, not a per-request copy.
        self.inner
            .challenges
            .require(&credentials, &claims, requirements, self.now())?;
        Ok(claims)
    }

    /// The verified claims of a resource request whose credentials were read.
    async fn resource_claims<T: DeserializeOwned>(
        &self,
        resource: Option<&str>,
        request: &HttpRequest<'_>,
        uri: &str,
        credentials: &crate::challenge::Credentials<'_>,
    ) -> Result<AccessTokenClaims<'static, T>, HttpResponse> {
        match self
            .verify_resource_request_for::<T>(
                resource,
                credentials.authorization(),
                credentials.dpop(),
                request.method(),
                uri,
            )
            .await
        {
            Ok(c) => Ok(c),
            Err(e) => Err(self.challenges().refusal(credentials, &e)),
        }
    }

    /// The OpenID Connect UserInfo endpoint (Core §5.3): `GET` or `POST`, the access token
    /// in the `Authorization` header (Bearer or DPoP, proofs for the URL set with
    /// [`EngineBuilder::userinfo_endpoint`](crate::EngineBuilder::userinfo_endpoint)),
    /// checked like [`Engine::resource_request`] and required to carry the `openid` scope.
    /// Answers `sub` and the claims `users` gives for the token's scopes, as JSON with
    /// `Cache-Control: no-store`; refusals carry their `WWW-Authenticate` challenges (RFC
    /// 6750 §3, RFC 9449 §7.1). CORS for browsers.
    pub async fn userinfo_endpoint<U: UserInfoSource>(
        &self,
        users: &U,
        request: &HttpRequest<'_>,
    ) -> HttpResponse {
        let response = self.userinfo(users, request).await;
        Endpoint::UserInfo.cors(request, response)
    }

    async fn userinfo<U: UserInfoSource>(
        &self,
        users: &U,
        request: &HttpRequest<'_>,
    ) -> HttpResponse {
        if !request.is("GET") && !request.is("POST") {
            return HttpResponse::method_not_allowed("GET, POST");
        }
        let Some(uri) = self.inner.endpoints.userinfo.as_deref() else {
            return HttpResponse::from_error(&Error::Config(
                "engine: the UserInfo endpoint needs EngineBuilder::userinfo_endpoint",
            ));
        };
        let claims = match self.resource_request(request, uri, &["openid"]).await {
            Ok(c) => c,
            Err(refusal) => return refusal,
        };
        let Some(subject) = claims.sub.as_deref() else {
            return self.refuse(request, &Error::InvalidRequest("no sub"));
        };
        let scopes: Vec<&str> = claims
            .scope
            .as_deref()
            .unwrap_or("")
            .split(' ')
            .filter(|s| !s.is_empty())
            .collect();
        let extra = match users.claims(subject, &scopes).await {
            Ok(Some(m)) => m,
            Ok(None) => {
                return self.refuse(request, &Error::InvalidToken(TokenError::SessionRevoked));
            }
            Err(e) => return HttpResponse::from_error(&e),
        };
        let mut body = Map::new();
        body.insert("sub".to_owned(), Value::String(subject.to_owned()));
        for (k, v) in extra {
            if k != "sub" {
                body.insert(k, v);
            }
        }
        HttpResponse::json(200, Value::Object(body).to_string()).no_store()
    }

    /// The refusal of `error` for a request whose credentials were read already.
    fn refuse(&self, request: &HttpRequest<'_>, error: &Error) -> HttpResponse {
        match self.inner.challenges.credentials(request) {
            Ok(credentials) => self.challenges().refusal(&credentials, error),
            Err(refusal) => refusal,
        }
    }
}
