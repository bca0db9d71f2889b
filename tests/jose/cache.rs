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

/// `token` with one bit of its signature flipped.
fn forged(token: &str) -> String {
    let (input, sig) = token.rsplit_once('.').unwrap();
    let mut sig = unb64(sig);
    sig[10] ^= 1;
    format!("{input}.{}", b64(&sig))
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
    let forged = forged(&good);
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
    // The owned path still parses the same entry.
    assert_eq!(verifier.verify_as::<SeedApp>(&token).unwrap(), *first);
    // Another type for the same token parses again and takes the entry over; asking for the
    // first type again parses again (same claims, another `Arc`), which is then kept.
    let plain = verifier
        .verify_shared::<token_engine::jose::NoCustomClaims>(&token)
        .unwrap();
    assert_eq!(plain.sub, first.sub);
    let third = verifier.verify_shared::<SeedApp>(&token).unwrap();
    assert_eq!(*third, *first);
    assert!(!std::sync::Arc::ptr_eq(&third, &first));
    let fourth = verifier.verify_shared::<SeedApp>(&token).unwrap();
    assert!(std::sync::Arc::ptr_eq(&third, &fourth));
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
    let before = verifier.verify_shared::<SeedApp>(&token).unwrap();
    let forged = forged(&token);
    assert_eq!(
        reason(verifier.verify_shared::<SeedApp>(&forged)),
        TokenError::InvalidSignature
    );
    // Key changes: the kept claims are not served once the key is retired.
    keys.rotate(signing_key(Algorithm::ES256).with_kid("new"))
        .unwrap();
    let kept = verifier.verify_shared::<SeedApp>(&token).unwrap();
    assert_eq!(*kept, seed_claims());
    assert!(
        !std::sync::Arc::ptr_eq(&kept, &before),
        "claims kept under the old keys are not served after a key change"
    );
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

#[test]
fn a_failed_shared_verification_is_reported_once() {
    let (keys, verifier, clock) = setup(signing_key(Algorithm::ES256));
    let sink = std::sync::Arc::new(token_engine::event::CollectingSink::new());
    let verifier = verifier.with_cache(64).with_events(sink.clone());
    let token = keys.sign_access_token(&seed_claims()).unwrap();
    verifier.verify_shared::<SeedApp>(&token).unwrap();
    verifier.verify_shared::<SeedApp>(&token).unwrap();
    assert!(sink.take().is_empty(), "successes emit nothing");
    // A miss that fails, a kept value that has expired, and the miss after it.
    reason(verifier.verify_shared::<SeedApp>("not-a-jwt"));
    clock.set(NOW + 800 + 30);
    reason(verifier.verify_shared::<SeedApp>(&token));
    reason(verifier.verify_shared::<SeedApp>(&token));
    assert_eq!(
        sink.take(),
        [
            token_engine::event::Event::VerificationFailed {
                reason: TokenError::Malformed
            },
            token_engine::event::Event::VerificationFailed {
                reason: TokenError::Expired
            },
            token_engine::event::Event::VerificationFailed {
                reason: TokenError::Expired
            },
        ]
    );
}

thread_local! {
    static DROP_HOOK: std::cell::RefCell<Option<token_engine::Verifier>> =
        const { std::cell::RefCell::new(None) };
}

/// Application claims whose `Drop` calls back into the verifier (as a type holding a
/// handle to it might): the cache must not drop them while it holds a lock.
#[derive(serde::Deserialize)]
struct CallsBackOnDrop {}

impl Drop for CallsBackOnDrop {
    fn drop(&mut self) {
        DROP_HOOK.with(|h| {
            if let Some(v) = h.borrow().as_ref() {
                std::hint::black_box(v.cached_tokens());
            }
        });
    }
}

#[test]
fn kept_claims_are_dropped_outside_the_cache_lock() {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (keys, verifier, clock) = setup(signing_key(Algorithm::EdDSA));
        let verifier = verifier.with_cache(16);
        DROP_HOOK.with(|h| *h.borrow_mut() = Some(verifier.clone()));
        let token = keys.sign_access_token(&seed_claims()).unwrap();
        // Kept, then replaced by another type's claims: the old ones are dropped.
        drop(verifier.verify_shared::<CallsBackOnDrop>(&token).unwrap());
        drop(verifier.verify_shared::<SeedApp>(&token).unwrap());
        // Kept, then the entry is replaced by a new insert (after a key change).
        drop(verifier.verify_shared::<CallsBackOnDrop>(&token).unwrap());
        keys.rotate(signing_key(Algorithm::EdDSA).with_kid("next"))
            .unwrap();
        drop(verifier.verify_shared::<SeedApp>(&token).unwrap());
        // Kept, then removed on expiry.
        drop(verifier.verify_shared::<CallsBackOnDrop>(&token).unwrap());
        clock.set(NOW + 800 + 30);
        assert!(verifier.verify_shared::<CallsBackOnDrop>(&token).is_err());
        // Kept, then evicted by other tokens.
        clock.set(NOW + 60);
        let mut c = seed_claims();
        c.jti = Some("kept".into());
        let kept = keys.sign_access_token(&c).unwrap();
        drop(verifier.verify_shared::<CallsBackOnDrop>(&kept).unwrap());
        for i in 0..64 {
            let mut c = seed_claims();
            c.jti = Some(format!("other-{i}").into());
            verifier
                .verify(&keys.sign_access_token(&c).unwrap())
                .unwrap();
        }
        DROP_HOOK.with(|h| h.borrow_mut().take());
        done.send(()).unwrap();
    });
    finished
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("a drop under the cache's lock deadlocked or panicked");
}
