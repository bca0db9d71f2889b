//! `Engine::issue`: the token response, the access token's claims, scopes, application
//! claims, and issuing without a refresh token.

use token_engine::event::Event;
use token_engine::opaque::REFRESH_TOKEN_LEN;
use token_engine::{Client, Error, IssueRequest, PolicyVersion, TokenType};

use crate::common::*;

#[tokio::test]
async fn issue_returns_a_bearer_response_with_lifetime_scope_and_refresh_token() {
    let h = Harness::new();
    let r = h.login().await;
    assert_eq!(r.token_type, TokenType::Bearer);
    assert_eq!(r.expires_in, 900);
    assert_eq!(r.scope.as_deref(), Some("read write"));
    let refresh = rt(&r);
    assert!(refresh.starts_with("rt_"));
    assert_eq!(refresh.len(), REFRESH_TOKEN_LEN);
    assert_eq!(generation_of(refresh), 0);
}

#[tokio::test]
async fn access_token_verifies_and_carries_the_session_claims() {
    let h = Harness::new();
    let r = h
        .issue(&client(), IssueRequest::new(SUBJECT).auth_time(NOW - 100))
        .await
        .unwrap();
    let c = h.engine.verifier().verify(&r.access_token).unwrap();
    assert_eq!(c.iss.as_deref(), Some(ISS));
    assert_eq!(c.sub.as_deref(), Some(SUBJECT));
    assert!(c.aud.as_ref().unwrap().contains(AUD));
    assert_eq!(c.client_id.as_deref(), Some("app"));
    assert_eq!(c.scope.as_deref(), Some("read write"));
    assert_eq!(c.auth_time, Some(NOW - 100));
    assert_eq!(c.iat, Some(NOW));
    assert_eq!(c.exp, Some(NOW + ACCESS_TTL));
    assert!(c.jti.as_deref().is_some_and(|j| !j.is_empty()));
    assert_eq!(c.pv, Some(PolicyVersion::new(1, 0)));
    let family = family_of(rt(&r));
    assert_eq!(c.sid.as_deref(), Some(family.to_string().as_str()));
    assert_eq!(
        h.events(),
        [Event::Issued {
            family,
            client_id: "app".into(),
            subject: SUBJECT.into(),
        }]
    );
}

#[tokio::test]
async fn auth_time_defaults_to_now() {
    let h = Harness::new();
    let r = h.login().await;
    assert_eq!(claims(&h, &r.access_token).auth_time, Some(NOW));
}

#[tokio::test]
async fn pv_is_the_effective_policy_of_the_tenant() {
    let h = Harness::with(|b| b.policy(PolicyVersion::new(4, 2)));
    h.engine
        .set_policy(Some("acme"), Some(PolicyVersion::new(5, 1)))
        .await
        .unwrap();
    let plain = h.login().await;
    let acme = h
        .issue(&client(), IssueRequest::new(SUBJECT).tenant("acme"))
        .await
        .unwrap();
    assert_eq!(
        claims(&h, &plain.access_token).pv,
        Some(PolicyVersion::new(4, 2))
    );
    assert_eq!(
        claims(&h, &acme.access_token).pv,
        Some(PolicyVersion::new(5, 1))
    );
}

#[tokio::test]
async fn application_claims_are_in_every_access_token_of_the_session() {
    let h = Harness::new();
    let r = h
        .issue(
            &client(),
            IssueRequest::new(SUBJECT)
                .claim("role", "admin")
                .claim("tenant_id", "org_987654321"),
        )
        .await
        .unwrap();
    let want = App {
        role: "admin".into(),
        tenant_id: "org_987654321".into(),
    };
    let c = h
        .engine
        .verifier()
        .verify_as::<App>(&r.access_token)
        .unwrap();
    assert_eq!(c.custom, want);
    assert_eq!(c.sub.as_deref(), Some(SUBJECT));

    let next = h.rotate(rt(&r)).await;
    let c = h
        .engine
        .verifier()
        .verify_as::<App>(&next.access_token)
        .unwrap();
    assert_eq!(c.custom, want);
}

#[tokio::test]
async fn scope_defaults_to_everything_the_client_may_have() {
    let h = Harness::new();
    let wide = Client::new("app").allow_scopes(["read", "write", "admin"]);
    let r = h.issue(&wide, IssueRequest::new(SUBJECT)).await.unwrap();
    assert_eq!(r.scope.as_deref(), Some("read write admin"));
    assert_eq!(
        claims(&h, &r.access_token).scope.as_deref(),
        Some("read write admin")
    );
}

#[tokio::test]
async fn a_requested_subset_of_the_allowed_scopes_is_granted() {
    let h = Harness::new();
    let r = h
        .issue(&client(), IssueRequest::new(SUBJECT).scope("write"))
        .await
        .unwrap();
    assert_eq!(r.scope.as_deref(), Some("write"));
    assert_eq!(claims(&h, &r.access_token).scope.as_deref(), Some("write"));
}

