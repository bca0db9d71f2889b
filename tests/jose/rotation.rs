//! Key rotation by kid, JWKS export/import, runtime key replacement.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use token_engine::{
    Algorithm, Error, JwksOptions, KeyError, KeySet, SigningKey, TokenError, Verifier,
};

use crate::common::*;

#[test]
fn rotation_has_no_window_and_old_tokens_work_until_retired() {
    let first = signing_key(Algorithm::ES256).with_kid("2026-10");
    let (keys, verifier, _) = setup(first);
    let old_token = keys.sign_access_token(&seed_claims()).unwrap();
    keys.rotate(signing_key(Algorithm::EdDSA).with_kid("2026-11"))
        .unwrap();
    let new_token = keys.sign_access_token(&seed_claims()).unwrap();
    // The verifier was built before the rotation and sees it at once.
    assert!(verifier.verify(&old_token).is_ok());
    assert!(verifier.verify(&new_token).is_ok());
    assert_eq!(keys.signing_key().kid(), Some("2026-11"));
    assert_eq!(keys.verification_keys().len(), 2);
    // Retiring the old key ends its tokens; the active key cannot be retired.
    assert!(keys.retire("2026-10").unwrap());
    assert!(!keys.retire("2026-10").unwrap());
    assert!(matches!(
        verifier.verify(&old_token),
        Err(Error::InvalidToken(TokenError::UnknownKeyId))
    ));
    assert!(verifier.verify(&new_token).is_ok());
    assert!(matches!(keys.retire("2026-11"), Err(Error::Config(_))));
}

#[test]
fn rotation_needs_distinct_kids() {
    let keys = KeySet::new(SigningKey::hmac(Algorithm::HS256, &[1; 32]).unwrap());
    let next = SigningKey::hmac(Algorithm::HS256, &[2; 32])
        .unwrap()
        .with_kid("b");
    assert!(matches!(keys.rotate(next), Err(Error::Config(_))));
    let keys = KeySet::new(signing_key(Algorithm::ES256).with_kid("a"));
    assert!(matches!(
        keys.rotate(signing_key(Algorithm::ES256).with_kid("a")),
        Err(Error::Config(_))
    ));
    // A next key published ahead of activation can then be activated.
    let next = signing_key(Algorithm::ES256).with_kid("b");
    keys.add_verification_key(next.verifying_key()).unwrap();
    assert_eq!(keys.jwks().keys.len(), 2);
    keys.rotate(next).unwrap();
    assert_eq!(keys.jwks().keys.len(), 2);
    assert_eq!(keys.signing_key().kid(), Some("b"));
}

#[test]
fn jwks_export_is_public_only_and_imports_into_a_verifier() {
    let keys = KeySet::new(signing_key(Algorithm::RS256).with_kid("rsa"));
    keys.add_verification_key(signing_key(Algorithm::ES384).verifying_key().with_kid("ec"))
        .unwrap();
    keys.add_verification_key(
        SigningKey::hmac(Algorithm::HS256, &[3; 32])
            .unwrap()
            .verifying_key()
            .with_kid("mac"),
    )
    .unwrap();
    let jwks = serde_json::to_string(&keys.jwks()).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&jwks).unwrap();
    let exported = doc["keys"].as_array().unwrap();
    assert_eq!(exported.len(), 2, "the HMAC key is never exported: {jwks}");
    for k in exported {
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(k.get(private).is_none(), "{private} in {k}");
        }
        assert_eq!(k["use"], "sig");
    }
    let verifier = Verifier::from_jwks(&jwks, rules())
        .unwrap()
        .with_clock(token_engine::ManualClock::new(NOW));
    let token = keys.sign_access_token(&seed_claims()).unwrap();
    assert!(verifier.verify(&token).is_ok());
}

