//! An API gateway in front of two services, the design's microservices picture (often called
//! "phantom tokens"): clients hold opaque reference tokens that show them nothing and revoke
//! at once; inside, services verify short-lived JWTs locally.
//!
//! ```text
//!  client ── at_… ──▶ gateway ──introspect (RFC 9701 JWT answer, cached)──▶ auth
//!                        │   └──token exchange: at_… → JWT (aud A)──────▶ auth
//!                        └── JWT (aud A) ──▶ service A ──exchange: JWT(A) → JWT(B), act: A──▶ auth
//!                                                └── JWT (aud B, act.sub = service-a) ──▶ service B
//! ```
//!
//! Five axum servers on 127.0.0.1 in one process: the authorization server (the token,
//! introspection and revocation endpoints and the JWKS, one library call each), the gateway,
//! service A and service B. Service B refuses the client's opaque token (it verifies JWTs for
//! its own audience only) and service A's token (audience A).
//!
//! ```sh
//! cargo run -p token-engine-servers --example gateway                # serves, prints a token and a curl
//! cargo run -p token-engine-servers --example gateway -- --self-test  # drives it and exits
//! ```
//!
//! The self-test also runs in `cargo test -p token-engine-servers --example gateway`.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use time::Duration;
use token_engine::{
    AccessTokenClaims, Algorithm, Client, ClientAuthMethod, Engine, GrantType, HttpRequest,
    HttpResponse, IntrospectionCache, IntrospectionResponse, IssueRequest, MemoryStore,
    RefreshSecret, SigningKey, Validation, Verifier,
};

const API: &str = "https://api.example.com";
const A_AUD: &str = "https://service-a.internal";
const B_AUD: &str = "https://service-b.internal";
const GATEWAY_SECRET: &str = "gateway-secret-0123456789abcdef";
const SERVICE_A_SECRET: &str = "service-a-secret-0123456789abcde";
const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// How long the gateway trusts an introspection answer: its revocation latency.
const CACHE_BOUND: Duration = Duration::seconds(30);
const MAX_BODY: usize = 64 * 1024;

/// The authorization server: an engine and its clients.
struct Auth {
    engine: Engine<MemoryStore>,
    clients: Vec<Client>,
}

fn auth(issuer: &str) -> Auth {
    let engine = Engine::builder()
        .issuer(issuer)
        .audience(API)
        .exchange_audience(A_AUD)
        .exchange_audience(B_AUD)
        .signing_key(
            SigningKey::generate(Algorithm::ES256)
                .unwrap()
                .0
                .with_kid("gw-demo"),
        )
        .refresh_secret(
            RefreshSecret::from_bytes(&RefreshSecret::generate_bytes().unwrap()[..]).unwrap(),
        )
        .client_secret_key(&RefreshSecret::generate_bytes().unwrap()[..])
        .build(MemoryStore::new())
        .unwrap();
    let hasher = engine.client_secret_hasher().unwrap();
    let internal = |id: &str, secret: &str| {
        Client::confidential(id, ClientAuthMethod::SecretPost(hasher.hash(secret)))
            .grant_types([GrantType::TokenExchange])
            .allow_scopes(["orders:read"])
            // Internal JWTs live one minute: they cannot be revoked, so keep them short.
            .access_ttl(Duration::minutes(1))
    };
    let clients = vec![
        // The public app: opaque reference tokens, whatever the engine's default.
        Client::new("app")
            .allow_scopes(["orders:read"])
            .opaque_access_tokens(),
        internal("gateway", GATEWAY_SECRET).introspect_all_tokens(),
        internal("service-a", SERVICE_A_SECRET),
    ];
    Auth { engine, clients }
}

/// One endpoint call over the whole request, the library's answer written out unchanged.
async fn endpoint(
    auth: &Auth,
    request: Request,
    call: impl AsyncFnOnce(&Auth, &HttpRequest<'_>) -> HttpResponse,
) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let owned = axum::http::Request::from_parts(parts, bytes);
    call(auth, &HttpRequest::from(&owned))
        .await
        .into_http()
        .map(Body::from)
}

