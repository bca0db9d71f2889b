//! The example authorization server's routes, shared with the interop tests
//! (`tests/interop.rs` includes this file) and the PostgreSQL example.
//!
//! Every OAuth endpoint is one library call over the whole request; what is left here is the
//! application: a demo user table, the login and consent page, the device verification
//! page, their CSRF protection, and the route table.

#![allow(clippy::unwrap_used, clippy::expect_used)] // an example: setup failures may panic

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Map, Value, json};
use subtle::ConstantTimeEq;
use token_engine::http::Form;
use token_engine::store::{CodeStore, DeviceStore, ReplayStore};
use token_engine::{
    Algorithm, Approval, AuthorizationDecision, AuthorizationRequest, Client, ClientAuthMethod,
    Endpoint, Engine, Error, GrantType, HttpRequest, HttpResponse, MemoryLimiter, NoPasswordGrant,
    RefreshSecret, SigningKey, TokenStore, UserInfoSource,
};

/// The demo users: name, password, subject, display name.
pub const USERS: [(&str, &str, &str, &str); 2] = [
    ("alice", "wonderland", "user-alice", "Alice Liddell"),
    ("bob", "builder", "user-bob", "Bob the Builder"),
];
/// The confidential demo client's secret.
pub const REPORTS_SECRET: &str = "reports-demo-secret";
/// The API gateway's secret: it may introspect every token.
pub const GATEWAY_SECRET: &str = "gateway-demo-secret";
/// The public web client's redirect URI.
pub const WEB_REDIRECT: &str = "http://127.0.0.1/callback";
/// Largest request body read.
const MAX_BODY: usize = 64 * 1024;

/// Server state: the engine and the client table.
pub struct AppState<S> {
    /// The engine.
    pub engine: Engine<S>,
    /// Registered clients.
    pub clients: HashMap<String, Client>,
    /// The server's base URL (the issuer).
    pub base: String,
    limiter: MemoryLimiter,
}

/// An engine and the demo clients for a server at `base` over `store`.
pub fn demo<S: TokenStore>(base: &str, store: S) -> AppState<S> {
    let random = || RefreshSecret::generate_bytes().unwrap();
    let engine = Engine::builder()
        .issuer(base)
        .audience(format!("{base}/api"))
        .signing_key(SigningKey::generate(Algorithm::ES256).unwrap().0)
        .refresh_secret(RefreshSecret::from_bytes(&random()[..]).unwrap())
        .client_secret_key(&random()[..])
        .exchange_audience(format!("{base}/billing"))
        // Where each endpoint is mounted: the metadata is written from this.
        .authorization_endpoint(format!("{base}/authorize"))
        .token_endpoint(format!("{base}/token"))
        .device_authorization_endpoint(
            format!("{base}/device_authorization"),
            format!("{base}/device"),
        )
        .introspection_endpoint(format!("{base}/introspect"))
        .revocation_endpoint(format!("{base}/revoke"))
        .userinfo_endpoint(format!("{base}/userinfo"))
        .jwks_uri(format!("{base}/jwks.json"))
        .scopes_supported(["openid", "profile", "orders"])
        .build(store)
        .unwrap();
    let hasher = engine.client_secret_hasher().unwrap();
    let clients = [
        Client::new("web-app")
            .allow_scopes(["openid", "profile", "orders"])
            .redirect_uri(WEB_REDIRECT)
            .redirect_uri(format!("{base}/callback")),
        Client::new("tv")
            .allow_scopes(["profile"])
            .grant_types([GrantType::DeviceCode, GrantType::RefreshToken]),
        Client::confidential(
            "reports",
            ClientAuthMethod::SecretBasic(hasher.hash(REPORTS_SECRET)),
        )
        .allow_scopes(["orders", "profile"])
        .grant_types([GrantType::ClientCredentials, GrantType::TokenExchange]),
        Client::confidential(
            "api-gateway",
            ClientAuthMethod::SecretBasic(hasher.hash(GATEWAY_SECRET)),
        )
        .grant_types([])
        .introspect_all_tokens(),
    ]
    .into_iter()
    .map(|c| (c.id().to_owned(), c))
    .collect();
    AppState {
        engine,
        clients,
        base: base.to_owned(),
        limiter: MemoryLimiter::default(),
    }
}