#[test]
fn resource_server_picks_up_a_rotated_jwks_without_restart() {
    let keys = KeySet::new(signing_key(Algorithm::ES256).with_kid("one"));
    let rs = Verifier::from_jwks(&serde_json::to_string(&keys.jwks()).unwrap(), rules())
        .unwrap()
        .with_clock(token_engine::ManualClock::new(NOW));
    let before = keys.sign_access_token(&seed_claims()).unwrap();
    keys.rotate(signing_key(Algorithm::ES256).with_kid("two"))
        .unwrap();
    let after = keys.sign_access_token(&seed_claims()).unwrap();
    assert!(matches!(
        rs.verify(&after),
        Err(Error::InvalidToken(TokenError::UnknownKeyId))
    ));
    let report = rs
        .replace_jwks(
            &serde_json::to_string(&keys.jwks()).unwrap(),
            &JwksOptions::default(),
        )
        .unwrap();
    assert!(report.skipped.is_empty());
    assert!(rs.verify(&before).is_ok() && rs.verify(&after).is_ok());
    // A bad document leaves the current keys in place.
    assert!(matches!(
        rs.replace_jwks(r#"{"keys":[]}"#, &JwksOptions::default()),
        Err(Error::NoUsableKey(skipped)) if skipped.is_empty()
    ));
    assert!(matches!(
        rs.replace_jwks("garbage", &JwksOptions::default()),
        Err(Error::Key(KeyError::JwkFormat))
    ));
    assert!(rs.verify(&after).is_ok());
}

#[test]
fn verifications_in_flight_never_fail_during_key_replacement() {
    let keys = KeySet::new(signing_key(Algorithm::HS256).with_kid("a"));
    let verifier = keys
        .verifier(rules())
        .unwrap()
        .with_clock(token_engine::ManualClock::new(NOW));
    let token = keys.sign_access_token(&seed_claims()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (v, t, stop) = (verifier.clone(), token.clone(), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut n = 0u64;
                loop {
                    v.verify(&t).unwrap();
                    n += 1;
                    if stop.load(Ordering::Relaxed) {
                        return n;
                    }
                }
            })
        })
        .collect();
    for i in 0..200 {
        let extra = SigningKey::hmac(Algorithm::HS256, &[i as u8; 32])
            .unwrap()
            .verifying_key()
            .with_kid(format!("x{i}"));
        keys.add_verification_key(extra).unwrap();
        keys.retire(&format!("x{i}")).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.join().unwrap() > 0);
    }
}

#[test]
fn a_kid_names_one_key() {
    let a = signing_key(Algorithm::ES256)
        .with_kid("same")
        .verifying_key();
    let b = signing_key(Algorithm::RS256)
        .with_kid("same")
        .verifying_key();
    assert!(matches!(
        Verifier::new(vec![a.clone(), b.clone()], rules()),
        Err(Error::Key(KeyError::DuplicateKeyId))
    ));
    let v = Verifier::new(vec![a.clone()], rules()).unwrap();
    assert!(matches!(
        v.replace_keys(vec![b, a]),
        Err(Error::Key(KeyError::DuplicateKeyId))
    ));
}

