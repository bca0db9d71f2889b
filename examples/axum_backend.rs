//! A backend on axum for machine clients and an API, each route one library call over the
//! whole request: `/token` (client credentials, token exchange, refresh), `/introspect`
//! (for the API gateway), `/revoke`, `/jwks.json`, the RFC 8414 metadata, and a protected
//! `/api/profile` that verifies Bearer and DPoP tokens with revocation and answers refusals
//! with their RFC 6750 / RFC 9449 challenges. No user-facing flow here: the authorization
//! code and device flows, which need a login page, are in `examples/authorization_server/`.
//!
//! `cargo run --example axum_backend`, then for example:
//! ```text
//! # a machine client (client_secret_basic; the secret is printed at start)
//! curl -s -u reports:<secret> localhost:3000/token -d 'grant_type=client_credentials&scope=orders'
//! # the API (401 with a challenge without a token; 403 insufficient_scope without `orders`)
//! curl -si localhost:3000/api/profile -H "authorization: Bearer <access_token>"
//! # what the server offers
//! curl -s localhost:3000/.well-known/oauth-authorization-server
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use token_engine::{
    Algorithm, Client, ClientAuthMethod, ClientSecret, Engine, GrantType, HttpRequest,
    HttpResponse, MemoryStore, NoPasswordGrant, RefreshSecret, SigningKey,
};

const BASE: &str = "http://localhost:3000";

struct App {
    engine: Engine<MemoryStore>,
    clients: HashMap<String, Client>,
}

type Shared = State<Arc<App>>;

/// The request with its body read (at most 64 KiB), as the library's calls take it.
async fn buffered(request: Request) -> Result<axum::http::Request<Bytes>, Response> {
    let (parts, body) = request.into_parts();
    match axum::body::to_bytes(body, 64 * 1024).await {
        Ok(bytes) => Ok(axum::http::Request::from_parts(parts, bytes)),
        Err(_) => Err(StatusCode::PAYLOAD_TOO_LARGE.into_response()),
    }
}

/// The library's answer, written out unchanged (status, headers, body).
fn respond(r: HttpResponse) -> Response {
    r.into_http().map(Body::from)
}

/// One handler shape for the routes that are a single library call: read the request (its
/// body bounded), hand it over, write the answer out unchanged.
macro_rules! endpoint {
    ($(#[$doc:meta])* $name:ident, |$app:ident, $r:ident| $call:expr) => {
        $(#[$doc])*
        async fn $name(State($app): Shared, request: Request) -> Response {
            match buffered(request).await {
                Ok(owned) => {
                    let $r = HttpRequest::from(&owned);
                    respond($call)
                }
                Err(response) => response,
            }
        }
    };
}

endpoint!(
    /// `POST /token`: every grant, client authentication included, in one call.
    token,
    |app, r| app.engine.token_endpoint(&app.clients, &NoPasswordGrant, &r).await
);
endpoint!(
    /// `POST /introspect` (RFC 7662): the caller authenticates; the gateway sees every token.
    introspect,
    |app, r| app.engine.introspection_endpoint(&app.clients, &r).await
);
endpoint!(
    /// `POST /revoke` (RFC 7009): 200 also for unknown tokens.
    revoke,
    |app, r| app.engine.revocation_endpoint(&app.clients, &r).await
);
endpoint!(
    /// `GET /jwks.json`: the public keys.
    jwks,
    |app, r| app.engine.jwks_endpoint(&r)
);
endpoint!(
    /// `GET /.well-known/oauth-authorization-server` (RFC 8414).
    metadata,
    |app, r| app.engine.metadata_endpoint(&r, false)
);

/// A protected API route: the token must carry `orders`; a revoked session (reuse detected,
/// signed out) or a stale policy is refused at once, not when the token expires.
async fn profile(State(app): Shared, request: Request) -> Response {
    let r = match buffered(request).await {
        Ok(r) => r,
        Err(response) => return response,
    };
    let url = format!("{BASE}/api/profile");
    match app
        .engine
        .resource_request(&HttpRequest::from(&r), &url, &["orders"])
        .await
    {
        Ok(claims) => Json(serde_json::json!({ "client": claims.client_id, "sub": claims.sub }))
            .into_response(),
        Err(challenge) => respond(challenge),
    }
}

fn router(app: App) -> Router {
    Router::new()
        .route("/token", post(token))
        .route("/introspect", post(introspect))
        .route("/revoke", post(revoke))
        .route("/jwks.json", get(jwks))
        .route("/.well-known/oauth-authorization-server", get(metadata))
        .route("/api/profile", get(profile))
        .with_state(Arc::new(app))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Load these from files or the environment in production (see the README).
    let engine = Engine::builder()
        .issuer(BASE)
        .audience(format!("{BASE}/api"))
        .signing_key(SigningKey::generate(Algorithm::EdDSA)?.0)
        .refresh_secret(RefreshSecret::from_bytes(
            &RefreshSecret::generate_bytes()?[..],
        )?)
        .client_secret_key(&RefreshSecret::generate_bytes()?[..])
        .exchange_audience(format!("{BASE}/orders"))
        .token_endpoint(format!("{BASE}/token"))
        .introspection_endpoint(format!("{BASE}/introspect"))
        .revocation_endpoint(format!("{BASE}/revoke"))
        .jwks_uri(format!("{BASE}/jwks.json"))
        .grant_types([
            GrantType::ClientCredentials,
            GrantType::TokenExchange,
            GrantType::RefreshToken,
        ])
        .build(MemoryStore::new())?;
    let hasher = engine
        .client_secret_hasher()
        .ok_or("client_secret_key is set above")?;
    let secret = ClientSecret::generate()?;
    let gateway_secret = ClientSecret::generate()?;
    let clients = [
        Client::confidential(
            "reports",
            ClientAuthMethod::SecretBasic(hasher.hash(secret.expose_secret())),
        )
        .allow_scopes(["orders", "profile"])
        .grant_types([GrantType::ClientCredentials, GrantType::TokenExchange]),
        Client::confidential(
            "gateway",
            ClientAuthMethod::SecretBasic(hasher.hash(gateway_secret.expose_secret())),
        )
        .grant_types([])
        .introspect_all_tokens(),
    ]
    .into_iter()
    .map(|c| (c.id().to_owned(), c))
    .collect();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on {BASE}");
    println!("client `reports` secret: {}", secret.expose_secret());
    println!(
        "client `gateway` secret: {}",
        gateway_secret.expose_secret()
    );
    axum::serve(listener, router(App { engine, clients })).await?;
    Ok(())
}