type Shared<S> = State<Arc<AppState<S>>>;

/// The request with its body read (bounded), for the library's calls.
async fn buffered(request: Request) -> Result<axum::http::Request<Bytes>, Response> {
    let (parts, body) = request.into_parts();
    match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(bytes) => Ok(axum::http::Request::from_parts(parts, bytes)),
        Err(_) => Err(StatusCode::PAYLOAD_TOO_LARGE.into_response()),
    }
}

/// The library's response, written out unchanged.
fn respond(r: HttpResponse) -> Response {
    r.into_http().map(Body::from)
}

/// One handler shape for the endpoints that are a single library call.
macro_rules! endpoint {
    ($request:ident, |$r:ident| $call:expr) => {{
        let owned = match buffered($request).await {
            Ok(r) => r,
            Err(response) => return response,
        };
        let $r = HttpRequest::from(&owned);
        respond($call)
    }};
}

fn user(
    name: &str,
    password: &str,
) -> Option<&'static (&'static str, &'static str, &'static str, &'static str)> {
    // A real application checks a password hash (argon2) in constant time; the demo users
    // are public anyway.
    USERS
        .iter()
        .find(|(n, p, _, _)| *n == name && *p == password)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

// --- CSRF: a random token in a SameSite=Strict, HttpOnly cookie and in the form ----------

/// A fresh CSRF token and the `Set-Cookie` value that carries it.
fn csrf_cookie() -> (String, String) {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).unwrap();
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    // `Secure` too when served over https (this demo listens on http://127.0.0.1).
    let cookie = format!("csrf={token}; Path=/; HttpOnly; SameSite=Strict");
    (token, cookie)
}

/// A submitted form whose `csrf` field matches the cookie, or the answer refusing it. Parsed
/// strictly, as the library parses OAuth requests: a repeated field is refused, not
/// last-value-wins.
fn csrf_form(headers: &HeaderMap, body: &[u8]) -> Result<Form, (StatusCode, &'static str)> {
    let form = std::str::from_utf8(body)
        .ok()
        .and_then(|b| Form::parse(b).ok())
        .ok_or((StatusCode::BAD_REQUEST, "malformed form"))?;
    if !csrf_ok(headers, &form) {
        return Err((
            StatusCode::FORBIDDEN,
            "the form expired; go back and try again",
        ));
    }
    Ok(form)
}

/// Whether the form's `csrf` field equals the request's one `csrf` cookie (constant time).
/// Two `csrf` cookies (one planted by a sibling domain) are refused. Over https, name the
/// cookie `__Host-csrf` with `Secure`, which a sibling domain cannot set at all.
fn csrf_ok(headers: &HeaderMap, form: &Form) -> bool {
    let mut cookies = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().strip_prefix("csrf="));
    match (cookies.next(), cookies.next(), form.get("csrf")) {
        (Some(c), None, Some(f)) if !c.is_empty() => bool::from(c.as_bytes().ct_eq(f.as_bytes())),
        _ => false,
    }
}

/// A page's query, strictly parsed (an empty one for a malformed or repeated query).
fn query_of(uri: &axum::http::Uri) -> Form {
    Form::parse(uri.query().unwrap_or_default()).unwrap_or_default()
}

