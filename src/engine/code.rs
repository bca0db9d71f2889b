//! The authorization-code grant (RFC 6749 §4.1) with PKCE (RFC 7636): codes are minted by
//! the authorization endpoint ([`Engine::authorization_response`], or [`Engine::authorize`]
//! without HTTP) and redeemed by the token endpoint ([`Engine::exchange_code`]).
//!
//! A code is 256 random bits; the store keeps only its SHA-256 (`CodeStore`), taken atomically
//! on exchange, so of any number of concurrent exchanges exactly one gets tokens. A code
//! presented again finds a marker left by the first exchange and revokes the session issued
//! from it (RFC 6749 §4.1.2).

use core::fmt;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{Engine, TokenBinding, store_error, store_key};
use crate::client::{Client, GrantType, IssueRequest, grant_scope};
use crate::error::{Error, GrantError};
use crate::family::{OperationId, RevocationReason};
use crate::form::encode_component;
use crate::opaque::FamilyId;
use crate::pkce::{CodeChallenge, PkceError};
use crate::response::TokenResponse;
use crate::store::{CodeRecord, CodeStore};

/// The prefix of every authorization code this crate mints.
pub const AUTHORIZATION_CODE_PREFIX: &str = "ac_";
/// How long after a code's expiry its replay is still recognised (and revokes the session).
const REPLAY_MEMORY: i64 = 600;
/// Longest `state` or `nonce` accepted.
const MAX_PARAM_LEN: usize = 512;

/// What the application's `/authorize` handler passes once the user is authenticated and has
/// consented: the request's parameters as received, and who logged in.
#[derive(Clone, Debug)]
pub struct AuthorizeRequest {
    subject: String,
    redirect_uri: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    nonce: Option<String>,
    auth_time: Option<i64>,
    tenant: Option<String>,
    resources: Vec<String>,
    acr: Option<String>,
}

impl AuthorizeRequest {
    /// A code for `subject` (the user the application authenticated).
    pub fn new(subject: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            redirect_uri: None,
            scope: None,
            state: None,
            code_challenge: None,
            code_challenge_method: None,
            nonce: None,
            auth_time: None,
            tenant: None,
            resources: Vec::new(),
            acr: None,
        }
    }

    /// A `resource` parameter (RFC 8707; call once per resource): one the engine serves and
    /// the client may use, else `Error::InvalidTarget`.
    #[must_use]
    pub fn resource(mut self, uri: impl Into<String>) -> Self {
        self.resources.push(uri.into());
        self
    }

    /// The authentication context class the user authenticated with (RFC 9470 `acr`).
    #[must_use]
    pub fn acr(mut self, acr: impl Into<String>) -> Self {
        self.acr = Some(acr.into());
        self
    }

    /// The `redirect_uri` parameter (required unless the client has exactly one).
    #[must_use]
    pub fn redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.redirect_uri = Some(uri.into());
        self
    }

    /// The `scope` parameter.
    #[must_use]
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// The `state` parameter, returned in the redirect.
    #[must_use]
    pub fn state(mut self, state: impl Into<String>) -> Self {
        self.state = Some(state.into());
        self
    }

    /// The `code_challenge` and `code_challenge_method` parameters, as received.
    #[must_use]
    pub fn pkce(mut self, challenge: impl Into<String>, method: Option<&str>) -> Self {
        self.code_challenge = Some(challenge.into());
        self.code_challenge_method = method.map(str::to_owned);
        self
    }

    /// The OpenID Connect `nonce`, echoed in the ID token.
    #[must_use]
    pub fn nonce(mut self, nonce: impl Into<String>) -> Self {
        self.nonce = Some(nonce.into());
        self
    }

    /// When the user authenticated (default: now).
    #[must_use]
    pub fn auth_time(mut self, unix_seconds: i64) -> Self {
        self.auth_time = Some(unix_seconds);
        self
    }

    /// The user's tenant.
    #[must_use]
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }
}

