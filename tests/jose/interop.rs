//! Tokens and keys parse exactly as the RFCs say (issue 16), through the public verification
//! and key-import APIs: each section names the rule it checks.

use serde_json::{Value, json};
use token_engine::jose::{Jwk, JwkSet, Jwks};
use token_engine::{
    AccessTokenClaims, Algorithm, Error, JwksOptions, KeyError, KeySet, ManualClock, SigningKey,
    TokenError, TypeCheck, Verifier, VerifyingKey,
};

use crate::common::*;

/// RFC 7515 Appendix A.3's P-256 key.
const EC_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
const EC_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
const EC_D: &str = "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI";
/// A 32-byte HMAC secret, base64url.
const OCT_K: &str = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr8";

fn hs_key() -> SigningKey {
    SigningKey::hmac(Algorithm::HS256, &[5; 32]).unwrap()
}

/// Verify `payload` signed by [`hs_key`] at `NOW + 60`.
fn verify_payload(payload: &str) -> Result<AccessTokenClaims<'static>, TokenError> {
    let key = hs_key();
    let token = forge(r#"{"alg":"HS256","typ":"at+jwt"}"#, payload, |m| {
        key.sign(m).unwrap()
    });
    let (_, verifier, _) = setup(key);
    verifier.verify(&token).map_err(|e| match e {
        Error::InvalidToken(reason) => reason,
        other => panic!("not a token error: {other:?}"),
    })
}

