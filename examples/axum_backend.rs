//! A backend on axum serving every grant through `Engine::token_endpoint`: the authorization
//! code with PKCE, refresh, client credentials, the device flow and token exchange; plus
//! revocation and an API route that verifies access tokens with revocation. The `/authorize`
//! and `/device` handlers take a `user` parameter where your login would be.
//!
//! `cargo run --example axum_backend`, then for example:
//! ```text
//! # a machine client (client_secret_basic; the secret is printed at start)
//! curl -s -u reports:<secret> localhost:3000/token -d 'grant_type=client_credentials&scope=orders'
//! # the device flow: start, approve as alice, poll
//! curl -s localhost:3000/device_authorization -d 'client_id=tv'
//! curl -s localhost:3000/device -d 'user_code=<user_code>&user=alice'
//! curl -s localhost:3000/token -d 'grant_type=urn:ietf:params:oauth:grant-type:device_code&client_id=tv&device_code=<device_code>'
//! # the API
//! curl -s localhost:3000/api/profile -H "authorization: Bearer <access_token>"
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use token_engine::{
    Algorithm, AuthorizeRequest, Client, ClientAuthMethod, ClientSecret, Engine, Error,
    ErrorResponse, GrantType, MemoryLimiter, MemoryStore, NoPasswordGrant, RefreshSecret,
    SigningKey,
};

struct App {
    engine: Engine<MemoryStore>,
    clients: HashMap<String, Client>,
    limiter: MemoryLimiter,
}

type Shared = State<Arc<App>>;

/// An engine error as the RFC 6749 §5.2 JSON with the right status.
struct OAuthError(Error);

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = ErrorResponse::from_error(&self.0);
        let status = StatusCode::from_u16(body.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
        let mut headers = no_store();
        if status == StatusCode::UNAUTHORIZED && body.error == "invalid_token" {
            // RFC 6750 §3: tell the client why its bearer token was refused.
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
        }
        (status, headers, Json(body)).into_response()
    }
}

impl From<Error> for OAuthError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

/// Token responses must not be cached (RFC 6749 §5.1).
fn no_store() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h
}

/// `POST /token`: every grant, client authentication included, in one call.
async fn token(State(app): Shared, headers: HeaderMap, body: String) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let r = app
        .engine
        .token_endpoint(&app.clients, &NoPasswordGrant, &body, authorization)
        .await;
    let mut out = no_store();
    out.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(v) = r
        .www_authenticate
        .and_then(|v| HeaderValue::from_str(&v).ok())
    {
        out.insert(header::WWW_AUTHENTICATE, v);
    }
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, out, r.body).into_response()
}

