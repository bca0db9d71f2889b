//! Sender-constrained tokens: DPoP (RFC 9449) proofs and bindings for access tokens and
//! refresh families, device-bound sessions, and certificate-bound tokens (RFC 8705).

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use time::Duration;
use token_engine::dpop::DpopError;
use token_engine::dpop::{access_token_hash, check_proof};
use token_engine::{
    Algorithm, Client, ClientAuthMethod, DpopRules, Error, GrantType, IssueRequest, MemoryStore,
    NoPasswordGrant, NonceKey, RefreshRequest, SigningKey,
};

use token_engine::{Clock as _, TokenStore as _};

use crate::common::*;

const TOKEN_URL: &str = "https://auth.example.com/token";

fn harness() -> Harness {
    Harness::with(|b| {
        b.token_endpoint(TOKEN_URL)
            .reuse_grace(Duration::seconds(10))
    })
}

fn rfc(name: &str) -> Value {
    let all: Value = serde_json::from_str(include_str!("../data/rfc_examples.json")).unwrap();
    all["rfc9449_dpop"][name].clone()
}

#[test]
fn the_rfc_9449_examples_verify() {
    let jkt = rfc("proof_key_jkt");
    for name in [
        "sec4_1_and_sec5_token_request_authorization_code_proof",
        "sec5_token_request_refresh_token_proof",
        "sec7_1_protected_resource_request_proof",
    ] {
        let e = rfc(name);
        let jws = e["jws"].as_str().unwrap();
        let iat = e["decoded_payload"]["iat"].as_i64().unwrap();
        let access = e["access_token"].as_str();
        if let Some(at) = access {
            assert_eq!(access_token_hash(at), e["ath"].as_str().unwrap(), "{name}");
        }
        let rules = DpopRules::default();
        let method = e["http_method"].as_str().unwrap();
        let uri = e["http_uri"].as_str().unwrap();
        let ok = check_proof(jws, method, uri, access, iat, &rules).unwrap();
        assert_eq!(ok.jkt(), jkt.as_str().unwrap(), "{name}");
        // One character of the signature changed: refused.
        let mut bad = jws.to_owned();
        let last = bad.pop().unwrap();
        bad.push(if last == 'A' { 'B' } else { 'A' });
        assert!(
            check_proof(&bad, method, uri, access, iat, &rules).is_err(),
            "{name}"
        );
    }
}

