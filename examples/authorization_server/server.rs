//! The example authorization server's routes, shared with the interop tests
//! (`tests/interop.rs` includes this file).
//!
//! Everything token-shaped is the engine's; this file is HTTP, a demo user table, a login
//! and consent page, and a device verification page.

#![allow(clippy::unwrap_used, clippy::expect_used)] // an example: setup failures may panic

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use token_engine::{
    Algorithm, AuthorizeRequest, Client, ClientAuthMethod, ClientCredentials, Engine, Error,
    ErrorResponse, GrantType, MemoryLimiter, NoPasswordGrant, RefreshSecret, SigningKey,
    TokenHttpRequest, TokenStore,
};

/// The demo users: name, password, subject.
pub const USERS: [(&str, &str, &str); 2] = [
    ("alice", "wonderland", "user-alice"),
    ("bob", "builder", "user-bob"),
];
/// The confidential demo client's secret.
pub const REPORTS_SECRET: &str = "reports-demo-secret";
/// The public web client's redirect URI.
pub const WEB_REDIRECT: &str = "http://127.0.0.1/callback";

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
        .token_endpoint(format!("{base}/token"))
        .exchange_audience(format!("{base}/billing"))
        .build(store)
        .unwrap();
    let hash = engine.client_secret_hasher().unwrap().hash(REPORTS_SECRET);
    let clients = [
        Client::new("web-app")
            .allow_scopes(["openid", "profile", "orders"])
            .redirect_uri(WEB_REDIRECT),
        Client::new("tv")
            .allow_scopes(["profile"])
            .grant_types([GrantType::DeviceCode, GrantType::RefreshToken]),
        Client::confidential("reports", ClientAuthMethod::SecretBasic(hash))
            .allow_scopes(["orders", "profile"])
            .grant_types([GrantType::ClientCredentials, GrantType::TokenExchange]),
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

fn no_store(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn oauth_error(e: &Error) -> Response {
    let body = ErrorResponse::from_error(e);
    let status = StatusCode::from_u16(body.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    no_store((status, Json(body)).into_response())
}

fn user(name: &str, password: &str) -> Option<&'static str> {
    USERS
        .iter()
        .find(|(n, p, _)| *n == name && *p == password)
        .map(|(_, _, sub)| *sub)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `GET /authorize`: the login and consent page for a valid request.
async fn authorize_page<S: TokenStore>(
    State(app): Shared<S>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let client = q.get("client_id").and_then(|id| app.clients.get(id));
    let Some(client) = client else {
        return (StatusCode::BAD_REQUEST, "unknown client").into_response();
    };
    let redirect_ok = q
        .get("redirect_uri")
        .is_none_or(|r| client.redirect_uris().iter().any(|u| u == r));
    if !redirect_ok {
        // Never redirect to an unregistered URI: show an error page.
        return (StatusCode::BAD_REQUEST, "redirect_uri is not registered").into_response();
    }
    let hidden: String = q
        .iter()
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                escape(k),
                escape(v)
            )
        })
        .collect();
    Html(format!(
        "<!doctype html><title>Sign in</title><h1>Sign in to {client}</h1>\
         <p>It asks for: {scope}</p>\
         <form method=\"post\" action=\"/authorize\">{hidden}\
         <label>User <input name=\"username\"></label> \
         <label>Password <input name=\"password\" type=\"password\"></label> \
         <label><input type=\"checkbox\" name=\"consent\" value=\"yes\"> Allow</label> \
         <button>Continue</button></form>",
        client = escape(client.id()),
        scope = escape(q.get("scope").map_or("", String::as_str)),
    ))
    .into_response()
}

