//! The resource-server layer through `tower::ServiceExt::oneshot`: every status and challenge,
//! each beside the RFC text it implements.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode};
use serde::Deserialize;
use token_engine::dpop::{ProofClaims, sign_proof};
use token_engine::jwks::{JwksFetcher, JwksResponse};
use token_engine::{
    Algorithm, Client, Engine, IssueRequest, JwksSource, KeySet, ManualClock, MemoryStore,
    RefreshSecret, SigningKey, Validation, Verifier,
};
use token_engine_axum::{Claims, KeySource, ResourceServer};
use tower::ServiceExt;

const ISS: &str = "https://auth.example.com";
const AUD: &str = "https://api.example.com";
const TOKEN_URL: &str = "https://auth.example.com/token";
const ORDERS: &str = "https://api.example.com/orders";
const NOW: i64 = 1_714_768_000;
const ALGS: &str = "algs=\"ES256 ES384 EdDSA RS256 PS256\"";

#[derive(Clone, Debug, Default, Deserialize)]
struct App {
    #[serde(default)]
    role: Option<String>,
}

struct Setup {
    engine: Engine<MemoryStore>,
    clock: ManualClock,
}

fn setup() -> Setup {
    let clock = ManualClock::new(NOW);
    let engine = Engine::builder()
        .issuer(ISS)
        .audience(AUD)
        .signing_key(SigningKey::generate(Algorithm::EdDSA).unwrap().0)
        .refresh_secret(RefreshSecret::from_bytes(&[7; 32]).unwrap())
        .token_endpoint(TOKEN_URL)
        .clock(clock.clone())
        .build(MemoryStore::new())
        .unwrap();
    Setup { engine, clock }
}

fn client() -> Client {
    Client::new("app").allow_scopes(["orders", "admin"])
}

impl Setup {
    async fn bearer(&self, scope: &str) -> String {
        self.engine
            .issue(&client(), IssueRequest::new("user-1").scope(scope))
            .await
            .unwrap()
            .access_token
    }

    /// A DPoP-bound access token and the key it is bound to.
    async fn bound(&self, scope: &str) -> (String, SigningKey) {
        let key = SigningKey::generate(Algorithm::ES256).unwrap().0;
        let proof = self.proof_for(&key, "POST", TOKEN_URL, None, "t-1");
        let verified = self
            .engine
            .verify_dpop_proof(&proof, "POST", TOKEN_URL)
            .await
            .unwrap();
        let token = self
            .engine
            .issue(
                &client(),
                IssueRequest::new("user-1").scope(scope).dpop(verified),
            )
            .await
            .unwrap()
            .access_token;
        (token, key)
    }

    fn proof_for(
        &self,
        key: &SigningKey,
        method: &str,
        uri: &str,
        token: Option<&str>,
        jti: &str,
    ) -> String {
        sign_proof(
            key,
            &ProofClaims {
                method,
                uri,
                iat: NOW,
                jti,
                access_token: token,
                nonce: None,
            },
        )
        .unwrap()
    }
}

async fn orders(claims: Claims) -> String {
    claims.sub.as_deref().unwrap_or("").to_owned()
}

async fn role(claims: Claims<App>) -> String {
    claims.custom.role.clone().unwrap_or_default()
}

/// `/orders` needs the `orders` scope; `/billing` needs the audience of another API.
fn app<K: KeySource>(api: &ResourceServer<K>) -> Router {
    Router::new()
        .route(
            "/orders",
            get(orders).route_layer(api.require().scopes(["orders"])),
        )
        .route(
            "/billing",
            get(orders).route_layer(api.require().audience("https://billing.example.com")),
        )
        .route(
            "/role",
            get(role).route_layer(api.require().claims::<App>()),
        )
}

struct Answer {
    status: StatusCode,
    www: String,
    body: String,
    headers: http::HeaderMap,
}

async fn send(router: Router, request: Request<Body>) -> Answer {
    let response = router.oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let www = headers
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join(" | ");
    let body = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    Answer {
        status,
        www,
        body: String::from_utf8(body.to_vec()).unwrap(),
        headers,
    }
}