#[test]
fn every_check_of_rfc_9449_4_3() {
    let h = holder(Algorithm::ES256);
    let rules = DpopRules::default();
    let check = |proof: &str| check_proof(proof, "POST", TOKEN_URL, None, NOW, &rules);
    assert!(check(&h.proof("POST", TOKEN_URL, NOW, "ok")).is_ok());
    let claims = h.claims("POST", TOKEN_URL, NOW, "j");
    let with_header = |f: &dyn Fn(&mut Value)| {
        let mut hd = h.header();
        f(&mut hd);
        sign(&h.key, &hd, &claims)
    };
    let with_claims = |f: &dyn Fn(&mut Value)| {
        let mut c = claims.clone();
        f(&mut c);
        sign(&h.key, &h.header(), &c)
    };
    let cases: Vec<(String, DpopError)> = vec![
        (with_header(&|hd| hd["typ"] = "JWT".into()), DpopError::Type),
        (
            with_header(&|hd| {
                hd.as_object_mut().unwrap().remove("typ");
            }),
            DpopError::Type,
        ),
        (
            with_header(&|hd| hd["alg"] = "none".into()),
            DpopError::Algorithm,
        ),
        (
            with_header(&|hd| hd["alg"] = "HS256".into()),
            DpopError::Algorithm,
        ),
        (
            with_header(&|hd| hd["alg"] = "ES384".into()),
            DpopError::Key,
        ),
        (
            with_header(&|hd| {
                hd.as_object_mut().unwrap().remove("jwk");
            }),
            DpopError::Key,
        ),
        (
            with_header(&|hd| hd["jwk"]["d"] = "AAAA".into()),
            DpopError::Key,
        ),
        (
            with_header(&|hd| hd["jwk"] = json!({"kty": "oct", "k": "AAAA"})),
            DpopError::Key,
        ),
        (
            with_header(&|hd| hd["crit"] = json!(["x"])),
            DpopError::Malformed,
        ),
        (with_claims(&|c| c["htm"] = "GET".into()), DpopError::Method),
        (
            with_claims(&|c| c["htm"] = "post".into()),
            DpopError::Method,
        ),
        (
            with_claims(&|c| c["htu"] = "https://auth.example.com/Token".into()),
            DpopError::Uri,
        ),
        (
            with_claims(&|c| c["htu"] = "https://auth.example.com:8443/token".into()),
            DpopError::Uri,
        ),
        (
            with_claims(&|c| c["htu"] = "http://auth.example.com/token".into()),
            DpopError::Uri,
        ),
        (
            with_claims(&|c| c["iat"] = (NOW - 61).into()),
            DpopError::IssuedAt,
        ),
        (
            with_claims(&|c| c["iat"] = (NOW + 6).into()),
            DpopError::IssuedAt,
        ),
        (
            with_claims(&|c| {
                c.as_object_mut().unwrap().remove("jti");
            }),
            DpopError::Replayed,
        ),
        ("a.b".to_owned(), DpopError::Malformed),
        ("x".repeat(5000), DpopError::Malformed),
    ];
    for (proof, want) in &cases {
        assert_eq!(check(proof).err(), Some(*want), "{proof:.80}");
    }
    // A point off the curve (y changed), signed with the real key: refused at the signature,
    // where ring validates the point.
    let mut off = h.header();
    let y = off["jwk"]["y"].as_str().unwrap().to_owned();
    let flipped = if y.starts_with('A') { "B" } else { "A" };
    off["jwk"]["y"] = format!("{flipped}{}", &y[1..]).into();
    let e = check(&sign(&h.key, &off, &claims)).err();
    assert!(
        matches!(e, Some(DpopError::Signature | DpopError::Key)),
        "{e:?}"
    );
    // Another key's signature over the same header: refused.
    let other = holder(Algorithm::ES256);
    let forged = sign(&other.key, &h.header(), &claims);
    assert_eq!(check(&forged).err(), Some(DpopError::Signature));
    // htu compared per RFC 9449 §4.3: scheme and host case, default port, query, fragment.
    for htu in [
        "HTTPS://AUTH.EXAMPLE.COM/token",
        "https://auth.example.com:443/token",
        "https://auth.example.com/token?x=1",
        "https://auth.example.com/token#frag",
    ] {
        let p = h.proof("POST", htu, NOW, "u");
        assert!(check(&p).is_ok(), "{htu}");
    }
    // ath: required with an access token, and must be its hash.
    let p = h.proof("GET", API, NOW, "a");
    assert_eq!(
        check_proof(&p, "GET", API, Some("token"), NOW, &rules).err(),
        Some(DpopError::AccessTokenHash)
    );
    let p = h.resource_proof("other-token", "b");
    assert_eq!(
        check_proof(&p, "GET", API, Some("token"), NOW, &rules).err(),
        Some(DpopError::AccessTokenHash)
    );
    let p = h.resource_proof("token", "c");
    assert!(check_proof(&p, "GET", API, Some("token"), NOW, &rules).is_ok());
    // Every accepted algorithm works: EdDSA and RS256 too.
    for alg in [Algorithm::EdDSA, Algorithm::ES384] {
        let h = holder(alg);
        assert!(
            check(&h.proof("POST", TOKEN_URL, NOW, "alg")).is_ok(),
            "{alg:?}"
        );
    }
}

