//! Who asks and what they ask for: [`Client`] (its grants, redirect URIs, PKCE and
//! authentication method), [`IssueRequest`], [`RefreshRequest`], and the scope rules
//! (RFC 6749 §3.3).

use serde_json::{Map, Value};

use crate::error::{Error, IssueLimit};

/// The grant types of RFC 6749 and its extensions, as a client may be allowed them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GrantType {
    /// `authorization_code` (RFC 6749 §4.1), with PKCE.
    AuthorizationCode,
    /// `refresh_token` (RFC 6749 §6).
    RefreshToken,
    /// `urn:ietf:params:oauth:grant-type:device_code` (RFC 8628).
    DeviceCode,
    /// `client_credentials` (RFC 6749 §4.4).
    ClientCredentials,
    /// `password` (RFC 6749 §4.3): legacy, for migrations only (RFC 9700 §2.4).
    Password,
    /// `urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693).
    TokenExchange,
}

impl GrantType {
    /// The `grant_type` parameter value.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::Password => "password",
            GrantType::TokenExchange => "urn:ietf:params:oauth:grant-type:token-exchange",
        }
    }

    /// The grant type named by a `grant_type` parameter, if this crate knows it.
    #[must_use]
    pub fn parse(value: &str) -> Option<Self> {
        [
            GrantType::AuthorizationCode,
            GrantType::RefreshToken,
            GrantType::DeviceCode,
            GrantType::ClientCredentials,
            GrantType::Password,
            GrantType::TokenExchange,
        ]
        .into_iter()
        .find(|g| g.as_str() == value)
    }
}

/// How a client authenticates at the token endpoint (RFC 7591 `token_endpoint_auth_method`).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ClientAuthMethod {
    /// A public client: no authentication (`none`); PKCE is always required.
    None,
    /// `client_secret_basic`: the secret in the `Authorization: Basic` header.
    SecretBasic(ClientSecretHash),
    /// `client_secret_post`: the secret in the form body.
    SecretPost(ClientSecretHash),
    /// `private_key_jwt` (RFC 7523): a signed assertion, verified with these public keys.
    PrivateKeyJwt(Vec<crate::jose::VerifyingKey>),
}

/// What the application stores for a client secret: an HMAC-SHA256 of it under a key only
/// the application holds ([`ClientSecretHasher`](crate::ClientSecretHasher)). Not the
/// secret, and useless without that key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ClientSecretHash(pub [u8; 32]);

impl core::fmt::Debug for ClientSecretHash {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("ClientSecretHash([redacted])")
    }
}

/// An OAuth client as the engine sees it: its id, the scopes it may be granted, the grant
/// types it may use, its exact redirect URIs, whether it must use PKCE, its token lifetime
/// and how it authenticates. [`Client::new`] is a public client allowed the authorization
/// code and refresh grants, PKCE (`S256`) required; builder methods change that.
#[derive(Clone, Debug)]
pub struct Client {
    id: String,
    allowed_scopes: Vec<String>,
    grant_types: Vec<GrantType>,
    redirect_uris: Vec<String>,
    auth: ClientAuthMethod,
    pkce_required: bool,
    plain_pkce: bool,
    access_ttl: Option<time::Duration>,
    dpop_required: bool,
    introspect_all: bool,
    access_format: Option<crate::reference::AccessTokenFormat>,
    resources: Vec<String>,
    par_required: bool,
    loopback_any_port: bool,
}