fn auth_router(auth: Arc<Auth>) -> Router {
    Router::new()
        .route(
            "/token",
            post(async |State(a): State<Arc<Auth>>, r: Request| {
                endpoint(&a, r, async |a, r| {
                    a.engine
                        .token_endpoint(&a.clients, &token_engine::NoPasswordGrant, r)
                        .await
                })
                .await
            }),
        )
        .route(
            "/introspect",
            post(async |State(a): State<Arc<Auth>>, r: Request| {
                endpoint(&a, r, async |a, r| {
                    a.engine.introspection_endpoint(&a.clients, r).await
                })
                .await
            }),
        )
        .route(
            "/revoke",
            post(async |State(a): State<Arc<Auth>>, r: Request| {
                endpoint(&a, r, async |a, r| {
                    a.engine.revocation_endpoint(&a.clients, r).await
                })
                .await
            }),
        )
        .route(
            "/jwks.json",
            get(async |State(a): State<Arc<Auth>>, r: Request| {
                endpoint(&a, r, async |a, r| a.engine.jwks_endpoint(r)).await
            }),
        )
        .with_state(auth)
}

/// What every service of the demo knows: where things are, and an HTTP client.
#[derive(Clone)]
struct Net {
    auth: String,
    a: String,
    b: String,
    http: reqwest::Client,
}

impl Net {
    /// RFC 8693 at the authorization server, as `client`: a JWT for `audience`.
    async fn exchange(
        &self,
        client: &str,
        secret: &str,
        subject_token: &str,
        audience: &str,
    ) -> Option<String> {
        let r = self
            .http
            .post(format!("{}/token", self.auth))
            .form(&[
                ("grant_type", EXCHANGE),
                ("subject_token", subject_token),
                ("subject_token_type", ACCESS_TOKEN_TYPE),
                ("audience", audience),
                ("client_id", client),
                ("client_secret", secret),
            ])
            .send()
            .await
            .ok()?;
        if !r.status().is_success() {
            return None;
        }
        let body: Value = serde_json::from_slice(&r.bytes().await.ok()?).ok()?;
        body["access_token"].as_str().map(str::to_owned)
    }

    async fn jwks(&self) -> String {
        self.http
            .get(format!("{}/jwks.json", self.auth))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, r#"Bearer error="invalid_token""#)],
    )
        .into_response()
}

/// The gateway: introspects the client's opaque token (RFC 9701, answers cached for
/// [`CACHE_BOUND`]), exchanges it for a JWT for service A, and forwards.
struct Gateway {
    net: Net,
    jwks: jsonwebtoken::jwk::JwkSet,
    issuer: String,
    cache: IntrospectionCache,
}

impl Gateway {
    /// The signed introspection answer, verified with the authorization server's JWKS by an
    /// independent JWT library.
    async fn introspect(&self, token: String) -> Result<IntrospectionResponse, String> {
        let jwt = self
            .net
            .http
            .post(format!("{}/introspect", self.net.auth))
            .header(header::ACCEPT, "application/token-introspection+jwt")
            .form(&[
                ("token", token.as_str()),
                ("client_id", "gateway"),
                ("client_secret", GATEWAY_SECRET),
            ])
            .send()
            .await
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        let head = jsonwebtoken::decode_header(&jwt).map_err(|e| e.to_string())?;
        if head.typ.as_deref() != Some("token-introspection+jwt") {
            return Err("not an RFC 9701 answer".into());
        }
        let jwk = self
            .jwks
            .find(head.kid.as_deref().unwrap_or_default())
            .ok_or("unknown key")?;
        let key = jsonwebtoken::DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
        let mut rules = jsonwebtoken::Validation::new(head.alg);
        rules.set_issuer(&[&self.issuer]);
        rules.set_audience(&["gateway"]);
        rules.required_spec_claims.clear();
        rules.validate_exp = false;
        #[derive(Deserialize)]
        struct Answer {
            token_introspection: IntrospectionResponse,
        }
        let answer =
            jsonwebtoken::decode::<Answer>(&jwt, &key, &rules).map_err(|e| e.to_string())?;
        Ok(answer.claims.token_introspection)
    }

