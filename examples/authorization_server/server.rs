//! The example authorization server's routes, shared with the interop tests
//! (`tests/interop.rs` includes this file) and the PostgreSQL example.
//!
//! Every OAuth endpoint, its CORS preflight and the forms' CSRF protection come from
//! `token-engine-axum` (`AuthorizationServer`), and the API (`/api`, `/api/me`: the engine's
//! own audience) is protected by its `ResourceServer` layer; so is `/mcp`, an agent tool
//! server. Each publishes its protected resource metadata (RFC 9728), names it in every
//! `401`, and takes only tokens issued for it (RFC 8707), so a client that knows nothing but
//! a resource's URL finds everything else. What is left here is the
//! application: a demo user table, the login and consent page, the device verification page,
//! and a callback page.

#![allow(clippy::unwrap_used, clippy::expect_used)] // an example: setup failures may panic

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Map, Value, json};
use token_engine::grant::DeviceRequest;
use token_engine::store::{ClientStore, CodeStore, DeviceStore, ReplayStore};
use token_engine::{
    Algorithm, Approval, AuthorizationDecision, AuthorizationRequest, Client, ClientAuthMethod,
    Engine, Error, GrantType, MemoryLimiter, RefreshSecret, RegisteredClients, RegistrationPolicy,
    SigningKey, TokenStore, UserInfoSource,
};
use token_engine_axum::{
    AuthorizationServer, Claims, DeviceDecision, DeviceForm, LoginForm, LoginUi, ResourceServer,
    Submitted, html_escape as escape, registration_router,
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
/// The path of the agent tool server (its resource identifier is the base URL + this).
pub const MCP_PATH: &str = "/mcp";
/// The path of the server's own API: its resource identifier, the base URL + this, is the
/// engine's audience (the `aud` of tokens issued without a `resource`).
pub const API_PATH: &str = "/api";

/// Server state: the engine and the client table.
pub struct AppState<S> {
    /// The engine, over a shared handle on the store.
    pub engine: Engine<Arc<S>>,
    /// The demo clients, then those registered dynamically (RFC 7591) in the store.
    pub clients: RegisteredClients<Arc<S>, HashMap<String, Client>>,
    /// The server's base URL (the issuer).
    pub base: String,
    limiter: MemoryLimiter,
}

/// An engine and the demo clients for a server at `base` over `store`.
pub fn demo<S: TokenStore + ClientStore>(base: &str, store: S) -> AppState<S> {
    let store = Arc::new(store);
    let random = || RefreshSecret::generate_bytes().unwrap();
    let engine = Engine::builder()
        .issuer(base)
        .audience(format!("{base}{API_PATH}"))
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
        .pushed_authorization_request_endpoint(format!("{base}/par"))
        .registration_endpoint(format!("{base}/register"))
        .introspection_endpoint(format!("{base}/introspect"))
        .revocation_endpoint(format!("{base}/revoke"))
        .userinfo_endpoint(format!("{base}/userinfo"))
        .jwks_uri(format!("{base}/jwks.json"))
        .scopes_supported(["openid", "profile", "orders", "tools"])
        // The agent tool server at /mcp: tokens for it name it as `aud` (RFC 8707).
        .resource(format!("{base}{MCP_PATH}"))
        // The API is a resource too, so a client that read its metadata document may name it
        // with `resource` (RFC 8707; MCP clients always do): the tokens are the same as
        // without, `aud` the engine's audience.
        .resource(format!("{base}{API_PATH}"))
        .build(Arc::clone(&store))
        .unwrap();
    let hasher = engine.client_secret_hasher().unwrap();
    let clients = [
        Client::new("web-app")
            .allow_scopes(["openid", "profile", "orders", "tools"])
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
        clients: RegisteredClients::new(store, clients),
        base: base.to_owned(),
        limiter: MemoryLimiter::default(),
    }
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

/// A page: no caching, never framed (clickjacking of the consent button), nothing loaded.
fn page(title: &str, body: String) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>{title}</title><body>{body}</body></html>"
    );
    let mut r = Html(html).into_response();
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, "no-store".parse().unwrap());
    h.insert("x-frame-options", "DENY".parse().unwrap());
    h.insert(
        "content-security-policy",
        "default-src 'none'; form-action 'self'; frame-ancestors 'none'"
            .parse()
            .unwrap(),
    );
    r
}