/// The seed claims as a JSON object with `member` set to the raw JSON `value`.
fn seed_with(member: &str, value: &str) -> String {
    let mut v: Value = serde_json::from_str(&seed_json()).unwrap();
    v.as_object_mut().unwrap().remove(member);
    let rest = v.to_string();
    format!(r#"{{"{member}":{value},{}"#, &rest[1..])
}

// ---- a JWK is an object (RFC 7517 §4) ----

/// The A.3 key in serde's positional form of a struct, in the order of the importer's
/// members (`kty`, `use`, `key_ops`, `alg`, `kid`, `crv`, `x`, `y`, `n`, `e`, `d`, ...).
fn positional_ec(private: bool) -> String {
    let d = if private {
        format!(r#",null,null,"{EC_D}""#)
    } else {
        String::new()
    };
    format!(r#"["EC",null,null,"ES256","k1","P-256","{EC_X}","{EC_Y}"{d}]"#)
}

#[test]
fn jwk_as_an_array_is_rejected_by_every_importer() {
    // The object forms import (so the arrays below fail for their shape alone).
    let object = format!(
        r#"{{"kty":"EC","alg":"ES256","kid":"k1","crv":"P-256","x":"{EC_X}","y":"{EC_Y}"}}"#
    );
    let private = object.replacen('}', &format!(r#","d":"{EC_D}"}}"#), 1);
    assert!(VerifyingKey::from_jwk(&object).is_ok());
    assert!(SigningKey::from_jwk(&private).is_ok());
    let opts = JwksOptions::default();
    assert_eq!(
        Jwks::parse(&format!(r#"{{"keys":[{object}]}}"#), &opts)
            .unwrap()
            .keys
            .len(),
        1
    );

    let public = positional_ec(false);
    let secret = positional_ec(true);
    let oct = format!(
        r#"["oct",null,null,"HS256",null,null,null,null,null,null,null,null,null,null,null,null,"{OCT_K}"]"#
    );
    assert_eq!(
        VerifyingKey::from_jwk(&public).err(),
        Some(KeyError::JwkFormat)
    );
    assert_eq!(
        VerifyingKey::from_jwk(&oct).err(),
        Some(KeyError::JwkFormat)
    );
    assert_eq!(
        SigningKey::from_jwk(&secret).err(),
        Some(KeyError::JwkFormat)
    );
    assert_eq!(SigningKey::from_jwk(&oct).err(), Some(KeyError::JwkFormat));
    for keys in [
        format!("[{public}]"),
        format!("[{oct}]"),
        format!("[{object},{public}]"),
    ] {
        assert_eq!(
            Jwks::parse(&format!(r#"{{"keys":{keys}}}"#), &opts).err(),
            Some(KeyError::JwkFormat),
            "{keys}"
        );
    }
    // A set is an object too.
    assert_eq!(
        Jwks::parse(&format!("[[{object}]]"), &opts).err(),
        Some(KeyError::JwkFormat)
    );
    assert!(matches!(
        Verifier::from_jwks(&format!(r#"{{"keys":[{public}]}}"#), rules()),
        Err(Error::Key(KeyError::JwkFormat))
    ));
}

#[test]
fn public_jwk_types_deserialize_only_from_objects() {
    let object = format!(r#"{{"kty":"EC","crv":"P-256","x":"{EC_X}","y":"{EC_Y}"}}"#);
    let jwk: Jwk = serde_json::from_str(&object).unwrap();
    assert_eq!(jwk.x.as_deref(), Some(EC_X));
    let set: JwkSet = serde_json::from_str(&format!(r#"{{"keys":[{object}]}}"#)).unwrap();
    assert_eq!(set.keys, [jwk]);
    // Every member in order (`kty`, `use`, `alg`, `kid`, `crv`, `x`, `y`, `n`, `e`).
    let positional = format!(r#"["EC","sig","ES256","k","P-256","{EC_X}","{EC_Y}",null,null]"#);
    assert!(serde_json::from_str::<Jwk>(&positional).is_err());
    assert!(serde_json::from_str::<JwkSet>(&format!(r#"{{"keys":[{positional}]}}"#)).is_err());
    assert!(serde_json::from_str::<JwkSet>("[[]]").is_err());
    assert!(serde_json::from_str::<JwkSet>(&format!("[[{object}]]")).is_err());
}

// ---- cnf is an object (RFC 7800 §3.1) ----

#[test]
fn cnf_as_an_array_is_rejected() {
    for cnf in [
        r#"["abc"]"#,
        r#"["abc","def"]"#,
        "[]",
        r#"[null,"def"]"#,
        r#""abc""#,
        "1",
        "null",
    ] {
        assert_eq!(
            verify_payload(&seed_with("cnf", cnf)).err(),
            Some(TokenError::Claims),
            "cnf {cnf}"
        );
    }
    // The object form of the same binding verifies.
    let c = verify_payload(&seed_with("cnf", r#"{"jkt":"abc","x5t#S256":"def"}"#)).unwrap();
    assert_eq!(
        serde_json::to_value(c.cnf.unwrap()).unwrap(),
        json!({"jkt": "abc", "x5t#S256": "def"})
    );
}

// ---- cnf.jwk is represented, never dropped (RFC 7800 §3.2) ----

#[test]
fn cnf_jwk_is_represented_not_dropped() {
    let jwk =
        json!({"kty": "EC", "use": "sig", "crv": "P-256", "x": EC_X, "y": EC_Y, "kid": "pop"});
    let cnf = json!({ "jwk": jwk });
    let c = verify_payload(&seed_with("cnf", &cnf.to_string())).unwrap();
    let back = c.cnf.expect("cnf present");
    // Nothing of the key is lost: it serializes back to exactly what was signed.
    assert_eq!(serde_json::to_value(&back).unwrap(), cnf);
    // Alongside a thumbprint, and with members the crate does not know (RFC 7800 §3.1:
    // ignored), and with escaped member names.
    let with_jkt = r#"{"jkt":"t","osc":{"ms":"x"},"\u006awk":{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}}"#;
    let c = verify_payload(&seed_with("cnf", with_jkt)).unwrap();
    assert_eq!(
        serde_json::to_value(c.cnf.unwrap()).unwrap(),
        json!({"jkt": "t", "jwk": {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}})
    );
}

#[test]
fn cnf_jwk_that_cannot_be_represented_is_rejected() {
    let private = json!({"kty": "EC", "crv": "P-256", "x": EC_X, "y": EC_Y, "d": EC_D});
    let secret = json!({"kty": "oct", "k": OCT_K});
    for jwk in [
        private.to_string(),
        secret.to_string(),
        // Not an object.
        format!(r#"["EC",null,null,null,null,"P-256","{EC_X}","{EC_Y}"]"#),
        r#""EC""#.to_owned(),
        "null".to_owned(),
        // No key type.
        format!(r#"{{"crv":"P-256","x":"{EC_X}","y":"{EC_Y}"}}"#),
        // A member twice.
        format!(r#"{{"kty":"EC","kty":"RSA","crv":"P-256","x":"{EC_X}","y":"{EC_Y}"}}"#),
    ] {
        let cnf = format!(r#"{{"jwk":{jwk}}}"#);
        assert_eq!(
            verify_payload(&seed_with("cnf", &cnf)).err(),
            Some(TokenError::Claims),
            "cnf {cnf}"
        );
    }
    let twice = r#"{"jwk":{"kty":"EC"},"jwk":{"kty":"EC"}}"#;
    assert_eq!(
        verify_payload(&seed_with("cnf", twice)).err(),
        Some(TokenError::Claims)
    );
}

// ---- NumericDates are JSON numbers (RFC 7519 §2) ----

#[test]
fn fractional_and_exponent_numeric_dates_verify() {
    let exp = NOW + 800;
    for (form, want) in [
        (format!("{exp}.5"), exp),
        (format!("{exp}.999"), exp),
        (format!("{exp}.0"), exp),
        (format!("{exp}e0"), exp),
        (format!("{exp}0E-1"), exp),
        ("1.7147688e9".to_owned(), 1_714_768_800),
        ("17147688005e-1".to_owned(), exp),
    ] {
        let c =
            verify_payload(&seed_with("exp", &form)).unwrap_or_else(|e| panic!("{form}: {e:?}"));
        assert_eq!(c.exp, Some(want), "exp {form}");
    }
    // nbf and iat round up, auth_time rounds down.
    let c = verify_payload(&seed_with("nbf", &format!("{}.25", NOW - 10))).unwrap();
    assert_eq!(c.nbf, Some(NOW - 9));
    let c = verify_payload(&seed_with("iat", &format!("{}.000001", NOW - 1))).unwrap();
    assert_eq!(c.iat, Some(NOW));
    let c = verify_payload(&seed_with("auth_time", &format!("{}.75", NOW - 100))).unwrap();
    assert_eq!(c.auth_time, Some(NOW - 100));
    // Negative zero is zero.
    for zero in ["-0", "-0.0", "0e5", "-0E-3"] {
        let c = verify_payload(&seed_with("nbf", zero)).unwrap();
        assert_eq!(c.nbf, Some(0), "nbf {zero}");
    }
    let c = verify_payload(&seed_with("auth_time", "-0.5")).unwrap();
    assert_eq!(c.auth_time, Some(-1));
}

#[test]
fn fractional_numeric_dates_round_in_the_safe_direction() {
    // The verifier's clock is t = NOW + 60 and the leeway 30 s: a token is expired once
    // t >= exp + 30, not yet valid while t + 30 < nbf, issued in the future if iat > t + 30.
    // Each fraction below is on the side of a boundary where rounding the wrong way (exp up,
    // nbf or iat down) would accept the token.
    let t = NOW + 60;
    assert_eq!(
        verify_payload(&seed_with("exp", &format!("{}.5", t - 30))).err(),
        Some(TokenError::Expired)
    );
    assert!(verify_payload(&seed_with("exp", &format!("{}.5", t - 29))).is_ok());
    assert_eq!(
        verify_payload(&seed_with("nbf", &format!("{}.5", t + 30))).err(),
        Some(TokenError::NotYetValid)
    );
    assert!(verify_payload(&seed_with("nbf", &format!("{}", t + 30))).is_ok());
    assert_eq!(
        verify_payload(&seed_with("iat", &format!("{}.5", t + 30))).err(),
        Some(TokenError::IssuedInFuture)
    );
    assert!(verify_payload(&seed_with("iat", &format!("{}", t + 30))).is_ok());
}

#[test]
fn numeric_dates_out_of_range_or_not_numbers_are_rejected() {
    for claim in ["exp", "nbf", "iat", "auth_time"] {
        for bad in [
            "9223372036854775808",
            "18446744073709551616",
            "99999999999999999999",
            "9.3e18",
            "-9.3e18",
            "1e400",
            "-1e400",
            "\"1714768800\"",
            "true",
            "null",
            "[1714768800]",
            "{\"t\":1714768800}",
            "NaN",
            "Infinity",
        ] {
            assert_eq!(
                verify_payload(&seed_with(claim, bad)).err(),
                Some(TokenError::Claims),
                "{claim}: {bad}"
            );
        }
    }
    // The integer extremes still parse (and fail or pass on the clock, not the parser).
    assert!(verify_payload(&seed_with("nbf", "-9223372036854775808")).is_ok());
    assert_eq!(
        verify_payload(&seed_with("exp", "-9.2e18")).err(),
        Some(TokenError::Expired)
    );
}

// ---- kid is a hint (RFC 7515 §4.1.4) ----

fn verifier_over(keys: Vec<VerifyingKey>) -> Verifier {
    Verifier::new(keys, rules())
        .unwrap()
        .with_clock(ManualClock::new(NOW + 60))
}

fn kid_of(token: &str) -> Option<String> {
    let header: Value = serde_json::from_slice(&unb64(token.split('.').next().unwrap())).unwrap();
    header["kid"].as_str().map(str::to_owned)
}

#[test]
fn keys_without_kid_verify_tokens_that_carry_one() {
    // The issuer's own key set writes its thumbprint as kid; the resource server loaded the
    // same key from SPKI PEM or DER, raw bytes or a JWKS entry without kid.
    let ec = SigningKey::from_pem(Algorithm::ES256, &key_file("p256.pkcs8.pem")).unwrap();
    let issuer = KeySet::new(ec);
    let token = issuer.sign_access_token(&seed_claims()).unwrap();
    assert!(kid_of(&token).is_some());
    let public = issuer.signing_key().verifying_key();
    let mut jwk = serde_json::to_value(public.to_jwk().unwrap()).unwrap();
    jwk.as_object_mut().unwrap().remove("kid");
    let spki = public.to_spki_der().unwrap();
    let kidless = [
        VerifyingKey::from_pem(Algorithm::ES256, &key_file("p256.spki.pem")).unwrap(),
        VerifyingKey::from_spki_der(Algorithm::ES256, &key_bytes("p256.spki.der")).unwrap(),
        VerifyingKey::from_raw(Algorithm::ES256, &spki[spki.len() - 65..]).unwrap(),
        VerifyingKey::from_jwk(&jwk.to_string()).unwrap(),
    ];
    for key in kidless {
        assert_eq!(key.kid(), None);
        let claims = verifier_over(vec![key])
            .verify_as::<SeedApp>(&token)
            .unwrap();
        assert_eq!(claims, seed_claims());
    }
    let jwks = json!({ "keys": [jwk] }).to_string();
    let rs = Verifier::from_jwks(&jwks, rules())
        .unwrap()
        .with_clock(ManualClock::new(NOW + 60));
    assert!(rs.verify(&token).is_ok());
    // An RSA key from PEM, and an HMAC secret, likewise.
    let rsa = SigningKey::from_pem(Algorithm::PS256, &key_file("rsa2048.pkcs8.pem")).unwrap();
    let token = KeySet::new(rsa).sign_access_token(&seed_claims()).unwrap();
    let rsa_pub = VerifyingKey::from_pem(Algorithm::PS256, &key_file("rsa2048.spki.pem")).unwrap();
    assert!(verifier_over(vec![rsa_pub]).verify(&token).is_ok());
    let hs = hs_key().with_kid("2026-01");
    let token = KeySet::new(hs).sign_access_token(&seed_claims()).unwrap();
    let hs_pub = VerifyingKey::hmac(Algorithm::HS256, &[5; 32]).unwrap();
    assert!(verifier_over(vec![hs_pub]).verify(&token).is_ok());
}

#[test]
fn kid_fallback_never_uses_a_key_with_another_kid_or_algorithm() {
    let ec = SigningKey::from_pem(Algorithm::ES256, &key_file("p256.pkcs8.pem")).unwrap();
    let token = KeySet::new(ec).sign_access_token(&seed_claims()).unwrap();
    let kidless = VerifyingKey::from_pem(Algorithm::ES256, &key_file("p256.spki.pem")).unwrap();
    let reject = |v: &Verifier| match v.verify(&token) {
        Err(Error::InvalidToken(reason)) => reason,
        other => panic!("{other:?}"),
    };
    // The right key under another kid is not a candidate.
    let other_kid = kidless.clone().with_kid("other");
    assert_eq!(
        reject(&verifier_over(vec![other_kid.clone()])),
        TokenError::UnknownKeyId
    );
    // Beside a key with another kid, the kid-less key is.
    assert!(
        verifier_over(vec![other_kid, kidless.clone()])
            .verify(&token)
            .is_ok()
    );
    // A kid-less key bound to another algorithm is not a candidate.
    let es384 = VerifyingKey::from_pem(Algorithm::ES384, &key_file("p384.spki.pem")).unwrap();
    assert_eq!(
        reject(&verifier_over(vec![es384])),
        TokenError::UnknownKeyId
    );
    // When the kid names a key, that key decides: no fallback after a failed signature.
    let kid = kid_of(&token).unwrap();
    let (wrong, _) = SigningKey::generate(Algorithm::ES256).unwrap();
    let named = wrong.verifying_key().with_kid(kid);
    assert_eq!(
        reject(&verifier_over(vec![named, kidless.clone()])),
        TokenError::InvalidSignature
    );
    // A token whose signature fails under every candidate is an invalid signature.
    let (other, _) = SigningKey::generate(Algorithm::ES256).unwrap();
    let forged = forge_with(&other, r#"{"alg":"ES256","typ":"at+jwt","kid":"zz"}"#);
    let v = verifier_over(vec![kidless]);
    assert!(matches!(
        v.verify(&forged),
        Err(Error::InvalidToken(TokenError::InvalidSignature))
    ));
}

#[test]
fn kid_fallback_tries_at_most_four_keys() {
    let signer = hs_key().with_kid("real");
    let token = KeySet::new(signer)
        .sign_access_token(&seed_claims())
        .unwrap();
    let decoy = |i: u8| VerifyingKey::hmac(Algorithm::HS256, &[100 + i; 32]).unwrap();
    let right = VerifyingKey::hmac(Algorithm::HS256, &[5; 32]).unwrap();
    // Four candidates, the right one last: found.
    let four = vec![decoy(0), decoy(1), decoy(2), right.clone()];
    assert!(verifier_over(four).verify(&token).is_ok());
    // Keys with a kid or another algorithm do not count.
    let mut padded = vec![decoy(0), decoy(1), decoy(2)];
    padded.extend((0..8).map(|i| decoy(10 + i).with_kid(format!("k{i}"))));
    padded.push(VerifyingKey::hmac(Algorithm::HS384, &[9; 48]).unwrap());
    padded.push(right.clone());
    assert!(verifier_over(padded).verify(&token).is_ok());
    // Five: the set is too ambiguous to search; nothing is tried.
    let five = vec![decoy(0), decoy(1), decoy(2), decoy(3), right];
    assert!(matches!(
        verifier_over(five).verify(&token),
        Err(Error::InvalidToken(TokenError::UnknownKeyId))
    ));
}

// ---- typ: the application/ prefix is optional on both sides (RFC 7515 §4.1.9) ----

#[test]
fn configured_typ_with_the_application_prefix_matches() {
    let (keys, _, _) = setup(signing_key(Algorithm::ES256));
    let sk = keys.signing_key();
    for configured in [
        "application/at+jwt",
        "Application/AT+JWT",
        "at+jwt",
        "AT+jwt",
    ] {
        let v = keys
            .verifier(rules().typ(TypeCheck::Exactly(configured.into())))
            .unwrap()
            .with_clock(ManualClock::new(NOW + 60));
        // The crate's own header (fast path) and other spellings (parsed header).
        assert!(
            v.verify(&keys.sign_access_token(&seed_claims()).unwrap())
                .is_ok(),
            "{configured}"
        );
        for header in [
            r#"{"alg":"ES256","typ":"application/at+jwt"}"#,
            r#"{"alg":"ES256","typ":"APPLICATION/AT+JWT"}"#,
            r#"{"alg":"ES256","typ":"at+JWT"}"#,
        ] {
            assert!(
                v.verify(&forge_with(&sk, header)).is_ok(),
                "{configured} {header}"
            );
        }
        for header in [
            r#"{"alg":"ES256","typ":"application/jwt"}"#,
            r#"{"alg":"ES256","typ":"JWT"}"#,
            r#"{"alg":"ES256","typ":"application/application/at+jwt"}"#,
            r#"{"alg":"ES256"}"#,
        ] {
            assert!(
                matches!(
                    v.verify(&forge_with(&sk, header)),
                    Err(Error::InvalidToken(TokenError::WrongType))
                ),
                "{configured} {header}"
            );
        }
    }
    // A configured type with nothing after the prefix names no type.
    assert!(matches!(
        keys.verifier(rules().typ(TypeCheck::Exactly("application/".into()))),
        Err(Error::Config(_))
    ));
}
