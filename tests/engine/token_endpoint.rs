//! The token endpoint through `Engine::token_endpoint`: client authentication (none,
//! `client_secret_basic`, `client_secret_post`, `private_key_jwt`), every grant routed, and
//! the exact responses with their HTTP statuses.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use token_engine::grant::{AuthorizeRequest, JWT_BEARER_ASSERTION};
use token_engine::jose::sign_compact;
use token_engine::pkce::CodeVerifier;
use token_engine::{
    AccessTokenClaims, Algorithm, Client, ClientAuthMethod, ClientSecret, Error, GrantType,
    HttpResponse, MemoryStore, NoPasswordGrant, PasswordVerifier, SigningKey,
};

use crate::code_grant::{REDIRECT, spa};
use crate::common::*;

const KEY: [u8; 32] = [3; 32];
const ENDPOINT: &str = "https://auth.example.com/token";

struct World {
    h: Harness,
    clients: HashMap<String, Client>,
    secret: ClientSecret,
    assertion_key: SigningKey,
}

fn world_with(f: impl FnOnce(token_engine::EngineBuilder) -> token_engine::EngineBuilder) -> World {
    let h = Harness::with(|b| f(b.client_secret_key(&KEY).token_endpoint(ENDPOINT)));
    let secret = ClientSecret::generate().unwrap();
    let hash = h
        .engine
        .client_secret_hasher()
        .unwrap()
        .hash(secret.expose_secret());
    let assertion_key = SigningKey::generate(Algorithm::ES256)
        .unwrap()
        .0
        .with_kid("k1");
    let mut clients = HashMap::new();
    let machine = [GrantType::ClientCredentials, GrantType::RefreshToken];
    for c in [
        spa(),
        Client::confidential("basic", ClientAuthMethod::SecretBasic(hash))
            .allow_scopes(["read", "write"])
            .grant_types(machine),
        Client::confidential("post", ClientAuthMethod::SecretPost(hash))
            .allow_scopes(["read"])
            .grant_types(machine),
        Client::confidential(
            "jwt",
            ClientAuthMethod::PrivateKeyJwt(vec![assertion_key.verifying_key()]),
        )
        .allow_scopes(["read"])
        .grant_types(machine),
    ] {
        clients.insert(c.id().to_owned(), c);
    }
    World {
        h,
        clients,
        secret,
        assertion_key,
    }
}

fn world() -> World {
    world_with(|b| b)
}

impl World {
    async fn post(&self, body: &str, authorization: Option<&str>) -> HttpResponse {
        self.h
            .engine
            .token_endpoint(
                &self.clients,
                &NoPasswordGrant,
                &form_post(body, authorization),
            )
            .await
    }

    fn basic(&self, id: &str) -> String {
        format!(
            "Basic {}",
            STANDARD.encode(format!("{id}:{}", self.secret.expose_secret()))
        )
    }

    fn assertion(&self, claims: serde_json::Value) -> String {
        sign_compact(
            &self.assertion_key,
            Some("JWT"),
            claims.to_string().as_bytes(),
        )
        .unwrap()
    }

    fn good_assertion(&self, jti: &str) -> String {
        self.assertion(serde_json::json!({
            "iss": "jwt", "sub": "jwt", "aud": ENDPOINT, "jti": jti,
            "exp": NOW + 60, "iat": NOW,
        }))
    }
}

fn json(r: &HttpResponse) -> serde_json::Value {
    serde_json::from_str(r.body()).unwrap()
}

fn assert_error(r: &HttpResponse, status: u16, code: &str) {
    assert_eq!(
        (r.status(), json(r)["error"].as_str()),
        (status, Some(code)),
        "{r:?}"
    );
}

