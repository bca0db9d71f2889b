//! Named attack tests: each returns a typed error, none panics.

use ring::rand::SystemRandom;
use ring::{hmac, signature};
use token_engine::{Algorithm, Error, SigningKey, TokenError, Verifier};

use crate::common::*;

fn reject(verifier: &Verifier, token: &str) -> TokenError {
    match verifier.verify(token) {
        Err(Error::InvalidToken(reason)) => reason,
        other => panic!("expected a typed rejection, got {other:?}"),
    }
}

fn hs256(secret: &[u8]) -> impl FnOnce(&[u8]) -> Vec<u8> + '_ {
    move |m| {
        hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), m)
            .as_ref()
            .to_vec()
    }
}

#[test]
fn alg_confusion_hs256_signed_with_the_rsa_public_key() {
    let key = SigningKey::from_pem(Algorithm::RS256, &key_file("rsa2048.pkcs8.pem")).unwrap();
    let pem = key.verifying_key().to_public_pem().unwrap();
    let der = key.verifying_key().to_spki_der().unwrap();
    let kid = key.kid().unwrap().to_owned();
    let (_, verifier, _) = setup(key);
    for public_bytes in [pem.as_bytes(), &der[..]] {
        for header in [
            format!(r#"{{"alg":"HS256","typ":"at+jwt","kid":"{kid}"}}"#),
            r#"{"alg":"HS256","typ":"at+jwt"}"#.to_owned(),
        ] {
            let token = forge(&header, &seed_json(), hs256(public_bytes));
            assert_eq!(reject(&verifier, &token), TokenError::AlgorithmMismatch);
        }
    }
}

#[test]
fn alg_confusion_hs256_signed_with_the_ec_public_key() {
    let key = SigningKey::from_pem(Algorithm::ES256, &key_file("p256.pkcs8.pem")).unwrap();
    let spki = key.verifying_key().to_spki_der().unwrap();
    let point = &spki[spki.len() - 65..];
    let (_, verifier, _) = setup(key);
    for public_bytes in [&spki[..], point, key_file("p256.spki.pem").as_bytes()] {
        let token = forge(
            r#"{"alg":"HS256","typ":"at+jwt"}"#,
            &seed_json(),
            hs256(public_bytes),
        );
        assert_eq!(reject(&verifier, &token), TokenError::AlgorithmMismatch);
    }
}

#[test]
fn alg_none_in_any_case_is_rejected() {
    let (_, verifier, _) = setup(signing_key(Algorithm::HS256));
    for alg in ["none", "NONE", "None", "nOnE"] {
        let header = format!(r#"{{"alg":"{alg}","typ":"at+jwt"}}"#);
        let unsigned = forge(&header, &seed_json(), |_| Vec::new());
        assert!(unsigned.ends_with('.'));
        assert_eq!(reject(&verifier, &unsigned), TokenError::AlgNone, "{alg}");
        let with_sig = forge(&header, &seed_json(), |_| vec![0; 32]);
        assert_eq!(reject(&verifier, &with_sig), TokenError::AlgNone, "{alg}");
    }
}

#[test]
fn algorithm_mismatch_between_header_and_key() {
    let cases = [
        (Algorithm::ES256, "ES384"),
        (Algorithm::RS256, "PS256"),
        (Algorithm::RS256, "RS512"),
        (Algorithm::PS384, "PS256"),
        (Algorithm::HS256, "HS512"),
        (Algorithm::EdDSA, "ES256"),
    ];
    for (alg, header_alg) in cases {
        let key = signing_key(alg);
        // Signed by the right key; only the header lies about the algorithm.
        let token = forge_with(&key, &format!(r#"{{"alg":"{header_alg}","typ":"at+jwt"}}"#));
        let (_, verifier, _) = setup(key);
        assert_eq!(
            reject(&verifier, &token),
            TokenError::AlgorithmMismatch,
            "{alg} vs {header_alg}"
        );
    }
    // ES512 does not exist with ring (no P-521); with aws-lc-rs it is another algorithm.
    let key = signing_key(Algorithm::ES256);
    let token = forge_with(&key, r#"{"alg":"ES512","typ":"at+jwt"}"#);
    let (_, verifier, _) = setup(key);
    let expected = if token_engine::crypto_backend() == "ring" {
        TokenError::UnsupportedAlgorithm
    } else {
        TokenError::AlgorithmMismatch
    };
    assert_eq!(reject(&verifier, &token), expected);
}

/// P-256 group order n.
const P256_N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

#[test]
fn ecdsa_psychic_signatures_cve_2022_21449() {
    let key = signing_key(Algorithm::ES256);
    let (_, verifier, _) = setup(key);
    let zero = [0u8; 32];
    let mut one = [0u8; 32];
    one[31] = 1;
    for (r, s) in [
        (zero, zero),
        (P256_N, P256_N),
        (P256_N, one),
        (one, P256_N),
        (zero, one),
        (one, zero),
    ] {
        let token = forge(r#"{"alg":"ES256","typ":"at+jwt"}"#, &seed_json(), |_| {
            [r, s].concat()
        });
        assert_eq!(reject(&verifier, &token), TokenError::InvalidSignature);
    }
}

#[test]
fn der_encoded_ecdsa_signature_is_rejected() {
    let pem = key_file("p256.pkcs8.pem");
    let key = SigningKey::from_pem(Algorithm::ES256, &pem).unwrap();
    let der_signer = {
        let der = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            pem.lines()
                .filter(|l| !l.starts_with("-----"))
                .collect::<String>(),
        )
        .unwrap();
        signature::EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            &der,
            &SystemRandom::new(),
        )
        .unwrap()
    };
    let (_, verifier, _) = setup(key);
    let token = forge(r#"{"alg":"ES256","typ":"at+jwt"}"#, &seed_json(), |m| {
        der_signer
            .sign(&SystemRandom::new(), m)
            .unwrap()
            .as_ref()
            .to_vec()
    });
    assert_eq!(reject(&verifier, &token), TokenError::InvalidSignature);
}

#[test]
fn embedded_or_referenced_keys_in_the_header_are_never_trusted() {
    let key = signing_key(Algorithm::ES256);
    // The attacker's own key, embedded so a naive verifier would use it.
    let (attacker, _) = SigningKey::generate(Algorithm::ES256).unwrap();
    let jwk = serde_json::to_string(&attacker.verifying_key().to_jwk().unwrap()).unwrap();
    let kid = key.kid().unwrap().to_owned();
    let (_, verifier, _) = setup(key);
    let headers = [
        format!(r#"{{"alg":"ES256","typ":"at+jwt","jwk":{jwk}}}"#),
        format!(
            r#"{{"alg":"ES256","typ":"at+jwt","kid":"{kid}","jku":"https://evil.example/jwks"}}"#
        ),
        r#"{"alg":"ES256","typ":"at+jwt","x5u":"https://evil.example/cert"}"#.to_owned(),
        r#"{"alg":"ES256","typ":"at+jwt","x5c":["MIIB"]}"#.to_owned(),
    ];
    for header in headers {
        let token = forge_with(&attacker, &header);
        assert_eq!(
            reject(&verifier, &token),
            TokenError::EmbeddedKey,
            "{header}"
        );
    }
}

#[test]
fn unknown_crit_is_rejected_even_when_signed() {
    let key = signing_key(Algorithm::HS256);
    let token = forge_with(
        &key,
        r#"{"alg":"HS256","typ":"at+jwt","crit":["exp"],"exp":1}"#,
    );
    let token_b64 = forge_with(
        &key,
        r#"{"alg":"HS256","typ":"at+jwt","crit":["b64"],"b64":false}"#,
    );
    let (_, verifier, _) = setup(key);
    assert_eq!(reject(&verifier, &token), TokenError::CriticalHeader);
    assert_eq!(reject(&verifier, &token_b64), TokenError::CriticalHeader);
}

#[test]
fn expired_not_yet_valid_and_future_iat() {
    let (keys, verifier, clock) = setup(signing_key(Algorithm::EdDSA));
    let token = keys.sign_access_token(&seed_claims()).unwrap();
    assert!(verifier.verify(&token).is_ok());
    clock.set(NOW + 800 + 30); // exp + leeway
    assert_eq!(reject(&verifier, &token), TokenError::Expired);
    clock.set(NOW + 800 + 29);
    assert!(verifier.verify(&token).is_ok());

    let mut future = seed_claims();
    future.nbf = Some(NOW + 600);
    let token = keys.sign_access_token(&future).unwrap();
    clock.set(NOW + 569);
    assert_eq!(reject(&verifier, &token), TokenError::NotYetValid);
    clock.set(NOW + 570);
    assert!(verifier.verify(&token).is_ok());

    let mut issued_later = seed_claims();
    issued_later.iat = Some(NOW + 300);
    let token = keys.sign_access_token(&issued_later).unwrap();
    clock.set(NOW + 269);
    assert_eq!(reject(&verifier, &token), TokenError::IssuedInFuture);
}

#[test]
fn wrong_issuer_audience_and_type() {
    let (keys, verifier_es, _) = setup(signing_key(Algorithm::ES256));
    let mut c = seed_claims();
    c.iss = Some("https://evil.example.com".into());
    assert_eq!(
        reject(&verifier_es, &keys.sign_access_token(&c).unwrap()),
        TokenError::Issuer
    );
    let mut c = seed_claims();
    c.aud = Some("https://other-api.example.com".into());
    assert_eq!(
        reject(&verifier_es, &keys.sign_access_token(&c).unwrap()),
        TokenError::Audience
    );
    let sk = keys.signing_key();
    for header in [
        r#"{"alg":"ES256","typ":"JWT"}"#,
        r#"{"alg":"ES256"}"#,
        r#"{"alg":"ES256","typ":"application/jwt"}"#,
        r#"{"alg":"ES256","typ":"dpop+jwt"}"#,
    ] {
        assert_eq!(
            reject(&verifier_es, &forge_with(&sk, header)),
            TokenError::WrongType,
            "{header}"
        );
    }
    assert!(
        verifier_es
            .verify(&forge_with(
                &sk,
                r#"{"alg":"ES256","typ":"application/at+jwt"}"#
            ))
            .is_ok()
    );
}

#[test]
fn oversize_token_is_rejected_before_decoding() {
    let (_, verifier, _) = setup(signing_key(Algorithm::HS256));
    let huge = "A".repeat(1 << 20);
    assert_eq!(reject(&verifier, &huge), TokenError::TooLong);
    let just_over = format!(
        "{}.{}.{}",
        "e".repeat(4000),
        "e".repeat(4000),
        "e".repeat(191)
    );
    assert_eq!(just_over.len(), 8193);
    assert_eq!(reject(&verifier, &just_over), TokenError::TooLong);
    // A large but allowed payload signs and verifies (and is not truncated anywhere).
    let (keys, verifier, _) = setup(signing_key(Algorithm::HS256));
    let mut c = seed_claims();
    c.custom.role = "r".repeat(5000);
    let token = keys.sign_access_token(&c).unwrap();
    assert!(token.len() > 6000 && token.len() < 8192);
    let back = verifier.verify_as::<SeedApp>(&token).unwrap();
    assert_eq!(back.custom.role.len(), 5000);
}

#[test]
fn duplicate_json_keys_in_header_or_claims() {
    let key = signing_key(Algorithm::HS256);
    let dup_header = forge_with(&key, r#"{"alg":"HS256","typ":"at+jwt","typ":"JWT"}"#);
    let dup_alg = forge_with(&key, r#"{"alg":"HS256","alg":"none","typ":"at+jwt"}"#);
    let payload = seed_json().replacen("{", r#"{"sub":"someone-else","#, 1);
    let dup_claim = forge(r#"{"alg":"HS256","typ":"at+jwt"}"#, &payload, |m| {
        key.sign(m).unwrap()
    });
    let payload = seed_json().replacen("{", r#"{"role":"superuser","#, 1);
    let dup_custom = forge(r#"{"alg":"HS256","typ":"at+jwt"}"#, &payload, |m| {
        key.sign(m).unwrap()
    });
    let (_, verifier, _) = setup(key);
    assert_eq!(reject(&verifier, &dup_header), TokenError::DuplicateHeader);
    assert_eq!(reject(&verifier, &dup_alg), TokenError::DuplicateHeader);
    assert_eq!(reject(&verifier, &dup_claim), TokenError::DuplicateClaim);
    match verifier.verify_as::<SeedApp>(&dup_custom) {
        Err(Error::InvalidToken(TokenError::DuplicateClaim)) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn exp_as_string_or_out_of_range_is_rejected() {
    // Fractions and exponents are NumericDates too (RFC 7519 §2; see `interop`): only
    // non-numbers and numbers outside i64 are rejected.
    let key = signing_key(Algorithm::HS256);
    let exp = format!("\"exp\":{}", NOW + 800);
    let tokens: Vec<String> = [
        format!("\"exp\":\"{}\"", NOW + 800),
        "\"exp\":null".to_owned(),
        "\"exp\":true".to_owned(),
        format!("\"exp\":[{}]", NOW + 800),
        "\"exp\":99999999999999999999".to_owned(),
        "\"exp\":9223372036854775808".to_owned(),
        "\"exp\":1e19".to_owned(),
        "\"exp\":1e999".to_owned(),
    ]
    .iter()
    .map(|bad| {
        let payload = seed_json().replace(&exp, bad);
        assert_ne!(payload, seed_json());
        forge(r#"{"alg":"HS256","typ":"at+jwt"}"#, &payload, |m| {
            key.sign(m).unwrap()
        })
    })
    .collect();
    let (_, verifier, _) = setup(key);
    for token in tokens {
        assert_eq!(reject(&verifier, &token), TokenError::Claims);
    }
}

#[test]
fn truncated_and_empty_segments() {
    // A fixed key: with a random one, the signature cut by one character decodes (zero
    // trailing bits) one run in sixteen, and the expected Base64 error would be a signature
    // mismatch instead.
    let key = SigningKey::hmac(Algorithm::HS256, &[0x42; 32]).unwrap();
    let good = forge_with(&key, r#"{"alg":"HS256","typ":"at+jwt"}"#);
    let (_, verifier, _) = setup(key);
    assert!(verifier.verify(&good).is_ok());
    let parts: Vec<&str> = good.split('.').collect();
    let (h, p, s) = (parts[0], parts[1], parts[2]);
    let cases = [
        (String::new(), TokenError::Malformed),
        (".".to_owned(), TokenError::Malformed),
        ("..".to_owned(), TokenError::Malformed),
        (h.to_owned(), TokenError::Malformed),
        (format!("{h}.{p}"), TokenError::Malformed),
        (format!("{h}.{p}.{s}."), TokenError::InvalidSignature),
        (format!("{h}.{p}.{s}.{s}"), TokenError::InvalidSignature),
        (format!(".{p}.{s}"), TokenError::Malformed),
        (format!("{h}..{s}"), TokenError::InvalidSignature),
        (format!("{h}.{p}."), TokenError::InvalidSignature),
        (format!("{h}.{p}.{}", &s[..s.len() - 1]), TokenError::Base64),
        (format!("{h}.{p}.{}", &s[..s.len() - 2]), TokenError::Base64),
        (
            format!("{h}.{p}.{}", &s[..s.len() - 3]),
            TokenError::InvalidSignature,
        ),
        (format!("{}.{p}.{s}", &h[..h.len() - 1]), TokenError::Base64),
        (format!("{}.{p}.{s}", &h[..h.len() - 4]), TokenError::Header),
        (
            format!("{h}.{}.{s}", &p[..p.len() - 4]),
            TokenError::InvalidSignature,
        ),
        (format!("{h}.{p}.{s}="), TokenError::Base64),
        (format!("{h}.{p}.{s} "), TokenError::Base64),
    ];
    for (token, expected) in cases {
        assert_eq!(reject(&verifier, &token), expected, "{token}");
    }
}

#[test]
fn kid_selects_a_key_never_an_algorithm() {
    let hmac_key = SigningKey::hmac(Algorithm::HS256, &[9; 32])
        .unwrap()
        .with_kid("shared");
    let es = signing_key(Algorithm::ES256).with_kid("es");
    let verifier = Verifier::new(vec![hmac_key.verifying_key(), es.verifying_key()], rules())
        .unwrap()
        .with_clock(token_engine::ManualClock::new(NOW + 60));
    // Signed with the HMAC key but naming the EC key's kid: the EC key does not do HS256.
    let token = forge_with(&hmac_key, r#"{"alg":"HS256","typ":"at+jwt","kid":"es"}"#);
    assert_eq!(reject(&verifier, &token), TokenError::AlgorithmMismatch);
    let token = forge_with(&hmac_key, r#"{"alg":"HS256","typ":"at+jwt","kid":"nope"}"#);
    assert_eq!(reject(&verifier, &token), TokenError::UnknownKeyId);
    let token = forge_with(&hmac_key, r#"{"alg":"HS256","typ":"at+jwt"}"#);
    assert_eq!(reject(&verifier, &token), TokenError::MissingKeyId);
    let token = forge_with(
        &hmac_key,
        r#"{"alg":"HS256","typ":"at+jwt","kid":"shared"}"#,
    );
    assert!(verifier.verify(&token).is_ok());
    let token = forge_with(&es, r#"{"alg":"ES256","typ":"at+jwt","kid":"es"}"#);
    assert!(verifier.verify(&token).is_ok());
    // A kid that is not a string is a malformed header.
    let token = forge_with(&es, r#"{"alg":"ES256","typ":"at+jwt","kid":1}"#);
    assert_eq!(reject(&verifier, &token), TokenError::Header);
}