impl Client {
    /// A public client (no authentication) that may use the authorization-code and refresh
    /// grants, with PKCE required, and may be granted no scope yet.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            allowed_scopes: Vec::new(),
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            redirect_uris: Vec::new(),
            auth: ClientAuthMethod::None,
            pkce_required: true,
            plain_pkce: false,
            access_ttl: None,
            dpop_required: false,
            introspect_all: false,
            access_format: None,
            resources: Vec::new(),
            par_required: false,
            loopback_any_port: false,
        }
    }

    /// A confidential client authenticating with `method` (a secret or `private_key_jwt`).
    pub fn confidential(id: impl Into<String>, method: ClientAuthMethod) -> Self {
        Self {
            auth: method,
            ..Self::new(id)
        }
    }

    /// The resource indicators (RFC 8707) this client may name, among the engine's
    /// ([`EngineBuilder::resource`](crate::EngineBuilder::resource)). Without this call it
    /// may name any of the engine's.
    #[must_use]
    pub fn allow_resources<I, S>(mut self, resources: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.resources.extend(resources.into_iter().map(Into::into));
        self
    }

    /// The resource indicators this client may name (empty: any of the engine's).
    #[must_use]
    pub fn allowed_resources(&self) -> &[String] {
        &self.resources
    }

    /// The scopes this client may be granted.
    #[must_use]
    pub fn allow_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allowed_scopes
            .extend(scopes.into_iter().map(Into::into));
        self
    }

    /// The grant types this client may use (replacing the default authorization code and
    /// refresh).
    #[must_use]
    pub fn grant_types(mut self, grants: impl IntoIterator<Item = GrantType>) -> Self {
        self.grant_types = grants.into_iter().collect();
        self
    }

    /// A redirect URI, matched exactly (RFC 9700 §4.1.3: no prefix or pattern matching).
    #[must_use]
    pub fn redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.redirect_uris.push(uri.into());
        self
    }

    /// Let this confidential client use the authorization-code grant without PKCE (legacy
    /// clients). Public clients always need PKCE: this changes nothing for them.
    #[must_use]
    pub fn pkce_optional(mut self) -> Self {
        self.pkce_required = false;
        self
    }

    /// Accept `plain` PKCE (and a challenge without a method) from this client. RFC 7636
    /// allows it only for clients that cannot do SHA-256; `plain` gives no protection when
    /// the authorization request is observed.
    #[must_use]
    pub fn danger_allow_plain_pkce(mut self) -> Self {
        self.plain_pkce = true;
        self
    }

    /// This client must prove possession of a DPoP key (RFC 9449) on every token request: it
    /// can never obtain unbound tokens.
    #[must_use]
    pub fn require_dpop(mut self) -> Self {
        self.dpop_required = true;
        self
    }

    /// Whether it must use DPoP.
    #[must_use]
    pub fn requires_dpop(&self) -> bool {
        self.dpop_required
    }

    /// This client must push its authorization requests (RFC 9126 §6,
    /// `require_pushed_authorization_requests`): a plain request at the authorization
    /// endpoint is refused with `invalid_request`.
    #[must_use]
    pub fn require_pushed_authorization_requests(mut self) -> Self {
        self.par_required = true;
        self
    }

    /// Whether it must push its authorization requests.
    #[must_use]
    pub fn requires_pushed_authorization_requests(&self) -> bool {
        self.par_required
    }

    /// Let this (confidential) client introspect every token: a resource server or gateway
    /// ([`Engine::introspection_endpoint`](crate::Engine::introspection_endpoint)). Without
    /// it a client sees only tokens issued to it or naming it in `aud` (RFC 7662 §4).
    #[must_use]
    pub fn introspect_all_tokens(mut self) -> Self {
        self.introspect_all = true;
        self
    }

    /// Whether this client may introspect every token.
    #[must_use]
    pub fn introspects_all_tokens(&self) -> bool {
        self.introspect_all
    }

    /// This client's access-token lifetime (default: the engine's): whole seconds, 1 minute
    /// to 24 hours, as for [`EngineBuilder::access_ttl`](crate::EngineBuilder::access_ttl).
    /// A client has no `build` step, so the engine checks it where it mints a token for the
    /// client: any other value (`90.5 s`, `0`, `2 days`) fails that call with
    /// [`Error::Config`] naming `access_ttl`, never truncated or clamped.
    #[must_use]
    pub fn access_ttl(mut self, ttl: time::Duration) -> Self {
        self.access_ttl = Some(ttl);
        self
    }

    /// How this client's access tokens are made (default: the engine's,
    /// [`EngineBuilder::access_token_format`](crate::EngineBuilder::access_token_format)).
    /// [`AccessTokenFormat::Reference`](crate::AccessTokenFormat::Reference) gives it opaque
    /// reference tokens that its resource servers introspect (see [`crate::reference`](mod@crate::reference)).
    /// Token exchange always issues JWTs: its delegated tokens are for services that verify
    /// them locally.
    #[must_use]
    pub fn access_token_format(mut self, format: crate::reference::AccessTokenFormat) -> Self {
        self.access_format = Some(format);
        self
    }

    /// Shorthand for `access_token_format(AccessTokenFormat::Reference)`.
    #[must_use]
    pub fn opaque_access_tokens(self) -> Self {
        self.access_token_format(crate::reference::AccessTokenFormat::Reference)
    }

    /// The access-token format this client asked for, if it chose one.
    #[must_use]
    pub fn access_format(&self) -> Option<crate::reference::AccessTokenFormat> {
        self.access_format
    }

    /// The client id.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The scopes it may be granted.
    #[must_use]
    pub fn allowed_scopes(&self) -> &[String] {
        &self.allowed_scopes
    }

    /// Whether it may use `grant`.
    #[must_use]
    pub fn allows(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// Its exact redirect URIs.
    #[must_use]
    pub fn redirect_uris(&self) -> &[String] {
        &self.redirect_uris
    }

    /// A native app (RFC 8252 §7.3): its loopback redirect URIs (`http` on `127.0.0.1`,
    /// `[::1]` or `localhost`) match with any port, as the app picks a free one when it
    /// starts. Every other redirect URI still matches exactly.
    #[must_use]
    pub fn loopback_redirect_any_port(mut self) -> Self {
        self.loopback_any_port = true;
        self
    }

    /// Whether `uri` is one of its redirect URIs: exactly, or for a native app
    /// ([`Client::loopback_redirect_any_port`]) a loopback one with another port.
    #[must_use]
    pub fn accepts_redirect_uri(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|r| {
            r == uri || (self.loopback_any_port && crate::engine::same_loopback_but_port(r, uri))
        })
    }

    /// How it authenticates.
    #[must_use]
    pub fn auth_method(&self) -> &ClientAuthMethod {
        &self.auth
    }

    /// Whether it is public (no authentication).
    #[must_use]
    pub fn is_public(&self) -> bool {
        matches!(self.auth, ClientAuthMethod::None)
    }

    /// Whether it must send a PKCE challenge (always for public clients).
    #[must_use]
    pub fn requires_pkce(&self) -> bool {
        self.pkce_required || self.is_public()
    }

    pub(crate) fn allows_plain_pkce(&self) -> bool {
        self.plain_pkce
    }

    /// The client's own access-token lifetime in seconds, if it has one in range.
    pub(crate) fn access_ttl_secs(&self) -> Result<Option<i64>, Error> {
        let Some(d) = self.access_ttl else {
            return Ok(None);
        };
        let range = time::Duration::minutes(1)..=time::Duration::hours(24);
        if !range.contains(&d) || d.subsec_nanoseconds() != 0 {
            return Err(Error::Config(
                "client: access_ttl must be whole seconds between 1 minute and 24 hours",
            ));
        }
        Ok(Some(d.whole_seconds()))
    }
}