/// `POST /authorize`: the login and consent form; on success a redirect with the code.
async fn authorize_submit<S: TokenStore + token_engine::store::CodeStore>(
    State(app): Shared<S>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let get = |k: &str| f.get(k).map(String::as_str);
    let Some(client) = get("client_id").and_then(|id| app.clients.get(id)) else {
        return (StatusCode::BAD_REQUEST, "unknown client").into_response();
    };
    let redirect = get("redirect_uri").unwrap_or_default();
    let Some(subject) = user(
        get("username").unwrap_or_default(),
        get("password").unwrap_or_default(),
    ) else {
        return (StatusCode::UNAUTHORIZED, "wrong user or password").into_response();
    };
    if get("consent") != Some("yes") {
        let url =
            app.engine
                .authorization_error_redirect(redirect, &Error::AccessDenied, get("state"));
        return Redirect::to(&url).into_response();
    }
    let mut req = AuthorizeRequest::new(subject);
    if let Some(v) = get("redirect_uri") {
        req = req.redirect_uri(v);
    }
    if let Some(v) = get("scope") {
        req = req.scope(v);
    }
    if let Some(v) = get("state") {
        req = req.state(v);
    }
    if let Some(v) = get("nonce") {
        req = req.nonce(v);
    }
    if let Some(v) = get("code_challenge") {
        req = req.pkce(v, get("code_challenge_method"));
    }
    match app.engine.authorize(client, req).await {
        Ok(code) => Redirect::to(&code.redirect_url()).into_response(),
        Err(e @ Error::InvalidRequest(_)) => {
            (StatusCode::BAD_REQUEST, e.to_string()).into_response()
        }
        Err(e) => Redirect::to(&app.engine.authorization_error_redirect(
            redirect,
            &e,
            get("state"),
        ))
        .into_response(),
    }
}

/// `POST /token`: every grant through the engine's dispatcher.
async fn token<
    S: TokenStore
        + token_engine::store::CodeStore
        + token_engine::store::DeviceStore
        + token_engine::store::ReplayStore,
>(
    State(app): Shared<S>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let header = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let request = TokenHttpRequest {
        body: &body,
        authorization: header(header::AUTHORIZATION.as_str()),
        dpop: header("dpop"),
        ..TokenHttpRequest::default()
    };
    let r = app
        .engine
        .token_endpoint_request(&app.clients, &NoPasswordGrant, &request)
        .await;
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = no_store((status, r.body).into_response());
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(v) = r
        .www_authenticate
        .and_then(|v| HeaderValue::from_str(&v).ok())
    {
        h.insert(header::WWW_AUTHENTICATE, v);
    }
    if let Some(v) = r.dpop_nonce.and_then(|v| HeaderValue::from_str(&v).ok()) {
        h.insert("dpop-nonce", v);
    }
    response
}

