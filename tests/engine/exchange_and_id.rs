//! Token exchange (RFC 8693) between services, and OpenID Connect ID tokens with the code
//! grant: the happy paths, every refusal, and that ID and access tokens never pass for each
//! other.

use time::Duration;
use token_engine::grant::{ACCESS_TOKEN_TYPE, AuthorizeRequest, TokenExchangeRequest};
use token_engine::pkce::CodeVerifier;
use token_engine::{
    Client, ClientAuthMethod, Error, GrantError, GrantType, IdTokenExpectations, NoPasswordGrant,
    TokenError, Validation, verify_id_token,
};

use crate::code_grant::{REDIRECT, spa};
use crate::common::*;

const SVC_B: &str = "https://svc-b.example";

fn service(id: &str) -> Client {
    Client::confidential(
        id,
        ClientAuthMethod::SecretPost(token_engine::ClientSecretHash([0; 32])),
    )
    .grant_types([GrantType::TokenExchange])
}

fn request(token: &str) -> TokenExchangeRequest<'_> {
    TokenExchangeRequest {
        subject_token: token,
        subject_token_type: ACCESS_TOKEN_TYPE,
        audience: Some(SVC_B),
        scope: Some("read"),
        requested_token_type: None,
    }
}

fn harness() -> Harness {
    Harness::with(|b| b.exchange_audience(SVC_B))
}

#[tokio::test]
async fn a_service_exchanges_a_users_token_for_another_audience() {
    let h = harness();
    let login = h.login().await;
    let r = h
        .engine
        .exchange_token(
            &service("svc-a"),
            request(&login.access_token),
            Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(r.issued_token_type.as_deref(), Some(ACCESS_TOKEN_TYPE));
    assert!(r.refresh_token.is_none());
    assert_eq!(r.scope.as_deref(), Some("read"));
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["issued_token_type"], ACCESS_TOKEN_TYPE);
    // Service B verifies it with its own audience.
    let b = h
        .engine
        .key_set()
        .verifier(Validation::new(ISS, SVC_B))
        .unwrap()
        .with_clock(h.clock.clone());
    let claims = b.verify_as::<serde_json::Value>(&r.access_token).unwrap();
    assert_eq!(claims.sub.as_deref(), Some(SUBJECT));
    assert_eq!(claims.client_id.as_deref(), Some("svc-a"));
    assert_eq!(claims.custom["act"], serde_json::json!({"sub": "svc-a"}));
    let original = claims_of(&h, &login.access_token);
    assert_eq!(claims.sid, original.sid, "the same session");
    assert!(claims.exp <= original.exp);
    // It is not valid at the engine's own audience.
    assert!(matches!(
        h.engine.verifier().verify(&r.access_token),
        Err(Error::InvalidToken(TokenError::Audience))
    ));

    // Service B delegates further: the act chain nests.
    let again = h
        .engine
        .exchange_token(
            &service("svc-b"),
            TokenExchangeRequest {
                audience: None,
                ..request(&r.access_token)
            },
            Default::default(),
        )
        .await
        .unwrap();
    let claims = h
        .engine
        .verifier()
        .verify_as::<serde_json::Value>(&again.access_token)
        .unwrap();
    assert_eq!(
        claims.custom["act"],
        serde_json::json!({"sub": "svc-b", "act": {"sub": "svc-a"}})
    );
    // Signing the session out ends the delegated tokens too.
    h.engine.sign_out_everywhere(SUBJECT).await.unwrap();
    assert!(matches!(
        h.engine
            .exchange_token(
                &service("svc-a"),
                request(&r.access_token),
                Default::default()
            )
            .await,
        Err(Error::InvalidGrant(GrantError::InvalidSubject))
    ));
}

fn claims_of(h: &Harness, token: &str) -> token_engine::AccessTokenClaims<'static> {
    h.engine.verifier().verify(token).unwrap()
}

#[tokio::test]
async fn exchange_refusals() {
    let h = harness();
    let login = h.login().await;
    let svc = service("svc-a");
    let widen = TokenExchangeRequest {
        scope: Some("read admin"),
        ..request(&login.access_token)
    };
    assert!(matches!(
        h.engine
            .exchange_token(&svc, widen, Default::default())
            .await,
        Err(Error::InvalidScope)
    ));
    let elsewhere = TokenExchangeRequest {
        audience: Some("https://evil.example"),
        ..request(&login.access_token)
    };
    let e = h
        .engine
        .exchange_token(&svc, elsewhere, Default::default())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidTarget), "{e:?}");
    assert_eq!(e.oauth_code(), "invalid_target");
    let wrong_type = TokenExchangeRequest {
        subject_token_type: "urn:ietf:params:oauth:token-type:id_token",
        ..request(&login.access_token)
    };
    assert_eq!(
        h.engine
            .exchange_token(&svc, wrong_type, Default::default())
            .await
            .unwrap_err()
            .oauth_code(),
        "invalid_request"
    );
    assert!(matches!(
        h.engine
            .exchange_token(&client(), request(&login.access_token), Default::default())
            .await,
        Err(Error::UnauthorizedClient)
    ));
    // Foreign, tampered and revoked subject tokens.
    let foreign = Harness::new().login().await.access_token;
    for bad in [foreign, tampered_jwt(&login.access_token), "garbage".into()] {
        assert!(matches!(
            h.engine
                .exchange_token(&svc, request(&bad), Default::default())
                .await,
            Err(Error::InvalidGrant(GrantError::InvalidSubject))
        ));
    }
    // The lifetime never goes past the subject token's.
    h.advance(Duration::seconds(ACCESS_TTL - 100));
    let r = h
        .engine
        .exchange_token(&svc, request(&login.access_token), Default::default())
        .await
        .unwrap();
    assert_eq!(r.expires_in, 100);
    h.advance(Duration::seconds(100 + LEEWAY));
    assert!(matches!(
        h.engine
            .exchange_token(&svc, request(&login.access_token), Default::default())
            .await,
        Err(Error::InvalidGrant(GrantError::InvalidSubject))
    ));
    h.revoke_ok(rt(&login)).await;
}