fn get_with(path: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut b = Request::get(path);
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    b.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn a_valid_bearer_token_reaches_the_handler_with_its_claims() {
    let s = setup();
    let api = ResourceServer::new(s.engine.clone(), AUD);
    let token = s.bearer("orders").await;
    let auth = format!("Bearer {token}");
    let a = send(app(&api), get_with("/orders", &[("authorization", &auth)])).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body, "user-1");
}

/// The layer lends the request's header fields to the check and puts them back: the handler
/// sees every field, repeats and order included.
#[tokio::test]
async fn the_handler_sees_every_header_field_the_client_sent() {
    async fn echo(request: Request<Body>) -> String {
        let h = request.headers();
        let all = |name: &str| {
            h.get_all(name)
                .iter()
                .map(|v| v.to_str().unwrap())
                .collect::<Vec<_>>()
                .join(",")
        };
        format!("{}|{}|{}", all("authorization"), all("x-trace"), h.len())
    }
    let s = setup();
    let api = ResourceServer::new(s.engine.clone(), AUD);
    let token = s.bearer("orders").await;
    let auth = format!("Bearer {token}");
    let router = Router::new().route(
        "/echo",
        get(echo).route_layer(api.require().scopes(["orders"])),
    );
    let request = get_with(
        "/echo",
        &[("x-trace", "a"), ("authorization", &auth), ("x-trace", "b")],
    );
    let a = send(router, request).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body, format!("{auth}|a,b|3"));
}

#[tokio::test]
async fn no_token_gets_both_challenges_without_an_error_code() {
    let s = setup();
    let api = ResourceServer::new(s.engine.clone(), AUD);
    for headers in [vec![], vec![("authorization", "Basic YWxpY2U6cHc=")]] {
        let a = send(app(&api), get_with("/orders", &headers)).await;
        // RFC 6750 §3.1: "If the request lacks any authentication information (e.g., the
        // client was unaware that authentication is necessary or attempted using an
        // unsupported authentication method), the resource server SHOULD NOT include an
        // error code or other error information."
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
        // RFC 6750 §3: "All challenges defined by this specification MUST use the auth-scheme
        // value "Bearer"." RFC 9449 §7.1: the DPoP challenge carries "algs", the JWS
        // algorithms the resource server accepts for proofs.
        assert_eq!(a.www, format!("Bearer, DPoP {ALGS}"));
        assert_eq!(a.headers["cache-control"], "no-store");
    }
}

#[tokio::test]
async fn a_bad_token_is_invalid_token() {
    let s = setup();
    let api = ResourceServer::new(s.engine.clone(), AUD);
    let a = send(
        app(&api),
        get_with("/orders", &[("authorization", "Bearer not.a.jwt")]),
    )
    .await;
    // RFC 6750 §3.1: "invalid_token: The access token provided is expired, revoked,
    // malformed, or invalid for other reasons. The resource SHOULD respond with the HTTP 401
    // (Unauthorized) status code."
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        a.www,
        format!("Bearer error=\"invalid_token\", DPoP {ALGS}")
    );
}

#[tokio::test]
async fn an_expired_token_is_invalid_token() {
    let s = setup();
    let api = ResourceServer::new(s.engine.clone(), AUD);
    let token = s.bearer("orders").await;
    s.clock.set(NOW + 3600);
    let auth = format!("Bearer {token}");
    let a = send(app(&api), get_with("/orders", &[("authorization", &auth)])).await;
    // RFC 6750 §3.1: "The access token provided is expired, revoked, malformed, or invalid
    // for other reasons." -> invalid_token, 401.
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        a.www,
        format!("Bearer error=\"invalid_token\", DPoP {ALGS}")
    );
}

