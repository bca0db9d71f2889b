//! A backend on axum: the token endpoint (refresh grant), revocation, and an API route that
//! verifies access tokens. The login handler stands in for your own user authentication.
//!
//! `cargo run --example axum_backend`, then:
//! ```text
//! curl -s -X POST localhost:3000/login -d 'user=alice'
//! curl -s localhost:3000/api/profile -H "authorization: Bearer <access_token>"
//! curl -s -X POST localhost:3000/token -d 'grant_type=refresh_token&refresh_token=<rt>'
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use token_engine::{
    Algorithm, Client, Engine, Error, ErrorResponse, IssueRequest, MemoryStore, RefreshRequest,
    RefreshSecret, SigningKey,
};

type AppEngine = Engine<MemoryStore>;

/// An engine error as the RFC 6749 §5.2 JSON with the right status.
struct OAuthError(Error);

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = ErrorResponse::from_error(&self.0);
        let status = StatusCode::from_u16(body.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
        (status, no_store(), Json(body)).into_response()
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

/// The client this sketch serves; a real server looks it up and authenticates it.
fn web_client() -> Client {
    Client::new("web-app").allow_scopes(["profile", "orders"])
}

/// Stand-in for your login: the user is authenticated here, then tokens are issued.
async fn login(
    State(engine): State<Arc<AppEngine>>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, OAuthError> {
    let user = form
        .get("user")
        .ok_or(Error::InvalidRequest("user missing"))?;
    let tokens = engine
        .issue(
            &web_client(),
            IssueRequest::new(user.as_str()).claim("role", "customer"),
        )
        .await?;
    Ok((no_store(), Json(tokens)).into_response())
}

/// `POST /token` with `grant_type=refresh_token` (RFC 6749 §6).
async fn token(
    State(engine): State<Arc<AppEngine>>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, OAuthError> {
    if form.get("grant_type").map(String::as_str) != Some("refresh_token") {
        return Err(Error::InvalidRequest("unsupported grant_type").into());
    }
    let refresh_token = form
        .get("refresh_token")
        .ok_or(Error::InvalidRequest("refresh_token missing"))?;
    let mut req = RefreshRequest::default();
    if let Some(scope) = form.get("scope") {
        req = req.scope(scope.as_str());
    }
    // Reuse detection, expiry and policy checks all happen in here; the error maps to
    // `invalid_grant` on the wire and to a typed event for your alerting.
    let tokens = engine.refresh(&web_client(), refresh_token, req).await?;
    Ok((no_store(), Json(tokens)).into_response())
}

/// `POST /revoke` (RFC 7009): always 200 for unknown tokens.
async fn revoke(
    State(engine): State<Arc<AppEngine>>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<StatusCode, OAuthError> {
    let token = form
        .get("token")
        .ok_or(Error::InvalidRequest("token missing"))?;
    let _outcome = engine.revoke(&web_client(), token).await?;
    Ok(StatusCode::OK)
}

/// A protected API route: the bearer token is verified with no I/O (use
/// `verify_with_revocation` where a revoked session must stop working at once).
async fn profile(
    State(engine): State<Arc<AppEngine>>,
    headers: HeaderMap,
) -> Result<Response, OAuthError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(Error::InvalidToken(token_engine::TokenError::Malformed))?;
    let claims = engine.verifier().verify(token)?;
    if !claims.has_scope("profile") {
        return Ok(StatusCode::FORBIDDEN.into_response());
    }
    Ok(Json(serde_json::json!({ "user": claims.sub, "session": claims.sid })).into_response())
}

fn app(engine: AppEngine) -> Router {
    Router::new()
        .route("/login", post(login))
        .route("/token", post(token))
        .route("/revoke", post(revoke))
        .route("/api/profile", get(profile))
        .with_state(Arc::new(engine))
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
        .build(MemoryStore::new())?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://127.0.0.1:3000");
    axum::serve(listener, app(engine)).await?;
    Ok(())
}