/// Largest scope string accepted.
const MAX_SCOPE_LEN: usize = 4096;

/// Split and check a scope string: space-separated tokens of `%x21 / %x23-5B / %x5D-7E`
/// (RFC 6749 §3.3), bounded in length, duplicates removed, order kept.
pub(crate) fn parse_scope(scope: &str) -> Result<Vec<&str>, Error> {
    if scope.len() > MAX_SCOPE_LEN {
        return Err(Error::InvalidScope);
    }
    let mut out: Vec<&str> = Vec::new();
    for token in scope.split(' ') {
        if token.is_empty() {
            continue;
        }
        let ok = token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
        if !ok {
            return Err(Error::InvalidScope);
        }
        if !out.contains(&token) {
            out.push(token);
        }
    }
    Ok(out)
}

/// The scope granted to `client` for `requested` (`None`: everything it may have).
pub(crate) fn grant_scope(client: &Client, requested: Option<&str>) -> Result<String, Error> {
    match requested {
        None => Ok(client.allowed_scopes.join(" ")),
        Some(requested) => {
            let wanted = parse_scope(requested)?;
            if wanted
                .iter()
                .all(|w| client.allowed_scopes.iter().any(|a| a == w))
            {
                Ok(wanted.join(" "))
            } else {
                Err(Error::InvalidScope)
            }
        }
    }
}