/// Client authentication for the endpoints beside `/token` (introspection, revocation, the
/// device authorization endpoint).
async fn client_of<S: TokenStore + token_engine::store::ReplayStore>(
    app: &AppState<S>,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<Client, Error> {
    let credentials = ClientCredentials {
        authorization: headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
        client_id: form.get("client_id").map(String::as_str),
        client_secret: form.get("client_secret").map(String::as_str),
        client_assertion_type: form.get("client_assertion_type").map(String::as_str),
        client_assertion: form.get("client_assertion").map(String::as_str),
    };
    app.engine
        .authenticate_client(&app.clients, &credentials)
        .await
}

/// `POST /device_authorization` (RFC 8628 §3.1).
async fn device_authorization<
    S: TokenStore + token_engine::store::DeviceStore + token_engine::store::ReplayStore,
>(
    State(app): Shared<S>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let client = match client_of(&app, &headers, &f).await {
        Ok(c) => c,
        Err(e) => return oauth_error(&e),
    };
    let page = format!("{}/device", app.base);
    match app
        .engine
        .start_device_authorization(&client, f.get("scope").map(String::as_str), &page)
        .await
    {
        Ok(start) => no_store(Json(start).into_response()),
        Err(e) => oauth_error(&e),
    }
}

/// `GET /device`: the verification page.
async fn device_page(Query(q): Query<HashMap<String, String>>) -> Html<String> {
    let code = escape(q.get("user_code").map_or("", String::as_str));
    Html(format!(
        "<!doctype html><title>Connect a device</title><h1>Connect a device</h1>\
         <form method=\"post\" action=\"/device\">\
         <label>Code <input name=\"user_code\" value=\"{code}\"></label> \
         <label>User <input name=\"username\"></label> \
         <label>Password <input name=\"password\" type=\"password\"></label> \
         <button name=\"answer\" value=\"approve\">Allow</button> \
         <button name=\"answer\" value=\"deny\">Deny</button></form>"
    ))
}

/// `POST /device`: the user approves or denies.
async fn device_submit<S: TokenStore + token_engine::store::DeviceStore>(
    State(app): Shared<S>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let get = |k: &str| f.get(k).map_or("", String::as_str);
    let Some(subject) = user(get("username"), get("password")) else {
        return (StatusCode::UNAUTHORIZED, "wrong user or password").into_response();
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
        Ok(r) => Html(format!("Done: {} may now continue.", escape(&r.client_id))).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

/// `POST /introspect` (RFC 7662): clients authenticate.
async fn introspect<S: TokenStore + token_engine::store::ReplayStore>(
    State(app): Shared<S>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    if let Err(e) = client_of(&app, &headers, &f).await {
        return oauth_error(&e);
    }
    let token = f.get("token").map_or("", String::as_str);
    match app.engine.introspect(token).await {
        Ok(r) => no_store(Json(r).into_response()),
        Err(e) => oauth_error(&e),
    }
}

/// `POST /revoke` (RFC 7009): 200 for every token, including unknown ones.
async fn revoke<S: TokenStore + token_engine::store::ReplayStore>(
    State(app): Shared<S>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let client = match client_of(&app, &headers, &f).await {
        Ok(c) => c,
        Err(e) => return oauth_error(&e),
    };
    match app
        .engine
        .revoke(&client, f.get("token").map_or("", String::as_str))
        .await
    {
        Ok(_) => StatusCode::OK.into_response(),
        Err(e) => oauth_error(&e),
    }
}

/// `GET /jwks.json`.
async fn jwks<S: TokenStore>(State(app): Shared<S>) -> Response {
    Json(app.engine.key_set().jwks()).into_response()
}

/// RFC 8414 and OpenID Connect Discovery metadata.
async fn metadata<S: TokenStore>(State(app): Shared<S>) -> Response {
    let b = &app.base;
    Json(serde_json::json!({
        "issuer": b,
        "authorization_endpoint": format!("{b}/authorize"),
        "token_endpoint": format!("{b}/token"),
        "device_authorization_endpoint": format!("{b}/device_authorization"),
        "introspection_endpoint": format!("{b}/introspect"),
        "revocation_endpoint": format!("{b}/revoke"),
        "jwks_uri": format!("{b}/jwks.json"),
        "response_types_supported": ["code"],
        "grant_types_supported": [
            "authorization_code", "refresh_token", "client_credentials",
            "urn:ietf:params:oauth:grant-type:device_code",
            "urn:ietf:params:oauth:grant-type:token-exchange"
        ],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported":
            ["none", "client_secret_basic", "client_secret_post", "private_key_jwt"],
        "dpop_signing_alg_values_supported": ["ES256", "ES384", "EdDSA", "RS256", "PS256"],
        "authorization_response_iss_parameter_supported": true,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "scopes_supported": ["openid", "profile", "orders"],
    }))
    .into_response()
}

/// `GET /api/me`: a protected resource; Bearer and DPoP tokens, with revocation.
async fn me<S: TokenStore + token_engine::store::ReplayStore>(
    State(app): Shared<S>,
    headers: HeaderMap,
) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let dpop = headers.get("dpop").and_then(|v| v.to_str().ok());
    let uri = format!("{}/api/me", app.base);
    match app
        .engine
        .verify_resource_request(authorization, dpop, "GET", &uri)
        .await
    {
        Ok(claims) => Json(serde_json::json!({
            "sub": claims.sub,
            "scope": claims.scope,
            "client_id": claims.client_id,
        }))
        .into_response(),
        Err(e) => {
            let mut r = oauth_error(&e);
            let status = if matches!(e, Error::Store(_)) {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::UNAUTHORIZED
            };
            *r.status_mut() = status;
            if let Ok(v) = HeaderValue::from_str(&app.engine.www_authenticate(&e)) {
                r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
            r
        }
    }
}

/// Every route.
pub fn router<S>(app: AppState<S>) -> Router
where
    S: TokenStore
        + token_engine::store::CodeStore
        + token_engine::store::DeviceStore
        + token_engine::store::ReplayStore
        + 'static,
{
    Router::new()
        .route(
            "/authorize",
            get(authorize_page::<S>).post(authorize_submit::<S>),
        )
        .route("/token", post(token::<S>))
        .route("/device_authorization", post(device_authorization::<S>))
        .route("/device", get(device_page).post(device_submit::<S>))
        .route("/introspect", post(introspect::<S>))
        .route("/revoke", post(revoke::<S>))
        .route("/jwks.json", get(jwks::<S>))
        .route(
            "/.well-known/oauth-authorization-server",
            get(metadata::<S>),
        )
        .route("/.well-known/openid-configuration", get(metadata::<S>))
        .route("/api/me", get(me::<S>))
        .with_state(Arc::new(app))
}