#[tokio::test]
async fn client_credentials_with_a_basic_secret() {
    let w = world();
    let r = w
        .post(
            "grant_type=client_credentials&scope=read",
            Some(&w.basic("basic")),
        )
        .await;
    assert_eq!(r.status(), 200, "{r:?}");
    let body = json(&r);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["scope"], "read");
    assert!(body.get("refresh_token").is_none(), "no refresh token");
    let claims: AccessTokenClaims<'_> =
        w.h.engine
            .verifier()
            .verify(body["access_token"].as_str().unwrap())
            .unwrap();
    assert_eq!(claims.sub.as_deref(), Some("basic"));
    assert_eq!(claims.sid, None);
    // The exact shape of the body.
    let keys: Vec<_> = body.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["access_token", "expires_in", "scope", "token_type"]);
}

#[tokio::test]
async fn client_credentials_with_a_post_secret_and_with_an_assertion() {
    let w = world();
    let body = format!(
        "grant_type=client_credentials&client_id=post&client_secret={}",
        w.secret.expose_secret()
    );
    assert_eq!(w.post(&body, None).await.status(), 200);
    let body = format!(
        "grant_type=client_credentials&client_assertion_type={}&client_assertion={}",
        JWT_BEARER_ASSERTION.replace(':', "%3A"),
        w.good_assertion("one")
    );
    let r = w.post(&body, None).await;
    assert_eq!(r.status(), 200, "{r:?}");
    // The same assertion again: its jti is spent.
    assert_error(&w.post(&body, None).await, 401, "invalid_client");
}

#[tokio::test]
async fn every_client_authentication_failure_is_invalid_client_401() {
    let w = world();
    let wrong_basic = format!("Basic {}", STANDARD.encode("basic:wrong"));
    let cases: Vec<(String, Option<String>)> = vec![
        // Wrong secret in the header: 401 with WWW-Authenticate.
        ("grant_type=client_credentials".into(), Some(wrong_basic)),
        // Unknown client.
        (
            "grant_type=client_credentials".into(),
            Some(w.basic("nobody")),
        ),
        // The secret sent the way the client is not registered for.
        (
            format!(
                "grant_type=client_credentials&client_id=basic&client_secret={}",
                w.secret.expose_secret()
            ),
            None,
        ),
        (
            "grant_type=client_credentials".into(),
            Some(w.basic("post")),
        ),
        // Two methods at once.
        (
            format!(
                "grant_type=client_credentials&client_id=basic&client_secret={}",
                w.secret.expose_secret()
            ),
            Some(w.basic("basic")),
        ),
        // Nothing at all.
        ("grant_type=client_credentials".into(), None),
        // A confidential client presenting only its id.
        ("grant_type=client_credentials&client_id=basic".into(), None),
        // A public client presenting a secret.
        (
            "grant_type=client_credentials&client_id=app&client_secret=x".into(),
            None,
        ),
        // Malformed Basic.
        (
            "grant_type=client_credentials".into(),
            Some("Basic !!!".into()),
        ),
    ];
    for (body, auth) in &cases {
        let r = w.post(body, auth.as_deref()).await;
        assert_error(&r, 401, "invalid_client");
        let basic = auth.as_deref().is_some_and(|a| a.starts_with("Basic"));
        assert_eq!(
            r.header("www-authenticate").is_some(),
            basic,
            "WWW-Authenticate iff the client tried Basic: {body} {auth:?}"
        );
    }
}

#[tokio::test]
async fn private_key_jwt_assertions_are_checked_claim_by_claim() {
    let w = world();
    let other_key = SigningKey::generate(Algorithm::ES256).unwrap().0;
    let base = serde_json::json!({
        "iss": "jwt", "sub": "jwt", "aud": ENDPOINT, "jti": "j", "exp": NOW + 60,
    });
    let with = |k: &str, v: serde_json::Value| {
        let mut c = base.clone();
        c[k] = v;
        c
    };
    let bad = [
        w.assertion(with("aud", "https://elsewhere.example".into())),
        w.assertion(with("iss", "someone".into())),
        w.assertion(with("sub", "someone".into())),
        w.assertion(with("exp", (NOW - 60).into())),
        w.assertion(with("exp", (NOW + 3600).into())),
        w.assertion(with("nbf", (NOW + 600).into())),
        w.assertion(with("jti", "".into())),
        sign_compact(&other_key, Some("JWT"), base.to_string().as_bytes()).unwrap(),
        "not.a.jwt".to_owned(),
    ];
    for (i, assertion) in bad.iter().enumerate() {
        let body = format!(
            "grant_type=client_credentials&client_assertion_type={}&client_assertion={assertion}",
            JWT_BEARER_ASSERTION
        );
        assert_error(&w.post(&body, None).await, 401, "invalid_client");
        let _ = i;
    }
    // The issuer is an accepted audience too, in an array.
    let ok = w.assertion(with("aud", serde_json::json!(["x", ISS])));
    let body = format!(
        "grant_type=client_credentials&client_assertion_type={JWT_BEARER_ASSERTION}&client_assertion={ok}"
    );
    assert_eq!(w.post(&body, None).await.status(), 200);
}

