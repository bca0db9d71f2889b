//! The authorization endpoint (RFC 6749 §4.1.1-4.1.2, RFC 7636, RFC 9207, RFC 9449 §10,
//! OpenID Connect Core §3.1.2) in two calls around the application's login and consent UI:
//!
//! 1. [`Engine::authorization_request`] takes the whole HTTP request and validates it: the
//!    client, its redirect URI (registered, compared exactly; the single registered one when
//!    omitted), `response_type`, scope, state, PKCE, nonce, `prompt`, `max_age`,
//!    `login_hint`, `dpop_jkt`, `resource` (RFC 8707), `acr_values` (RFC 9470). It returns either an [`AuthorizationRequest`] to show the
//!    user, whose redirect target is trusted from then on, or the response to send: an error
//!    page while the redirect URI is not trusted (never a redirect), an error redirect after.
//! 2. [`Engine::authorization_response`] turns the user's [`AuthorizationDecision`] into the
//!    redirect: a code (with `state` and `iss`) or an error (`access_denied`,
//!    `login_required`, ...), always to the validated target.
//!
//! An [`AuthorizationRequest`] can only be made by step 1, so an unvalidated redirect URI
//! cannot be expressed. It is not serializable: to carry it across the login page, keep the
//! original query (or form) and run step 1 again on the consent submission; it is stateless
//! and cheap.

use super::Engine;
use super::code::{CodeGrant, append_query};
use crate::client::{Client, GrantType, grant_scope};
use crate::client_auth::ClientRegistry;
use crate::form::{Form, parse_pairs};
use crate::http::{HttpRequest, HttpResponse, html_escape};
use crate::pkce::CodeChallenge;
use crate::store::CodeStore;

/// Longest `state`, `nonce` or `login_hint` accepted.
pub(crate) const MAX_PARAM_LEN: usize = 512;

/// A validated authorization request: made only by [`Engine::authorization_request`], so
/// its redirect URI is one the client registered. Show the user who asks for what
/// ([`AuthorizationRequest::client`], [`AuthorizationRequest::scope`]), then answer with
/// [`Engine::authorization_response`].
#[derive(Clone, Debug)]
pub struct AuthorizationRequest {
    client: Client,
    redirect_uri: String,
    redirect_given: bool,
    scope: String,
    state: Option<String>,
    challenge: Option<CodeChallenge>,
    nonce: Option<String>,
    prompt: Prompt,
    max_age: Option<i64>,
    login_hint: Option<String>,
    dpop_jkt: Option<String>,
    resources: Vec<String>,
    acr_values: Option<String>,
    /// The store key of the pushed request (RFC 9126) this request came from: spent when
    /// the request is answered.
    pushed: Option<[u8; 32]>,
}

/// The `prompt` values of OpenID Connect Core §3.1.2.1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Prompt {
    none: bool,
    login: bool,
    consent: bool,
    select_account: bool,
}

impl AuthorizationRequest {
    /// The resources (RFC 8707) the tokens will be for, checked against the engine's and the
    /// client's: show them on the consent page.
    #[must_use]
    pub fn resources(&self) -> &[String] {
        &self.resources
    }

    /// The authentication context classes the client asks for (`acr_values`, most preferred
    /// first; RFC 9470 §4, OpenID Connect Core §3.1.2.1). Authenticate the user with one of
    /// them if you can and name it with [`Approval::acr`]; the resource that asked decides
    /// whether a weaker one will do.
    pub fn acr_values(&self) -> impl Iterator<Item = &str> {
        self.acr_values
            .as_deref()
            .unwrap_or("")
            .split(' ')
            .filter(|v| !v.is_empty())
    }