    async fn forward(&self, headers: &HeaderMap) -> Response {
        let Some(token) = bearer(headers) else {
            return unauthorized();
        };
        let Ok(answer) = self
            .cache
            .get_or_introspect(token, |t| self.introspect(t))
            .await
        else {
            return StatusCode::BAD_GATEWAY.into_response();
        };
        if !answer.active {
            return unauthorized();
        }
        // The phantom token's JWT: for service A only, one minute, `act` naming the gateway.
        // The exchange re-checks the opaque token, so a revocation is refused here at once
        // even while the cached answer still says active.
        let Some(internal) = self
            .net
            .exchange("gateway", GATEWAY_SECRET, token, A_AUD)
            .await
        else {
            return unauthorized();
        };
        match self
            .net
            .http
            .get(format!("{}/orders", self.net.a))
            .bearer_auth(internal)
            .send()
            .await
        {
            Ok(r) => (
                StatusCode::from_u16(r.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY),
                r.bytes().await.unwrap_or_default(),
            )
                .into_response(),
            Err(_) => StatusCode::BAD_GATEWAY.into_response(),
        }
    }
}

/// The `act` claim, which the services read besides the registered ones.
#[derive(Debug, Default, Deserialize)]
struct Delegation {
    act: Option<Value>,
}

/// A service: verifies JWTs for its own audience with the published keys, locally.
struct Service {
    verifier: Verifier,
    net: Net,
}

impl Service {
    fn new(jwks: &str, issuer: &str, audience: &str, net: Net) -> Self {
        Service {
            verifier: Verifier::from_jwks(jwks, Validation::new(issuer, audience)).unwrap(),
            net,
        }
    }

    fn check(&self, headers: &HeaderMap) -> Option<AccessTokenClaims<'static, Delegation>> {
        self.verifier.verify_as::<Delegation>(bearer(headers)?).ok()
    }
}

/// Service A: serves `/orders`, asking service B with a delegated token.
async fn service_a(State(s): State<Arc<Service>>, headers: HeaderMap) -> Response {
    let Some(claims) = s.check(&headers) else {
        return unauthorized();
    };
    let mine = bearer(&headers).unwrap_or_default();
    let Some(delegated) = s
        .net
        .exchange("service-a", SERVICE_A_SECRET, mine, B_AUD)
        .await
    else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let from_b: Value = match s
        .net
        .http
        .get(format!("{}/inventory", s.net.b))
        .bearer_auth(delegated)
        .send()
        .await
    {
        Ok(r) => {
            serde_json::from_slice(&r.bytes().await.unwrap_or_default()).unwrap_or(Value::Null)
        }
        Err(_) => return StatusCode::BAD_GATEWAY.into_response(),
    };
    axum::Json(json!({
        "service": "a",
        "sub": claims.sub,
        "act": claims.custom.act,
        "b": from_b,
    }))
    .into_response()
}

/// Service B: serves `/inventory` to tokens for audience B only.
async fn service_b(State(s): State<Arc<Service>>, headers: HeaderMap) -> Response {
    let Some(claims) = s.check(&headers) else {
        return unauthorized();
    };
    axum::Json(json!({
        "service": "b",
        "sub": claims.sub,
        "act": claims.custom.act,
    }))
    .into_response()
}

/// The running deployment.
struct Deployment {
    net: Net,
    gateway: String,
    auth: Arc<Auth>,
}

async fn listen() -> (tokio::net::TcpListener, String) {
    let l = tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .unwrap();
    let url = format!("http://127.0.0.1:{}", l.local_addr().unwrap().port());
    (l, url)
}

fn serve(listener: tokio::net::TcpListener, router: Router) {
    tokio::spawn(async move { axum::serve(listener, router).await });
}

async fn start() -> Deployment {
    let (auth_l, auth_url) = listen().await;
    let (gw_l, gw_url) = listen().await;
    let (a_l, a_url) = listen().await;
    let (b_l, b_url) = listen().await;
    let auth = Arc::new(auth(&auth_url));
    serve(auth_l, auth_router(Arc::clone(&auth)));
    let net = Net {
        auth: auth_url.clone(),
        a: a_url,
        b: b_url,
        http: reqwest::Client::new(),
    };
    let jwks = net.jwks().await;
    let a = Arc::new(Service::new(&jwks, &auth_url, A_AUD, net.clone()));
    let b = Arc::new(Service::new(&jwks, &auth_url, B_AUD, net.clone()));
    serve(
        a_l,
        Router::new().route("/orders", get(service_a)).with_state(a),
    );
    serve(
        b_l,
        Router::new()
            .route("/inventory", get(service_b))
            .with_state(b),
    );
    let gateway = Arc::new(Gateway {
        net: net.clone(),
        jwks: serde_json::from_str(&jwks).unwrap(),
        issuer: auth_url,
        cache: IntrospectionCache::new(CACHE_BOUND, 10_000).unwrap(),
    });
    serve(
        gw_l,
        Router::new()
            .route(
                "/a/orders",
                get(async |State(g): State<Arc<Gateway>>, h: HeaderMap| g.forward(&h).await),
            )
            .with_state(gateway),
    );
    Deployment {
        net,
        gateway: gw_url,
        auth,
    }
}