#[tokio::test]
async fn a_revoked_session_is_invalid_token_with_an_engine() {
    let s = setup();
    let api = ResourceServer::new(s.engine.clone(), AUD);
    let r = s
        .engine
        .issue(&client(), IssueRequest::new("user-1").scope("orders"))
        .await
        .unwrap();
    let auth = format!("Bearer {}", r.access_token);
    let ok = send(app(&api), get_with("/orders", &[("authorization", &auth)])).await;
    assert_eq!(ok.status, StatusCode::OK);
    let _ = s
        .engine
        .revoke(&client(), r.refresh_token.as_ref().unwrap().expose_secret())
        .await
        .unwrap();
    let a = send(app(&api), get_with("/orders", &[("authorization", &auth)])).await;
    // RFC 6750 §3.1: "The access token provided is expired, revoked, ..." -> invalid_token.
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        a.www,
        format!("Bearer error=\"invalid_token\", DPoP {ALGS}")
    );
}

#[tokio::test]
async fn a_token_for_another_audience_is_invalid_token() {
    let s = setup();
    // The route requires another API's audience than the token names.
    let api = ResourceServer::new(s.engine.clone(), AUD);
    let token = s.bearer("orders").await;
    let auth = format!("Bearer {token}");
    let a = send(app(&api), get_with("/billing", &[("authorization", &auth)])).await;
    // RFC 6750 §3.1: "invalid for other reasons" (not for this resource) -> invalid_token.
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        a.www,
        format!("Bearer error=\"invalid_token\", DPoP {ALGS}")
    );
    // And a verifier configured for another audience refuses it the same way.
    let other = Verifier::new(
        s.engine.verifier().keys().to_vec(),
        Validation::new(ISS, "https://other.example.com"),
    )
    .unwrap()
    .with_clock(s.clock.clone());
    let api = ResourceServer::new(other, AUD);
    let a = send(app(&api), get_with("/orders", &[("authorization", &auth)])).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        a.www,
        format!("Bearer error=\"invalid_token\", DPoP {ALGS}")
    );
}

#[tokio::test]
async fn a_token_without_the_scope_is_insufficient_scope() {
    let s = setup();
    let api = ResourceServer::new(s.engine.clone(), AUD);
    let token = s.bearer("admin").await;
    let auth = format!("Bearer {token}");
    let a = send(app(&api), get_with("/orders", &[("authorization", &auth)])).await;
    // RFC 6750 §3.1: "insufficient_scope: The request requires higher privileges than
    // provided by the access token. The resource server SHOULD respond with the HTTP 403
    // (Forbidden) status code and MAY include the "scope" attribute with the scope necessary
    // to access the protected resource."
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(
        a.www,
        format!("Bearer error=\"insufficient_scope\", scope=\"orders\", DPoP {ALGS}")
    );
}

#[tokio::test]
async fn repeated_credentials_are_refused() {
    let s = setup();
    let api = ResourceServer::new(s.engine.clone(), AUD);
    let token = s.bearer("orders").await;
    let auth = format!("Bearer {token}");
    let a = send(
        app(&api),
        get_with(
            "/orders",
            &[("authorization", &auth), ("authorization", &auth)],
        ),
    )
    .await;
    // RFC 6750 §3.1: "invalid_request: The request is missing a required parameter, includes
    // an unsupported parameter or parameter value, repeats the same parameter, uses more than
    // one method for including an access token, or is otherwise malformed. The resource
    // server SHOULD respond with the HTTP 400 (Bad Request) status code."
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        a.www,
        format!("Bearer error=\"invalid_request\", DPoP {ALGS}")
    );
    let (token, key) = s.bound("orders").await;
    let auth = format!("DPoP {token}");
    let p1 = s.proof_for(&key, "GET", ORDERS, Some(&token), "r-1");
    let p2 = s.proof_for(&key, "GET", ORDERS, Some(&token), "r-2");
    let a = send(
        app(&api),
        get_with(
            "/orders",
            &[("authorization", &auth), ("dpop", &p1), ("dpop", &p2)],
        ),
    )
    .await;
    // RFC 9449 §4.3: "that there is not more than one DPoP HTTP request header field".
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        a.www,
        format!("Bearer, DPoP error=\"invalid_dpop_proof\", {ALGS}")
    );
}