/// The demo's pages for the authorization server.
struct Pages;

impl Pages {
    /// The login and consent page for a validated request.
    fn login(req: &AuthorizationRequest, form: &LoginForm, error: Option<&str>) -> Response {
        let hint = req.login_hint().map(escape).unwrap_or_default();
        let error = error
            .map(|e| format!("<p role=\"alert\">{}</p>", escape(e)))
            .unwrap_or_default();
        page(
            "Sign in",
            format!(
                "<h1>Sign in to {client}</h1>{error}<p>It asks for: <span id=\"scope\">{scope}</span></p>\
                 <form method=\"post\" action=\"{action}\">{hidden}\
                 <label>User <input name=\"username\" id=\"username\" value=\"{hint}\" autocomplete=\"username\"></label> \
                 <label>Password <input name=\"password\" id=\"password\" type=\"password\" autocomplete=\"current-password\"></label> \
                 <button name=\"decision\" value=\"approve\" id=\"approve\">Allow</button> \
                 <button name=\"decision\" value=\"deny\" id=\"deny\">Deny</button></form>",
                client = escape(req.client().id()),
                scope = escape(req.scope()),
                action = escape(form.action()),
                hidden = form.hidden_fields(),
            ),
        )
    }
}

impl LoginUi for Pages {
    async fn login_page(&self, req: &AuthorizationRequest, form: &LoginForm) -> Response {
        // The demo keeps no login sessions: every request gets the page (and `prompt=none`
        // gets `login_required`, the crate's default).
        Self::login(req, form, None)
    }

    async fn login_submit(
        &self,
        req: &AuthorizationRequest,
        form: &Submitted,
        retry: &LoginForm,
    ) -> Result<AuthorizationDecision, Response> {
        if form.field("decision") == "deny" {
            return Ok(AuthorizationDecision::Deny);
        }
        match user(form.field("username"), form.field("password")) {
            Some((_, _, subject, _)) => {
                let now = time::OffsetDateTime::now_utc().unix_timestamp();
                Ok(AuthorizationDecision::Approve(
                    Approval::new(*subject).auth_time(now),
                ))
            }
            None => {
                let mut r = Self::login(req, retry, Some("Wrong user or password."));
                *r.status_mut() = StatusCode::UNAUTHORIZED;
                Err(r)
            }
        }
    }

    async fn device_page(&self, user_code: Option<&str>, form: &DeviceForm) -> Response {
        let code = escape(user_code.unwrap_or(""));
        page(
            "Connect a device",
            format!(
                "<h1>Connect a device</h1><form method=\"post\" action=\"{action}\">{hidden}\
                 <label>Code <input name=\"user_code\" id=\"user_code\" value=\"{code}\"></label> \
                 <label>User <input name=\"username\" id=\"username\"></label> \
                 <label>Password <input name=\"password\" id=\"password\" type=\"password\"></label> \
                 <button name=\"answer\" value=\"approve\" id=\"approve\">Allow</button> \
                 <button name=\"answer\" value=\"deny\" id=\"deny\">Deny</button></form>",
                action = escape(form.action()),
                hidden = form.hidden_fields(),
            ),
        )
    }

    async fn device_submit(&self, form: &Submitted) -> Result<DeviceDecision, Response> {
        let Some((_, _, subject, _)) = user(form.field("username"), form.field("password")) else {
            return Err(page(
                "Connect a device",
                "<p role=\"alert\">Wrong user or password.</p>".into(),
            ));
        };
        // A real server keys the guessing limit by the client's IP (`limit_by`); the demo by
        // the account.
        Ok(if form.field("answer") == "deny" {
            DeviceDecision::deny(*subject)
        } else {
            DeviceDecision::approve(*subject)
        })
    }

