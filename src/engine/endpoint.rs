//! The token endpoint in one call ([`Engine::token_endpoint`]): the application hands over
//! the whole request ([`HttpRequest`]) and writes back the [`HttpResponse`]. Client
//! credentials and password grants live here too.

use core::future::Future;

use super::{Engine, TokenBinding};
use crate::client::{Client, GrantType, IssueRequest, RefreshRequest};
use crate::client_auth::{ClientCredentials, ClientRegistry};
use crate::dpop::DpopError;
use crate::error::{Error, GrantError};
use crate::http::{Endpoint, HttpRequest, HttpResponse};
use crate::response::TokenResponse;
use crate::store::{CodeStore, DeviceStore, ReplayStore, TokenStore};

/// Checks resource-owner passwords for the legacy password grant: the application's login.
pub trait PasswordVerifier: Send + Sync {
    /// The subject (user id) if `username` and `password` are right for a login through
    /// `client`, `None` if not. An error is a backend failure.
    fn verify(
        &self,
        client: &Client,
        username: &str,
        password: &str,
    ) -> impl Future<Output = Result<Option<String>, Error>> + Send;
}

/// No password grant: every password is refused.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoPasswordGrant;

impl PasswordVerifier for NoPasswordGrant {
    async fn verify(&self, _: &Client, _: &str, _: &str) -> Result<Option<String>, Error> {
        Ok(None)
    }
}

impl<S: TokenStore> Engine<S> {
    /// The client-credentials grant (RFC 6749 §4.4): an access token for the client itself
    /// (`sub` = client id), no refresh token. Confidential clients only.
    /// `binding` binds the tokens (a verified DPoP proof, a client certificate;
    /// `TokenBinding::default()` for none).
    pub async fn client_credentials(
        &self,
        client: &Client,
        scope: Option<&str>,
        binding: TokenBinding,
    ) -> Result<TokenResponse, Error> {
        if client.is_public() || !client.allows(GrantType::ClientCredentials) {
            return Err(Error::UnauthorizedClient);
        }
        let mut req = binding.apply(IssueRequest::new(client.id()).without_refresh_token());
        if let Some(scope) = scope {
            req = req.scope(scope);
        }
        self.issue(client, req).await
    }

    /// The legacy password grant (RFC 6749 §4.3) after the application verified the
    /// resource owner's password: tokens for `subject`. Refused with
    /// [`Error::UnsupportedGrantType`] unless the engine was built with
    /// [`EngineBuilder::danger_enable_password_grant`](crate::EngineBuilder::danger_enable_password_grant),
    /// and with [`Error::UnauthorizedClient`] unless the client is allowed
    /// [`GrantType::Password`]. For migrations only: RFC 9700 §2.4 forbids it for new work.
    /// `binding` binds the tokens (a verified DPoP proof, a client certificate;
    /// `TokenBinding::default()` for none).
    pub async fn password_grant(
        &self,
        client: &Client,
        subject: &str,
        scope: Option<&str>,
        binding: TokenBinding,
    ) -> Result<TokenResponse, Error> {
        if !self.inner.password_grant {
            return Err(Error::UnsupportedGrantType);
        }
        if !client.allows(GrantType::Password) {
            return Err(Error::UnauthorizedClient);
        }
        let mut req = binding.apply(IssueRequest::new(subject));
        if let Some(scope) = scope {
            req = req.scope(scope);
        }
        self.issue(client, req).await
    }
}