#[tokio::test]
async fn a_replayed_proof_is_refused_by_every_instance_over_the_store() {
    let store = MemoryStore::new();
    let clock = token_engine::ManualClock::new(NOW);
    let sink = Arc::new(token_engine::event::CollectingSink::new());
    let a = builder(&clock, &sink).build(store.clone()).unwrap();
    let b = builder(&clock, &sink).build(store).unwrap();
    let h = holder(Algorithm::ES256);
    let proof = h.proof("POST", TOKEN_URL, NOW, "once");
    a.verify_dpop_proof(&proof, "POST", TOKEN_URL)
        .await
        .unwrap();
    let e = b
        .verify_dpop_proof(&proof, "POST", TOKEN_URL)
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidDpopProof(DpopError::Replayed)),
        "{e:?}"
    );
    assert_eq!(e.oauth_code(), "invalid_dpop_proof");
}

#[tokio::test]
async fn server_nonces_are_required_fresh_and_shared_by_instances() {
    let store = MemoryStore::new();
    let clock = token_engine::ManualClock::new(NOW);
    let sink = Arc::new(token_engine::event::CollectingSink::new());
    let build = || {
        builder(&clock, &sink)
            .dpop_nonces(NonceKey::new(&[4; 32], 30).unwrap())
            .build(store.clone())
            .unwrap()
    };
    let (a, b) = (build(), build());
    let h = holder(Algorithm::ES256);
    let e = a
        .verify_dpop_proof(&h.proof("POST", TOKEN_URL, NOW, "n1"), "POST", TOKEN_URL)
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidDpopProof(DpopError::NonceRequired)),
        "{e:?}"
    );
    assert_eq!(e.oauth_code(), "use_dpop_nonce");
    let nonce = a.dpop_nonce().unwrap();
    let with_nonce = |jti: &str, nonce: &str| {
        let mut c = h.claims("POST", TOKEN_URL, clock.now_unix(), jti);
        c["nonce"] = nonce.into();
        sign(&h.key, &h.header(), &c)
    };
    b.verify_dpop_proof(&with_nonce("n2", &nonce), "POST", TOKEN_URL)
        .await
        .unwrap();
    clock.advance(Duration::seconds(90));
    let e = a
        .verify_dpop_proof(&with_nonce("n3", &nonce), "POST", TOKEN_URL)
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidDpopProof(DpopError::NonceRequired)),
        "{e:?}"
    );
}

fn machine_clients(h: &Harness) -> Vec<Client> {
    let _ = h;
    vec![
        Client::confidential("m2m", ClientAuthMethod::PrivateKeyJwt(vec![]))
            .grant_types([GrantType::ClientCredentials]),
    ]
}