    /// The client that asks.
    #[must_use]
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The scope asked for (checked against the client's), space-separated.
    #[must_use]
    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// The redirect URI the answer goes to (registered by the client).
    #[must_use]
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// The `state` parameter.
    #[must_use]
    pub fn state(&self) -> Option<&str> {
        self.state.as_deref()
    }

    /// The OpenID Connect `nonce`.
    #[must_use]
    pub fn nonce(&self) -> Option<&str> {
        self.nonce.as_deref()
    }

    /// `prompt=none`: show no page. Answer at once with an approval (if the user has a
    /// session and consented before) or with [`AuthorizationDecision::LoginRequired`],
    /// [`AuthorizationDecision::ConsentRequired`] or another "required" decision.
    #[must_use]
    pub fn prompt_none(&self) -> bool {
        self.prompt.none
    }

    /// `prompt=login`: authenticate the user again even with a session.
    #[must_use]
    pub fn prompt_login(&self) -> bool {
        self.prompt.login
    }

    /// `prompt=consent`: ask for consent even if given before.
    #[must_use]
    pub fn prompt_consent(&self) -> bool {
        self.prompt.consent
    }

    /// `prompt=select_account`: let the user choose an account.
    #[must_use]
    pub fn prompt_select_account(&self) -> bool {
        self.prompt.select_account
    }

    /// `max_age`: the most seconds since the user's last authentication. An approval with an
    /// older `auth_time` is answered `login_required`.
    #[must_use]
    pub fn max_age(&self) -> Option<i64> {
        self.max_age
    }

    /// Whether a user who authenticated at `auth_time` must log in again before approving,
    /// at `now`: `prompt=login`, or `max_age` exceeded.
    #[must_use]
    pub fn needs_login(&self, auth_time: i64, now: i64) -> bool {
        self.prompt.login
            || self
                .max_age
                .is_some_and(|m| now.saturating_sub(auth_time) > m)
    }

    /// `login_hint`, to prefill the login form (untrusted text: escape it).
    #[must_use]
    pub fn login_hint(&self) -> Option<&str> {
        self.login_hint.as_deref()
    }

    /// `dpop_jkt` (RFC 9449 §10): the code will be redeemable only with a DPoP proof by the
    /// key with this thumbprint.
    #[must_use]
    pub fn dpop_jkt(&self) -> Option<&str> {
        self.dpop_jkt.as_deref()
    }
}

/// The user's answer to an [`AuthorizationRequest`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum AuthorizationDecision {
    /// The user authenticated and consented: issue a code.
    Approve(Approval),
    /// The user refused: `access_denied`.
    Deny,
    /// `prompt=none` and no session: `login_required`.
    LoginRequired,
    /// `prompt=none` and no consent on record: `consent_required`.
    ConsentRequired,
    /// `prompt=none` and some other page would be needed: `interaction_required`.
    InteractionRequired,
    /// `prompt=none` and several accounts to choose from: `account_selection_required`.
    AccountSelectionRequired,
}

/// Who approved, and what.
#[derive(Clone, Debug)]
pub struct Approval {
    subject: String,
    auth_time: Option<i64>,
    tenant: Option<String>,
    scope: Option<String>,
    acr: Option<String>,
}

impl Approval {
    /// `subject` (the user the application authenticated) approved.
    #[must_use]
    pub fn new(subject: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            auth_time: None,
            tenant: None,
            scope: None,
            acr: None,
        }
    }

    /// The authentication context class the user authenticated with (`acr`, for example
    /// `urn:example:mfa`): written into the access and ID tokens (RFC 9470 §3). 1 to 256
    /// bytes of visible ASCII (anything else answers `server_error`: the application's
    /// mistake, not the client's).
    #[must_use]
    pub fn acr(mut self, acr: impl Into<String>) -> Self {
        self.acr = Some(acr.into());
        self
    }

    /// When the user authenticated (default: now). Checked against `max_age`.
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

    /// The scope the user consented to, when narrower than the request's (it must be a
    /// subset of it).
    #[must_use]
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }
}

/// An authorization endpoint error: its code and a coarse description.
pub(super) struct AuthzError(pub(super) &'static str, pub(super) &'static str);