impl Deployment {
    /// What the app holds after its user logged in: an opaque reference token.
    async fn login(&self, user: &str) -> String {
        let app = self.auth.clients.first().unwrap();
        self.auth
            .engine
            .issue(app, IssueRequest::new(user).scope("orders:read"))
            .await
            .unwrap()
            .access_token
    }

    async fn get(&self, url: &str, token: Option<&str>) -> (u16, Value) {
        let mut r = self.net.http.get(url);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        let body: Bytes = r.bytes().await.unwrap();
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }
}

/// Drive the deployment end to end; panics on any failure.
async fn self_test() {
    let d = start().await;
    let opaque = d.login("alice").await;
    assert!(
        opaque.starts_with("at_") && !opaque.contains('.'),
        "opaque: {opaque}"
    );

    // Through the gateway: A answers, with B's answer made for A's delegated token.
    let (status, body) = d
        .get(&format!("{}/a/orders", d.gateway), Some(&opaque))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["service"], "a");
    assert_eq!(body["sub"], "alice");
    assert_eq!(
        body["act"]["sub"], "gateway",
        "A's token came from the gateway"
    );
    assert_eq!(body["b"]["service"], "b");
    assert_eq!(body["b"]["sub"], "alice");
    assert_eq!(
        body["b"]["act"]["sub"], "service-a",
        "B's token names A in act"
    );
    assert_eq!(
        body["b"]["act"]["act"]["sub"], "gateway",
        "and who A acted for"
    );
    // Again: the introspection answer comes from the gateway's cache.
    let (status, _) = d
        .get(&format!("{}/a/orders", d.gateway), Some(&opaque))
        .await;
    assert_eq!(status, 200);

    // Service B refuses the client's opaque token: it verifies JWTs only.
    let inventory = format!("{}/inventory", d.net.b);
    let (status, _) = d.get(&inventory, Some(&opaque)).await;
    assert_eq!(status, 401, "B refuses the opaque token");
    // And A's token (audience A), which A itself accepts.
    let for_a = d
        .net
        .exchange("gateway", GATEWAY_SECRET, &opaque, A_AUD)
        .await
        .unwrap();
    let (status, _) = d.get(&inventory, Some(&for_a)).await;
    assert_eq!(status, 401, "B refuses a token for audience A");
    let (status, _) = d.get(&format!("{}/orders", d.net.a), Some(&for_a)).await;
    assert_eq!(status, 200, "A accepts it");
    // Nothing, junk, or a forged reference token at the gateway.
    for bad in [
        None,
        Some("junk"),
        Some("at_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
    ] {
        let (status, _) = d.get(&format!("{}/a/orders", d.gateway), bad).await;
        assert_eq!(status, 401, "{bad:?}");
    }

    // The app revokes its token (RFC 7009): the next request through the gateway is refused,
    // although the cached introspection answer is still within its bound (the exchange
    // re-checks the token at the authorization server).
    let r = d
        .net
        .http
        .post(format!("{}/revoke", d.net.auth))
        .form(&[("token", opaque.as_str()), ("client_id", "app")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (status, _) = d
        .get(&format!("{}/a/orders", d.gateway), Some(&opaque))
        .await;
    assert_eq!(status, 401, "revoked at once");
    println!("gateway self-test: ok");
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--self-test") {
        self_test().await;
        return;
    }
    let d = start().await;
    let token = d.login("alice").await;
    println!("gateway on {}; an opaque token for alice:\n", d.gateway);
    println!(
        "  curl -H 'Authorization: Bearer {token}' {}/a/orders\n",
        d.gateway
    );
    println!("service B (refuses that token): {}/inventory", d.net.b);
    // Serve until stopped (Ctrl-C).
    std::future::pending::<()>().await;
}

#[cfg(test)]
mod tests {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_gateway_self_test() {
        super::self_test().await;
    }
}