/// `GET /authorize`: stands in for your login and consent pages; `user` is who logged in.
async fn authorize(
    State(app): Shared,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, OAuthError> {
    let get = |k: &str| q.get(k).map(String::as_str);
    // An unknown client or redirect URI gets an error page, never a redirect.
    let client = app
        .clients
        .get(get("client_id").unwrap_or_default())
        .ok_or(Error::InvalidRequest("unknown client"))?;
    let mut req = AuthorizeRequest::new(get("user").unwrap_or("alice"));
    for (name, value) in [
        ("redirect_uri", 0),
        ("scope", 1),
        ("state", 2),
        ("nonce", 3),
    ] {
        if let Some(v) = get(name) {
            req = match value {
                0 => req.redirect_uri(v),
                1 => req.scope(v),
                2 => req.state(v),
                _ => req.nonce(v),
            };
        }
    }
    if let Some(challenge) = get("code_challenge") {
        req = req.pkce(challenge, get("code_challenge_method"));
    }
    match app.engine.authorize(client, req).await {
        Ok(code) => Ok(Redirect::to(&code.redirect_url()).into_response()),
        Err(e @ (Error::InvalidRequest(_) | Error::UnauthorizedClient)) => Err(e.into()),
        Err(e) => {
            let to = get("redirect_uri").unwrap_or_default();
            Ok(Redirect::to(
                &app.engine
                    .authorization_error_redirect(to, &e, get("state")),
            )
            .into_response())
        }
    }
}

/// `POST /device_authorization` (RFC 8628 §3.1).
async fn device_authorization(
    State(app): Shared,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, OAuthError> {
    let client = app
        .clients
        .get(
            form.get("client_id")
                .map(String::as_str)
                .unwrap_or_default(),
        )
        .ok_or(Error::InvalidClient("unknown client"))?;
    let start = app
        .engine
        .start_device_authorization(
            client,
            form.get("scope").map(String::as_str),
            "http://localhost:3000/device",
        )
        .await?;
    Ok((no_store(), Json(start)).into_response())
}

/// `POST /device`: the verification page's form; `user` is who logged in, the limiter key
/// would be the client's IP.
async fn device(
    State(app): Shared,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, OAuthError> {
    let code = form
        .get("user_code")
        .map(String::as_str)
        .unwrap_or_default();
    let user = form.get("user").map(String::as_str).unwrap_or("alice");
    let approved = app
        .engine
        .approve_device(code, user, &app.limiter, "127.0.0.1")
        .await?;
    Ok(format!("approved {} for {}\n", approved.client_id, user).into_response())
}

/// `POST /revoke` (RFC 7009): 200 also for unknown tokens.
async fn revoke(
    State(app): Shared,
    Form(form): Form<HashMap<String, String>>,
) -> Result<StatusCode, OAuthError> {
    let client = app
        .clients
        .get(
            form.get("client_id")
                .map(String::as_str)
                .unwrap_or_default(),
        )
        .ok_or(Error::InvalidClient("unknown client"))?;
    let token = form
        .get("token")
        .ok_or(Error::InvalidRequest("token missing"))?;
    let _outcome = app.engine.revoke(client, token).await?;
    Ok(StatusCode::OK)
}

/// A protected API route. `verify_with_revocation` also refuses tokens whose session was
/// revoked (reuse detected, signed out) or whose policy is stale; plain `verify` (no I/O)
/// suffices only where a token may live out its 15 minutes after its session ended.
async fn profile(State(app): Shared, headers: HeaderMap) -> Result<Response, OAuthError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(Error::InvalidToken(token_engine::TokenError::Malformed))?;
    let claims = app.engine.verify_with_revocation(token).await?;
    if !claims.has_scope("profile") {
        return Ok(StatusCode::FORBIDDEN.into_response());
    }
    Ok(Json(serde_json::json!({ "user": claims.sub, "session": claims.sid })).into_response())
}

fn router(app: App) -> Router {
    Router::new()
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .route("/device_authorization", post(device_authorization))
        .route("/device", post(device))
        .route("/revoke", post(revoke))
        .route("/api/profile", get(profile))
        .with_state(Arc::new(app))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Load these from files or the environment in production (see the README).
    let engine = Engine::builder()
        .issuer("http://localhost:3000")
        .audience("http://localhost:3000/api")
        .signing_key(SigningKey::generate(Algorithm::EdDSA)?.0)
        .refresh_secret(RefreshSecret::from_bytes(
            &RefreshSecret::generate_bytes()?[..],
        )?)
        .client_secret_key(&RefreshSecret::generate_bytes()?[..])
        .exchange_audience("http://localhost:3000/orders")
        .build(MemoryStore::new())?;
    let secret = ClientSecret::generate()?;
    let hasher = engine
        .client_secret_hasher()
        .ok_or("client_secret_key is set above")?;
    let reports = Client::confidential(
        "reports",
        ClientAuthMethod::SecretBasic(hasher.hash(secret.expose_secret())),
    )
    .allow_scopes(["orders", "profile"])
    .grant_types([GrantType::ClientCredentials, GrantType::TokenExchange]);
    let clients = [
        Client::new("web-app")
            .allow_scopes(["openid", "profile", "orders"])
            .redirect_uri("http://localhost:8080/callback"),
        Client::new("tv")
            .allow_scopes(["profile"])
            .grant_types([GrantType::DeviceCode, GrantType::RefreshToken]),
        reports,
    ]
    .into_iter()
    .map(|c| (c.id().to_owned(), c))
    .collect();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://127.0.0.1:3000");
    println!("client `reports` secret: {}", secret.expose_secret());
    let app = App {
        engine,
        clients,
        limiter: MemoryLimiter::default(),
    };
    axum::serve(listener, router(app)).await?;
    Ok(())
}