/// What the code stands for, stored (opaquely) with it.
#[derive(Serialize, Deserialize)]
pub(super) struct CodeGrant {
    pub(super) sub: String,
    pub(super) redirect_uri: String,
    pub(super) redirect_given: bool,
    pub(super) scope: String,
    pub(super) challenge: Option<CodeChallenge>,
    pub(super) nonce: Option<String>,
    pub(super) auth_time: i64,
    pub(super) tenant: Option<String>,
    /// RFC 9449 §10: the thumbprint of the DPoP key the code is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) dpop_jkt: Option<String>,
    /// RFC 8707: the resources the authorization request named (checked).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) resources: Vec<String>,
    /// RFC 9470: the `acr` the application approved with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) acr: Option<String>,
}

/// A minted authorization code and where to send the user with it. `Debug` hides the code.
pub struct AuthorizationCode {
    code: Zeroizing<String>,
    redirect_uri: String,
    state: Option<String>,
    issuer: String,
}

impl fmt::Debug for AuthorizationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationCode")
            .field("code", &"[redacted]")
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

impl AuthorizationCode {
    /// The code.
    #[must_use]
    pub fn expose_code(&self) -> &str {
        &self.code
    }

    /// The redirect URI the code was issued for.
    #[must_use]
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// The URL to redirect the user agent to: the redirect URI with `code`, `state` (if the
    /// request had one) and `iss` (RFC 9207, against mix-up attacks) added to its query.
    #[must_use]
    pub fn redirect_url(&self) -> String {
        let mut url = self.redirect_uri.clone();
        let mut params = vec![("code", self.code.as_str())];
        if let Some(state) = &self.state {
            params.push(("state", state));
        }
        params.push(("iss", &self.issuer));
        append_query(&mut url, &params);
        url
    }
}

pub(super) fn append_query(url: &mut String, params: &[(&str, &str)]) {
    let mut sep = if url.contains('?') { '&' } else { '?' };
    for (name, value) in params {
        url.push(sep);
        url.push_str(name);
        url.push('=');
        encode_component(value, url);
        sep = '&';
    }
}

/// Fresh random values [`Engine::insert_fresh`] (and a client registration) tries before
/// giving up.
pub(super) const FRESH_ATTEMPTS: usize = 3;

fn code_key(code: &str) -> [u8; 32] {
    store_key("authorization_code", &[code.as_bytes()])
}

fn spent_key(code: &str) -> [u8; 32] {
    store_key("spent_authorization_code", &[code.as_bytes()])
}

impl<S: CodeStore> Engine<S> {
    /// Mint an authorization code after the application authenticated the user and the user
    /// consented, without the HTTP endpoint (tests, migrations, other transports; over HTTP
    /// use [`Engine::authorization_request`] and [`Engine::authorization_response`], which
    /// also answer the errors). Checks the client may use the grant, the redirect URI
    /// (exactly one of the client's registered URIs; a client with one may omit it), the
    /// scope, and PKCE (`S256` required of public clients and, by default, of every client).
    pub async fn authorize(
        &self,
        client: &Client,
        req: AuthorizeRequest,
    ) -> Result<AuthorizationCode, Error> {
        if !client.allows(GrantType::AuthorizationCode) {
            return Err(Error::UnauthorizedClient);
        }
        let redirect_uri = match (&req.redirect_uri, client.redirect_uris()) {
            (Some(given), registered) if registered.iter().any(|r| r == given) => given.clone(),
            (None, [only]) => only.clone(),
            (Some(_), _) => return Err(Error::InvalidRequest("redirect_uri is not registered")),
            (None, _) => return Err(Error::InvalidRequest("redirect_uri is required")),
        };
        if req.subject.is_empty() {
            return Err(Error::InvalidRequest("empty subject"));
        }
        // Refused before a code is minted: the exchange would fail after spending it.
        if req.subject.len() > crate::IssueRequest::MAX_SUBJECT_LEN {
            return Err(Error::IssueLimit(crate::error::IssueLimit::Subject));
        }
        let too_long = |v: &Option<String>| v.as_ref().is_some_and(|v| v.len() > MAX_PARAM_LEN);
        if too_long(&req.state) || too_long(&req.nonce) {
            return Err(Error::InvalidRequest("state or nonce too long"));
        }
        let scope = grant_scope(client, req.scope.as_deref())?;
        let challenge = match req.code_challenge.as_deref() {
            Some(value) => Some(CodeChallenge::from_request(
                value,
                req.code_challenge_method.as_deref(),
                client.allows_plain_pkce(),
            )?),
            None if client.requires_pkce() => return Err(PkceError::Missing.into()),
            None => None,
        };
        let now = self.now();
        let grant = CodeGrant {
            sub: req.subject,
            redirect_uri,
            redirect_given: req.redirect_uri.is_some(),
            scope,
            challenge,
            nonce: req.nonce,
            auth_time: req.auth_time.unwrap_or(now),
            tenant: req.tenant,
            dpop_jkt: None,
            resources: crate::resource_indicator::grant(
                &self.inner.resources,
                client.allowed_resources(),
                &req.resources,
            )?,
            acr: req.acr,
        };
        if grant
            .acr
            .as_deref()
            .is_some_and(|a| !crate::resource_indicator::is_acr(a))
        {
            return Err(Error::InvalidRequest(
                "acr must be 1 to 256 bytes of visible ASCII",
            ));
        }
        self.mint_code(client, grant, req.state).await
    }