/// Why step 1 refused a request once the client was known.
pub(super) enum Refusal {
    /// The redirect URI is not trusted: the error page, never a redirect.
    Page(&'static str),
    /// The redirect URI is trusted: redirect the error there (with `state`).
    Redirect(String, Option<String>, AuthzError),
}

/// A parameter's single value (empty counts as absent); a repeated parameter is refused.
pub(super) fn single<'p>(
    pairs: &'p [(String, String)],
    name: &str,
) -> Result<Option<&'p str>, &'static str> {
    let mut values = pairs.iter().filter(|(n, _)| n == name).map(|(_, v)| v);
    let first = values.next().map(String::as_str).filter(|v| !v.is_empty());
    if values.next().is_some() {
        return Err("A parameter of the request is repeated.");
    }
    Ok(first)
}

/// `503`: the client registry or the store failed.
pub(super) fn unavailable() -> HttpResponse {
    HttpResponse::new(503)
        .with_header("Content-Type", "text/plain; charset=utf-8")
        .with_body("The server could not complete the request; try again.".into())
        .no_store()
}

const INVALID_REQUEST: AuthzError = AuthzError("invalid_request", "The request is malformed.");
const INVALID_TARGET: AuthzError = AuthzError(
    "invalid_target",
    "The requested resource is invalid or not allowed.",
);

fn from_error(e: &crate::error::Error) -> AuthzError {
    match e.oauth_code() {
        "invalid_scope" => AuthzError(
            "invalid_scope",
            "The requested scope is invalid or not allowed.",
        ),
        "unauthorized_client" => AuthzError(
            "unauthorized_client",
            "The client may not use this response type.",
        ),
        "server_error" => AuthzError(
            "temporarily_unavailable",
            "The server could not complete the request; try again.",
        ),
        _ => INVALID_REQUEST,
    }
}

/// The error page for a request whose redirect URI is not trusted (RFC 6749 §4.1.2.1: the
/// user agent MUST NOT be redirected).
pub(super) fn error_page(description: &str) -> HttpResponse {
    let mut body = String::from(
        "<!doctype html><meta charset=\"utf-8\"><title>Authorization error</title>\
         <h1>This authorization request cannot be completed</h1><p>",
    );
    html_escape(description, &mut body);
    body.push_str("</p>");
    HttpResponse::new(400)
        .with_header("Content-Type", "text/html; charset=utf-8")
        .with_body(body)
        .no_store()
}

impl<S> Engine<S> {
    /// Step 1 of the authorization endpoint: validate the whole request (`GET` with a query,
    /// or `POST` with a form, OpenID Connect Core §3.1.2.1). Returns the validated request
    /// to show the user, or the response to send as it is: a `400` error page while the
    /// client or redirect URI is unknown, repeated or not registered (never a redirect), and
    /// a `303` error redirect (with `state` and `iss`) for every later error:
    /// `unsupported_response_type` (only `code`), `invalid_scope`, `unauthorized_client`,
    /// `invalid_request` (a repeated parameter, PKCE missing or malformed, bad `prompt`,
    /// `max_age`, `dpop_jkt`, oversized values; a plain request from a client that must push
    /// its requests), `request_not_supported`, `request_uri_not_supported` (a `request_uri`
    /// this server did not mint: request objects are not fetched).
    ///
    /// A request with `request_uri` (and `client_id`) takes its parameters from the request
    /// the client pushed ([`Engine::pushed_authorization_endpoint`], RFC 9126 §4); the other
    /// parameters sent beside them are ignored. It may be run again (the consent page's
    /// submission) until the request is answered by [`Engine::authorization_response`],
    /// which spends it: one pushed request yields at most one code. A `request_uri` that is
    /// unknown, expired, spent or pushed by another client gets the error page.
    pub async fn authorization_request<R: ClientRegistry>(
        &self,
        clients: &R,
        request: &HttpRequest<'_>,
    ) -> Result<AuthorizationRequest, HttpResponse>
    where
        S: CodeStore,
    {
        let raw = if request.is("GET") {
            request.raw_query()
        } else if request.is("POST") {
            match request.single_header("content-type") {
                Ok(Some(t))
                    if t.split(';').next().is_some_and(|t| {
                        t.trim()
                            .eq_ignore_ascii_case("application/x-www-form-urlencoded")
                    }) => {}
                _ => return Err(error_page("The request is not a form.")),
            }
            match request.raw_body() {
                Ok(body) => body,
                Err(_) => return Err(error_page("The request is malformed.")),
            }
        } else {
            return Err(HttpResponse::method_not_allowed("GET, POST"));
        };
        let Ok(pairs) = parse_pairs(raw) else {
            return Err(error_page("The request is malformed."));
        };
        // RFC 9126 §4: a pushed request stands in for the parameters sent.
        let (pairs, pushed) = self.resolve_pushed(pairs).await?;
        let Some(client_id) = single(&pairs, "client_id").map_err(error_page)? else {
            return Err(error_page("The request names no client."));
        };
        let client = match clients.client(client_id).await {
            Ok(Some(c)) => c,
            Ok(None) => return Err(error_page("The client is not known.")),
            Err(_) => return Err(unavailable()),
        };
        let par_required =
            self.inner.par.required || client.requires_pushed_authorization_requests();
        let mut validated = self.check(client, &pairs).map_err(|r| match r {
            Refusal::Page(description) => error_page(description),
            Refusal::Redirect(uri, state, e) => self.error_redirect(&uri, state.as_deref(), &e),
        })?;
        if pushed.is_none() && par_required {
            let e = AuthzError("invalid_request", "This client must push its requests.");
            let state = validated.state.as_deref();
            return Err(self.error_redirect(&validated.redirect_uri, state, &e));
        }
        validated.pushed = pushed;
        Ok(validated)
    }

