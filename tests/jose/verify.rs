//! The verifier end to end: every algorithm, owned and borrowed claims, custom claims.

use std::borrow::Cow;

use serde::Deserialize;
use token_engine::{
    AccessTokenClaims, Algorithm, Claim, Error, SigningKey, TokenError, Validation, Verifier,
};

use crate::common::*;

#[test]
fn every_algorithm_signs_and_verifies_the_seed_token() {
    for &alg in Algorithm::available() {
        let (keys, verifier, _) = setup(signing_key(alg));
        let token = keys.sign_access_token(&seed_claims()).unwrap();
        let header: serde_json::Value =
            serde_json::from_slice(&unb64(token.split('.').next().unwrap())).unwrap();
        assert_eq!(header["alg"], alg.name());
        assert_eq!(header["typ"], "at+jwt");
        let claims = verifier.verify_as::<SeedApp>(&token).unwrap();
        assert_eq!(claims, seed_claims(), "{alg}");
        // Tampering with one byte of the payload breaks it.
        let mut bytes = token.clone().into_bytes();
        let dot = token.find('.').unwrap();
        bytes[dot + 5] = if bytes[dot + 5] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert!(
            matches!(verifier.verify(&tampered), Err(Error::InvalidToken(_))),
            "{alg}"
        );
    }
}