#[tokio::test]
async fn a_dpop_bound_token_with_its_proof_passes_once() {
    let s = setup();
    let api = ResourceServer::new(s.engine.clone(), AUD);
    let (token, key) = s.bound("orders").await;
    let auth = format!("DPoP {token}");
    let proof = s.proof_for(&key, "GET", ORDERS, Some(&token), "r-1");
    let headers = [("authorization", auth.as_str()), ("dpop", proof.as_str())];
    let a = send(app(&api), get_with("/orders", &headers)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.www);
    // The same proof again, through another instance over the same store: replayed.
    let again = ResourceServer::new(s.engine.clone(), AUD);
    let a = send(app(&again), get_with("/orders", &headers)).await;
    // RFC 9449 §11.1: servers detect replay by checking that a proof with the same "jti" has
    // not been received before (within its lifetime); a refused proof is answered with the
    // "invalid_dpop_proof" error code on the DPoP challenge (RFC 9449 §7.1, §12.2).
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        a.www,
        format!("Bearer, DPoP error=\"invalid_dpop_proof\", {ALGS}")
    );
}

#[tokio::test]
async fn a_dpop_bound_token_without_a_proof_is_refused() {
    let s = setup();
    let api = ResourceServer::new(s.engine.clone(), AUD);
    let (token, _) = s.bound("orders").await;
    let auth = format!("DPoP {token}");
    let a = send(app(&api), get_with("/orders", &[("authorization", &auth)])).await;
    // RFC 9449 §7: "Requests to DPoP-protected resources MUST include both a DPoP proof as
    // per Section 4 and the access token as described in Section 7.1."
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        a.www,
        format!("Bearer, DPoP error=\"invalid_dpop_proof\", {ALGS}")
    );
}

#[tokio::test]
async fn a_proof_by_another_key_is_invalid_token() {
    let s = setup();
    let api = ResourceServer::new(s.engine.clone(), AUD);
    let (token, _) = s.bound("orders").await;
    let thief = SigningKey::generate(Algorithm::ES256).unwrap().0;
    let auth = format!("DPoP {token}");
    let proof = s.proof_for(&thief, "GET", ORDERS, Some(&token), "r-1");
    let a = send(
        app(&api),
        get_with("/orders", &[("authorization", &auth), ("dpop", &proof)]),
    )
    .await;
    // RFC 9449 §7.1 (Figure 16, "Invalid DPoP key binding"): a proof whose key is not the
    // one the token is bound to is answered `DPoP error="invalid_token"`, 401.
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        a.www,
        format!("Bearer, DPoP error=\"invalid_token\", {ALGS}")
    );
}

#[tokio::test]
async fn a_proof_for_another_url_is_refused_and_the_origin_is_the_clients() {
    let s = setup();
    let (token, key) = s.bound("orders").await;
    let auth = format!("DPoP {token}");
    // Behind a proxy the server sees http://10.0.0.5:8080/orders; the client used ORDERS.
    let api = ResourceServer::new(s.engine.clone(), "https://api.example.com/");
    let proof = s.proof_for(
        &key,
        "GET",
        "http://10.0.0.5:8080/orders",
        Some(&token),
        "r-1",
    );
    let a = send(
        app(&api),
        get_with("/orders", &[("authorization", &auth), ("dpop", &proof)]),
    )
    .await;
    // RFC 9449 §4.3: "the htu claim matches the HTTP URI value for the HTTP request in which
    // the JWT was received, ignoring any query and fragment parts".
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        a.www,
        format!("Bearer, DPoP error=\"invalid_dpop_proof\", {ALGS}")
    );
    // Nested under /v1: the proof names the full path the client used.
    let nested = Router::new().nest("/v1", app(&api));
    let proof = s.proof_for(
        &key,
        "GET",
        "https://api.example.com/v1/orders?page=2",
        Some(&token),
        "r-2",
    );
    let a = send(
        nested,
        get_with(
            "/v1/orders?page=2",
            &[("authorization", &auth), ("dpop", &proof)],
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.www);
}