    /// The checks of step 1 once the client is known, shared with the pushed authorization
    /// request endpoint: the redirect URI, then (errors redirected from here on) everything
    /// else.
    pub(super) fn check(
        &self,
        client: Client,
        pairs: &[(String, String)],
    ) -> Result<AuthorizationRequest, Refusal> {
        let given = single(pairs, "redirect_uri").map_err(Refusal::Page)?;
        let redirect_uri = match (given, client.redirect_uris()) {
            (Some(given), _) if client.accepts_redirect_uri(given) => given.to_owned(),
            (None, [only]) => only.clone(),
            (Some(_), _) => {
                return Err(Refusal::Page(
                    "The redirect URI is not registered for this client.",
                ));
            }
            (None, _) => return Err(Refusal::Page("The request needs a redirect URI.")),
        };
        // From here on the redirect URI is trusted: errors go back to the client.
        let state = single(pairs, "state").ok().flatten();
        let state = state
            .filter(|s| s.len() <= MAX_PARAM_LEN)
            .map(str::to_owned);
        // `resource` may repeat (RFC 8707 §2); `Form` keeps every value of it.
        let form = match Form::from_pairs(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str()))) {
            Ok(form) => form,
            Err(_) => return Err(Refusal::Redirect(redirect_uri, state, INVALID_REQUEST)),
        };
        match self.validate(client, redirect_uri.clone(), given.is_some(), &form) {
            Ok(mut r) => {
                r.state.clone_from(&state);
                Ok(r)
            }
            Err(e) => Err(Refusal::Redirect(redirect_uri, state, e)),
        }
    }

    /// Every check after the redirect URI is trusted.
    fn validate(
        &self,
        client: Client,
        redirect_uri: String,
        redirect_given: bool,
        form: &Form,
    ) -> Result<AuthorizationRequest, AuthzError> {
        if form.get("request").is_some() {
            return Err(AuthzError(
                "request_not_supported",
                "Request objects are not supported.",
            ));
        }
        if form.get("request_uri").is_some() {
            return Err(AuthzError(
                "request_uri_not_supported",
                "request_uri is not supported.",
            ));
        }
        match form.get("response_type") {
            None => return Err(INVALID_REQUEST),
            Some("code") => {}
            Some(_) => {
                return Err(AuthzError(
                    "unsupported_response_type",
                    "Only the code response type is supported.",
                ));
            }
        }
        if form.get("response_mode").is_some_and(|m| m != "query") {
            return Err(INVALID_REQUEST);
        }
        if !client.allows(GrantType::AuthorizationCode) {
            return Err(AuthzError(
                "unauthorized_client",
                "The client may not use this response type.",
            ));
        }
        let too_long = |name: &str| form.get(name).is_some_and(|v| v.len() > MAX_PARAM_LEN);
        if too_long("state") || too_long("nonce") || too_long("login_hint") {
            return Err(INVALID_REQUEST);
        }
        let scope = grant_scope(&client, form.get("scope")).map_err(|e| from_error(&e))?;
        let method = form.get("code_challenge_method");
        let challenge = match form.get("code_challenge") {
            Some(value) => Some(
                CodeChallenge::from_request(value, method, client.allows_plain_pkce())
                    .map_err(|_| INVALID_REQUEST)?,
            ),
            None if client.requires_pkce() || method.is_some() => return Err(INVALID_REQUEST),
            None => None,
        };
        let prompt = parse_prompt(form.get("prompt"))?;
        let max_age = match form.get("max_age") {
            Some(v) => Some(parse_max_age(v)?),
            None => None,
        };
        let dpop_jkt = match form.get("dpop_jkt") {
            Some(jkt) if is_thumbprint(jkt) => Some(jkt.to_owned()),
            Some(_) => return Err(INVALID_REQUEST),
            None => None,
        };
        let requested: Vec<String> = form.get_all("resource").map(str::to_owned).collect();
        let resources = crate::resource_indicator::grant(
            &self.inner.resources,
            client.allowed_resources(),
            &requested,
        )
        .map_err(|_| INVALID_TARGET)?;
        let acr_values = match form.get("acr_values") {
            Some(v) => Some(parse_acr_values(v)?),
            None => None,
        };
        Ok(AuthorizationRequest {
            client,
            redirect_uri,
            redirect_given,
            scope,
            state: None,
            challenge,
            nonce: form.get("nonce").map(str::to_owned),
            prompt,
            max_age,
            login_hint: form.get("login_hint").map(str::to_owned),
            dpop_jkt,
            resources,
            acr_values,
            pushed: None,
        })
    }

    /// `303` to the validated redirect URI with `error`, `error_description`, `state` and
    /// `iss` (RFC 6749 §4.1.2.1, RFC 9207).
    fn error_redirect(
        &self,
        redirect_uri: &str,
        state: Option<&str>,
        e: &AuthzError,
    ) -> HttpResponse {
        let mut url = redirect_uri.to_owned();
        let mut params = vec![("error", e.0), ("error_description", e.1)];
        if let Some(state) = state {
            params.push(("state", state));
        }
        params.push(("iss", &self.inner.issuer));
        append_query(&mut url, &params);
        HttpResponse::see_other(url, false)
    }
}