#[test]
fn ed25519_names_are_interchangeable() {
    let (sk, _) = token_engine::SigningKey::generate(Algorithm::Ed25519).unwrap();
    let eddsa_view = token_engine::VerifyingKey::from_raw(Algorithm::EdDSA, &{
        let jwk = sk.verifying_key().to_jwk().unwrap();
        unb64(jwk.x.as_deref().unwrap())
    })
    .unwrap();
    let token = forge_with(&sk, r#"{"alg":"Ed25519","typ":"at+jwt"}"#);
    let verifier = Verifier::new(vec![eddsa_view], rules())
        .unwrap()
        .with_clock(token_engine::ManualClock::new(NOW + 1));
    assert!(verifier.verify(&token).is_ok());
    let token = forge_with(&sk, r#"{"alg":"EdDSA","typ":"at+jwt"}"#);
    assert!(verifier.verify(&token).is_ok());
}

#[derive(Debug, Deserialize, PartialEq)]
struct Borrowed<'a> {
    role: &'a str,
    #[serde(borrow)]
    tenant_id: Cow<'a, str>,
}

#[test]
fn borrowed_verification_reuses_the_buffer_and_borrows_strings() {
    let (keys, verifier, _) = setup(signing_key(Algorithm::HS256));
    let token = keys.sign_access_token(&seed_claims()).unwrap();
    let mut buf = Vec::new();
    let claims: AccessTokenClaims<'_, Borrowed<'_>> =
        verifier.verify_borrowed(&token, &mut buf).unwrap();
    assert_eq!(claims.custom.role, "admin");
    assert!(matches!(claims.sub, Some(Cow::Borrowed("user123456"))));
    assert!(matches!(
        claims.custom.tenant_id,
        Cow::Borrowed("org_987654321")
    ));
    let capacity = buf.capacity();
    for _ in 0..3 {
        let c: AccessTokenClaims<'_> = verifier.verify_borrowed(&token, &mut buf).unwrap();
        assert_eq!(c.exp, Some(NOW + 800));
        assert_eq!(buf.capacity(), capacity);
    }
}

#[test]
fn missing_required_claims_and_custom_rules() {
    let (keys, verifier, _) = setup(signing_key(Algorithm::HS256));
    for (claim, strip) in [
        (Claim::Sub, "sub"),
        (Claim::Exp, "exp"),
        (Claim::Iat, "iat"),
        (Claim::Jti, "jti"),
        (Claim::ClientId, "client_id"),
        (Claim::Iss, "iss"),
        (Claim::Aud, "aud"),
    ] {
        let mut v: serde_json::Value = serde_json::to_value(seed_claims()).unwrap();
        v.as_object_mut().unwrap().remove(strip);
        let token = keys.sign_access_token(&v).unwrap();
        match verifier.verify(&token) {
            Err(Error::InvalidToken(TokenError::MissingClaim(c))) => assert_eq!(c, claim),
            other => panic!("{strip}: {other:?}"),
        }
    }
    // A resource server that only needs exp can say so; iss and aud are still checked.
    let relaxed = keys
        .verifier(Validation::new(ISS, AUD).required(&[Claim::Exp]))
        .unwrap()
        .with_clock(token_engine::ManualClock::new(NOW));
    let mut v: serde_json::Value = serde_json::to_value(seed_claims()).unwrap();
    v.as_object_mut().unwrap().remove("jti");
    assert!(relaxed.verify(&keys.sign_access_token(&v).unwrap()).is_ok());
    // Custom-claims type errors are claim errors.
    #[derive(Debug, Deserialize)]
    struct NeedsLevel {
        #[allow(dead_code)]
        level: u8,
    }
    let token = keys.sign_access_token(&seed_claims()).unwrap();
    assert!(matches!(
        verifier.verify_as::<NeedsLevel>(&token),
        Err(Error::InvalidToken(TokenError::Claims))
    ));
}

#[test]
fn multiple_audiences_and_issuers() {
    let (keys, _, _) = setup(signing_key(Algorithm::ES256));
    let verifier = keys
        .verifier(
            Validation::new("https://old-issuer", "https://a")
                .also_issuer(ISS)
                .also_audience(AUD),
        )
        .unwrap()
        .with_clock(token_engine::ManualClock::new(NOW));
    let mut c = seed_claims();
    c.aud = Some(token_engine::Audience::Many(vec![
        "https://z".into(),
        AUD.into(),
    ]));
    assert!(
        verifier
            .verify(&keys.sign_access_token(&c).unwrap())
            .is_ok()
    );
    c.aud = Some(token_engine::Audience::Many(vec![]));
    assert!(matches!(
        verifier.verify(&keys.sign_access_token(&c).unwrap()),
        Err(Error::InvalidToken(TokenError::Audience))
    ));
}

#[test]
fn invalid_rules_are_config_errors() {
    let (keys, _, _) = setup(signing_key(Algorithm::HS256));
    for rules in [
        Validation::new("", AUD),
        Validation::new(ISS, ""),
        Validation::new(ISS, AUD).leeway(time::Duration::hours(1)),
        Validation::new(ISS, AUD).max_token_len(10 << 20),
    ] {
        assert!(matches!(keys.verifier(rules), Err(Error::Config(_))));
    }
}

/// A header seen for the first time is decoded by one of two decoders depending on its length
/// (a table up to 64 base64url characters, the SIMD engine above) into a stack buffer up to
/// 192 decoded bytes (256 characters), a heap buffer above: every length on both sides of both
/// switches verifies, and a bad character or non-zero trailing bits fail as `Base64` there.
#[test]
fn first_sight_headers_decode_alike_on_both_sides_of_each_switch() {
    let key = SigningKey::hmac(Algorithm::HS256, &[9; 32])
        .unwrap()
        .with_kid("k");
    let (keys, verifier, _clock) = setup(key);
    let signer = keys.signing_key();
    let mut lengths = Vec::new();
    for pad in 0..200 {
        let header = format!(
            r#"{{"alg":"HS256","kid":"k","typ":"at+jwt","x":"{}"}}"#,
            "y".repeat(pad)
        );
        let token = forge_with(&signer, &header);
        let encoded = token.split('.').next().unwrap().to_owned();
        if !(56..=72).contains(&encoded.len()) && !(248..=264).contains(&encoded.len()) {
            continue;
        }
        lengths.push(encoded.len());
        assert!(
            verifier.verify(&token).is_ok(),
            "{} characters",
            encoded.len()
        );
        let rest = &token[encoded.len()..];
        let mut bad = encoded.clone().into_bytes();
        bad[encoded.len() / 2] = b'*';
        let bad = format!("{}{rest}", String::from_utf8(bad).unwrap());
        assert!(
            matches!(
                verifier.verify(&bad),
                Err(Error::InvalidToken(TokenError::Base64))
            ),
            "a bad character at {} characters",
            encoded.len()
        );
        if !encoded.len().is_multiple_of(4) {
            // `B` is 1: a non-zero low bit where the last character must have zero bits.
            let trailing = format!("{}B{rest}", &encoded[..encoded.len() - 1]);
            assert!(
                matches!(
                    verifier.verify(&trailing),
                    Err(Error::InvalidToken(TokenError::Base64))
                ),
                "trailing bits at {} characters",
                encoded.len()
            );
        }
    }
    for edge in [64, 66, 67, 255, 256, 258] {
        assert!(lengths.contains(&edge), "{edge} not covered: {lengths:?}");
    }
}

/// Headers another issuer wrote are read once and then recognised by their bytes; what they
/// are recognised as must never depend on which verification saw them first.
#[test]
fn foreign_headers_verify_the_same_every_time() {
    let key = SigningKey::hmac(Algorithm::HS256, &[9; 32])
        .unwrap()
        .with_kid("k");
    let (keys, verifier, clock) = setup(key);
    let signer = keys.signing_key();
    let typ_first = forge_with(&signer, r#"{"typ":"at+jwt","alg":"HS256","kid":"k"}"#);
    let jwt = forge_with(&signer, r#"{"kid":"k", "alg":"HS256", "typ":"JWT"}"#);
    let id_rules = keys
        .verifier(rules().typ(token_engine::TypeCheck::Exactly("JWT".into())))
        .unwrap()
        .with_clock(clock);
    for _ in 0..3 {
        assert!(verifier.verify(&typ_first).is_ok());
        assert!(id_rules.verify(&jwt).is_ok());
        // The same bytes under other rules: the remembered `typ` is judged again.
        assert!(matches!(
            verifier.verify(&jwt),
            Err(Error::InvalidToken(TokenError::WrongType))
        ));
        assert!(matches!(
            id_rules.verify(&typ_first),
            Err(Error::InvalidToken(TokenError::WrongType))
        ));
        // A remembered header does not vouch for a signature.
        let mut forged = typ_first.clone();
        forged.pop();
        forged.push(if typ_first.ends_with('A') { 'B' } else { 'A' });
        assert!(matches!(
            verifier.verify(&forged),
            Err(Error::InvalidToken(
                TokenError::InvalidSignature | TokenError::Base64
            ))
        ));
    }
    // New keys forget what the old ones learned.
    keys.rotate(
        SigningKey::hmac(Algorithm::HS256, &[8; 32])
            .unwrap()
            .with_kid("k2"),
    )
    .unwrap();
    keys.retire("k").unwrap();
    assert!(matches!(
        verifier.verify(&typ_first),
        Err(Error::InvalidToken(TokenError::UnknownKeyId))
    ));
}

/// With keys that carry no `kid`, the key a header stands for depends on the signature: such
/// headers are never remembered, so two issuers' tokens with identical headers both verify.
#[test]
fn kidless_fallback_is_not_remembered() {
    let a = SigningKey::hmac(Algorithm::HS256, &[1; 32]).unwrap();
    let b = SigningKey::hmac(Algorithm::HS256, &[2; 32]).unwrap();
    let verifier = Verifier::new(vec![a.verifying_key(), b.verifying_key()], rules())
        .unwrap()
        .with_clock(token_engine::ManualClock::new(NOW + 60));
    let header = r#"{"alg":"HS256","typ":"at+jwt","kid":"unknown"}"#;
    let (ta, tb) = (forge_with(&a, header), forge_with(&b, header));
    for _ in 0..3 {
        assert!(verifier.verify(&ta).is_ok());
        assert!(verifier.verify(&tb).is_ok());
    }
}

/// Tokens that are not access tokens (an ID token from another provider, a signed webhook)
/// go through the same JWS rules with the claim checks the caller names, and nothing else.
#[test]
fn verify_jwt_checks_what_the_rules_name() {
    #[derive(Debug, Deserialize)]
    struct IdToken {
        nonce: String,
    }
    use token_engine::JwtRules;
    let key = signing_key(Algorithm::RS256).with_kid("google-1");
    let (_, verifier, _) = setup(key);
    let key = signing_key(Algorithm::RS256).with_kid("google-1");
    let id = |claims: serde_json::Value, typ: Option<&str>| {
        token_engine::jose::sign_compact(&key, typ, claims.to_string().as_bytes()).unwrap()
    };
    let claims = serde_json::json!({
        "iss": "https://accounts.example.com", "sub": "1234", "aud": ["my-client", "other"],
        "exp": NOW + 600, "iat": NOW, "nonce": "n-0S6_WzA2Mj", "email": "a@example.com"
    });
    let rules = JwtRules::new()
        .issuer("https://accounts.example.com")
        .audience("my-client")
        .require(&[Claim::Sub, Claim::Exp, Claim::Iat]);
    let token = id(claims.clone(), Some("JWT"));
    let c = verifier.verify_jwt::<IdToken>(&token, &rules).unwrap();
    assert_eq!(c.custom.nonce, "n-0S6_WzA2Mj");
    assert_eq!(c.sub.as_deref(), Some("1234"));
    // Not an access token, whatever key signed it.
    assert!(matches!(
        verifier.verify(&token),
        Err(Error::InvalidToken(TokenError::WrongType))
    ));
    // Each named check, and only those.
    let reason = |r: Result<_, Error>| match r {
        Err(Error::InvalidToken(reason)) => reason,
        other => panic!("{other:?}"),
    };
    let with = |k: &str, v: serde_json::Value| {
        let mut c = claims.clone();
        c[k] = v;
        id(c, None)
    };
    let without = |k: &str| {
        let mut c = claims.clone();
        c.as_object_mut().unwrap().remove(k);
        id(c, None)
    };
    let v = |t: &str, r: &JwtRules| verifier.verify_jwt::<token_engine::jose::NoCustomClaims>(t, r);
    assert_eq!(
        reason(v(&with("iss", "https://evil".into()), &rules)),
        TokenError::Issuer
    );
    assert_eq!(
        reason(v(&with("aud", "api".into()), &rules)),
        TokenError::Audience
    );
    assert_eq!(
        reason(v(&with("exp", (NOW - 60).into()), &rules)),
        TokenError::Expired
    );
    assert_eq!(
        reason(v(&without("sub"), &rules)),
        TokenError::MissingClaim(Claim::Sub)
    );
    assert_eq!(
        reason(v(&without("iss"), &rules)),
        TokenError::MissingClaim(Claim::Iss)
    );
    let typed = rules.clone().typ("JWT");
    assert!(v(&token, &typed).is_ok());
    assert_eq!(
        reason(v(&id(claims.clone(), None), &typed)),
        TokenError::WrongType
    );
    assert_eq!(
        reason(v(&id(claims.clone(), Some("at+jwt")), &typed)),
        TokenError::WrongType
    );
    // A webhook: no issuer or audience to check, exp required by default.
    let webhook = JwtRules::new();
    assert!(v(&without("iss"), &webhook).is_ok());
    assert_eq!(
        reason(v(&without("exp"), &webhook)),
        TokenError::MissingClaim(Claim::Exp)
    );
    assert!(v(&without("exp"), &webhook.clone().require(&[])).is_ok());
    // The JWS rules hold whatever the claim rules: alg none, unknown kid, bad signature.
    let none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none"}"#),
        b64(claims.to_string().as_bytes())
    );
    assert_eq!(reason(v(&none, &webhook)), TokenError::AlgNone);
    let other = signing_key(Algorithm::ES256).with_kid("nope");
    let stranger =
        token_engine::jose::sign_compact(&other, None, claims.to_string().as_bytes()).unwrap();
    assert_eq!(reason(v(&stranger, &webhook)), TokenError::UnknownKeyId);
    assert!(matches!(
        v(&token, &JwtRules::new().leeway(time::Duration::hours(1))),
        Err(Error::Config(_))
    ));
}