/// The scope of a refreshed access token: `requested` may narrow `granted`, never widen it
/// (RFC 6749 §6). Without a request, the granted scope itself (no copy).
pub(crate) fn narrow_scope<'a>(
    granted: &'a str,
    requested: Option<&str>,
) -> Result<std::borrow::Cow<'a, str>, Error> {
    match requested {
        None => Ok(std::borrow::Cow::Borrowed(granted)),
        Some(requested) => {
            let wanted = parse_scope(requested)?;
            if wanted.iter().all(|w| granted.split(' ').any(|g| g == *w)) {
                Ok(std::borrow::Cow::Owned(wanted.join(" ")))
            } else {
                Err(Error::InvalidScope)
            }
        }
    }
}

/// Claim names the engine writes itself; application claims may not use them.
const REGISTERED: [&str; 18] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "client_id",
    "scope",
    "auth_time",
    "acr",
    "sid",
    "tenant",
    "pv",
    "cnf",
    "azp",
    "act",
    "may_act",
];

/// Serialize application claims for the family record: a JSON object without registered
/// names of at most [`IssueRequest::MAX_CLAIMS_LEN`] bytes, or `None` when empty.
pub(crate) fn encode_claims(claims: &Map<String, Value>) -> Result<Option<String>, Error> {
    if claims.is_empty() {
        return Ok(None);
    }
    if claims.keys().any(|k| REGISTERED.contains(&k.as_str())) {
        return Err(Error::InvalidRequest(
            "application claims may not use registered claim names",
        ));
    }
    let json = serde_json::to_string(claims).map_err(|e| Error::Serialize(e.to_string()))?;
    if json.len() > IssueRequest::MAX_CLAIMS_LEN {
        return Err(Error::IssueLimit(IssueLimit::Claims));
    }
    Ok(Some(json))
}

/// What to issue after the application authenticated the user.
#[derive(Clone, Debug)]
pub struct IssueRequest {
    pub(crate) subject: String,
    pub(crate) scope: Option<String>,
    pub(crate) tenant: Option<String>,
    pub(crate) device_id: Option<String>,
    pub(crate) auth_time: Option<i64>,
    pub(crate) claims: Map<String, Value>,
    pub(crate) refresh_token: bool,
    pub(crate) dpop: Option<crate::dpop::VerifiedProof>,
    pub(crate) cert_thumbprint: Option<String>,
    pub(crate) resources: Vec<String>,
    /// The audience of this first access token when narrower than the grant (a token
    /// request's `resource` after an authorization request's).
    pub(crate) token_resources: Vec<String>,
    pub(crate) acr: Option<String>,
}