    fn device_done(&self, outcome: Result<&DeviceRequest, &Error>) -> Response {
        match outcome {
            Ok(r) => page(
                "Connect a device",
                format!(
                    "<p id=\"done\">Done: {} may now continue.</p>",
                    escape(&r.client_id)
                ),
            ),
            Err(Error::SlowDown) => (
                StatusCode::TOO_MANY_REQUESTS,
                "too many attempts; wait a minute",
            )
                .into_response(),
            Err(_) => (StatusCode::BAD_REQUEST, "unknown or expired code").into_response(),
        }
    }
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

/// `GET /callback`: stands in for the web client's page that receives the code (a real
/// client redeems it from its backend with the PKCE verifier). Shows what arrived.
async fn callback(uri: axum::http::Uri) -> Response {
    // Parsed strictly: a repeated parameter gives an empty query, not last-value-wins.
    let q = token_engine::http::Form::parse(uri.query().unwrap_or_default()).unwrap_or_default();
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
    )
}

/// `GET /api`: the API's root: who the token is for and what the API offers.
async fn api_root(claims: Claims) -> Json<Value> {
    Json(json!({
        "sub": claims.sub,
        "aud": claims.aud,
        "routes": ["/api/me"],
    }))
}

/// `GET /api/me`: a protected resource of this server; Bearer and DPoP, with revocation
/// (the layer checks; the handler reads the claims).
async fn me(claims: Claims) -> Json<Value> {
    Json(json!({
        "sub": claims.sub,
        "scope": claims.scope,
        "client_id": claims.client_id,
    }))
}

/// `GET /mcp`: the agent tool server's one route (a real one speaks the Model Context
/// Protocol here): the tools the token's `tools` scope lets the agent call.
async fn mcp(claims: Claims) -> Json<Value> {
    Json(json!({
        "tools": ["search_orders"],
        "sub": claims.sub,
        "aud": claims.aud,
    }))
}

/// Every route: the authorization server's, the API (`/api`, `/api/me`) and the tool server
/// `/mcp`, each with its metadata document, and `/callback`.
pub fn router<S>(app: AppState<S>) -> Router
where
    S: TokenStore + CodeStore + DeviceStore + ReplayStore + ClientStore + 'static,
{
    // Agents register themselves (RFC 7591): open registration, the tool scope only, the
    // code and refresh grants. A real server adds an initial access token or rate limits.
    let registration = registration_router(
        app.engine.clone(),
        RegistrationPolicy::open()
            .allow_scopes(["tools"])
            .allow_grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken]),
        "/register",
    );
    // RFC 9728 for the API: this engine as its authorization server, its DPoP algorithms;
    // every refusal names the document (RFC 9728 §5.1).
    let api_metadata = app
        .engine
        .protected_resource(&format!("{}{API_PATH}", app.base))
        .unwrap()
        .scopes_supported(["orders", "profile"])
        .name("Demo API");
    let api =
        ResourceServer::new(app.engine.clone(), app.base.as_str()).with_metadata(api_metadata);
    let tools = app
        .engine
        .protected_resource(&format!("{}{MCP_PATH}", app.base))
        .unwrap()
        .scopes_supported(["tools"])
        .name("Demo tool server");
    let mcp_server =
        ResourceServer::new(app.engine.clone(), app.base.as_str()).with_metadata(tools);
    AuthorizationServer::new(app.engine, app.clients, Pages)
        .userinfo(Users)
        .limiter(app.limiter)
        // The demo listens on http://127.0.0.1: its CSRF cookie cannot be `Secure`.
        .danger_insecure_cookies()
        .router()
        .route(API_PATH, get(api_root).route_layer(api.require()))
        .route("/api/me", get(me).route_layer(api.require()))
        .merge(api.metadata_router())
        .route(
            MCP_PATH,
            get(mcp).route_layer(mcp_server.require().scopes(["tools"])),
        )
        .merge(mcp_server.metadata_router())
        .merge(registration)
        .route("/callback", get(callback))
}
