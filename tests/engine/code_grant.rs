//! The authorization-code grant with PKCE: the happy path and every failure RFC 6749 §4.1
//! and RFC 7636 name, each mapped to its OAuth error code.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use time::Duration;
use token_engine::event::Event;
use token_engine::grant::AuthorizeRequest;
use token_engine::pkce::CodeVerifier;
use token_engine::pkce::PkceError;
use token_engine::{
    Client, ClientAuthMethod, Error, GrantError, GrantType, RefreshRequest, RevocationReason,
    TokenError,
};

use crate::common::*;

/// The redirect URI of [`spa`].
pub const REDIRECT: &str = "https://app.example/cb";

/// A public client with one redirect URI.
pub fn spa() -> Client {
    client().redirect_uri(REDIRECT)
}

fn request(verifier: &CodeVerifier) -> AuthorizeRequest {
    let challenge = verifier.s256_challenge();
    AuthorizeRequest::new(SUBJECT)
        .redirect_uri(REDIRECT)
        .scope("read")
        .state("xyz")
        .pkce(challenge.as_str(), Some("S256"))
}

fn code_of(url: &str) -> String {
    let query = url.split_once('?').unwrap().1;
    query
        .split('&')
        .find_map(|p| p.strip_prefix("code="))
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn code_with_pkce_gives_tokens_once() {
    let h = Harness::new();
    let verifier = CodeVerifier::generate().unwrap();
    let code = h
        .engine
        .authorize(&spa(), request(&verifier))
        .await
        .unwrap();
    let url = code.redirect_url();
    assert!(url.starts_with("https://app.example/cb?code=ac_"), "{url}");
    assert!(
        url.ends_with("&state=xyz&iss=https%3A%2F%2Fauth.example.com"),
        "{url}"
    );
    assert_eq!(code_of(&url), code.expose_code());
    assert!(!format!("{code:?}").contains(code.expose_code()));
    let tokens = h
        .engine
        .exchange_code(
            &spa(),
            code.expose_code(),
            Some(REDIRECT),
            Some(verifier.expose_secret()),
            Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(tokens.scope.as_deref(), Some("read"));
    let claims = claims(&h, &tokens.access_token);
    assert_eq!(claims.sub.as_deref(), Some(SUBJECT));
    assert_eq!(claims.client_id.as_deref(), Some("app"));
    h.rotate(rt(&tokens)).await;
}

#[tokio::test]
async fn a_replayed_code_is_invalid_grant_and_revokes_the_session_it_issued() {
    let h = Harness::new();
    let verifier = CodeVerifier::generate().unwrap();
    let code = h
        .engine
        .authorize(&spa(), request(&verifier))
        .await
        .unwrap();
    let app = spa();
    let exchange = || {
        h.engine.exchange_code(
            &app,
            code.expose_code(),
            Some(REDIRECT),
            Some(verifier.expose_secret()),
            Default::default(),
        )
    };
    let tokens = exchange().await.unwrap();
    let family = family_of(rt(&tokens));
    h.events();
    let e = exchange().await.unwrap_err();
    assert!(
        matches!(e, Error::InvalidGrant(GrantError::CodeReplayed)),
        "{e:?}"
    );
    assert_eq!(e.oauth_code(), "invalid_grant");
    assert_eq!(
        h.events(),
        [Event::FamilyRevoked {
            family,
            reason: RevocationReason::CodeReplayed,
            possible_repeat: false,
        }]
    );
    let e = h
        .refresh(&client(), rt(&tokens), RefreshRequest::default())
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidGrant(GrantError::Revoked)),
        "{e:?}"
    );
    let e = h
        .engine
        .verify_with_revocation(&tokens.access_token)
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidToken(TokenError::SessionRevoked)),
        "{e:?}"
    );
    // A third try knows nothing more.
    assert!(matches!(
        exchange().await,
        Err(Error::InvalidGrant(GrantError::InvalidCode))
    ));
}