#[tokio::test]
async fn dpop_bound_access_tokens_at_the_token_endpoint_and_the_resource_server() {
    let h = Harness::with(|b| b.token_endpoint(TOKEN_URL).client_secret_key(&[6; 32]));
    let hash = h.engine.client_secret_hasher().unwrap().hash("s");
    let clients = vec![
        Client::confidential("m2m", ClientAuthMethod::SecretPost(hash))
            .allow_scopes(["orders"])
            .grant_types([GrantType::ClientCredentials]),
    ];
    let _ = machine_clients(&h);
    let key = holder(Algorithm::ES256);
    let r = h
        .engine
        .token_endpoint(
            &clients,
            &NoPasswordGrant,
            &form_post(
                "grant_type=client_credentials&client_id=m2m&client_secret=s",
                None,
            )
            .header("DPoP", &key.proof("POST", TOKEN_URL, NOW, "t1")),
        )
        .await;
    assert_eq!(r.status(), 200, "{r:?}");
    let body: Value = serde_json::from_str(r.body()).unwrap();
    assert_eq!(body["token_type"], "DPoP");
    let access = body["access_token"].as_str().unwrap().to_owned();
    let claims = h.engine.verifier().verify(&access).unwrap();
    assert_eq!(claims.cnf.unwrap().jkt.as_deref(), Some(key.jkt().as_str()));
    // At the resource server: DPoP scheme with a proof by the key, bound to the token.
    let auth = format!("DPoP {access}");
    h.engine
        .verify_resource_request(&auth, Some(&key.resource_proof(&access, "r1")), "GET", API)
        .await
        .unwrap();
    let (_, proof) = h
        .engine
        .verifier()
        .verify_dpop(
            &auth,
            Some(&key.resource_proof(&access, "r2")),
            "GET",
            API,
            &DpopRules::default(),
        )
        .unwrap();
    assert_eq!(proof.unwrap().jti(), "r2");
    // The same proof again: replay.
    let e = h
        .engine
        .verify_resource_request(&auth, Some(&key.resource_proof(&access, "r1")), "GET", API)
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidDpopProof(DpopError::Replayed)),
        "{e:?}"
    );
    // Another key's proof, a missing proof, the bound token as Bearer: refused.
    let thief = holder(Algorithm::ES256);
    for (auth, proof, want) in [
        (
            auth.clone(),
            Some(thief.resource_proof(&access, "x1")),
            DpopError::KeyMismatch,
        ),
        (auth.clone(), None, DpopError::Missing),
        (format!("Bearer {access}"), None, DpopError::SchemeMismatch),
    ] {
        let e = h
            .engine
            .verify_resource_request(&auth, proof.as_deref(), "GET", API)
            .await
            .unwrap_err();
        assert!(
            matches!(e, Error::InvalidDpopProof(d) if d == want),
            "{e:?}"
        );
    }
    // An unbound token presented with DPoP: refused too (RFC 9449 §7.2).
    let plain = h.login().await.access_token;
    let e = h
        .engine
        .verify_resource_request(
            &format!("DPoP {plain}"),
            Some(&key.resource_proof(&plain, "p1")),
            "GET",
            API,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidDpopProof(DpopError::SchemeMismatch)),
        "{e:?}"
    );
    assert_eq!(e.oauth_code(), "invalid_token");
    h.engine
        .verify_resource_request(&format!("Bearer {plain}"), None, "GET", API)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_dpop_bound_family_rotates_only_with_proofs_by_its_key() {
    let h = harness();
    let key = holder(Algorithm::EdDSA);
    let proof = h
        .engine
        .verify_dpop_proof(&key.proof("POST", TOKEN_URL, NOW, "i1"), "POST", TOKEN_URL)
        .await
        .unwrap();
    let login = h
        .issue(&client(), IssueRequest::new(SUBJECT).dpop(proof))
        .await
        .unwrap();
    assert_eq!(login.token_type, token_engine::TokenType::DPoP);
    let engine = &h.engine;
    let with = |jti: &str, k: &Holder| {
        let p = k.proof("POST", TOKEN_URL, NOW, jti);
        async move {
            engine
                .verify_dpop_proof(&p, "POST", TOKEN_URL)
                .await
                .unwrap()
        }
    };
    let next = h
        .refresh(
            &client(),
            rt(&login),
            RefreshRequest::default().dpop(with("r1", &key).await),
        )
        .await
        .unwrap();
    assert_eq!(next.token_type, token_engine::TokenType::DPoP);
    let claims = h.engine.verifier().verify(&next.access_token).unwrap();
    assert_eq!(claims.cnf.unwrap().jkt.unwrap(), key.jkt());
    // The next token with another key's proof: theft, the family is revoked.
    let thief = holder(Algorithm::EdDSA);
    let e = h
        .refresh(
            &client(),
            rt(&next),
            RefreshRequest::default().dpop(with("r2", &thief).await),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::ReuseDetected), "{e:?}");
    let e = h
        .refresh(
            &client(),
            rt(&next),
            RefreshRequest::default().dpop(with("r3", &key).await),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidGrant(_)),
        "the session is over: {e:?}"
    );

    // Without any proof: theft as well.
    let proof = with("i2", &key).await;
    let login = h
        .issue(&client(), IssueRequest::new(SUBJECT).dpop(proof))
        .await
        .unwrap();
    let e = h
        .refresh(&client(), rt(&login), RefreshRequest::default())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::ReuseDetected), "{e:?}");
}