#[tokio::test]
async fn a_bound_token_sent_as_bearer_is_invalid_token() {
    let s = setup();
    let api = ResourceServer::new(s.engine.clone(), AUD);
    let (token, key) = s.bound("orders").await;
    let auth = format!("Bearer {token}");
    let proof = s.proof_for(&key, "GET", ORDERS, Some(&token), "r-1");
    for headers in [
        vec![("authorization", auth.as_str())],
        vec![("authorization", auth.as_str()), ("dpop", proof.as_str())],
    ] {
        let a = send(app(&api), get_with("/orders", &headers)).await;
        // RFC 9449 §7.1: "A DPoP-bound access token is sent using the Authorization request
        // header field ... with an authentication scheme of DPoP." §7.2: "such a protected
        // resource MUST reject a DPoP-bound access token received as a bearer token per
        // [RFC6750]": RFC 6750 §3.1 invalid_token, on the scheme used (§7.2, Figure 18).
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            a.www,
            format!("Bearer error=\"invalid_token\", DPoP {ALGS}")
        );
    }
}

#[tokio::test]
async fn nonces_are_asked_for_with_use_dpop_nonce() {
    let clock = ManualClock::new(NOW);
    let engine = Engine::builder()
        .issuer(ISS)
        .audience(AUD)
        .signing_key(SigningKey::generate(Algorithm::EdDSA).unwrap().0)
        .refresh_secret(RefreshSecret::from_bytes(&[7; 32]).unwrap())
        .token_endpoint(TOKEN_URL)
        .dpop_nonces(token_engine::NonceKey::new(&[9; 32], 60).unwrap())
        .clock(clock.clone())
        .build(MemoryStore::new())
        .unwrap();
    let s = Setup { engine, clock };
    let nonce = s.engine.dpop_nonce().unwrap();
    let key = SigningKey::generate(Algorithm::ES256).unwrap().0;
    let proof = sign_proof(
        &key,
        &ProofClaims {
            method: "POST",
            uri: TOKEN_URL,
            iat: NOW,
            jti: "t-1",
            access_token: None,
            nonce: Some(&nonce),
        },
    )
    .unwrap();
    let verified = s
        .engine
        .verify_dpop_proof(&proof, "POST", TOKEN_URL)
        .await
        .unwrap();
    let token = s
        .engine
        .issue(
            &client(),
            IssueRequest::new("user-1").scope("orders").dpop(verified),
        )
        .await
        .unwrap()
        .access_token;
    let api = ResourceServer::new(s.engine.clone(), AUD);
    let auth = format!("DPoP {token}");
    let proof = s.proof_for(&key, "GET", ORDERS, Some(&token), "r-1");
    let a = send(
        app(&api),
        get_with("/orders", &[("authorization", &auth), ("dpop", &proof)]),
    )
    .await;
    // RFC 9449 §9: "Resource servers use an HTTP 401 (Unauthorized) error code with an
    // accompanying WWW-Authenticate: DPoP value and DPoP-Nonce value to accomplish this."
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        a.www,
        format!("Bearer, DPoP error=\"use_dpop_nonce\", {ALGS}")
    );
    assert_eq!(a.headers["dpop-nonce"], nonce.as_str());
}

#[tokio::test]
async fn application_claims_are_typed_and_a_missing_layer_fails_closed() {
    let s = setup();
    let api = ResourceServer::new(s.engine.clone(), AUD);
    let token = s
        .engine
        .issue(
            &client(),
            IssueRequest::new("user-1")
                .scope("orders")
                .claim("role", "clerk"),
        )
        .await
        .unwrap()
        .access_token;
    let auth = format!("Bearer {token}");
    let a = send(app(&api), get_with("/role", &[("authorization", &auth)])).await;
    assert_eq!((a.status, a.body.as_str()), (StatusCode::OK, "clerk"));
    // A handler asking for claims on a route without the layer: 500, never a pass.
    let bare = Router::new().route("/orders", get(orders));
    let a = send(bare, get_with("/orders", &[("authorization", &auth)])).await;
    assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn a_verifier_checks_bearer_and_dpop_without_a_store() {
    let s = setup();
    let verifier = s.engine.verifier().clone();
    let api = ResourceServer::new(verifier, AUD);
    let token = s.bearer("orders").await;
    let auth = format!("Bearer {token}");
    let a = send(app(&api), get_with("/orders", &[("authorization", &auth)])).await;
    assert_eq!(a.status, StatusCode::OK);
    let (token, key) = s.bound("orders").await;
    let auth = format!("DPoP {token}");
    let proof = s.proof_for(&key, "GET", ORDERS, Some(&token), "r-1");
    let headers = [("authorization", auth.as_str()), ("dpop", proof.as_str())];
    let a = send(app(&api), get_with("/orders", &headers)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.www);
    let a = send(app(&api), get_with("/orders", &[("authorization", &auth)])).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        a.www,
        format!("Bearer, DPoP error=\"invalid_dpop_proof\", {ALGS}")
    );
    let a = send(app(&api), get_with("/orders", &[])).await;
    assert_eq!(a.www, format!("Bearer, DPoP {ALGS}"));
}

