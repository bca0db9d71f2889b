//! The token endpoint in one call ([`Engine::token_endpoint`]): the application hands over
//! the form body and the `Authorization` header as received, and sends back the status, body
//! and headers it gets. Client credentials and password grants live here too.

use core::future::Future;

use super::{Engine, TokenBinding};
use crate::client::{Client, GrantType, IssueRequest, RefreshRequest};
use crate::client_auth::{ClientCredentials, ClientRegistry};
use crate::error::{Error, GrantError};
use crate::form::Form;
use crate::response::{ErrorResponse, TokenResponse};
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

/// The token endpoint's answer. Send `status` with `body` as `application/json`, always with
/// `Cache-Control: no-store` (RFC 6749 §5.1), and `WWW-Authenticate` when set (a client that
/// tried HTTP Basic and failed, RFC 6749 §5.2).
#[derive(Clone, PartialEq, Eq)]
pub struct TokenEndpointResponse {
    /// HTTP status: 200, 400, 401 or 500.
    pub status: u16,
    /// The JSON body: a token response or an error response.
    pub body: String,
    /// The `WWW-Authenticate` header value, when one is due.
    pub www_authenticate: Option<String>,
    /// The `DPoP-Nonce` header value, when the engine requires DPoP nonces.
    pub dpop_nonce: Option<String>,
}

/// A token request as it arrived over HTTP: the form body, the `Authorization` and `DPoP`
/// headers, and the SHA-256 of the client certificate if the TLS layer verified one.
#[derive(Clone, Copy, Default)]
pub struct TokenHttpRequest<'a> {
    /// The `application/x-www-form-urlencoded` body.
    pub body: &'a str,
    /// The `Authorization` header.
    pub authorization: Option<&'a str>,
    /// The `DPoP` header (RFC 9449): binds the tokens to its key.
    pub dpop: Option<&'a str>,
    /// The verified client certificate's SHA-256 (RFC 8705): binds the tokens to it.
    pub client_cert_sha256: Option<[u8; 32]>,
}

impl core::fmt::Debug for TokenHttpRequest<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TokenHttpRequest")
            .field("body", &"[redacted]")
            .field("authorization", &self.authorization.map(|_| "[redacted]"))
            .field("dpop", &self.dpop.map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

impl core::fmt::Debug for TokenEndpointResponse {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TokenEndpointResponse")
            .field("status", &self.status)
            .field(
                "body",
                &if self.status == 200 {
                    "[redacted]"
                } else {
                    &self.body
                },
            )
            .field("www_authenticate", &self.www_authenticate)
            .field("dpop_nonce", &self.dpop_nonce)
            .finish()
    }
}

impl<S: TokenStore> Engine<S> {
    /// The client-credentials grant (RFC 6749 §4.4): an access token for the client itself
    /// (`sub` = client id), no refresh token. Confidential clients only.
    pub async fn client_credentials(
        &self,
        client: &Client,
        scope: Option<&str>,
    ) -> Result<TokenResponse, Error> {
        self.client_credentials_bound(client, scope, TokenBinding::default())
            .await
    }

    /// [`Engine::client_credentials`], binding the token as `binding` says (DPoP, mTLS).
    pub async fn client_credentials_bound(
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
    pub async fn password_grant(
        &self,
        client: &Client,
        subject: &str,
        scope: Option<&str>,
    ) -> Result<TokenResponse, Error> {
        self.password_grant_bound(client, subject, scope, TokenBinding::default())
            .await
    }

    /// [`Engine::password_grant`], binding the tokens as `binding` says (DPoP, mTLS).
    pub async fn password_grant_bound(
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
    /// The token endpoint: parse the form (RFC 6749 rules: no repeated parameter, bounded),
    /// authenticate the client from what arrived ([`Engine::authenticate_client`]), check it
    /// may use the grant, and route on `grant_type` to the grant's method. Returns the
    /// response to send, success or error, with its status. Never panics on any input.
    pub async fn token_endpoint<R: ClientRegistry, P: PasswordVerifier>(
        &self,
        clients: &R,
        passwords: &P,
        body: &str,
        authorization: Option<&str>,
    ) -> TokenEndpointResponse {
        let request = TokenHttpRequest {
            body,
            authorization,
            ..TokenHttpRequest::default()
        };
        self.token_endpoint_request(clients, passwords, &request)
            .await
    }

    /// [`Engine::token_endpoint`] with the `DPoP` header and the client certificate: a valid
    /// proof (for `POST` to [`EngineBuilder::token_endpoint`](crate::EngineBuilder::token_endpoint),
    /// its `jti` recorded) binds the tokens to its key (`token_type` `DPoP`), a certificate
    /// binds them to it; a DPoP-bound family refreshes only with a proof by its key.
    pub async fn token_endpoint_request<R: ClientRegistry, P: PasswordVerifier>(
        &self,
        clients: &R,
        passwords: &P,
        request: &TokenHttpRequest<'_>,
    ) -> TokenEndpointResponse {
        let mut response = match self.token_request(clients, passwords, request).await {
            Ok(tokens) => match serde_json::to_string(&tokens) {
                Ok(body) => TokenEndpointResponse {
                    status: 200,
                    body,
                    www_authenticate: None,
                    dpop_nonce: None,
                },
                Err(e) => error_response(&Error::Serialize(e.to_string()), request.authorization),
            },
            Err(e) => error_response(&e, request.authorization),
        };
        response.dpop_nonce = self.dpop_nonce();
        response
    }

    async fn token_request<R: ClientRegistry, P: PasswordVerifier>(
        &self,
        clients: &R,
        passwords: &P,
        request: &TokenHttpRequest<'_>,
    ) -> Result<TokenResponse, Error> {
        let authorization = request.authorization;
        let form = Form::parse(request.body)?;
        let grant = form.require("grant_type", "grant_type is required")?;
        let grant = GrantType::parse(grant).ok_or(Error::UnsupportedGrantType)?;
        let credentials = ClientCredentials {
            authorization,
            client_id: form.get("client_id"),
            client_secret: form.get("client_secret"),
            client_assertion_type: form.get("client_assertion_type"),
            client_assertion: form.get("client_assertion"),
        };
        let client = self.authenticate_client(clients, &credentials).await?;
        if !client.allows(grant) {
            return Err(Error::UnauthorizedClient);
        }
        let dpop = match request.dpop {
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
            cert_sha256: request.client_cert_sha256,
        };
        match grant {
            GrantType::AuthorizationCode => {
                self.exchange_code_bound(
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
                self.refresh(
                    &client,
                    form.require("refresh_token", "refresh_token is required")?,
                    req,
                )
                .await
            }
            GrantType::ClientCredentials => {
                self.client_credentials_bound(&client, form.get("scope"), binding)
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
                self.password_grant_bound(&client, &subject, form.get("scope"), binding)
                    .await
            }
            GrantType::DeviceCode => {
                self.poll_device_bound(
                    &client,
                    form.require("device_code", "device_code is required")?,
                    binding,
                )
                .await
            }
            GrantType::TokenExchange => {
                self.exchange_token_bound(
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

fn error_response(e: &Error, authorization: Option<&str>) -> TokenEndpointResponse {
    let r = ErrorResponse::from_error(e);
    let status = r.http_status();
    let basic = authorization
        .and_then(|h| h.get(..6))
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("basic "));
    TokenEndpointResponse {
        status,
        body: serde_json::to_string(&r).unwrap_or_else(|_| r#"{"error":"server_error"}"#.into()),
        www_authenticate: (status == 401 && basic).then(|| "Basic realm=\"token\"".to_owned()),
        dpop_nonce: None,
    }
}