#[tokio::test]
async fn a_wrong_or_missing_verifier_is_refused() {
    let h = Harness::new();
    let verifier = CodeVerifier::generate().unwrap();
    let other = CodeVerifier::generate().unwrap();
    let code = h
        .engine
        .authorize(&spa(), request(&verifier))
        .await
        .unwrap();
    let e = h
        .engine
        .exchange_code(
            &spa(),
            code.expose_code(),
            Some(REDIRECT),
            Some(other.expose_secret()),
            Default::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Pkce(PkceError::Mismatch)), "{e:?}");
    assert_eq!(e.oauth_code(), "invalid_grant");
    // The code is spent by the failed attempt.
    let e = h
        .engine
        .exchange_code(
            &spa(),
            code.expose_code(),
            Some(REDIRECT),
            Some(verifier.expose_secret()),
            Default::default(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidGrant(GrantError::InvalidCode)),
        "{e:?}"
    );

    let code = h
        .engine
        .authorize(&spa(), request(&verifier))
        .await
        .unwrap();
    let e = h
        .engine
        .exchange_code(
            &spa(),
            code.expose_code(),
            Some(REDIRECT),
            None,
            Default::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.oauth_code(), "invalid_request", "{e:?}");
    let code = h
        .engine
        .authorize(&spa(), request(&verifier))
        .await
        .unwrap();
    let e = h
        .engine
        .exchange_code(
            &spa(),
            code.expose_code(),
            Some(REDIRECT),
            Some("short"),
            Default::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Pkce(PkceError::Length)), "{e:?}");
}