fn page(title: &str, body: String, cookie: Option<String>) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>{title}</title><body>{body}</body></html>"
    );
    let mut r = Html(html).into_response();
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, "no-store".parse().unwrap());
    // The pages must not be framed (clickjacking of the consent button).
    h.insert("x-frame-options", "DENY".parse().unwrap());
    h.insert(
        "content-security-policy",
        "default-src 'none'; form-action 'self'; frame-ancestors 'none'"
            .parse()
            .unwrap(),
    );
    if let Some(c) = cookie {
        h.insert(header::SET_COOKIE, c.parse().unwrap());
    }
    r
}

// --- The authorization endpoint: the library validates, the application logs in ----------

/// The login and consent page for a validated request. `raw` is the request's original
/// query (or form), carried in the page and validated again on submission.
fn login_page(req: &AuthorizationRequest, raw: &str, error: Option<&str>) -> Response {
    let (token, cookie) = csrf_cookie();
    let hint = req.login_hint().map(escape).unwrap_or_default();
    let error = error
        .map(|e| format!("<p role=\"alert\">{}</p>", escape(e)))
        .unwrap_or_default();
    page(
        "Sign in",
        format!(
            "<h1>Sign in to {client}</h1>{error}<p>It asks for: <span id=\"scope\">{scope}</span></p>\
             <form method=\"post\" action=\"/authorize/decide\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{token}\">\
             <input type=\"hidden\" name=\"request\" value=\"{raw}\">\
             <label>User <input name=\"username\" id=\"username\" value=\"{hint}\" autocomplete=\"username\"></label> \
             <label>Password <input name=\"password\" id=\"password\" type=\"password\" autocomplete=\"current-password\"></label> \
             <button name=\"decision\" value=\"approve\" id=\"approve\">Allow</button> \
             <button name=\"decision\" value=\"deny\" id=\"deny\">Deny</button></form>",
            client = escape(req.client().id()),
            scope = escape(req.scope()),
            raw = escape(raw),
        ),
        Some(cookie),
    )
}

/// `GET` or `POST /authorize`: validate, then show the login and consent page (or send what
/// the library answered: an error page, or an error redirect to the registered URI).
async fn authorize<S: CodeStore>(State(app): Shared<S>, request: Request) -> Response {
    let owned = match buffered(request).await {
        Ok(r) => r,
        Err(response) => return response,
    };
    let request = HttpRequest::from(&owned);
    match app
        .engine
        .authorization_request(&app.clients, &request)
        .await
    {
        Ok(req) if req.prompt_none() => {
            // The demo keeps no login sessions, so it cannot answer without a page.
            respond(
                app.engine
                    .authorization_response(req, AuthorizationDecision::LoginRequired)
                    .await,
            )
        }
        Ok(req) => {
            let raw = if owned.method() == "POST" {
                String::from_utf8_lossy(owned.body()).into_owned()
            } else {
                owned.uri().query().unwrap_or_default().to_owned()
            };
            login_page(&req, &raw, None)
        }
        Err(response) => respond(response),
    }
}

/// `POST /authorize/decide`: the login and consent form. The original request is validated
/// again by the library; only then does anything redirect, and only to its registered URI.
async fn decide<S: CodeStore>(State(app): Shared<S>, headers: HeaderMap, body: Bytes) -> Response {
    let form = match csrf_form(&headers, &body) {
        Ok(form) => form,
        Err(refused) => return refused.into_response(),
    };
    let get = |k: &str| form.get(k).unwrap_or_default();
    let raw = get("request");
    let req = match app
        .engine
        .authorization_request(&app.clients, &HttpRequest::get(raw))
        .await
    {
        Ok(req) => req,
        Err(response) => return respond(response),
    };
    let decision = if get("decision") == "deny" {
        AuthorizationDecision::Deny
    } else {
        match user(get("username"), get("password")) {
            Some((_, _, subject, _)) => {
                let now = time::OffsetDateTime::now_utc().unix_timestamp();
                AuthorizationDecision::Approve(Approval::new(*subject).auth_time(now))
            }
            None => {
                let mut r = login_page(&req, raw, Some("Wrong user or password."));
                *r.status_mut() = StatusCode::UNAUTHORIZED;
                return r;
            }
        }
    };
    respond(app.engine.authorization_response(req, decision).await)
}