#[test]
fn canonical_and_reordered_headers_verify_alike() {
    // Tokens from another issuer order the header differently: no fast path, same result.
    let key = signing_key(Algorithm::ES256).with_kid("k1");
    let canonical = forge_with(&key, r#"{"alg":"ES256","typ":"at+jwt","kid":"k1"}"#);
    let reordered = forge_with(&key, r#"{"kid":"k1","typ":"at+jwt","alg":"ES256"}"#);
    let (keys, verifier, _) = setup(key);
    assert_eq!(
        keys.sign_access_token(&seed_claims())
            .unwrap()
            .split('.')
            .next(),
        canonical.split('.').next()
    );
    assert_eq!(
        verifier.verify_as::<SeedApp>(&canonical).unwrap(),
        verifier.verify_as::<SeedApp>(&reordered).unwrap()
    );
    // A verifier that demands another typ rejects both.
    let strict = keys
        .verifier(rules().typ(token_engine::TypeCheck::Exactly("JWT".into())))
        .unwrap()
        .with_clock(token_engine::ManualClock::new(NOW));
    for t in [&canonical, &reordered] {
        assert!(matches!(
            strict.verify(t),
            Err(Error::InvalidToken(TokenError::WrongType))
        ));
    }
}

#[test]
fn rotating_the_same_rsa_key_to_another_algorithm_under_its_default_kid_is_refused() {
    // Same material, RS256 → PS256, default kid (the RFC 7638 thumbprint: the same for both).
    let (keys, verifier, _) = setup(signing_key(Algorithm::RS256));
    let before = keys.sign_access_token(&seed_claims()).unwrap();
    let e = keys.rotate(signing_key(Algorithm::PS256)).unwrap_err();
    assert!(
        matches!(e, Error::Config(m) if m.contains("another algorithm")),
        "{e:?}"
    );
    // Nothing changed: the signer is still RS256 and its tokens verify everywhere.
    assert_eq!(keys.signing_key().alg(), Algorithm::RS256);
    assert_eq!(keys.verification_keys().len(), 1);
    let after = keys.sign_access_token(&seed_claims()).unwrap();
    verifier.verify(&before).unwrap();
    verifier.verify(&after).unwrap();
}

#[test]
fn rotating_the_same_rsa_key_to_another_algorithm_under_its_own_kid_publishes_it() {
    let (keys, verifier, _) = setup(signing_key(Algorithm::RS256));
    let old_token = keys.sign_access_token(&seed_claims()).unwrap();
    keys.rotate(signing_key(Algorithm::PS256).with_kid("rsa-pss"))
        .unwrap();
    assert_eq!(keys.signing_key().alg(), Algorithm::PS256);
    let new_token = keys.sign_access_token(&seed_claims()).unwrap();
    // Every verifier sharing the set, and one built from its JWKS alone, knows both.
    verifier.verify(&old_token).unwrap();
    verifier.verify(&new_token).unwrap();
    let json = serde_json::to_string(&keys.jwks()).unwrap();
    let remote = Verifier::from_jwks(&json, rules())
        .unwrap()
        .with_clock(token_engine::ManualClock::new(NOW + 60));
    remote.verify(&old_token).unwrap();
    remote.verify(&new_token).unwrap();
}

#[test]
fn a_pre_published_key_for_another_algorithm_is_not_activated_under_its_kid() {
    let keys = KeySet::new(signing_key(Algorithm::ES256).with_kid("a"));
    keys.add_verification_key(
        signing_key(Algorithm::RS256)
            .verifying_key()
            .with_kid("next"),
    )
    .unwrap();
    let e = keys
        .rotate(signing_key(Algorithm::PS256).with_kid("next"))
        .unwrap_err();
    assert!(matches!(e, Error::Config(_)), "{e:?}");
    assert_eq!(keys.signing_key().kid(), Some("a"));
    // The same key for the algorithm it was published under activates.
    keys.rotate(signing_key(Algorithm::RS256).with_kid("next"))
        .unwrap();
    assert_eq!(keys.signing_key().alg(), Algorithm::RS256);
}

#[test]
fn key_set_loading_reports_every_skipped_key_with_its_reason() {
    let keys = KeySet::new(signing_key(Algorithm::ES256).with_kid("ec"));
    let ec = serde_json::to_value(keys.jwks()).unwrap()["keys"][0].clone();
    // An RSA key as providers publish it (no `alg`), a P-521 key, an encryption key.
    let rsa = serde_json::to_value(
        signing_key(Algorithm::RS256)
            .verifying_key()
            .with_kid("rsa")
            .to_jwk()
            .unwrap(),
    )
    .unwrap();
    let mut rsa_no_alg = rsa.clone();
    rsa_no_alg.as_object_mut().unwrap().remove("alg");
    let p521 =
        serde_json::json!({"kty": "EC", "crv": "P-521", "kid": "p521", "x": "AA", "y": "AA"});
    let mut enc = ec.clone();
    enc["use"] = "enc".into();
    enc["kid"] = "enc".into();
    let doc = serde_json::json!({ "keys": [ec, rsa_no_alg, p521, enc] }).to_string();

    let (verifier, skipped) = Verifier::from_jwks_with(&doc, rules(), &JwksOptions::new()).unwrap();
    assert_eq!(verifier.keys().len(), 1);
    let reasons: Vec<_> = skipped
        .iter()
        .map(|s| (s.index, s.kid.as_deref(), s.reason))
        .collect();
    assert_eq!(
        reasons,
        [
            (1, Some("rsa"), KeyError::MissingAlgorithm),
            (
                2,
                Some("p521"),
                // ring has no P-521; aws-lc-rs has, and rejects these coordinates.
                if token_engine::crypto_backend() == "ring" {
                    KeyError::UnsupportedCurve
                } else {
                    KeyError::PointEncoding
                }
            ),
            (3, Some("enc"), KeyError::KeyUse),
        ]
    );
    assert_eq!(
        skipped[0].to_string(),
        r#"key 1 (kid "rsa"): JWK names no algorithm and its key type implies none"#
    );
    // With a default for RSA keys without `alg`, the RSA key imports too; `from_jwks` and
    // `replace_jwks` take the same options and agree.
    let options = JwksOptions::new().default_rsa_algorithm(Algorithm::RS256);
    let (verifier, skipped) = Verifier::from_jwks_with(&doc, rules(), &options).unwrap();
    assert_eq!(verifier.keys().len(), 2);
    assert_eq!(skipped.len(), 2);
    assert_eq!(Verifier::from_jwks(&doc, rules()).unwrap().keys().len(), 1);
    let report = verifier.replace_jwks(&doc, &options).unwrap();
    assert_eq!((report.keys.len(), report.skipped), (2, skipped));

    // No usable key: the error carries every reason; the current keys stay.
    let unusable = serde_json::json!({ "keys": [rsa_no_alg_only()] }).to_string();
    let err = Verifier::from_jwks(&unusable, rules()).unwrap_err();
    match &err {
        Error::NoUsableKey(skipped) => {
            assert_eq!(skipped.len(), 1);
            assert_eq!(skipped[0].reason, KeyError::MissingAlgorithm);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.oauth_code(), "server_error");
    assert!(err.to_string().contains("key 0"), "{err}");
    assert!(matches!(
        verifier.replace_jwks(&unusable, &JwksOptions::new()),
        Err(Error::NoUsableKey(_))
    ));
    assert_eq!(verifier.keys().len(), 2);
}

fn rsa_no_alg_only() -> serde_json::Value {
    let mut jwk = serde_json::to_value(
        signing_key(Algorithm::RS256)
            .verifying_key()
            .to_jwk()
            .unwrap(),
    )
    .unwrap();
    jwk.as_object_mut().unwrap().remove("alg");
    jwk
}
