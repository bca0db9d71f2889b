//! The opt-in verified-token cache: hits skip the signature but never the claim checks,
//! failures are never cached, key changes invalidate, size is bounded.

use token_engine::{AccessTokenClaims, Algorithm, Error, TokenError};

use crate::common::*;

fn reason<T: std::fmt::Debug>(r: Result<T, Error>) -> TokenError {
    match r {
        Err(Error::InvalidToken(reason)) => reason,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn repeated_asymmetric_tokens_hit_the_cache_with_identical_claims() {
    let (keys, verifier, _) = setup(signing_key(Algorithm::ES256));
    let verifier = verifier.with_cache(64);
    let token = keys.sign_access_token(&seed_claims()).unwrap();
    assert_eq!(verifier.cached_tokens(), 0);
    let first = verifier.verify_as::<SeedApp>(&token).unwrap();
    assert_eq!(verifier.cached_tokens(), 1);
    let again = verifier.verify_as::<SeedApp>(&token).unwrap();
    assert_eq!(first, again);
    assert_eq!(again, seed_claims());
    let mut buf = Vec::new();
    let borrowed: AccessTokenClaims<'_> = verifier.verify_borrowed(&token, &mut buf).unwrap();
    assert_eq!(borrowed.sub.as_deref(), Some("user123456"));
    assert_eq!(verifier.cached_tokens(), 1);
}

#[test]
fn hmac_tokens_are_not_cached() {
    let (keys, verifier, _) = setup(signing_key(Algorithm::HS256));
    let verifier = verifier.with_cache(64);
    let token = keys.sign_access_token(&seed_claims()).unwrap();
    verifier.verify(&token).unwrap();
    assert_eq!(verifier.cached_tokens(), 0);
}

#[test]
fn every_hit_checks_the_time_window_again() {
    let (keys, verifier, clock) = setup(signing_key(Algorithm::EdDSA));
    let verifier = verifier.with_cache(64);
    let token = keys.sign_access_token(&seed_claims()).unwrap();
    verifier.verify(&token).unwrap();
    assert_eq!(verifier.cached_tokens(), 1);
    clock.set(NOW + 800 + 30);
    assert_eq!(reason(verifier.verify(&token)), TokenError::Expired);
    assert_eq!(verifier.cached_tokens(), 0, "an expired entry is dropped");
    // nbf: a token cached while valid is refused when the clock is set back before nbf.
    let mut later = seed_claims();
    later.nbf = Some(NOW + 100);
    let token = keys.sign_access_token(&later).unwrap();
    clock.set(NOW + 200);
    verifier.verify(&token).unwrap();
    clock.set(NOW + 50);
    assert_eq!(reason(verifier.verify(&token)), TokenError::NotYetValid);
    let mut buf = Vec::new();
    assert_eq!(
        reason(verifier.verify_borrowed::<token_engine::jose::NoCustomClaims>(&token, &mut buf)),
        TokenError::NotYetValid
    );
}

#[test]
fn failures_are_never_cached_and_hits_are_exact() {
    let (keys, verifier, _) = setup(signing_key(Algorithm::ES256));
    let verifier = verifier.with_cache(64);
    let good = keys.sign_access_token(&seed_claims()).unwrap();
    verifier.verify(&good).unwrap();
    // Same header and payload, another signature: not the cached token.
    let (input, sig) = good.rsplit_once('.').unwrap();
    let mut sig = unb64(sig);
    sig[10] ^= 1;
    let forged = format!("{input}.{}", b64(&sig));
    for _ in 0..3 {
        assert_eq!(
            reason(verifier.verify(&forged)),
            TokenError::InvalidSignature
        );
    }
    // A validly signed token that fails validation is not cached either.
    let mut other_aud = seed_claims();
    other_aud.aud = Some("https://elsewhere".into());
    let t = keys.sign_access_token(&other_aud).unwrap();
    for _ in 0..3 {
        assert_eq!(reason(verifier.verify(&t)), TokenError::Audience);
    }
    assert_eq!(verifier.cached_tokens(), 1);
}

#[test]
fn key_changes_invalidate_cached_tokens() {
    let (keys, verifier, _) = setup(signing_key(Algorithm::ES256).with_kid("old"));
    let verifier = verifier.with_cache(64);
    let token = keys.sign_access_token(&seed_claims()).unwrap();
    verifier.verify(&token).unwrap();
    keys.rotate(signing_key(Algorithm::ES256).with_kid("new"))
        .unwrap();
    verifier.verify(&token).unwrap();
    keys.retire("old").unwrap();
    assert_eq!(reason(verifier.verify(&token)), TokenError::UnknownKeyId);
}

#[test]
fn the_cache_is_bounded() {
    let (keys, verifier, _) = setup(signing_key(Algorithm::EdDSA));
    let verifier = verifier.with_cache(16);
    for i in 0..200 {
        let mut c = seed_claims();
        c.jti = Some(format!("jti-{i}").into());
        verifier
            .verify(&keys.sign_access_token(&c).unwrap())
            .unwrap();
    }
    assert!(
        verifier.cached_tokens() <= 16,
        "{}",
        verifier.cached_tokens()
    );
}

#[test]
fn a_shared_hit_is_the_same_claims_without_a_parse_and_still_checks_the_clock() {
    let (keys, verifier, clock) = setup(signing_key(Algorithm::ES256));
    let verifier = verifier.with_cache(64);
    let token = keys.sign_access_token(&seed_claims()).unwrap();
    let first = verifier.verify_shared::<SeedApp>(&token).unwrap();
    assert_eq!(*first, seed_claims());
    assert_eq!(verifier.cached_tokens(), 1);
    // Every later hit hands out the claims kept the first time.
    let again = verifier.verify_shared::<SeedApp>(&token).unwrap();
    assert!(std::sync::Arc::ptr_eq(&first, &again));
    // The owned and borrowed paths still parse the same entry.
    assert_eq!(verifier.verify_as::<SeedApp>(&token).unwrap(), *first);
    // Another type for the same token parses again; asking for the first type again gives
    // the same claims (a fresh parse: the entry keeps one type).
    let plain = verifier
        .verify_shared::<token_engine::jose::NoCustomClaims>(&token)
        .unwrap();
    assert_eq!(plain.sub, first.sub);
    let third = verifier.verify_shared::<SeedApp>(&token).unwrap();
    assert_eq!(*third, *first);
    assert_eq!(verifier.cached_tokens(), 1);
    // The time window on a kept value: expired is refused and the entry dropped.
    clock.set(NOW + 800 + 30);
    assert_eq!(
        reason(verifier.verify_shared::<SeedApp>(&token)),
        TokenError::Expired
    );
    assert_eq!(verifier.cached_tokens(), 0, "an expired entry is dropped");
    // nbf on a kept value.
    let mut later = seed_claims();
    later.nbf = Some(NOW + 900);
    later.exp = Some(NOW + 2000);
    let token = keys.sign_access_token(&later).unwrap();
    clock.set(NOW + 950);
    verifier.verify_shared::<SeedApp>(&token).unwrap();
    verifier.verify_shared::<SeedApp>(&token).unwrap();
    clock.set(NOW + 850);
    assert_eq!(
        reason(verifier.verify_shared::<SeedApp>(&token)),
        TokenError::NotYetValid
    );
}

#[test]
fn shared_claims_are_never_kept_for_failures_hmac_or_old_keys() {
    // HMAC tokens are not cached: two calls, two parses.
    let (keys, verifier, _) = setup(signing_key(Algorithm::HS256));
    let verifier = verifier.with_cache(64);
    let token = keys.sign_access_token(&seed_claims()).unwrap();
    let a = verifier.verify_shared::<SeedApp>(&token).unwrap();
    let b = verifier.verify_shared::<SeedApp>(&token).unwrap();
    assert_eq!(a, b);
    assert!(!std::sync::Arc::ptr_eq(&a, &b));
    assert_eq!(verifier.cached_tokens(), 0);
    // A forged signature on a token whose claims are kept is still refused.
    let (keys, verifier, _) = setup(signing_key(Algorithm::ES256).with_kid("old"));
    let verifier = verifier.with_cache(64);
    let token = keys.sign_access_token(&seed_claims()).unwrap();
    verifier.verify_shared::<SeedApp>(&token).unwrap();
    let (input, sig) = token.rsplit_once('.').unwrap();
    let mut sig = unb64(sig);
    sig[10] ^= 1;
    let forged = format!("{input}.{}", b64(&sig));
    assert_eq!(
        reason(verifier.verify_shared::<SeedApp>(&forged)),
        TokenError::InvalidSignature
    );
    // Key changes: the kept claims are not served once the key is retired.
    keys.rotate(signing_key(Algorithm::ES256).with_kid("new"))
        .unwrap();
    let kept = verifier.verify_shared::<SeedApp>(&token).unwrap();
    assert_eq!(*kept, seed_claims());
    keys.retire("old").unwrap();
    assert_eq!(
        reason(verifier.verify_shared::<SeedApp>(&token)),
        TokenError::UnknownKeyId
    );
    // No cache at all: the same claims, verified every time.
    let (keys, verifier, _) = setup(signing_key(Algorithm::EdDSA));
    let token = keys.sign_access_token(&seed_claims()).unwrap();
    assert_eq!(
        *verifier.verify_shared::<SeedApp>(&token).unwrap(),
        seed_claims()
    );
}