    /// Store a new code for `grant` and return it with where to send the user.
    pub(super) async fn mint_code(
        &self,
        client: &Client,
        grant: CodeGrant,
        state: Option<String>,
    ) -> Result<AuthorizationCode, Error> {
        let now = self.now();
        let redirect_uri = grant.redirect_uri.clone();
        let payload = serde_json::to_vec(&grant).map_err(|e| Error::Serialize(e.to_string()))?;
        let code = self
            .insert_fresh(
                AUTHORIZATION_CODE_PREFIX,
                code_key,
                client.id(),
                now.saturating_add(self.inner.code_ttl),
                payload,
            )
            .await?;
        Ok(AuthorizationCode {
            code,
            redirect_uri,
            state,
            issuer: self.inner.issuer.clone(),
        })
    }

    /// Store a one-time record (`payload`, for `client_id`, until `expires_at`) under a fresh
    /// random text with `prefix`, keyed by `key` of the text, and return the text. An `Exists`
    /// answer draws another text: 256 random bits do not collide, so it is a store that re-sent
    /// the insert after losing its answer (a dropped connection, a driver's retry) and found
    /// its own first attempt, a record nobody holds the text of, which expires with its
    /// `expires_at`. Up to [`FRESH_ATTEMPTS`] texts.
    pub(super) async fn insert_fresh(
        &self,
        prefix: &str,
        key: fn(&str) -> [u8; 32],
        client_id: &str,
        expires_at: i64,
        payload: Vec<u8>,
    ) -> Result<Zeroizing<String>, Error> {
        let mut text = crate::opaque::random_text(prefix)?;
        let mut record = CodeRecord {
            key: key(&text),
            client_id: client_id.to_owned(),
            expires_at,
            payload,
        };
        for attempt in 1..=FRESH_ATTEMPTS {
            match self
                .inner
                .store
                .insert_code(&record)
                .await
                .map_err(store_error)?
            {
                crate::store::InsertOutcome::Inserted => return Ok(text),
                crate::store::InsertOutcome::Exists if attempt < FRESH_ATTEMPTS => {
                    text = crate::opaque::random_text(prefix)?;
                    record.key = key(&text);
                }
                crate::store::InsertOutcome::Exists => break,
            }
        }
        Err(Error::Crypto(
            "one-time code: every fresh random value was already stored",
        ))
    }