#[tokio::test]
async fn token_exchange_through_the_endpoint() {
    let h = Harness::with(|b| b.exchange_audience(SVC_B).client_secret_key(&[5; 32]));
    let hash = h.engine.client_secret_hasher().unwrap().hash("svc-secret");
    let clients = vec![
        Client::confidential("svc-a", ClientAuthMethod::SecretPost(hash))
            .grant_types([GrantType::TokenExchange]),
    ];
    let login = h.login().await;
    let body = format!(
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&client_id=svc-a&client_secret=svc-secret&subject_token={}&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token&audience=https%3A%2F%2Fsvc-b.example",
        login.access_token
    );
    let r = h
        .engine
        .token_endpoint(&clients, &NoPasswordGrant, &form_post(&body, None))
        .await;
    assert_eq!(r.status(), 200, "{r:?}");
    let json: serde_json::Value = serde_json::from_str(r.body()).unwrap();
    assert_eq!(json["issued_token_type"], ACCESS_TOKEN_TYPE);
    assert_eq!(json["token_type"], "Bearer");
}

#[tokio::test]
async fn the_code_grant_with_openid_issues_an_id_token_the_client_verifies() {
    let h = Harness::new();
    let app = spa().allow_scopes(["openid"]);
    let verifier = CodeVerifier::generate().unwrap();
    let code = h
        .engine
        .authorize(
            &app,
            AuthorizeRequest::new(SUBJECT)
                .redirect_uri(REDIRECT)
                .scope("openid read")
                .nonce("n-0S6_WzA2Mj")
                .auth_time(NOW - 30)
                .pkce(verifier.s256_challenge().as_str(), Some("S256")),
        )
        .await
        .unwrap();
    let r = h
        .engine
        .exchange_code(
            &app,
            code.expose_code(),
            Some(REDIRECT),
            Some(verifier.expose_secret()),
            Default::default(),
        )
        .await
        .unwrap();
    let id_token = r.id_token.clone().expect("an ID token with openid");
    assert!(!format!("{r:?}").contains(&id_token));
    let keys = h.engine.key_set().verification_keys();
    let expect = IdTokenExpectations {
        issuer: ISS,
        client_id: "app",
        nonce: Some("n-0S6_WzA2Mj"),
        access_token: Some(&r.access_token),
        now: NOW,
        leeway: 30,
    };
    let claims = verify_id_token(&id_token, &keys, &expect).unwrap();
    assert_eq!(claims.sub, SUBJECT);
    assert_eq!(claims.aud, "app");
    assert_eq!(claims.azp.as_deref(), Some("app"));
    assert_eq!(claims.auth_time, Some(NOW - 30));
    // Wrong nonce, wrong access token, wrong client, wrong issuer, expired: refused.
    for bad in [
        IdTokenExpectations {
            nonce: Some("other"),
            ..expect
        },
        IdTokenExpectations {
            access_token: Some("another-token"),
            ..expect
        },
        IdTokenExpectations {
            client_id: "intruder",
            ..expect
        },
        IdTokenExpectations {
            issuer: "https://evil.example",
            ..expect
        },
        IdTokenExpectations {
            now: NOW + 3600,
            ..expect
        },
    ] {
        assert!(verify_id_token(&id_token, &keys, &bad).is_err(), "{bad:?}");
    }
    // An ID token never passes as an access token, nor the reverse.
    assert!(matches!(
        h.engine.verifier().verify(&id_token),
        Err(Error::InvalidToken(TokenError::WrongType))
    ));
    assert!(matches!(
        verify_id_token(&r.access_token, &keys, &expect),
        Err(Error::InvalidToken(TokenError::WrongType))
    ));
    // Oversized input is refused before anything is decoded; malformed input gets a typed error.
    let huge = format!("{}.e30.sig", "eyJ".repeat(400_000));
    assert!(matches!(
        verify_id_token(&huge, &keys, &expect),
        Err(Error::InvalidToken(TokenError::TooLong))
    ));
    for junk in ["", ".", "..", "not-a-jwt", "e30.e30.", "%%%.e30.e30"] {
        assert!(
            matches!(
                verify_id_token(junk, &keys, &expect),
                Err(Error::InvalidToken(_))
            ),
            "{junk:?}"
        );
    }
}

#[tokio::test]
async fn no_openid_no_id_token() {
    let h = Harness::new();
    let verifier = CodeVerifier::generate().unwrap();
    let code = h
        .engine
        .authorize(
            &spa(),
            AuthorizeRequest::new(SUBJECT)
                .redirect_uri(REDIRECT)
                .pkce(verifier.s256_challenge().as_str(), Some("S256")),
        )
        .await
        .unwrap();
    let r = h
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
    assert!(r.id_token.is_none());
}