impl<S: CodeStore + DeviceStore + ReplayStore> Engine<S> {
    /// The token endpoint (RFC 6749 §3.2, §5) over the whole request: `POST` only (`405`
    /// otherwise), a form body (`application/x-www-form-urlencoded`; a repeated parameter is
    /// `invalid_request`), at most one `Authorization` and one `DPoP` header (RFC 9449 §4.3).
    /// A grant the engine does not offer ([`EngineBuilder::grant_types`](crate::EngineBuilder::grant_types))
    /// is `unsupported_grant_type` before any client check; then the client is authenticated
    /// ([`Engine::authenticate_client`]), must be allowed the grant, and the request routes
    /// to the grant. A valid DPoP proof (for `POST` to
    /// [`EngineBuilder::token_endpoint`](crate::EngineBuilder::token_endpoint), its `jti`
    /// recorded) binds the tokens to its key; the request's client certificate binds them to
    /// it. The response carries `Cache-Control: no-store` and `Pragma: no-cache`,
    /// `WWW-Authenticate` after a failed HTTP Basic authentication, `DPoP-Nonce` when nonces
    /// are on, and CORS headers for a browser's request. Never panics on any input.
    pub async fn token_endpoint<R: ClientRegistry, P: PasswordVerifier>(
        &self,
        clients: &R,
        passwords: &P,
        request: &HttpRequest<'_>,
    ) -> HttpResponse {
        if !request.is("POST") {
            return HttpResponse::method_not_allowed("POST");
        }
        let mut response = match self.token_request(clients, passwords, request).await {
            Ok(tokens) => HttpResponse::json_of(&tokens).secret(),
            Err(e) => {
                let basic = request
                    .single_header("authorization")
                    .ok()
                    .flatten()
                    .and_then(|h| h.get(..6))
                    .is_some_and(|scheme| scheme.eq_ignore_ascii_case("basic "));
                let r = HttpResponse::from_error(&e);
                // RFC 6749 §5.2: the challenge answers a client that tried HTTP Basic.
                if basic {
                    r
                } else {
                    r.without_header("WWW-Authenticate")
                }
            }
        };
        if let Some(nonce) = self.dpop_nonce() {
            response = response.with_header("DPoP-Nonce", nonce);
        }
        Endpoint::Token.cors(request, response)
    }

    async fn token_request<R: ClientRegistry, P: PasswordVerifier>(
        &self,
        clients: &R,
        passwords: &P,
        request: &HttpRequest<'_>,
    ) -> Result<TokenResponse, Error> {
        let authorization = request.single_header("authorization")?;
        let dpop = request
            .single_header("dpop")
            .map_err(|_| DpopError::Repeated)?;
        let form = request.form_body()?;
        let grant = form.require("grant_type", "grant_type is required")?;
        let grant = GrantType::parse(grant)
            .filter(|g| self.offers(*g))
            .ok_or(Error::UnsupportedGrantType)?;
        let client = self
            .authenticate_client(clients, &ClientCredentials::of(authorization, &form))
            .await?;
        if !client.allows(grant) {
            return Err(Error::UnauthorizedClient);
        }
        let dpop = match dpop {
            Some(proof) => {
                let endpoint = self.inner.token_endpoint.as_deref().ok_or(Error::Config(
                    "engine: DPoP at the token endpoint needs EngineBuilder::token_endpoint",
                ))?;
                Some(self.verify_dpop_proof(proof, "POST", endpoint).await?)
            }
            None => None,
        };
        let binding = TokenBinding {
            dpop,
            cert_sha256: request.client_cert(),
            resources: form.get_all("resource").map(str::to_owned).collect(),
        };
        match grant {
            GrantType::AuthorizationCode => {
                self.exchange_code(
                    &client,
                    form.require("code", "code is required")?,
                    form.get("redirect_uri"),
                    form.get("code_verifier"),
                    binding,
                )
                .await
            }
            GrantType::RefreshToken => {
                let mut req = RefreshRequest::default();
                if let Some(scope) = form.get("scope") {
                    req = req.scope(scope);
                }
                if let Some(proof) = binding.dpop {
                    req = req.dpop(proof);
                }
                if let Some(cert) = &binding.cert_sha256 {
                    req = req.mtls(cert);
                }
                for r in binding.resources {
                    req = req.resource(r);
                }
                self.refresh(
                    &client,
                    form.require("refresh_token", "refresh_token is required")?,
                    req,
                )
                .await
            }
            GrantType::ClientCredentials => {
                self.client_credentials(&client, form.get("scope"), binding)
                    .await
            }
            GrantType::Password => {
                if !self.inner.password_grant {
                    return Err(Error::UnsupportedGrantType);
                }
                let username = form.require("username", "username is required")?;
                let password = form.require("password", "password is required")?;
                let subject = passwords
                    .verify(&client, username, password)
                    .await?
                    .ok_or(Error::InvalidGrant(GrantError::InvalidSubject))?;
                self.password_grant(&client, &subject, form.get("scope"), binding)
                    .await
            }
            GrantType::DeviceCode => {
                self.poll_device(
                    &client,
                    form.require("device_code", "device_code is required")?,
                    binding,
                )
                .await
            }
            GrantType::TokenExchange => {
                self.exchange_token(
                    &client,
                    crate::engine::TokenExchangeRequest {
                        subject_token: form
                            .require("subject_token", "subject_token is required")?,
                        subject_token_type: form
                            .require("subject_token_type", "subject_token_type is required")?,
                        audience: form.get("audience"),
                        scope: form.get("scope"),
                        requested_token_type: form.get("requested_token_type"),
                    },
                    binding,
                )
                .await
            }
        }
    }
}