/// A JWK Set "fetched" from a key set the test rotates; the issuer can go down.
struct Published(KeySet, std::sync::Arc<std::sync::atomic::AtomicBool>);

impl JwksFetcher for Published {
    type Error = std::io::Error;

    async fn fetch(&self, _: &str) -> Result<JwksResponse, std::io::Error> {
        if self.1.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(std::io::Error::other("issuer down"));
        }
        Ok(JwksResponse::new(
            serde_json::to_vec(&self.0.jwks()).unwrap(),
        ))
    }

    async fn sleep(&self, _: std::time::Duration) {}
}

#[tokio::test]
async fn a_jwks_source_refetches_for_a_new_key() {
    let down = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let keys = KeySet::new(
        SigningKey::generate(Algorithm::EdDSA)
            .unwrap()
            .0
            .with_kid("k1"),
    );
    let source = JwksSource::builder(
        "https://auth.example.com/jwks.json",
        Published(keys.clone(), down.clone()),
        Validation::new(ISS, AUD),
    )
    // Each unknown `kid` refetches at once (the default cooldown would hold the third).
    .cooldown(time::Duration::ZERO)
    .build()
    .await
    .unwrap();
    let api = ResourceServer::new(source, AUD);
    let sign = |keys: &KeySet| {
        let now = time_now();
        let mut c: token_engine::AccessTokenClaims = Default::default();
        c.iss = Some(ISS.into());
        c.sub = Some("user-9".into());
        c.aud = Some(AUD.into());
        c.scope = Some("orders".into());
        c.client_id = Some("app".into());
        c.iat = Some(now);
        c.exp = Some(now + 300);
        c.jti = Some(format!("j-{now}").into());
        keys.sign_access_token(&c).unwrap()
    };
    let auth = format!("Bearer {}", sign(&keys));
    let a = send(app(&api), get_with("/orders", &[("authorization", &auth)])).await;
    assert_eq!((a.status, a.body.as_str()), (StatusCode::OK, "user-9"));
    keys.rotate(
        SigningKey::generate(Algorithm::EdDSA)
            .unwrap()
            .0
            .with_kid("k2"),
    )
    .unwrap();
    let auth = format!("Bearer {}", sign(&keys));
    let a = send(app(&api), get_with("/orders", &[("authorization", &auth)])).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.www);
    let a = send(
        app(&api),
        get_with("/orders", &[("authorization", "Bearer x.y.z")]),
    )
    .await;
    assert_eq!(
        a.www,
        format!("Bearer error=\"invalid_token\", DPoP {ALGS}")
    );
    // The issuer is down when a token with a new key arrives: the server's failure, not the
    // token's (a 500, no invalid_token challenge; the client may retry).
    down.store(true, std::sync::atomic::Ordering::SeqCst);
    keys.rotate(
        SigningKey::generate(Algorithm::EdDSA)
            .unwrap()
            .0
            .with_kid("k3"),
    )
    .unwrap();
    let auth = format!("Bearer {}", sign(&keys));
    let a = send(app(&api), get_with("/orders", &[("authorization", &auth)])).await;
    assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", a.www);
    assert_eq!(a.www, "");
}