#[tokio::test]
async fn a_scope_the_client_may_not_have_is_invalid_scope() {
    let h = Harness::new();
    for scope in ["admin", "read admin", "rea", "read\"write"] {
        let e = h
            .issue(&client(), IssueRequest::new(SUBJECT).scope(scope))
            .await
            .unwrap_err();
        assert!(matches!(e, Error::InvalidScope), "{scope}: {e:?}");
    }
    assert_eq!(h.engine.store().family_count(), 0);
    assert_eq!(h.events(), []);
}

#[tokio::test]
async fn registered_claim_names_are_refused() {
    let h = Harness::new();
    for name in [
        "iss",
        "sub",
        "aud",
        "exp",
        "nbf",
        "iat",
        "jti",
        "client_id",
        "scope",
        "auth_time",
        "sid",
        "pv",
        "cnf",
    ] {
        let e = h
            .issue(&client(), IssueRequest::new(SUBJECT).claim(name, "x"))
            .await
            .unwrap_err();
        assert!(matches!(e, Error::InvalidRequest(_)), "{name}: {e:?}");
    }
    assert_eq!(h.engine.store().family_count(), 0);
    assert_eq!(h.events(), []);
}

#[tokio::test]
async fn an_empty_subject_is_invalid_request() {
    let h = Harness::new();
    let e = h.issue(&client(), IssueRequest::new("")).await.unwrap_err();
    assert!(matches!(e, Error::InvalidRequest(_)), "{e:?}");
}

#[tokio::test]
async fn without_refresh_token_gives_no_refresh_token_no_sid_and_no_session() {
    let h = Harness::new();
    let r = h
        .issue(
            &client(),
            IssueRequest::new(SUBJECT).without_refresh_token(),
        )
        .await
        .unwrap();
    assert!(r.refresh_token.is_none());
    assert_eq!(r.scope.as_deref(), Some("read write"));
    let c = claims(&h, &r.access_token);
    assert_eq!(c.sid, None);
    assert_eq!(c.sub.as_deref(), Some(SUBJECT));
    assert_eq!(c.pv, Some(PolicyVersion::new(1, 0)));
    assert_eq!(h.engine.store().family_count(), 0);
    assert!(h.engine.sessions(SUBJECT).await.unwrap().is_empty());
    // Nothing to revoke it by: it passes the revocation check and expires on its own.
    h.engine
        .verify_with_revocation(&r.access_token)
        .await
        .unwrap();
    assert_eq!(h.events(), []);
}

#[tokio::test]
async fn several_audiences_make_aud_an_array() {
    let h = Harness::with(|b| b.audience("https://files.example.com"));
    let r = h.login().await;
    let c = claims(&h, &r.access_token);
    let aud: Vec<&str> = c.aud.as_ref().unwrap().iter().collect();
    assert_eq!(aud, [AUD, "https://files.example.com"]);
}

#[tokio::test]
async fn a_nul_character_in_a_subject_tenant_or_device_is_refused() {
    let h = Harness::new();
    for req in [
        IssueRequest::new("user\u{0}x"),
        IssueRequest::new(SUBJECT).tenant("t\u{0}"),
        IssueRequest::new(SUBJECT).device("\u{0}"),
    ] {
        let e = h.engine.issue(&client(), req).await.unwrap_err();
        assert!(matches!(e, token_engine::Error::InvalidRequest(_)), "{e:?}");
    }
}

/// An engine signing with the RSA-2048 test key (the longest signature of the test keys).
fn rsa_harness() -> Harness {
    let pem = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/keys/rsa2048.pkcs8.pem"
    ))
    .unwrap();
    let key = token_engine::SigningKey::from_pem(token_engine::Algorithm::RS256, &pem).unwrap();
    Harness::with(|b| b.signing_key(key))
}

#[tokio::test]
async fn a_subject_over_the_limit_is_refused_at_issue_and_nothing_is_stored() {
    let h = Harness::new();
    for len in [token_engine::IssueRequest::MAX_SUBJECT_LEN + 1, 1 << 20] {
        let subject = "s".repeat(len);
        let err = h
            .issue(&client(), IssueRequest::new(subject.clone()))
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::IssueLimit(token_engine::IssueLimit::Subject)),
            "{err:?}"
        );
        assert_eq!(err.oauth_code(), "invalid_request");
        assert!(h.engine.sessions(&subject).await.unwrap().is_empty());
    }
    assert!(h.events().is_empty());
}