#[tokio::test]
async fn a_replayed_assertion_is_refused_by_another_instance_over_the_same_store() {
    let store = MemoryStore::new();
    let w = world();
    let build = |store: MemoryStore| {
        builder(
            &w.h.clock,
            &Arc::new(token_engine::event::CollectingSink::new()),
        )
        .client_secret_key(&KEY)
        .token_endpoint(ENDPOINT)
        .build(store)
        .unwrap()
    };
    let (a, b) = (build(store.clone()), build(store));
    let body = format!(
        "grant_type=client_credentials&client_assertion_type={JWT_BEARER_ASSERTION}&client_assertion={}",
        w.good_assertion("shared")
    );
    let first = a
        .token_endpoint(&w.clients, &NoPasswordGrant, &form_post(&body, None))
        .await;
    assert_eq!(first.status(), 200);
    let second = b
        .token_endpoint(&w.clients, &NoPasswordGrant, &form_post(&body, None))
        .await;
    assert_error(&second, 401, "invalid_client");
}

#[tokio::test]
async fn the_authorization_code_and_refresh_grants_through_the_endpoint() {
    let w = world();
    let verifier = CodeVerifier::generate().unwrap();
    let code =
        w.h.engine
            .authorize(
                &spa(),
                AuthorizeRequest::new(SUBJECT)
                    .redirect_uri(REDIRECT)
                    .pkce(verifier.s256_challenge().as_str(), Some("S256")),
            )
            .await
            .unwrap();
    let body = format!(
        "grant_type=authorization_code&client_id=app&code={}&redirect_uri={}&code_verifier={}",
        code.expose_code(),
        "https%3A%2F%2Fapp.example%2Fcb",
        verifier.expose_secret()
    );
    let r = w.post(&body, None).await;
    assert_eq!(r.status(), 200, "{r:?}");
    let refresh = json(&r)["refresh_token"].as_str().unwrap().to_owned();
    assert!(!format!("{r:?}").contains(&refresh), "Debug hides tokens");
    let r = w
        .post(
            &format!("grant_type=refresh_token&client_id=app&refresh_token={refresh}&scope=read"),
            None,
        )
        .await;
    assert_eq!(r.status(), 200, "{r:?}");
    assert_eq!(json(&r)["scope"], "read");
    // The code again: replay.
    assert_error(&w.post(&body, None).await, 400, "invalid_grant");
}

#[tokio::test]
async fn request_errors_have_their_codes() {
    let w = world();
    let auth = w.basic("basic");
    let cases = [
        ("", 400, "invalid_request"),
        ("grant_type=", 400, "invalid_request"),
        ("grant_type=magic", 400, "unsupported_grant_type"),
        (
            "grant_type=client_credentials&grant_type=client_credentials",
            400,
            "invalid_request",
        ),
        (
            "grant_type=client_credentials&scope=%zz",
            400,
            "invalid_request",
        ),
        (
            "grant_type=client_credentials&scope=admin",
            400,
            "invalid_scope",
        ),
        // Registered for client credentials and refresh only.
        (
            "grant_type=authorization_code&code=ac_x",
            400,
            "unauthorized_client",
        ),
        // Not offered by this server at all: unsupported before any client check.
        (
            "grant_type=password&username=a&password=b",
            400,
            "unsupported_grant_type",
        ),
        ("grant_type=refresh_token", 400, "invalid_request"),
        (
            "grant_type=refresh_token&refresh_token=rt_nope",
            400,
            "invalid_grant",
        ),
    ];
    for (body, status, code) in cases {
        let r = w.post(body, Some(&auth)).await;
        assert_error(&r, status, code);
        assert_eq!(r.header("www-authenticate"), None, "{body}");
    }
    // A public client may not use client credentials.
    let spa_m2m = spa().grant_types([GrantType::ClientCredentials]);
    let e =
        w.h.engine
            .client_credentials(&spa_m2m, None, Default::default())
            .await
            .unwrap_err();
    assert!(matches!(e, Error::UnauthorizedClient), "{e:?}");
}