// --- The device verification page ---------------------------------------------------------

/// `GET /device`: the verification page.
async fn device_page(uri: axum::http::Uri) -> Response {
    let (token, cookie) = csrf_cookie();
    let code = escape(query_of(&uri).get("user_code").unwrap_or_default());
    page(
        "Connect a device",
        format!(
            "<h1>Connect a device</h1><form method=\"post\" action=\"/device\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{token}\">\
             <label>Code <input name=\"user_code\" id=\"user_code\" value=\"{code}\"></label> \
             <label>User <input name=\"username\" id=\"username\"></label> \
             <label>Password <input name=\"password\" id=\"password\" type=\"password\"></label> \
             <button name=\"answer\" value=\"approve\" id=\"approve\">Allow</button> \
             <button name=\"answer\" value=\"deny\" id=\"deny\">Deny</button></form>"
        ),
        Some(cookie),
    )
}

/// `POST /device`: the user approves or denies.
async fn device_submit<S: DeviceStore>(
    State(app): Shared<S>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match csrf_form(&headers, &body) {
        Ok(form) => form,
        Err(refused) => return refused.into_response(),
    };
    let get = |k: &str| form.get(k).unwrap_or_default();
    let Some((_, _, subject, _)) = user(get("username"), get("password")) else {
        return page(
            "Connect a device",
            "<p role=\"alert\">Wrong user or password.</p>".into(),
            None,
        );
    };
    // A real server keys the limiter by the client's IP; the demo by the account.
    let result = if get("answer") == "deny" {
        app.engine
            .deny_device(get("user_code"), &app.limiter, subject)
            .await
    } else {
        app.engine
            .approve_device(get("user_code"), subject, &app.limiter, subject)
            .await
    };
    match result {
        Ok(r) => page(
            "Connect a device",
            format!(
                "<p id=\"done\">Done: {} may now continue.</p>",
                escape(&r.client_id)
            ),
            None,
        ),
        Err(Error::SlowDown) => (
            StatusCode::TOO_MANY_REQUESTS,
            "too many attempts; wait a minute",
        )
            .into_response(),
        Err(_) => (StatusCode::BAD_REQUEST, "unknown or expired code").into_response(),
    }
}

// --- Every other endpoint: one library call each ------------------------------------------

async fn token<S: CodeStore + DeviceStore + ReplayStore>(
    State(app): Shared<S>,
    request: Request,
) -> Response {
    endpoint!(request, |r| app
        .engine
        .token_endpoint(&app.clients, &NoPasswordGrant, &r)
        .await)
}

async fn device_authorization<S: DeviceStore + ReplayStore>(
    State(app): Shared<S>,
    request: Request,
) -> Response {
    endpoint!(request, |r| app
        .engine
        .device_authorization_endpoint(&app.clients, &r)
        .await)
}

async fn introspect<S: ReplayStore>(State(app): Shared<S>, request: Request) -> Response {
    endpoint!(request, |r| app
        .engine
        .introspection_endpoint(&app.clients, &r)
        .await)
}

async fn revoke<S: ReplayStore>(State(app): Shared<S>, request: Request) -> Response {
    endpoint!(request, |r| app
        .engine
        .revocation_endpoint(&app.clients, &r)
        .await)
}

/// The demo users' claims for UserInfo: `name` with the `profile` scope.
struct Users;

impl UserInfoSource for Users {
    async fn claims(
        &self,
        subject: &str,
        scopes: &[&str],
    ) -> Result<Option<Map<String, Value>>, Error> {
        let Some((_, _, _, name)) = USERS.iter().find(|u| u.2 == subject) else {
            return Ok(None);
        };
        let mut claims = Map::new();
        if scopes.contains(&"profile") {
            claims.insert("name".into(), json!(name));
        }
        Ok(Some(claims))
    }
}