    /// Exchange an authorization code for tokens (RFC 6749 §4.1.3): the code must have been
    /// issued to this client, be unexpired and unused, the `redirect_uri` must be the one of
    /// the authorization request (when it named one), and the `code_verifier` must match its
    /// PKCE challenge (a verifier without a challenge is refused: a PKCE downgrade). The code
    /// is spent whatever the outcome. A code presented again is
    /// `InvalidGrant(CodeReplayed)` and revokes the session issued from it. `binding` binds
    /// the tokens (DPoP, mTLS; `TokenBinding::default()` for none); a code issued for a
    /// `dpop_jkt` (RFC 9449 §10) needs a proof by that key, or it is
    /// `InvalidGrant(DpopKeyMismatch)`.
    pub async fn exchange_code(
        &self,
        client: &Client,
        code: &str,
        redirect_uri: Option<&str>,
        code_verifier: Option<&str>,
        binding: TokenBinding,
    ) -> Result<TokenResponse, Error> {
        if !client.allows(GrantType::AuthorizationCode) {
            return Err(Error::UnauthorizedClient);
        }
        if code.len() > 128 || !code.starts_with(AUTHORIZATION_CODE_PREFIX) {
            return Err(GrantError::InvalidCode.into());
        }
        let store = &self.inner.store;
        let Some(record) = store
            .take_code(&code_key(code))
            .await
            .map_err(store_error)?
        else {
            return Err(self.code_replayed(code).await?);
        };
        let now = self.now();
        if record.client_id != client.id() {
            return Err(GrantError::CodeIssuedToAnotherClient.into());
        }
        if now >= record.expires_at {
            return Err(GrantError::InvalidCode.into());
        }
        let grant: CodeGrant =
            serde_json::from_slice(&record.payload).map_err(|_| GrantError::InvalidCode)?;
        let redirect_ok = match redirect_uri {
            Some(given) => given == grant.redirect_uri,
            None => !grant.redirect_given,
        };
        if !redirect_ok {
            return Err(GrantError::RedirectUriMismatch.into());
        }
        match (&grant.challenge, code_verifier) {
            (Some(challenge), Some(verifier)) => challenge.verify(verifier)?,
            (Some(_), None) => return Err(Error::InvalidRequest("code_verifier is required")),
            (None, Some(_)) => {
                return Err(Error::InvalidRequest(
                    "code_verifier without a code_challenge",
                ));
            }
            (None, None) if client.requires_pkce() => return Err(PkceError::Missing.into()),
            (None, None) => {}
        }
        if let Some(jkt) = grant.dpop_jkt.as_deref()
            && binding.dpop.as_ref().is_none_or(|p| p.jkt() != jkt)
        {
            return Err(GrantError::DpopKeyMismatch.into());
        }
        let openid = grant.scope.split(' ').any(|s| s == "openid");
        let mut issue = binding.apply(
            IssueRequest::new(grant.sub.clone())
                .scope(grant.scope)
                .auth_time(grant.auth_time),
        );
        // RFC 8707 §2.2: the session gets what the authorization request named; this access
        // token is for the subset the token request names (checked by `issue`).
        issue.resources = grant.resources;
        issue.token_resources = binding.resources;
        issue.acr.clone_from(&grant.acr);
        if let Some(t) = grant.tenant {
            issue = issue.tenant(t);
        }
        let mut response = self.issue(client, issue).await?;
        if openid {
            response.id_token = Some(self.id_token(
                client,
                &grant.sub,
                grant.nonce.as_deref(),
                grant.auth_time,
                grant.acr.as_deref(),
                &response.access_token,
            )?);
        }
        // Remember the family, so a replay of this code revokes it.
        if let Some(family) = response
            .refresh_token
            .as_ref()
            .and_then(|t| self.inner.refresh.parse(t.expose_secret()).ok())
        {
            let marker = CodeRecord {
                key: spent_key(code),
                client_id: record.client_id,
                expires_at: record.expires_at.saturating_add(REPLAY_MEMORY),
                payload: family.family().as_bytes().to_vec(),
            };
            // Best effort: the tokens are issued; a lost marker only loses replay revocation.
            let _ = store.insert_code(&marker).await;
        }
        Ok(response)
    }

    /// A code that is not (or no longer) stored: if it was exchanged before, revoke what it
    /// issued. Returns the error to answer with.
    async fn code_replayed(&self, code: &str) -> Result<Error, Error> {
        let store = &self.inner.store;
        let Some(marker) = store
            .take_code(&spent_key(code))
            .await
            .map_err(store_error)?
        else {
            return Ok(GrantError::InvalidCode.into());
        };
        let Ok(bytes) = <[u8; 16]>::try_from(marker.payload.as_slice()) else {
            return Ok(GrantError::InvalidCode.into());
        };
        let family = FamilyId::from_bytes(bytes);
        let op = OperationId::of("code_replayed", &[code.as_bytes()]);
        // Whatever the outcome (revoked now, already inactive, swept), the code is replayed.
        let _outcome = self
            .revoke_family(None, family, RevocationReason::CodeReplayed, op)
            .await?;
        Ok(GrantError::CodeReplayed.into())
    }
}