#[tokio::test]
async fn a_public_client_without_pkce_and_plain_pkce_are_refused() {
    let h = Harness::new();
    let no_pkce = AuthorizeRequest::new(SUBJECT).redirect_uri(REDIRECT);
    let e = h
        .engine
        .authorize(&spa(), no_pkce.clone())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Pkce(PkceError::Missing)), "{e:?}");
    assert_eq!(e.oauth_code(), "invalid_request");
    let verifier = CodeVerifier::generate().unwrap();
    for method in [Some("plain"), None] {
        let req = no_pkce.clone().pkce(verifier.expose_secret(), method);
        let e = h.engine.authorize(&spa(), req).await.unwrap_err();
        assert!(
            matches!(e, Error::Pkce(PkceError::PlainNotAllowed)),
            "{e:?}"
        );
    }
    let e = h
        .engine
        .authorize(&spa(), no_pkce.clone().pkce("x".repeat(43), Some("S512")))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Pkce(PkceError::UnknownMethod)), "{e:?}");
    // With the dangerous switch, plain works (and a missing method means plain).
    let lax = spa().danger_allow_plain_pkce();
    let code = h
        .engine
        .authorize(&lax, no_pkce.pkce(verifier.expose_secret(), None))
        .await
        .unwrap();
    h.engine
        .exchange_code(
            &lax,
            code.expose_code(),
            Some(REDIRECT),
            Some(verifier.expose_secret()),
            Default::default(),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_verifier_without_a_challenge_is_a_downgrade_and_refused() {
    let h = Harness::with(|b| b.client_secret_key(&[3; 32]));
    let hash = h.engine.client_secret_hasher().unwrap().hash("s3cret");
    let legacy = Client::confidential("legacy", ClientAuthMethod::SecretPost(hash))
        .redirect_uri(REDIRECT)
        .pkce_optional();
    let code = h
        .engine
        .authorize(&legacy, AuthorizeRequest::new(SUBJECT))
        .await
        .unwrap();
    let verifier = CodeVerifier::generate().unwrap();
    let e = h
        .engine
        .exchange_code(
            &legacy,
            code.expose_code(),
            None,
            Some(verifier.expose_secret()),
            Default::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.oauth_code(), "invalid_request", "{e:?}");
    // Without PKCE on both sides it works for this legacy confidential client.
    let code = h
        .engine
        .authorize(&legacy, AuthorizeRequest::new(SUBJECT))
        .await
        .unwrap();
    h.engine
        .exchange_code(&legacy, code.expose_code(), None, None, Default::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn redirect_uris_match_exactly() {
    let h = Harness::new();
    let verifier = CodeVerifier::generate().unwrap();
    for wrong in [
        "https://app.example/cb/evil",
        "https://app.example/c",
        "https://app.example/cb?x=1",
        "https://APP.example/cb",
        "https://app.example/cb/",
        "http://app.example/cb",
    ] {
        let req = request(&verifier).redirect_uri(wrong);
        let e = h.engine.authorize(&spa(), req).await.unwrap_err();
        assert!(matches!(e, Error::InvalidRequest(_)), "{wrong}: {e:?}");
    }
    // With two registered URIs the request must name one.
    let two = spa().redirect_uri("https://app.example/other");
    let e = h
        .engine
        .authorize(
            &two,
            AuthorizeRequest::new(SUBJECT).pkce(verifier.s256_challenge().as_str(), Some("S256")),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidRequest(_)), "{e:?}");
    // At the token endpoint: a different or a missing redirect_uri is refused.
    for given in [Some("https://app.example/cb/evil"), None] {
        let code = h
            .engine
            .authorize(&spa(), request(&verifier))
            .await
            .unwrap();
        let e = h
            .engine
            .exchange_code(
                &spa(),
                code.expose_code(),
                given,
                Some(verifier.expose_secret()),
                Default::default(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(e, Error::InvalidGrant(GrantError::RedirectUriMismatch)),
            "{given:?}: {e:?}"
        );
    }
}

#[tokio::test]
async fn an_expired_code_and_another_clients_code_are_invalid_grant() {
    let h = Harness::new();
    let verifier = CodeVerifier::generate().unwrap();
    let code = h
        .engine
        .authorize(&spa(), request(&verifier))
        .await
        .unwrap();
    h.advance(Duration::seconds(60));
    let e = h
        .engine
        .exchange_code(
            &spa(),
            code.expose_code(),
            Some(REDIRECT),
            Some(verifier.expose_secret()),
            Default::default(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidGrant(GrantError::InvalidCode)),
        "{e:?}"
    );
    let code = h
        .engine
        .authorize(&spa(), request(&verifier))
        .await
        .unwrap();
    let thief = other_client().redirect_uri(REDIRECT);
    let e = h
        .engine
        .exchange_code(
            &thief,
            code.expose_code(),
            Some(REDIRECT),
            Some(verifier.expose_secret()),
            Default::default(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidGrant(GrantError::CodeIssuedToAnotherClient)
        ),
        "{e:?}"
    );
    // The stolen code is spent: the rightful client cannot use it either.
    assert!(
        h.engine
            .exchange_code(
                &spa(),
                code.expose_code(),
                Some(REDIRECT),
                Some(verifier.expose_secret()),
                Default::default()
            )
            .await
            .is_err()
    );
    for garbage in ["", "ac_", "nope", &"ac_x".repeat(100)] {
        assert!(matches!(
            h.engine
                .exchange_code(
                    &spa(),
                    garbage,
                    Some(REDIRECT),
                    Some(verifier.expose_secret()),
                    Default::default()
                )
                .await,
            Err(Error::InvalidGrant(GrantError::InvalidCode))
        ));
    }
}

#[tokio::test]
async fn a_client_not_registered_for_the_grant_is_unauthorized() {
    let h = Harness::new();
    let m2m = spa().grant_types([GrantType::ClientCredentials]);
    let verifier = CodeVerifier::generate().unwrap();
    let e = h
        .engine
        .authorize(&m2m, request(&verifier))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::UnauthorizedClient), "{e:?}");
    assert_eq!(e.oauth_code(), "unauthorized_client");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_exchanges_of_one_code_yield_tokens_once() {
    let h = Arc::new(Harness::new());
    let verifier = Arc::new(CodeVerifier::generate().unwrap());
    let code = h
        .engine
        .authorize(&spa(), request(&verifier))
        .await
        .unwrap();
    let code: Arc<str> = code.expose_code().into();
    let barrier = Arc::new(tokio::sync::Barrier::new(64));
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let (h, verifier, code, barrier) = (
                Arc::clone(&h),
                Arc::clone(&verifier),
                Arc::clone(&code),
                Arc::clone(&barrier),
            );
            tokio::spawn(async move {
                barrier.wait().await;
                h.engine
                    .exchange_code(
                        &spa(),
                        &code,
                        Some(REDIRECT),
                        Some(verifier.expose_secret()),
                        Default::default(),
                    )
                    .await
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(Error::InvalidGrant(GrantError::InvalidCode | GrantError::CodeReplayed)) => {}
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(ok, 1, "tokens exactly once");
}

/// A store that re-sends the code's insert (its connection dropped after the first attempt
/// committed) answers `Exists`: 256 random bits do not collide, so the engine draws another
/// code instead of failing the login as a broken random generator; that code works, once
/// (a second exchange is a replay).
#[tokio::test]
async fn a_re_sent_code_insert_draws_another_code_that_works() {
    let (engine, store) = Resending::engine(|b| b);
    store.code.store(true, Ordering::SeqCst);
    let verifier = CodeVerifier::generate().unwrap();
    let code = engine.authorize(&spa(), request(&verifier)).await.unwrap();
    assert!(!store.code.load(Ordering::SeqCst), "the insert was re-sent");
    let spa = spa();
    let redeem = || {
        engine.exchange_code(
            &spa,
            code.expose_code(),
            Some(REDIRECT),
            Some(verifier.expose_secret()),
            Default::default(),
        )
    };
    let tokens = redeem().await.unwrap();
    assert_eq!(tokens.scope.as_deref(), Some("read"));
    assert!(matches!(
        redeem().await,
        Err(Error::InvalidGrant(GrantError::CodeReplayed))
    ));
}