#[tokio::test]
async fn claims_over_the_limit_are_refused_at_issue_and_nothing_is_stored() {
    let h = Harness::new();
    // 10 KiB in one claim, and the claims object one byte over the limit.
    let over = token_engine::IssueRequest::MAX_CLAIMS_LEN - r#"{"note":""}"#.len() + 1;
    for len in [10 * 1024, over] {
        let req = IssueRequest::new(SUBJECT).claim("note", "n".repeat(len));
        let err = h.issue(&client(), req).await.unwrap_err();
        assert!(
            matches!(err, Error::IssueLimit(token_engine::IssueLimit::Claims)),
            "{err:?}"
        );
        assert_eq!(err.oauth_code(), "server_error");
    }
    assert!(h.engine.sessions(SUBJECT).await.unwrap().is_empty());
    assert!(h.events().is_empty());
}

#[tokio::test]
async fn a_subject_and_claims_at_their_limits_fit_a_token_every_verifier_accepts() {
    let h = rsa_harness();
    let subject = "s".repeat(token_engine::IssueRequest::MAX_SUBJECT_LEN);
    let at = token_engine::IssueRequest::MAX_CLAIMS_LEN - r#"{"note":""}"#.len();
    let req = IssueRequest::new(subject.clone()).claim("note", "n".repeat(at));
    let r = h.issue(&client(), req).await.unwrap();
    assert!(r.access_token.len() <= token_engine::jose::DEFAULT_MAX_TOKEN_LEN);
    let c = h.engine.verifier().verify(&r.access_token).unwrap();
    assert_eq!(c.sub.as_deref(), Some(subject.as_str()));
    // And the refresh path mints the same size.
    let next = h.rotate(rt(&r)).await;
    h.engine.verifier().verify(&next.access_token).unwrap();
}

#[tokio::test]
async fn the_largest_token_issue_accepts_verifies_and_one_byte_more_is_refused() {
    let h = rsa_harness();
    let app = client();
    let issue = |tenant_len: usize| {
        let req = IssueRequest::new(SUBJECT)
            .tenant("t".repeat(tenant_len))
            .without_refresh_token();
        h.issue(&app, req)
    };
    // Binary search for the longest tenant that still fits: the token only grows with it.
    let (mut ok, mut refused) = (0, 16 * 1024);
    while refused - ok > 1 {
        let mid = (ok + refused) / 2;
        match issue(mid).await {
            Ok(_) => ok = mid,
            Err(Error::IssueLimit(token_engine::IssueLimit::AccessToken)) => refused = mid,
            Err(e) => panic!("{e:?}"),
        }
    }
    let largest = issue(ok).await.unwrap().access_token;
    let max = token_engine::jose::DEFAULT_MAX_TOKEN_LEN;
    // base64url grows in steps of four characters.
    assert!(
        largest.len() <= max && largest.len() + 4 > max,
        "{}",
        largest.len()
    );
    h.engine.verifier().verify(&largest).unwrap();
    // With a session, the refusal leaves no family behind.
    let req = IssueRequest::new(SUBJECT).tenant("t".repeat(refused));
    assert!(matches!(
        h.issue(&client(), req).await,
        Err(Error::IssueLimit(token_engine::IssueLimit::AccessToken))
    ));
    assert!(h.engine.sessions(SUBJECT).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_subject_over_the_limit_is_refused_before_a_code_or_device_approval() {
    let h = Harness::new();
    let subject = "s".repeat(token_engine::IssueRequest::MAX_SUBJECT_LEN + 1);
    // The authorization code: refused before one is minted.
    let spa = Client::new("spa")
        .allow_scopes(["read"])
        .redirect_uri("https://app.example/cb");
    let verifier = token_engine::pkce::CodeVerifier::generate().unwrap();
    let req = token_engine::grant::AuthorizeRequest::new(subject.clone())
        .pkce(verifier.s256_challenge().as_str(), Some("S256"));
    let err = h.engine.authorize(&spa, req).await.unwrap_err();
    assert!(
        matches!(err, Error::IssueLimit(token_engine::IssueLimit::Subject)),
        "{err:?}"
    );
    // The device flow: the approval is refused and the device is still pending.
    let tv = Client::new("tv")
        .allow_scopes(["read"])
        .grant_types([token_engine::GrantType::DeviceCode]);
    let start = h
        .engine
        .start_device_authorization(&tv, None, "https://auth.example.com/device")
        .await
        .unwrap();
    let limiter = token_engine::MemoryLimiter::default();
    let err = h
        .engine
        .approve_device(&start.user_code, &subject, &limiter, "ip")
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::IssueLimit(token_engine::IssueLimit::Subject)),
        "{err:?}"
    );
    let poll = h
        .engine
        .poll_device(&tv, &start.device_code, Default::default())
        .await
        .unwrap_err();
    assert!(matches!(poll, Error::AuthorizationPending), "{poll:?}");
}
