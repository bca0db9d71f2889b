//! A resource server (axum) that verifies access tokens against an issuer's JWKS URL,
//! through a `JwksSource` whose fetch is done by a real HTTP client (reqwest; the
//! `token-engine-axum` feature `fetch` offers the same as `HttpFetcher`), with the
//! `token-engine-axum` layer in front of its route.
//!
//! ```sh
//! # Against your authorization server:
//! JWKS_URL=https://auth.example.com/.well-known/jwks.json ISSUER=https://auth.example.com \
//!   AUDIENCE=https://api.example.com cargo run --example resource_server
//! # Self-contained: a demo issuer on 127.0.0.1 publishes its JWKS, and the resource server
//! # fetches it over HTTP; prints a token to try with curl:
//! cargo run --example resource_server
//! # The same, exercised end to end (rotation included) and exiting:
//! cargo run --example resource_server -- --self-test
//! ```

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::Duration as StdDuration;

use axum::Router;
use axum::http::header;
use axum::response::Json;
use axum::routing::get;
use token_engine::jwks::{JwksFetcher, JwksResponse};
use token_engine::{
    AccessTokenClaims, Algorithm, JwksOptions, JwksSource, KeySet, SigningKey, Validation,
};
use token_engine_axum::{Claims, ResourceServer};

/// Largest JWK Set body read (the source's own limit, `JwksOptions::max_bytes`, by default).
const MAX_BODY: usize = 256 * 1024;

/// The application's fetch: one GET with reqwest, a bounded read, the `Cache-Control` header.
struct Http {
    client: reqwest::Client,
}

#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("JWKS request failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("JWKS document over {MAX_BODY} bytes")]
    TooLarge,
}

impl JwksFetcher for Http {
    type Error = FetchError;

    async fn fetch(&self, url: &str) -> Result<JwksResponse, FetchError> {
        let mut response = self.client.get(url).send().await?.error_for_status()?;
        let cache_control = response
            .headers()
            .get(header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(FetchError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        let document = JwksResponse::new(body);
        Ok(match cache_control {
            Some(cc) => document.cache_control(&cc),
            None => document,
        })
    }

    async fn sleep(&self, duration: StdDuration) {
        tokio::time::sleep(duration).await;
    }
}

/// `GET /me`: who the token says the caller is. The `token-engine-axum` layer in front of it
/// checked the request (Bearer or DPoP, RFC 6750 / RFC 9449 challenges on refusal, a `500`
/// when the issuer's keys cannot be fetched for a new `kid`).
async fn me(claims: Claims) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "sub": claims.sub,
        "client_id": claims.client_id,
        "scope": claims.scope,
    }))
}

/// A stand-in authorization server on 127.0.0.1 publishing its JWK Set, for the demo.
async fn demo_issuer() -> (KeySet, String, String) {
    let keys = KeySet::new(
        SigningKey::generate(Algorithm::EdDSA)
            .expect("key")
            .0
            .with_kid("demo-1"),
    );
    let published = keys.clone();
    let app = Router::new().route(
        "/.well-known/jwks.json",
        get(move || {
            let keys = published.clone();
            async move {
                (
                    [(header::CACHE_CONTROL, "public, max-age=600")],
                    Json(keys.jwks()),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let issuer = format!("http://{addr}");
    (keys, format!("{issuer}/.well-known/jwks.json"), issuer)
}

fn token_for(keys: &KeySet, issuer: &str, audience: &str) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut claims: AccessTokenClaims = AccessTokenClaims::default();
    claims.iss = Some(issuer.to_owned().into());
    claims.sub = Some("user123456".into());
    claims.aud = Some(audience.into());
    claims.client_id = Some("client_app_123".into());
    claims.scope = Some("read:profile".into());
    claims.jti = Some(format!("demo-{now}").into());
    claims.iat = Some(now);
    claims.exp = Some(now + 900);
    keys.sign_access_token(&claims).expect("sign")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let self_test = std::env::args().any(|a| a == "--self-test");
    let (demo, jwks_url, issuer, audience) = match std::env::var("JWKS_URL") {
        Ok(url) => (
            None,
            url,
            std::env::var("ISSUER")?,
            std::env::var("AUDIENCE")?,
        ),
        Err(_) => {
            let (keys, url, issuer) = demo_issuer().await;
            (
                Some(keys),
                url,
                issuer,
                "https://api.example.com".to_owned(),
            )
        }
    };

    let fetcher = Http {
        client: reqwest::Client::builder()
            .connect_timeout(StdDuration::from_secs(5))
            .build()?,
    };
    let source = JwksSource::builder(
        jwks_url.as_str(),
        fetcher,
        Validation::new(issuer.as_str(), audience.as_str()),
    )
    // Many providers publish RSA keys without `alg`: bind them to the algorithm your issuer
    // actually signs with, or they are skipped (and reported).
    .options(JwksOptions::new().default_rsa_algorithm(Algorithm::RS256))
    .build()
    .await?;
    tokio::spawn(source.keep_fresh());
    eprintln!("{} keys from {jwks_url}", source.verifier().keys().len());

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let api = format!("http://{}", listener.local_addr()?);
    // The origin clients call (behind a proxy: the public one; DPoP proofs name it).
    let resource = ResourceServer::new(source.clone(), api.as_str());
    let app = Router::new().route("/me", get(me).route_layer(resource.require()));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let Some(keys) = demo else {
        eprintln!("listening on {api}/me");
        return Ok(server.await??);
    };
    let token = token_for(&keys, &issuer, &audience);
    if !self_test {
        eprintln!("try: curl -H 'Authorization: Bearer {token}' {api}/me");
        return Ok(server.await??);
    }

    // --self-test: a valid token, a token from a key the issuer rotated to after the source
    // fetched its keys (one refetch), and garbage.
    let client = reqwest::Client::new();
    let get = |token: String| {
        let (client, api) = (client.clone(), api.clone());
        async move {
            client
                .get(format!("{api}/me"))
                .bearer_auth(token)
                .send()
                .await
                .expect("request")
                .status()
        }
    };
    assert_eq!(get(token).await, reqwest::StatusCode::OK);
    keys.rotate(SigningKey::generate(Algorithm::EdDSA)?.0.with_kid("demo-2"))?;
    assert_eq!(
        get(token_for(&keys, &issuer, &audience)).await,
        reqwest::StatusCode::OK
    );
    assert_eq!(source.verifier().keys().len(), 2);
    assert_eq!(
        get("not.a.token".to_owned()).await,
        reqwest::StatusCode::UNAUTHORIZED
    );
    eprintln!("self-test passed: valid token, rotated key picked up, garbage rejected");
    Ok(())
}
