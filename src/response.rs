//! Wire types: the RFC 6749 §5.1 token response, the §5.2 error response and the RFC 7662
//! introspection response, serializing to exactly the JSON the RFCs show.
//!
//! Every type here is re-exported at the crate root: they are what the engine's grant,
//! introspection and error paths hand back for the application's HTTP layer to serialize.
//!
//! Serve token responses with `Cache-Control: no-store` (RFC 6749 §5.1).

use core::fmt;

use serde::{Deserialize, Serialize, Serializer};

use crate::error::Error;
use crate::jose::{Audience, Confirmation};
use crate::opaque::RefreshToken;

/// `token_type` of an access token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenType {
    /// RFC 6750 bearer token.
    Bearer,
    /// RFC 9449 DPoP-bound token.
    DPoP,
}

/// A successful token response (RFC 6749 §5.1).
///
/// `Debug` hides both tokens; `Serialize` writes them, since that is its job.
#[derive(Serialize)]
pub struct TokenResponse {
    /// The access token (a JWT).
    pub access_token: String,
    /// `Bearer` or `DPoP`.
    pub token_type: TokenType,
    /// Lifetime of the access token in seconds.
    pub expires_in: u64,
    /// The refresh token, when the grant issues one.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "expose_refresh"
    )]
    pub refresh_token: Option<RefreshToken>,
    /// The granted scope, space-separated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The OpenID Connect ID token, when `openid` was granted by the authorization-code grant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// RFC 8693 §2.2.1: the type of the issued token (token exchange only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<String>,
}

fn expose_refresh<S: Serializer>(t: &Option<RefreshToken>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(t.expose_secret()),
        None => s.serialize_none(),
    }
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"[redacted]")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("refresh_token", &self.refresh_token)
            .field("scope", &self.scope)
            .field("id_token", &self.id_token.as_ref().map(|_| "[redacted]"))
            .field("issued_token_type", &self.issued_token_type)
            .finish()
    }
}

/// An error response (RFC 6749 §5.2): a code and a coarse description. Details stay in
/// events and logs, not on the wire. Deserializes from a JSON object only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ErrorResponse {
    /// The OAuth error code.
    pub error: String,
    /// A short, generic description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

/// [`ErrorResponse`]'s members, for its object-only `Deserialize` (a derived one would also
/// take `["invalid_grant", null]`).
#[derive(Deserialize)]
#[serde(remote = "ErrorResponse")]
struct ErrorResponseMembers {
    error: String,
    error_description: Option<String>,
}

crate::jose::deserialize_object!(ErrorResponse, ErrorResponseMembers::deserialize);

impl ErrorResponse {
    /// The response for `e`.
    #[must_use]
    pub fn from_error(e: &Error) -> Self {
        let code = e.oauth_code();
        let description = match code {
            "invalid_grant" => "The grant is invalid, expired or revoked.",
            "invalid_scope" => "The requested scope is invalid or exceeds what was granted.",
            "invalid_token" => "The access token is invalid.",
            "invalid_request" => "The request is malformed.",
            "invalid_client" => "Client authentication failed.",
            "unauthorized_client" => "The client is not authorized for this request.",
            "unsupported_grant_type" => "The grant type is not supported.",
            "authorization_pending" => "The user has not yet completed the authorization.",
            "slow_down" => "Polling too frequently; increase the interval by 5 seconds.",
            "access_denied" => "The user denied the authorization request.",
            "expired_token" => "The device code has expired.",
            "invalid_target" => "The requested audience is not allowed.",
            "invalid_dpop_proof" => "The DPoP proof is invalid.",
            "use_dpop_nonce" => "Retry with the DPoP nonce the server provided.",
            "invalid_redirect_uri" => "A redirect URI is not allowed for this client.",
            "invalid_client_metadata" => "The client metadata is invalid or not supported.",
            _ => "The server could not complete the request.",
        };
        Self {
            error: code.to_owned(),
            error_description: Some(description.to_owned()),
        }
    }

    /// The HTTP status to send it with: 401 for `invalid_client` and `invalid_token`, 500
    /// for `server_error`, 400 otherwise.
    #[must_use]
    pub fn http_status(&self) -> u16 {
        match self.error.as_str() {
            "invalid_client" | "invalid_token" | "insufficient_user_authentication" => 401,
            "server_error" => 500,
            _ => 400,
        }
    }
}

impl From<&Error> for ErrorResponse {
    fn from(e: &Error) -> Self {
        Self::from_error(e)
    }
}

/// An introspection response (RFC 7662 §2.2). An inactive token is exactly
/// `{"active":false}`: nothing about why. It also deserializes, for a gateway or resource
/// server reading the endpoint's answer (or RFC 9701's `token_introspection`); members it
/// does not know are ignored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct IntrospectionResponse {
    /// Whether the token is currently active.
    pub active: bool,
    /// Scopes, space-separated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The client the token was issued to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Expiry, Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Issued at, Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Audience.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "owned_audience"
    )]
    pub aud: Option<Audience<'static>>,
    /// Issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Token id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// `Bearer` or `DPoP` for access tokens, `refresh_token` for refresh tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// Confirmation (sender constraint).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "owned_confirmation"
    )]
    pub cnf: Option<Confirmation<'static>>,
}

fn owned_audience<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Audience<'static>>, D::Error> {
    Ok(Option::<Audience<'de>>::deserialize(d)?.map(Audience::into_owned))
}

fn owned_confirmation<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Confirmation<'static>>, D::Error> {
    Ok(Option::<Confirmation<'de>>::deserialize(d)?.map(Confirmation::into_owned))
}

impl IntrospectionResponse {
    /// `{"active":false}`.
    #[must_use]
    pub fn inactive() -> Self {
        Self::default()
    }
}
