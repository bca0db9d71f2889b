//! The token endpoint (`Engine::token_endpoint`) on arbitrary requests: form bodies,
//! `Authorization` headers and client assertions, over a `MemoryStore` with a public client,
//! a `client_secret_basic` client and a `private_key_jwt` client; and the authorization
//! endpoint (`Engine::authorization_request`) on arbitrary queries.
//!
//! The first byte picks the mode:
//! - authorize: arbitrary bytes as the authorization request's query: the answer is a
//!   validated request, a 400 page without `Location`, or a 303 to the registered redirect
//!   URI, never anywhere else;
//! - raw: arbitrary bytes as the body (and, split at the first newline, a header);
//! - assertion: arbitrary bytes as the `client_assertion` of a client-credentials request;
//! - signed: arbitrary bytes as the claims of an assertion signed with the client's key, so
//!   the claim checks are reached past the signature.
//!
//! Nothing panics; every answer is 200, 400, 401 or 500 with a JSON body; a 200 carries an
//! access token that verifies, an error carries an OAuth code; `Form::parse` and the engine
//! agree on what is malformed.
#![no_main]

use std::collections::HashMap;
use std::future::Future;
use std::pin::pin;
use std::sync::LazyLock;
use std::task::{Context, Poll, Waker};

use libfuzzer_sys::fuzz_target;
use token_engine::jose::sign_compact;
use token_engine::{Algorithm, Client, ClientAuthMethod, Engine, GrantType, HttpRequest, ManualClock, MemoryStore, NoPasswordGrant, RefreshSecret, SigningKey};
use token_engine::grant::{JWT_BEARER_ASSERTION};
use token_engine::http::{Form};

const NOW: i64 = 1_800_000_000;

struct Fixture {
    engine: Engine<MemoryStore>,
    clients: HashMap<String, Client>,
    client_key: SigningKey,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let engine = Engine::builder()
        .issuer("https://as")
        .audience("https://api")
        .signing_key(SigningKey::hmac(Algorithm::HS256, &[7; 32]).expect("key"))
        .refresh_secret(RefreshSecret::from_bytes(&[7; 32]).expect("secret"))
        .client_secret_key(&[9; 32])
        .token_endpoint("https://as/token")
        .clock(ManualClock::new(NOW))
        .build(MemoryStore::new())
        .expect("engine");
    let hash = engine
        .client_secret_hasher()
        .expect("hasher")
        .hash("secret");
    let client_key = SigningKey::hmac(Algorithm::HS256, &[5; 32]).expect("key");
    let machine = [GrantType::ClientCredentials, GrantType::RefreshToken];
    let mut clients = HashMap::new();
    for c in [
        Client::new("app")
            .allow_scopes(["read"])
            .redirect_uri("https://app/cb"),
        Client::confidential("basic", ClientAuthMethod::SecretBasic(hash))
            .allow_scopes(["read"])
            .grant_types(machine),
        Client::confidential(
            "jwt",
            ClientAuthMethod::PrivateKeyJwt(vec![client_key.verifying_key()]),
        )
        .allow_scopes(["read"])
        .grant_types(machine),
    ] {
        clients.insert(c.id().to_owned(), c);
    }
    Fixture {
        engine,
        clients,
        client_key,
    }
});

/// `MemoryStore` futures are always ready.
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let f = &*FIXTURE;
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    if mode % 4 == 3 {
        let request = HttpRequest::get(&text);
        match block_on(f.engine.authorization_request(&f.clients, &request)) {
            Ok(validated) => assert_eq!(validated.redirect_uri(), "https://app/cb"),
            Err(r) if r.status() == 303 => {
                let location = r.header("location").expect("a Location");
                assert!(location.starts_with("https://app/cb?"), "{location}");
            }
            Err(r) => {
                assert!(matches!(r.status(), 400 | 405 | 503), "{}", r.status());
                assert!(r.header("location").is_none());
            }
        }
        return;
    }
    let (body, authorization) = match mode % 3 {
        0 => {
            let (header, body) = text.split_once('\n').unwrap_or(("", &text));
            (
                body.to_owned(),
                (!header.is_empty()).then(|| header.to_owned()),
            )
        }
        1 => (
            format!(
                "grant_type=client_credentials&client_assertion_type={JWT_BEARER_ASSERTION}&client_assertion={text}"
            ),
            None,
        ),
        _ => {
            let Ok(assertion) = sign_compact(&f.client_key, Some("JWT"), rest) else {
                return;
            };
            (
                format!(
                    "grant_type=client_credentials&client_assertion_type={JWT_BEARER_ASSERTION}&client_assertion={assertion}"
                ),
                None,
            )
        }
    };
    let mut request = HttpRequest::post(&body)
        .header("Content-Type", "application/x-www-form-urlencoded");
    if let Some(a) = authorization.as_deref() {
        request = request.header("Authorization", a);
    }
    let r = block_on(f.engine.token_endpoint(&f.clients, &NoPasswordGrant, &request));
    assert!(matches!(r.status(), 200 | 400 | 401 | 500), "{}", r.status());
    let json: serde_json::Value = serde_json::from_str(r.body()).expect("a JSON body");
    if r.status() == 200 {
        let access = json["access_token"].as_str().expect("an access token");
        f.engine
            .verifier()
            .verify(access)
            .expect("an issued access token verifies");
    } else {
        assert!(json["error"].is_string(), "an OAuth error code");
        if r.status() == 401 {
            assert_eq!(json["error"], "invalid_client");
        }
    }
    if Form::parse(&body).is_err() {
        assert_eq!(
            json["error"], "invalid_request",
            "a malformed form is invalid_request"
        );
    }
});
