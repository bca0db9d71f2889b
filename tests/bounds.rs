//! Hostile inputs of every size are rejected or handled with bounded work and memory,
//! measured with a counting allocator. The tests of this binary run one at a time (a lock)
//! because the allocation counters are process-wide.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::alloc::System;
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use token_engine::jose::Jwks;
use token_engine::{
    Algorithm, Error, JwksOptions, KeyError, KeySet, ManualClock, SigningKey, TokenError,
    Validation, Verifier,
};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;
static SERIAL: Mutex<()> = Mutex::new(());

const NOW: i64 = 1_800_000_000;
const MIB: usize = 1 << 20;

/// Held for the whole of each test: nothing else allocates while one measures.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Run `f` and return its result with the bytes it allocated.
fn measured<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let region = Region::new(GLOBAL);
    let out = f();
    (out, region.change().bytes_allocated)
}

fn hs256() -> SigningKey {
    SigningKey::hmac(Algorithm::HS256, &[1; 32]).unwrap()
}

fn verifier(max_len: usize) -> Verifier {
    KeySet::new(hs256())
        .verifier(Validation::new("https://as", "https://api").max_token_len(max_len))
        .unwrap()
        .with_clock(ManualClock::new(NOW))
}

/// A correctly signed token whose payload is `payload` (the signature does not stop it).
fn signed(payload: &str) -> String {
    token_engine::jose::sign_compact(&hs256(), Some("at+jwt"), payload.as_bytes()).unwrap()
}

fn reason(r: Result<impl std::fmt::Debug, Error>) -> TokenError {
    match r {
        Err(Error::InvalidToken(t)) => t,
        other => panic!("expected a typed rejection, got {other:?}"),
    }
}

#[test]
fn one_mib_of_garbage_is_rejected_before_any_decoding() {
    let _serial = serial();
    let garbage: String = (0..MIB).map(|i| (b'!' + (i % 90) as u8) as char).collect();
    let dotted = format!(
        "{}.{}.{}",
        &garbage[..MIB / 3],
        &garbage[..MIB / 3],
        &garbage[..MIB / 3]
    );
    let v = verifier(64 * 1024);
    for input in [&garbage, &dotted] {
        let (r, bytes) = measured(|| v.verify(input));
        assert_eq!(reason(r), TokenError::TooLong);
        assert_eq!(bytes, 0, "rejecting a 1 MiB token allocated {bytes} bytes");
    }
    // The generic JWS entry point and the refresh-token parser bound it too.
    let keys = v.keys();
    let (r, bytes) = measured(|| token_engine::jose::verify_compact(&garbage, &keys, 8192));
    assert!(matches!(r, Err(Error::InvalidToken(TokenError::TooLong))));
    assert_eq!(bytes, 0);
    let refresh =
        token_engine::RefreshKeys::new(token_engine::RefreshSecret::from_bytes(&[2; 32]).unwrap());
    let (r, bytes) = measured(|| refresh.parse(&garbage));
    assert!(r.is_err());
    assert_eq!(bytes, 0);
}