impl<S: CodeStore> Engine<S> {
    /// Step 2 of the authorization endpoint: the redirect that answers `request` with the
    /// user's decision. An approval mints a single-use code (bound to the request's redirect
    /// URI, PKCE challenge, nonce and `dpop_jkt`) and redirects with `code`, `state` and
    /// `iss`; an approval whose `auth_time` is older than `max_age` allows is answered
    /// `login_required`; a consent scope wider than the request's is `invalid_scope`; every
    /// other decision is its error code. Always `303 See Other` to the validated redirect
    /// URI, `Cache-Control: no-store`.
    pub async fn authorization_response(
        &self,
        request: AuthorizationRequest,
        decision: AuthorizationDecision,
    ) -> HttpResponse {
        let state = request.state.as_deref();
        let fail = |code, description| {
            self.error_redirect(&request.redirect_uri, state, &AuthzError(code, description))
        };
        if let Some(key) = &request.pushed {
            match self.spend_pushed(key).await {
                Ok(true) => {}
                Ok(false) => return fail("invalid_request", "The pushed request was used."),
                Err(e) => {
                    return self.error_redirect(&request.redirect_uri, state, &from_error(&e));
                }
            }
        }
        let approval = match decision {
            AuthorizationDecision::Approve(a) => a,
            AuthorizationDecision::Deny => {
                return fail("access_denied", "The user denied the request.");
            }
            AuthorizationDecision::LoginRequired => {
                return fail("login_required", "The user must log in.");
            }
            AuthorizationDecision::ConsentRequired => {
                return fail("consent_required", "The user must consent.");
            }
            AuthorizationDecision::InteractionRequired => {
                return fail("interaction_required", "The user must interact.");
            }
            AuthorizationDecision::AccountSelectionRequired => {
                return fail(
                    "account_selection_required",
                    "The user must choose an account.",
                );
            }
        };
        let now = self.now();
        let auth_time = approval.auth_time.unwrap_or(now);
        if request
            .max_age
            .is_some_and(|m| now.saturating_sub(auth_time) > m)
        {
            return fail("login_required", "The user must log in again.");
        }
        // A subject the token endpoint would refuse to put in a token fails here, before a
        // code is minted for it.
        let bad_acr = approval
            .acr
            .as_deref()
            .is_some_and(|a| !crate::resource_indicator::is_acr(a));
        if bad_acr
            || approval.subject.is_empty()
            || approval.subject.len() > crate::IssueRequest::MAX_SUBJECT_LEN
        {
            return fail("server_error", "The server could not complete the request.");
        }
        let scope = match crate::client::narrow_scope(&request.scope, approval.scope.as_deref()) {
            Ok(s) => s.into_owned(),
            Err(_) => {
                return fail(
                    "invalid_scope",
                    "The requested scope is invalid or not allowed.",
                );
            }
        };
        let grant = CodeGrant {
            sub: approval.subject,
            redirect_uri: request.redirect_uri.clone(),
            redirect_given: request.redirect_given,
            scope,
            challenge: request.challenge.clone(),
            nonce: request.nonce.clone(),
            auth_time,
            tenant: approval.tenant,
            dpop_jkt: request.dpop_jkt.clone(),
            resources: request.resources.clone(),
            acr: approval.acr,
        };
        match self
            .mint_code(&request.client, grant, request.state.clone())
            .await
        {
            Ok(code) => HttpResponse::see_other(code.redirect_url(), true),
            Err(e) => self.error_redirect(&request.redirect_uri, state, &from_error(&e)),
        }
    }
}