fn time_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[cfg(feature = "fetch")]
#[tokio::test]
async fn the_http_fetcher_reads_a_published_jwks() {
    let keys = KeySet::new(
        SigningKey::generate(Algorithm::EdDSA)
            .unwrap()
            .0
            .with_kid("k1"),
    );
    let published = keys.clone();
    let issuer = Router::new().route(
        "/jwks.json",
        get(move || {
            let keys = published.clone();
            async move {
                (
                    [("cache-control", "max-age=600")],
                    serde_json::to_string(&keys.jwks()).unwrap(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, issuer).await });
    let source = JwksSource::builder(
        url.as_str(),
        token_engine_axum::HttpFetcher::new().unwrap(),
        Validation::new(ISS, AUD),
    )
    .build()
    .await
    .unwrap();
    assert_eq!(source.verifier().keys().len(), 1);
    let missing = JwksSource::builder(
        format!("{url}/nope"),
        token_engine_axum::HttpFetcher::new().unwrap(),
        Validation::new(ISS, AUD),
    )
    .build()
    .await;
    assert!(missing.is_err());
    server.abort();
}

#[tokio::test]
async fn the_verified_extractor_checks_without_a_layer() {
    use token_engine_axum::Verified;
    async fn me(Verified { claims, .. }: Verified<Engine<MemoryStore>>) -> String {
        claims.sub.as_deref().unwrap_or("").to_owned()
    }
    let s = setup();
    let api = ResourceServer::new(s.engine.clone(), AUD);
    let router = || Router::new().route("/me", get(me)).with_state(api.clone());
    let token = s.bearer("orders").await;
    let auth = format!("Bearer {token}");
    let a = send(router(), get_with("/me", &[("authorization", &auth)])).await;
    assert_eq!((a.status, a.body.as_str()), (StatusCode::OK, "user-1"));
    let a = send(router(), get_with("/me", &[])).await;
    // RFC 6750 §3.1: no authentication information -> no error code.
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.www, format!("Bearer, DPoP {ALGS}"));
    let (token, key) = s.bound("orders").await;
    let auth = format!("DPoP {token}");
    let proof = s.proof_for(
        &key,
        "GET",
        "https://api.example.com/me",
        Some(&token),
        "v-1",
    );
    let headers = [("authorization", auth.as_str()), ("dpop", proof.as_str())];
    let a = send(router(), get_with("/me", &headers)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.www);
    let a = send(router(), get_with("/me", &headers)).await;
    assert_eq!(
        a.www,
        format!("Bearer, DPoP error=\"invalid_dpop_proof\", {ALGS}")
    );
}

/// An engine serving two resources (RFC 8707), for the metadata and step-up tests.
fn resources_setup() -> Setup {
    let clock = ManualClock::new(NOW);
    let engine = Engine::builder()
        .issuer(ISS)
        .audience(AUD)
        .resource("https://tools.example.com/mcp")
        .resource("https://billing.example.com/")
        .signing_key(SigningKey::generate(Algorithm::EdDSA).unwrap().0)
        .refresh_secret(RefreshSecret::from_bytes(&[7; 32]).unwrap())
        .token_endpoint(TOKEN_URL)
        .clock(clock.clone())
        .build(MemoryStore::new())
        .unwrap();
    Setup { engine, clock }
}

#[tokio::test]
async fn a_resource_publishing_metadata_names_it_and_takes_only_its_own_tokens() {
    let s = resources_setup();
    let metadata = s
        .engine
        .protected_resource("https://tools.example.com/mcp")
        .unwrap()
        .scopes_supported(["orders"]);
    let url = "https://tools.example.com/.well-known/oauth-protected-resource/mcp";
    assert_eq!(metadata.metadata_url(), url);
    let api =
        ResourceServer::new(s.engine.clone(), "https://tools.example.com").with_metadata(metadata);
    let router = app(&api).merge(api.metadata_router());
    // RFC 9728 §5.1: "resource_metadata: The URL of the protected resource metadata." ...
    // "This parameter MAY also be used in WWW-Authenticate responses using authorization
    // schemes other than "Bearer" [RFC6750], such as the DPoP scheme defined by [RFC9449]."
    // A bare 401 names the document on each challenge.
    let a = send(router.clone(), get_with("/orders", &[])).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        a.www,
        format!("Bearer resource_metadata=\"{url}\", DPoP resource_metadata=\"{url}\", {ALGS}")
    );
    // The document itself, at the well-known path of the resource (RFC 9728 §3.1).
    let doc = send(
        router.clone(),
        get_with("/.well-known/oauth-protected-resource/mcp", &[]),
    )
    .await;
    assert_eq!(doc.status, StatusCode::OK);
    let doc: serde_json::Value = serde_json::from_str(&doc.body).unwrap();
    assert_eq!(doc["resource"], "https://tools.example.com/mcp");
    assert_eq!(doc["authorization_servers"][0], ISS);
    // RFC 8707: a token for this resource passes; one for the other resource, or for the
    // engine's default audience, is invalid_token here.
    let token_for = |resource: Option<&str>| {
        let engine = s.engine.clone();
        let resource = resource.map(str::to_owned);
        async move {
            let mut req = IssueRequest::new("user-1").scope("orders");
            if let Some(r) = resource {
                req = req.resource(r);
            }
            engine.issue(&client(), req).await.unwrap().access_token
        }
    };
    let ours = token_for(Some("https://tools.example.com/mcp")).await;
    let a = send(
        router.clone(),
        get_with("/orders", &[("authorization", &format!("Bearer {ours}"))]),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.www);
    for other in [
        token_for(Some("https://billing.example.com/")).await,
        token_for(None).await,
    ] {
        let a = send(
            router.clone(),
            get_with("/orders", &[("authorization", &format!("Bearer {other}"))]),
        )
        .await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
        assert!(
            a.www.starts_with(&format!(
                "Bearer error=\"invalid_token\", resource_metadata=\"{url}\""
            )),
            "{}",
            a.www
        );
    }
}

#[tokio::test]
async fn step_up_routes_answer_insufficient_user_authentication() {
    let s = setup();
    let api = ResourceServer::new(s.engine.clone(), AUD);
    let router = Router::new()
        .route(
            "/admin",
            get(orders).route_layer(api.require().acr_values(["urn:example:mfa"])),
        )
        .route(
            "/transfer",
            get(orders).route_layer(api.require().max_auth_age(time::Duration::minutes(5))),
        );
    let issue = |acr: Option<&str>, auth_time: i64| {
        let engine = s.engine.clone();
        let acr = acr.map(str::to_owned);
        async move {
            let mut req = IssueRequest::new("user-1").auth_time(auth_time);
            if let Some(a) = acr {
                req = req.acr(a);
            }
            format!(
                "Bearer {}",
                engine.issue(&client(), req).await.unwrap().access_token
            )
        }
    };
    let weak = issue(Some("urn:example:pwd"), NOW - 3600).await;
    let strong = issue(Some("urn:example:mfa"), NOW - 60).await;
    let a = send(
        router.clone(),
        get_with("/admin", &[("authorization", &weak)]),
    )
    .await;
    // RFC 9470 §3: 401 with error="insufficient_user_authentication" and acr_values.
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        a.www,
        format!(
            "Bearer error=\"insufficient_user_authentication\", acr_values=\"urn:example:mfa\", DPoP {ALGS}"
        )
    );
    let a = send(
        router.clone(),
        get_with("/transfer", &[("authorization", &weak)]),
    )
    .await;
    assert_eq!(
        a.www,
        format!("Bearer error=\"insufficient_user_authentication\", max_age=\"300\", DPoP {ALGS}")
    );
    for path in ["/admin", "/transfer"] {
        let a = send(
            router.clone(),
            get_with(path, &[("authorization", &strong)]),
        )
        .await;
        assert_eq!(a.status, StatusCode::OK, "{path}: {}", a.www);
    }
    // The age is read on the engine's clock: ten minutes later the strong login is stale.
    s.clock.set(NOW + 600);
    let a = send(router, get_with("/transfer", &[("authorization", &strong)])).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
}