#[test]
fn a_jwks_with_ten_thousand_keys_is_refused_with_bounded_memory() {
    let _serial = serial();
    let key = r#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
    let doc = format!(r#"{{"keys":[{}]}}"#, vec![key; 10_000].join(","));
    assert!(doc.len() > MIB);
    // Default limits: the document is over the size limit, refused before parsing.
    let (r, bytes) = measured(|| Jwks::parse(&doc, &JwksOptions::default()));
    assert_eq!(r.unwrap_err(), KeyError::TooLarge);
    assert_eq!(bytes, 0);
    // With the size limit lifted, the key-count limit stops the parse at key 101.
    let opts = JwksOptions::new().max_bytes(16 * MIB);
    let (r, bytes) = measured(|| Jwks::parse(&doc, &opts));
    assert_eq!(r.unwrap_err(), KeyError::TooManyKeys);
    // Bounded by the key-count limit (101 keys parsed), not by the 1.4 MiB document.
    assert!(bytes < MIB, "parsing stopped late: {bytes} bytes allocated");
    let (r, _) =
        measured(|| Verifier::from_jwks(&doc, Validation::new("https://as", "https://api")));
    assert!(matches!(r, Err(Error::Key(KeyError::TooLarge))));
}

#[test]
fn claims_nested_ten_thousand_deep_are_rejected_without_recursing() {
    let _serial = serial();
    let deep = format!(
        r#"{{"iss":"https://as","x":{}1{}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let token = signed(&deep);
    assert!(token.len() < 64 * 1024);
    let v = verifier(64 * 1024);
    // Ignored members are skipped without recursion (serde_json keeps an explicit stack):
    // the token is handled, then rejected for what it lacks.
    let (r, bytes) = measured(|| v.verify(&token));
    assert_eq!(
        reason(r),
        TokenError::MissingClaim(token_engine::Claim::Aud)
    );
    assert!(bytes < 128 * 1024, "{bytes}");
    // Parsed into a custom claims type, the depth limit (128) rejects it.
    let (r, bytes) = measured(|| v.verify_as::<serde_json::Value>(&token));
    assert_eq!(reason(r), TokenError::Claims);
    assert!(bytes < 128 * 1024, "{bytes}");
    // Deep objects, and a deep header, likewise.
    let deep_obj = format!(
        r#"{{"x":{}1{}}}"#,
        r#"{"a":"#.repeat(5_000),
        "}".repeat(5_000)
    );
    assert_eq!(
        reason(v.verify_as::<serde_json::Value>(&signed(&deep_obj))),
        TokenError::Claims
    );
    // A deep unknown header member is skipped likewise (the header is at most 1 KiB); the
    // token then fails on what it is: no `typ`, and no valid signature.
    let header = format!(
        r#"{{"alg":"HS256","x":{}1{}}}"#,
        "[".repeat(300),
        "]".repeat(300)
    );
    let t = format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(&header),
        URL_SAFE_NO_PAD.encode("{}"),
        "AAAA"
    );
    assert_eq!(reason(v.verify(&t)), TokenError::WrongType);
    let typed = header.replacen('{', r#"{"typ":"at+jwt","#, 1);
    let t = format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(&typed),
        URL_SAFE_NO_PAD.encode("{}"),
        "AAAA"
    );
    assert_eq!(reason(v.verify(&t)), TokenError::InvalidSignature);
    // And through the JWK importer: the deep unknown member is skipped, the key is judged
    // on its own members (an EC key without its required curve).
    let deep_jwk = format!(
        r#"{{"kty":"EC","x5c":{}1{}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let (r, bytes) = measured(|| token_engine::VerifyingKey::from_jwk(&deep_jwk));
    assert_eq!(r.unwrap_err(), KeyError::JwkFormat);
    assert!(bytes < 128 * 1024, "{bytes}");
}

#[test]
fn huge_aud_arrays_are_bounded_by_the_token_length() {
    let _serial = serial();
    let claims = |n: usize| {
        format!(
            r#"{{"iss":"https://as","sub":"u","client_id":"c","jti":"j","iat":{NOW},"exp":{},"aud":[{}"https://api"]}}"#,
            NOW + 60,
            r#""a","#.repeat(n)
        )
    };
    // 100,000 audiences do not fit under any configurable length limit: rejected unread.
    let huge = signed(&claims(100_000));
    let v = verifier(64 * 1024);
    let (r, bytes) = measured(|| v.verify(&huge));
    assert_eq!(reason(r), TokenError::TooLong);
    assert_eq!(bytes, 0);
    // The largest array that fits is parsed and checked, with memory bounded by its size.
    let big = signed(&claims(10_000));
    assert!(big.len() < 64 * 1024);
    let (r, bytes) = measured(|| v.verify(&big));
    let c = r.unwrap();
    assert_eq!(c.aud.as_ref().map(|a| a.iter().count()), Some(10_001));
    assert!(bytes < 2 * MIB, "{bytes}");
    // And at the default 8 KiB limit it never gets that far.
    assert_eq!(reason(verifier(8 * 1024).verify(&big)), TokenError::TooLong);
}

/// A registration request (RFC 7591) or a client ID metadata document of any size is
/// refused before it is parsed: the work does not grow with the input.
#[test]
fn oversized_registrations_and_metadata_documents_are_refused_before_parsing() {
    use token_engine::client_metadata::{
        ClientMetadataError, ClientMetadataFetcher, ClientMetadataResponse,
    };
    use token_engine::{
        Client, ClientMetadataDocuments, Engine, HttpRequest, MemoryStore, RefreshSecret,
        RegistrationPolicy,
    };
    let _serial = serial();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let engine = Engine::builder()
        .issuer("https://as")
        .audience("https://api")
        .signing_key(hs256())
        .refresh_secret(RefreshSecret::from_bytes(&[7; 32]).unwrap())
        .clock(ManualClock::new(NOW))
        .build(MemoryStore::new())
        .unwrap();
    let policy = RegistrationPolicy::open();
    // Just under the form limit the endpoint would read (64 KiB), four times the registration
    // limit, and a nested array that would otherwise go deep.
    let padded = format!(
        r#"{{"redirect_uris":["https://a.example/cb"],"pad":"{}"}}"#,
        "x".repeat(60 * 1024)
    );
    let nested = format!("{}{}", "[".repeat(60 * 1024), "]".repeat(60 * 1024));
    for body in [padded, nested, "x".repeat(MIB)] {
        let request = HttpRequest::post(&body).header("Content-Type", "application/json");
        let (r, bytes) = measured(|| rt.block_on(engine.registration_endpoint(&policy, &request)));
        assert_eq!(r.status(), 400, "{r:?}");
        assert!(
            bytes < 8 * 1024,
            "{} bytes allocated for a {} byte body",
            bytes,
            body.len()
        );
    }

    #[derive(Debug, thiserror::Error)]
    #[error("never")]
    struct Never;
    /// Answers one 1 MiB document (made before the measurement; each fetch copies it once).
    struct Huge(Vec<u8>);
    impl ClientMetadataFetcher for Huge {
        type Error = Never;
        async fn fetch(&self, _url: &str) -> Result<ClientMetadataResponse, Never> {
            Ok(ClientMetadataResponse::new(self.0.clone()))
        }
        async fn sleep(&self, d: std::time::Duration) {
            tokio::time::sleep(d).await;
        }
    }
    let url = "https://agent.example/client.json";
    let doc = format!(
        r#"{{"client_id":"{url}","redirect_uris":["https://a.example/cb"],"pad":"{}"}}"#,
        "x".repeat(MIB)
    );
    let len = doc.len();
    let docs = ClientMetadataDocuments::new(Huge(doc.into_bytes()), Vec::<Client>::new());
    let (r, bytes) = measured(|| rt.block_on(docs.resolve(url)));
    assert!(matches!(
        r,
        Err(Error::ClientMetadata(ClientMetadataError::TooLarge))
    ));
    // The fetcher's copy of the body, and nothing of the size of the document beyond it.
    assert!(bytes < len + 8 * 1024, "{bytes} bytes allocated for {len}");
}