/// `prompt`: a space-separated set of known values; `none` alone.
fn parse_prompt(value: Option<&str>) -> Result<Prompt, AuthzError> {
    let mut p = Prompt::default();
    for v in value.unwrap_or("").split(' ').filter(|v| !v.is_empty()) {
        let flag = match v {
            "none" => &mut p.none,
            "login" => &mut p.login,
            "consent" => &mut p.consent,
            "select_account" => &mut p.select_account,
            _ => return Err(INVALID_REQUEST),
        };
        if *flag {
            return Err(INVALID_REQUEST);
        }
        *flag = true;
    }
    if p.none && (p.login || p.consent || p.select_account) {
        return Err(INVALID_REQUEST);
    }
    Ok(p)
}

/// `acr_values`: space-separated `acr` values (at most 16), each 1 to 256 bytes of visible
/// ASCII; kept as sent, normalised to single spaces.
fn parse_acr_values(v: &str) -> Result<String, AuthzError> {
    let values: Vec<&str> = v.split(' ').filter(|a| !a.is_empty()).collect();
    if values.is_empty()
        || values.len() > 16
        || !values.iter().all(|a| crate::resource_indicator::is_acr(a))
    {
        return Err(INVALID_REQUEST);
    }
    Ok(values.join(" "))
}

/// `max_age`: a non-negative number of seconds, digits only.
fn parse_max_age(v: &str) -> Result<i64, AuthzError> {
    if v.is_empty() || v.len() > 12 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(INVALID_REQUEST);
    }
    v.parse().map_err(|_| INVALID_REQUEST)
}

/// An RFC 7638 SHA-256 thumbprint: 43 base64url characters.
fn is_thumbprint(v: &str) -> bool {
    v.len() == 43
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
