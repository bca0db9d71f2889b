//! Compact JWS parsing and verification on arbitrary input.
//!
//! The first byte picks the mode: arbitrary bytes as a token (the parser's view of an
//! attacker), or arbitrary bytes as the *payload* of a correctly signed token (so the claims
//! parser and validation are reached past the signature check). Neither may panic; a token
//! that verifies must satisfy the rules it was verified against; a verifier whose key has no
//! `kid` (the token's `kid` is a hint) and whose `typ` is configured with the `application/`
//! prefix agrees with the one that has the `kid` and the bare `typ`.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use token_engine::jose::{sign_compact, verify_compact};
use token_engine::{
    Algorithm, Claim, KeySet, ManualClock, SigningKey, TypeCheck, Validation, Verifier,
    VerifyingKey,
};

const NOW: i64 = 1_714_768_000;

struct Fixture {
    hs: SigningKey,
    verifier: Verifier,
    relaxed: Verifier,
    kidless: Verifier,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let hs = SigningKey::hmac(Algorithm::HS256, &[7; 32])
        .expect("key")
        .with_kid("hs");
    let keys = KeySet::new(
        SigningKey::hmac(Algorithm::HS256, &[7; 32])
            .expect("key")
            .with_kid("hs"),
    );
    let (ec, _) = SigningKey::generate(Algorithm::ES256).expect("ec");
    keys.add_verification_key(ec.verifying_key().with_kid("ec"))
        .expect("add");
    let rules = Validation::new("https://as", "https://api");
    let verifier = keys
        .verifier(rules.clone())
        .expect("verifier")
        .with_clock(ManualClock::new(NOW));
    let relaxed = keys
        .verifier(
            rules
                .clone()
                .required(&[])
                .typ(token_engine::TypeCheck::DangerAny),
        )
        .expect("verifier")
        .with_clock(ManualClock::new(NOW));
    let kidless = Verifier::new(
        vec![VerifyingKey::hmac(Algorithm::HS256, &[7; 32]).expect("key")],
        rules.typ(TypeCheck::Exactly("application/AT+JWT".into())),
    )
    .expect("verifier")
    .with_clock(ManualClock::new(NOW));
    Fixture {
        hs,
        verifier,
        relaxed,
        kidless,
    }
});

fuzz_target!(|data: &[u8]| {
    let f = &*FIXTURE;
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        let token = String::from_utf8_lossy(rest);
        let _ = f.verifier.verify(&token);
        let _ = f.relaxed.verify(&token);
        let _ = f.kidless.verify(&token);
        let mut buf = Vec::new();
        let _ = f
            .relaxed
            .verify_borrowed::<serde_json::Value>(&token, &mut buf);
        let keys = f.verifier.keys();
        let _ = verify_compact(&token, &keys, 64 * 1024);
    } else {
        let Ok(token) = sign_compact(&f.hs, Some("at+jwt"), rest) else {
            return;
        };
        for v in [&f.verifier, &f.relaxed] {
            if let Ok(claims) = v.verify(&token) {
                // Whatever verified obeys the rules: issuer and audience always, the time
                // window whenever the claims are present.
                assert_eq!(claims.iss.as_deref(), Some("https://as"));
                assert!(
                    claims
                        .aud
                        .as_ref()
                        .is_some_and(|a| a.contains("https://api"))
                );
                assert!(claims.exp.is_none_or(|exp| NOW < exp.saturating_add(30)));
                assert!(claims.nbf.is_none_or(|nbf| nbf <= NOW + 30));
                assert!(claims.iat.is_none_or(|iat| iat <= NOW + 30));
            }
        }
        assert_eq!(
            f.verifier.verify(&token).is_ok(),
            f.kidless.verify(&token).is_ok(),
            "kid as a hint and typ with its prefix change nothing for a token of a known key"
        );
        if let Ok(claims) = f.verifier.verify(&token) {
            for c in [
                Claim::Sub,
                Claim::Exp,
                Claim::Iat,
                Claim::Jti,
                Claim::ClientId,
            ] {
                let present = match c {
                    Claim::Sub => claims.sub.is_some(),
                    Claim::Exp => claims.exp.is_some(),
                    Claim::Iat => claims.iat.is_some(),
                    Claim::Jti => claims.jti.is_some(),
                    _ => claims.client_id.is_some(),
                };
                assert!(
                    present,
                    "required claim {c:?} missing from a verified token"
                );
            }
        }
    }
});