impl IssueRequest {
    /// The longest subject [`Engine::issue`](crate::Engine::issue) accepts, in bytes (UTF-8).
    ///
    /// With [`MAX_CLAIMS_LEN`](Self::MAX_CLAIMS_LEN) it keeps an access token under
    /// [`DEFAULT_MAX_TOKEN_LEN`](crate::jose::DEFAULT_MAX_TOKEN_LEN), the length every
    /// verifier accepts by default: a subject this long, claims this long and the registered
    /// claims, base64url encoded (4/3), come to 7,605 bytes signed with RSA-2048 (tested) and
    /// about 7,950 with RSA-4096, leaving the rest for tenant and scope. Longer is refused with
    /// [`Error::IssueLimit`]`(`[`IssueLimit::Subject`]`)`.
    pub const MAX_SUBJECT_LEN: usize = 1024;

    /// The longest application claims [`Engine::issue`](crate::Engine::issue) accepts: the
    /// length of their JSON object as serialized, in bytes. Longer is refused with
    /// [`Error::IssueLimit`]`(`[`IssueLimit::Claims`]`)`; see
    /// [`MAX_SUBJECT_LEN`](Self::MAX_SUBJECT_LEN) for how the two fit a token.
    pub const MAX_CLAIMS_LEN: usize = 4096;

    /// Tokens for `subject` (the user id).
    pub fn new(subject: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            scope: None,
            tenant: None,
            device_id: None,
            auth_time: None,
            claims: Map::new(),
            refresh_token: true,
            dpop: None,
            cert_thumbprint: None,
            resources: Vec::new(),
            token_resources: Vec::new(),
            acr: None,
        }
    }

    /// A resource indicator (RFC 8707) the tokens are for: one the engine serves
    /// ([`EngineBuilder::resource`](crate::EngineBuilder::resource)) and the client may use,
    /// else `Error::InvalidTarget`. The access tokens' `aud` is the resources named (without
    /// any, the engine's audiences); the session remembers them, and a refresh may narrow
    /// them. Call once per resource.
    #[must_use]
    pub fn resource(mut self, uri: impl Into<String>) -> Self {
        self.resources.push(uri.into());
        self
    }

    /// The authentication context class the user authenticated with (`acr`, RFC 9470 §3,
    /// for example `urn:example:mfa`): written into every access token (and ID token) of the
    /// session, for resource servers that require a class
    /// ([`Validation::require_acr`](crate::Validation::require_acr)). 1 to 256 bytes of
    /// visible ASCII, else `Error::InvalidRequest`.
    #[must_use]
    pub fn acr(mut self, acr: impl Into<String>) -> Self {
        self.acr = Some(acr.into());
        self
    }

    /// The requested scope (space-separated); default: everything the client may have.
    #[must_use]
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// The user's tenant (for per-tenant policy versions).
    #[must_use]
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// The device the session is bound to.
    #[must_use]
    pub fn device(mut self, device_id: impl Into<String>) -> Self {
        self.device_id = Some(device_id.into());
        self
    }

    /// When the user authenticated (default: now).
    #[must_use]
    pub fn auth_time(mut self, unix_seconds: i64) -> Self {
        self.auth_time = Some(unix_seconds);
        self
    }

    /// An application claim for the access tokens of this session (`role`, `tenant_id`,
    /// ...). Registered claim names are refused at issue time.
    #[must_use]
    pub fn claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.claims.insert(name.into(), value.into());
        self
    }

    /// Bind the tokens to the key of this verified DPoP proof (RFC 9449): the access token
    /// carries `cnf.jkt` and is of type `DPoP`; the family refreshes only with proofs by the
    /// same key.
    #[must_use]
    pub fn dpop(mut self, proof: crate::dpop::VerifiedProof) -> Self {
        self.dpop = Some(proof);
        self
    }

    /// Bind the tokens to the client certificate the TLS layer verified (RFC 8705): its
    /// SHA-256 goes in `cnf.x5t#S256` and the family refreshes only over a connection with
    /// the same certificate.
    #[must_use]
    pub fn mtls(mut self, cert_sha256: &[u8; 32]) -> Self {
        self.cert_thumbprint = Some(x5t_s256(cert_sha256));
        self
    }

    /// Issue no refresh token (and create no family).
    #[must_use]
    pub fn without_refresh_token(mut self) -> Self {
        self.refresh_token = false;
        self
    }
}