#[tokio::test]
async fn a_client_that_requires_dpop_never_gets_unbound_tokens() {
    let h = harness();
    let strict = client().require_dpop();
    let e = h
        .engine
        .issue(&strict, IssueRequest::new(SUBJECT))
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidDpopProof(DpopError::Missing)),
        "{e:?}"
    );
    assert_eq!(e.oauth_code(), "invalid_dpop_proof");
    let key = holder(Algorithm::ES256);
    let proof = h
        .engine
        .verify_dpop_proof(&key.proof("POST", TOKEN_URL, NOW, "s1"), "POST", TOKEN_URL)
        .await
        .unwrap();
    let login = h
        .engine
        .issue(&strict, IssueRequest::new(SUBJECT).dpop(proof))
        .await
        .unwrap();
    let e = h
        .engine
        .refresh(&strict, rt(&login), RefreshRequest::default())
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidDpopProof(DpopError::Missing)),
        "{e:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_refreshes_with_valid_proofs_rotate_once() {
    let h = Arc::new(harness());
    let key = Arc::new(holder(Algorithm::ES256));
    let proof = h
        .engine
        .verify_dpop_proof(&key.proof("POST", TOKEN_URL, NOW, "i"), "POST", TOKEN_URL)
        .await
        .unwrap();
    let login = h
        .engine
        .issue(&client(), IssueRequest::new(SUBJECT).dpop(proof))
        .await
        .unwrap();
    let token: Arc<str> = rt(&login).into();
    let barrier = Arc::new(tokio::sync::Barrier::new(64));
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let (h, key, token, barrier) = (
                Arc::clone(&h),
                Arc::clone(&key),
                Arc::clone(&token),
                Arc::clone(&barrier),
            );
            tokio::spawn(async move {
                let p = key.proof("POST", TOKEN_URL, NOW, &format!("c{i}"));
                let proof = h
                    .engine
                    .verify_dpop_proof(&p, "POST", TOKEN_URL)
                    .await
                    .unwrap();
                barrier.wait().await;
                h.engine
                    .refresh(&client(), &token, RefreshRequest::default().dpop(proof))
                    .await
                    .map(|r| rt(&r).to_owned())
            })
        })
        .collect();
    let mut successors = Vec::new();
    for t in tasks {
        successors.push(t.await.unwrap().unwrap());
    }
    assert!(
        successors.iter().all(|s| *s == successors[0]),
        "one successor"
    );
    let record = h
        .engine
        .store()
        .load_family(&family_of(&token))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.generation, 1, "exactly one rotation");
    assert!(record.is_active());
}

#[tokio::test]
async fn a_device_bound_session_refreshes_only_from_its_device() {
    let h = Harness::new();
    let login = h
        .issue(
            &client(),
            IssueRequest::new(SUBJECT).device("tv-livingroom"),
        )
        .await
        .unwrap();
    let sessions = h.engine.sessions(SUBJECT).await.unwrap();
    assert_eq!(sessions[0].device_id.as_deref(), Some("tv-livingroom"));
    let next = h
        .refresh(
            &client(),
            rt(&login),
            RefreshRequest::default().device("tv-livingroom"),
        )
        .await
        .unwrap();
    let e = h
        .refresh(
            &client(),
            rt(&next),
            RefreshRequest::default().device("laptop"),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::ReuseDetected), "{e:?}");
    assert!(h.engine.sessions(SUBJECT).await.unwrap().is_empty());
}

#[tokio::test]
async fn certificate_bound_tokens_need_the_same_certificate() {
    let h = Harness::new();
    let cert = [0x11; 32];
    let login = h
        .issue(&client(), IssueRequest::new(SUBJECT).mtls(&cert))
        .await
        .unwrap();
    let cnf = claims(&h, &login.access_token).cnf.unwrap();
    assert_eq!(
        cnf.x5t_s256.as_deref(),
        Some(URL_SAFE_NO_PAD.encode(cert).as_str())
    );
    let next = h
        .refresh(&client(), rt(&login), RefreshRequest::default().mtls(&cert))
        .await
        .unwrap();
    assert!(
        claims(&h, &next.access_token)
            .cnf
            .unwrap()
            .x5t_s256
            .is_some()
    );
    for bad in [
        RefreshRequest::default().mtls(&[0x22; 32]),
        RefreshRequest::default(),
    ] {
        let login = h
            .issue(&client(), IssueRequest::new(SUBJECT).mtls(&cert))
            .await
            .unwrap();
        let e = h.refresh(&client(), rt(&login), bad).await.unwrap_err();
        assert!(matches!(e, Error::ReuseDetected), "{e:?}");
        let f = h
            .engine
            .store()
            .load_family(&family_of(rt(&login)))
            .await
            .unwrap()
            .unwrap();
        assert!(matches!(
            f.state,
            token_engine::family::FamilyState::Revoked {
                reason: token_engine::RevocationReason::BindingMismatch,
                ..
            }
        ));
    }
}