async fn userinfo<S: ReplayStore>(State(app): Shared<S>, request: Request) -> Response {
    endpoint!(request, |r| app.engine.userinfo_endpoint(&Users, &r).await)
}

async fn jwks<S: TokenStore>(State(app): Shared<S>, request: Request) -> Response {
    endpoint!(request, |r| app.engine.jwks_endpoint(&r))
}

async fn oauth_metadata<S: TokenStore>(State(app): Shared<S>, request: Request) -> Response {
    endpoint!(request, |r| app.engine.metadata_endpoint(&r, false))
}

async fn openid_metadata<S: TokenStore>(State(app): Shared<S>, request: Request) -> Response {
    endpoint!(request, |r| app.engine.metadata_endpoint(&r, true))
}

/// CORS preflights for the endpoints a browser application calls from script.
fn preflight(endpoint: Endpoint) -> impl Fn(Request) -> std::future::Ready<Response> + Clone {
    move |request: Request| {
        let (parts, _) = request.into_parts();
        let owned = axum::http::Request::from_parts(parts, Bytes::new());
        std::future::ready(respond(endpoint.preflight(&HttpRequest::from(&owned))))
    }
}

/// `GET /callback`: stands in for the web client's page that receives the code (a real
/// client redeems it from its backend with the PKCE verifier). Shows what arrived.
async fn callback(uri: axum::http::Uri) -> Response {
    let q = query_of(&uri);
    let get = |k: &str| escape(q.get(k).unwrap_or_default());
    let outcome = if q.get("code").is_some() {
        "A code arrived; the client redeems it at /token.".to_owned()
    } else {
        format!(
            "The request ended with <code id=\"error\">{}</code>.",
            get("error")
        )
    };
    page(
        "Client callback",
        format!("<p id=\"outcome\">{outcome}</p>"),
        None,
    )
}

/// `GET /api/me`: a protected resource of this server; Bearer and DPoP, with revocation.
async fn me<S: ReplayStore>(State(app): Shared<S>, request: Request) -> Response {
    let owned = match buffered(request).await {
        Ok(r) => r,
        Err(response) => return response,
    };
    let uri = format!("{}/api/me", app.base);
    match app
        .engine
        .resource_request(&HttpRequest::from(&owned), &uri, &[])
        .await
    {
        Ok(claims) => Json(json!({
            "sub": claims.sub,
            "scope": claims.scope,
            "client_id": claims.client_id,
        }))
        .into_response(),
        Err(refusal) => respond(refusal),
    }
}

/// Every route.
pub fn router<S>(app: AppState<S>) -> Router
where
    S: TokenStore + CodeStore + DeviceStore + ReplayStore + 'static,
{
    Router::new()
        .route("/authorize", get(authorize::<S>).post(authorize::<S>))
        .route("/authorize/decide", post(decide::<S>))
        .route(
            "/token",
            post(token::<S>).options(preflight(Endpoint::Token)),
        )
        .route("/device_authorization", post(device_authorization::<S>))
        .route("/device", get(device_page).post(device_submit::<S>))
        .route("/introspect", post(introspect::<S>))
        .route(
            "/revoke",
            post(revoke::<S>).options(preflight(Endpoint::Revocation)),
        )
        .route(
            "/userinfo",
            get(userinfo::<S>)
                .post(userinfo::<S>)
                .options(preflight(Endpoint::UserInfo)),
        )
        .route(
            "/jwks.json",
            get(jwks::<S>).options(preflight(Endpoint::Jwks)),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(oauth_metadata::<S>).options(preflight(Endpoint::Metadata)),
        )
        .route(
            "/.well-known/openid-configuration",
            get(openid_metadata::<S>).options(preflight(Endpoint::Metadata)),
        )
        .route("/api/me", get(me::<S>))
        .route("/callback", get(callback))
        .with_state(Arc::new(app))
}