struct Passwords;

impl PasswordVerifier for Passwords {
    async fn verify(
        &self,
        _: &Client,
        user: &str,
        password: &str,
    ) -> Result<Option<String>, Error> {
        Ok((user == "alice" && password == "correct horse").then(|| "user-alice".to_owned()))
    }
}

#[tokio::test]
async fn the_password_grant_is_refused_unless_enabled_and_allowed() {
    let legacy = |w: &World| {
        let mut clients = w.clients.clone();
        clients.insert(
            "legacy".into(),
            Client::new("legacy")
                .allow_scopes(["read"])
                .grant_types([GrantType::Password, GrantType::RefreshToken]),
        );
        clients
    };
    let body = "grant_type=password&client_id=legacy&username=alice&password=correct+horse";
    let off = world();
    let r = off
        .h
        .engine
        .token_endpoint(&legacy(&off), &Passwords, &form_post(body, None))
        .await;
    assert_error(&r, 400, "unsupported_grant_type");

    let on = world_with(|b| b.danger_enable_password_grant());
    let clients = legacy(&on);
    let r =
        on.h.engine
            .token_endpoint(&clients, &Passwords, &form_post(body, None))
            .await;
    assert_eq!(r.status(), 200, "{r:?}");
    let access = json(&r)["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        on.h.engine
            .verifier()
            .verify(&access)
            .unwrap()
            .sub
            .as_deref(),
        Some("user-alice")
    );
    let wrong = body.replace("correct+horse", "wrong");
    let r =
        on.h.engine
            .token_endpoint(&clients, &Passwords, &form_post(&wrong, None))
            .await;
    assert_error(&r, 400, "invalid_grant");
    // A client not registered for it.
    let r =
        on.h.engine
            .token_endpoint(
                &clients,
                &Passwords,
                &form_post(
                    "grant_type=password&client_id=app&username=alice&password=correct+horse",
                    None,
                ),
            )
            .await;
    assert_error(&r, 400, "unauthorized_client");
}

#[tokio::test]
async fn a_clients_own_access_token_lifetime_applies_to_every_grant() {
    let w = world();
    let mut clients = w.clients.clone();
    let short = clients
        .remove("basic")
        .unwrap()
        .access_ttl(time::Duration::minutes(5));
    clients.insert("basic".into(), short.clone());
    let r =
        w.h.engine
            .token_endpoint(
                &clients,
                &NoPasswordGrant,
                &form_post("grant_type=client_credentials", Some(&w.basic("basic"))),
            )
            .await;
    let body = json(&r);
    assert_eq!(body["expires_in"], 300, "{r:?}");
    let claims =
        w.h.engine
            .verifier()
            .verify(body["access_token"].as_str().unwrap())
            .unwrap();
    assert_eq!(claims.exp, Some(NOW + 300));
    // Issued and refreshed sessions too.
    let app = client().access_ttl(time::Duration::minutes(2));
    let tokens =
        w.h.engine
            .issue(&app, token_engine::IssueRequest::new(SUBJECT))
            .await
            .unwrap();
    assert_eq!(tokens.expires_in, 120);
    let next =
        w.h.engine
            .refresh(&app, rt(&tokens), Default::default())
            .await
            .unwrap();
    assert_eq!(next.expires_in, 120);
    assert_eq!(
        w.h.engine
            .verifier()
            .verify(&next.access_token)
            .unwrap()
            .exp,
        Some(NOW + 120)
    );
}