#[test]
fn proofs_made_with_sign_proof_verify() {
    let key = SigningKey::generate(Algorithm::EdDSA).unwrap().0;
    let proof = token_engine::dpop::sign_proof(
        &key,
        &token_engine::dpop::ProofClaims {
            method: "GET",
            uri: API,
            iat: NOW,
            jti: "j1",
            access_token: Some("at"),
            nonce: Some("n"),
        },
    )
    .unwrap();
    let ok = check_proof(&proof, "GET", API, Some("at"), NOW, &DpopRules::default()).unwrap();
    assert_eq!(ok.jkt(), key.verifying_key().thumbprint().unwrap());
    let hmac = SigningKey::hmac(Algorithm::HS256, &[1; 32]).unwrap();
    assert!(
        token_engine::dpop::sign_proof(
            &hmac,
            &token_engine::dpop::ProofClaims {
                method: "GET",
                uri: API,
                iat: NOW,
                jti: "j2",
                access_token: None,
                nonce: None,
            }
        )
        .is_err()
    );
}

#[tokio::test]
async fn the_revocation_checked_and_dpop_paths_return_the_application_claims_in_one_call() {
    let h = harness();
    let key = holder(Algorithm::ES256);
    let proof = h
        .engine
        .verify_dpop_proof(&key.proof("POST", TOKEN_URL, NOW, "t1"), "POST", TOKEN_URL)
        .await
        .unwrap();
    let req = IssueRequest::new(SUBJECT)
        .claim("role", "admin")
        .claim("tenant_id", "acme")
        .dpop(proof);
    let r = h.issue(&client(), req).await.unwrap();
    let access = r.access_token.clone();
    let want = App {
        role: "admin".into(),
        tenant_id: "acme".into(),
    };
    let auth = format!("DPoP {access}");

    // Revocation-checked, with the application's claims.
    let c = h
        .engine
        .verify_with_revocation_as::<App>(&access)
        .await
        .unwrap();
    assert_eq!(c.custom, want);
    assert_eq!(c.sub.as_deref(), Some(SUBJECT));
    // The resource request: revocation, DPoP proof and the application's claims.
    let c = h
        .engine
        .verify_resource_request_as::<App>(
            &auth,
            Some(&key.resource_proof(&access, "r1")),
            "GET",
            API,
        )
        .await
        .unwrap();
    assert_eq!(c.custom, want);
    // The verifier's DPoP path, without a store.
    let (c, proof) = h
        .engine
        .verifier()
        .verify_dpop_as::<App>(
            &auth,
            Some(&key.resource_proof(&access, "r2")),
            "GET",
            API,
            &DpopRules::default(),
        )
        .unwrap();
    assert_eq!(c.custom, want);
    assert_eq!(proof.unwrap().jti(), "r2");

    // Once the session is revoked, the typed paths refuse the token as the plain ones do.
    h.revoke_ok(rt(&r)).await;
    for e in [
        h.engine
            .verify_with_revocation_as::<App>(&access)
            .await
            .unwrap_err(),
        h.engine
            .verify_resource_request_as::<App>(
                &auth,
                Some(&key.resource_proof(&access, "r3")),
                "GET",
                API,
            )
            .await
            .unwrap_err(),
    ] {
        assert!(
            matches!(
                e,
                Error::InvalidToken(token_engine::TokenError::SessionRevoked)
            ),
            "{e:?}"
        );
    }
}