/// `x5t#S256`: base64url of a certificate's SHA-256.
pub(crate) fn x5t_s256(cert_sha256: &[u8; 32]) -> String {
    let mut s = String::with_capacity(43);
    crate::jose::b64_encode_to(cert_sha256, &mut s);
    s
}

/// Options of a refresh, and what the presenter proved it holds.
#[derive(Clone, Debug, Default)]
pub struct RefreshRequest {
    pub(crate) scope: Option<String>,
    pub(crate) dpop: Option<crate::dpop::VerifiedProof>,
    pub(crate) device_id: Option<String>,
    pub(crate) cert_thumbprint: Option<String>,
    pub(crate) resources: Vec<String>,
}

impl RefreshRequest {
    /// A verified DPoP proof sent with the refresh. Required for a DPoP-bound family (by the
    /// same key); for an unbound one it binds the new access token.
    #[must_use]
    pub fn dpop(mut self, proof: crate::dpop::VerifiedProof) -> Self {
        self.dpop = Some(proof);
        self
    }

    /// The device the refresh comes from. Required for a device-bound family (the same
    /// device id).
    #[must_use]
    pub fn device(mut self, device_id: impl Into<String>) -> Self {
        self.device_id = Some(device_id.into());
        self
    }

    /// The SHA-256 of the client certificate of this connection (RFC 8705). Required for a
    /// certificate-bound family (the same certificate).
    #[must_use]
    pub fn mtls(mut self, cert_sha256: &[u8; 32]) -> Self {
        self.cert_thumbprint = Some(x5t_s256(cert_sha256));
        self
    }

    /// Narrow the access token's audience to this resource indicator (RFC 8707 §2.2): one of
    /// the resources the session was granted, else `Error::InvalidTarget` (nothing is
    /// written; the refresh token stays good). Call once per resource; without a call the
    /// token is for every resource granted.
    #[must_use]
    pub fn resource(mut self, uri: impl Into<String>) -> Self {
        self.resources.push(uri.into());
        self
    }

    /// Narrow the access token's scope (never wider than the grant).
    #[must_use]
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_rules() {
        assert_eq!(
            parse_scope(" read  write read ").unwrap(),
            ["read", "write"]
        );
        assert!(parse_scope("read\u{7f}").is_err());
        assert!(parse_scope("a\"b").is_err());
        assert!(parse_scope("a\\b").is_err());
        assert!(parse_scope(&"a".repeat(MAX_SCOPE_LEN + 1)).is_err());
        let c = Client::new("c").allow_scopes(["read", "write"]);
        assert_eq!(grant_scope(&c, None).unwrap(), "read write");
        assert_eq!(grant_scope(&c, Some("write")).unwrap(), "write");
        assert!(matches!(
            grant_scope(&c, Some("admin")),
            Err(Error::InvalidScope)
        ));
        assert_eq!(narrow_scope("read write", Some("read")).unwrap(), "read");
        assert_eq!(narrow_scope("read write", None).unwrap(), "read write");
        assert!(matches!(
            narrow_scope("read", Some("read write")),
            Err(Error::InvalidScope)
        ));
        assert!(matches!(
            narrow_scope("read", Some("rea")),
            Err(Error::InvalidScope)
        ));
    }

    #[test]
    fn application_claims_cannot_shadow_registered_ones() {
        let mut m = Map::new();
        assert_eq!(encode_claims(&m).unwrap(), None);
        m.insert("role".into(), "admin".into());
        assert_eq!(
            encode_claims(&m).unwrap().as_deref(),
            Some(r#"{"role":"admin"}"#)
        );
        m.insert("sub".into(), "someone-else".into());
        assert!(matches!(encode_claims(&m), Err(Error::InvalidRequest(_))));
    }
}
