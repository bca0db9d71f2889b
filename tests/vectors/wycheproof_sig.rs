//! Wycheproof signature and MAC primitive files through this crate's key types
//! (`VerifyingKey::verify`, `SigningKey::sign`), not through `ring` directly.

use serde_json::Value;
use token_engine::{Algorithm, KeyError, SigningKey, TokenError, VerifyingKey};

use super::common::{Tally, arr, flip_bit, hex, load_json, n, no_panic, s};

/// How a file's labels relate to this crate's verifier.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `valid` must verify, `invalid` must not, `acceptable` may go either way.
    Labels,
    /// DER-encoded ECDSA signatures: a JWS verifier takes only `r || s`, so every case must
    /// be rejected, including those labelled valid.
    RejectAll,
}

/// Import a group's public key from its raw field (as `ring` takes it), and cross-check the
/// other encodings the group carries (SPKI DER, PEM, JWK): they must agree on acceptance and,
/// when accepted, on the algorithm and RFC 7638 thumbprint.
fn import(case: &str, alg: Algorithm, group: &Value, raw: &[u8]) -> Result<VerifyingKey, KeyError> {
    let key = no_panic(case, || VerifyingKey::from_raw(alg, raw));
    let der = hex(s(group, "publicKeyDer"));
    let mut others = vec![
        (
            "SPKI DER",
            no_panic(case, || VerifyingKey::from_spki_der(alg, &der)),
        ),
        (
            "PEM",
            no_panic(case, || {
                VerifyingKey::from_pem(alg, s(group, "publicKeyPem"))
            }),
        ),
    ];
    let jwk = if group["publicKeyJwk"].is_object() {
        Some(&group["publicKeyJwk"])
    } else if group["keyJwk"].is_object() {
        Some(&group["keyJwk"])
    } else {
        None
    };
    if let Some(jwk) = jwk {
        others.push((
            "JWK",
            no_panic(case, || VerifyingKey::from_jwk(&jwk.to_string())),
        ));
    }
    for (what, other) in others {
        match (&key, &other) {
            (Ok(a), Ok(b)) => {
                assert_eq!(a.alg(), b.alg(), "{case}: {what} import binds another alg");
                assert_eq!(
                    a.thumbprint(),
                    b.thumbprint(),
                    "{case}: {what} import gives another key"
                );
            }
            (Err(_), Err(_)) => {}
            (a, b) => panic!("{case}: raw import {a:?} but {what} import {b:?}"),
        }
    }
    key
}

/// Run one signature file: every group, every case, with one-bit tampering of every valid
/// case. Returns the counts.
fn run_signature_file(
    file: &str,
    alg: Algorithm,
    raw_key: fn(&Value) -> Vec<u8>,
    mode: Mode,
) -> Tally {
    let doc = load_json(&format!("wycheproof/{file}"));
    let mut tally = Tally::default();
    for group in arr(&doc, "testGroups") {
        let first = arr(group, "tests").first().map_or(0, |t| n(t, "tcId"));
        let key = import(
            &format!("{file} group of tcId {first}"),
            alg,
            group,
            &raw_key(group),
        );
        for test in arr(group, "tests") {
            let case = format!("{file} tcId {}", n(test, "tcId"));
            let (msg, sig, result) = (hex(s(test, "msg")), hex(s(test, "sig")), s(test, "result"));
            let outcome = match &key {
                Ok(key) => no_panic(&*case, || key.verify(&msg, &sig)).map_err(Some),
                Err(_) => Err(None),
            };
            if let Err(Some(reason)) = outcome {
                assert_eq!(reason, TokenError::InvalidSignature, "{case}");
            }
            let accepted = outcome.is_ok();
            match (mode, result) {
                (Mode::RejectAll, _) => assert!(
                    !accepted,
                    "{case}: a DER-encoded ECDSA signature ({result}) was accepted"
                ),
                (Mode::Labels, "valid") => assert!(
                    accepted,
                    "{case} ({}) is valid but was rejected ({})",
                    s(test, "comment"),
                    match &key {
                        Err(e) => format!("key rejected at import: {e:?}"),
                        Ok(_) => "bad signature".to_owned(),
                    }
                ),
                (Mode::Labels, "invalid") => assert!(
                    !accepted,
                    "{case} ({}) is invalid but was accepted",
                    s(test, "comment")
                ),
                (Mode::Labels, "acceptable") => {}
                (_, other) => panic!("{case}: unknown result {other:?}"),
            }
            tally.record(accepted, key.is_err());
            if let (Ok(key), "valid") = (&key, result) {
                tally.tampered += assert_primitive_tamper_rejected(&case, key, &msg, &sig);
            }
        }
    }
    assert_eq!(tally.total as u64, n(&doc, "numberOfTests"), "{file}");
    tally.report(file);
    tally
}

/// Flip one bit of the signature, and separately one bit of the message (unless it is
/// empty): both must fail with `InvalidSignature`. Returns how many were checked.
fn assert_primitive_tamper_rejected(
    case: &str,
    key: &VerifyingKey,
    msg: &[u8],
    sig: &[u8],
) -> usize {
    let mut checked = 0;
    if !sig.is_empty() {
        let bad = flip_bit(sig);
        assert_eq!(
            no_panic(case, || key.verify(msg, &bad)),
            Err(TokenError::InvalidSignature),
            "{case}: signature with one bit flipped verified"
        );
        checked += 1;
    }
    if !msg.is_empty() {
        let bad = flip_bit(msg);
        assert_eq!(
            no_panic(case, || key.verify(&bad, sig)),
            Err(TokenError::InvalidSignature),
            "{case}: message with one bit flipped verified"
        );
        checked += 1;
    }
    checked
}

fn ec_point(group: &Value) -> Vec<u8> {
    hex(s(&group["publicKey"], "uncompressed"))
}

fn ed25519_pk(group: &Value) -> Vec<u8> {
    hex(s(&group["publicKey"], "pk"))
}

/// `publicKeyAsn` is the PKCS#1 `RSAPublicKey` (SEQUENCE { n, e }), which `from_raw` takes;
/// `publicKeyDer` (the SPKI) is cross-checked by `import`.
fn rsa_public_key(group: &Value) -> Vec<u8> {
    hex(s(group, "publicKeyAsn"))
}

#[test]
fn wycheproof_ecdsa_p256_p1363() {
    let t = run_signature_file(
        "ecdsa_secp256r1_sha256_p1363_test.json",
        Algorithm::ES256,
        ec_point,
        Mode::Labels,
    );
    assert_eq!(t.key_rejected, 0);
}

#[test]
fn wycheproof_ecdsa_p384_p1363() {
    let t = run_signature_file(
        "ecdsa_secp384r1_sha384_p1363_test.json",
        Algorithm::ES384,
        ec_point,
        Mode::Labels,
    );
    assert_eq!(t.key_rejected, 0);
}

#[test]
fn wycheproof_ecdsa_p256_der_always_rejected() {
    let t = run_signature_file(
        "ecdsa_secp256r1_sha256_test.json",
        Algorithm::ES256,
        ec_point,
        Mode::RejectAll,
    );
    assert_eq!((t.accepted, t.key_rejected), (0, 0));
}

#[test]
fn wycheproof_ecdsa_p384_der_always_rejected() {
    let t = run_signature_file(
        "ecdsa_secp384r1_sha384_test.json",
        Algorithm::ES384,
        ec_point,
        Mode::RejectAll,
    );
    assert_eq!((t.accepted, t.key_rejected), (0, 0));
}

#[test]
fn wycheproof_ed25519() {
    let t = run_signature_file(
        "ed25519_test.json",
        Algorithm::EdDSA,
        ed25519_pk,
        Mode::Labels,
    );
    assert_eq!(t.key_rejected, 0);
}

#[test]
fn wycheproof_rsa_pkcs1_sha256() {
    run_signature_file(
        "rsa_signature_2048_sha256_test.json",
        Algorithm::RS256,
        rsa_public_key,
        Mode::Labels,
    );
}

#[test]
fn wycheproof_rsa_pkcs1_sha384() {
    run_signature_file(
        "rsa_signature_2048_sha384_test.json",
        Algorithm::RS384,
        rsa_public_key,
        Mode::Labels,
    );
}

#[test]
fn wycheproof_rsa_pkcs1_sha512() {
    run_signature_file(
        "rsa_signature_2048_sha512_test.json",
        Algorithm::RS512,
        rsa_public_key,
        Mode::Labels,
    );
}

#[test]
fn wycheproof_rsa_pss_2048_sha256() {
    run_signature_file(
        "rsa_pss_2048_sha256_mgf1_32_test.json",
        Algorithm::PS256,
        rsa_public_key,
        Mode::Labels,
    );
}

#[test]
fn wycheproof_rsa_pss_2048_sha384() {
    run_signature_file(
        "rsa_pss_2048_sha384_mgf1_48_test.json",
        Algorithm::PS384,
        rsa_public_key,
        Mode::Labels,
    );
}

#[test]
fn wycheproof_rsa_pss_4096_sha512() {
    run_signature_file(
        "rsa_pss_4096_sha512_mgf1_64_test.json",
        Algorithm::PS512,
        rsa_public_key,
        Mode::Labels,
    );
}

/// An HMAC file: only the groups whose tag is the full hash output are JWS algorithms; the
/// others (truncated tags) are skipped. Keys shorter than the hash must be rejected at import
/// (RFC 7518 §3.2) with `KeyError::HmacTooShort`, whatever the case's label.
fn run_hmac_file(file: &str, alg: Algorithm, hash_bits: u64) {
    let doc = load_json(&format!("wycheproof/{file}"));
    let mut tally = Tally::default();
    let mut short_keys = 0;
    for group in arr(&doc, "testGroups") {
        if n(group, "tagSize") != hash_bits {
            arr(group, "tests").iter().for_each(|_| tally.skip());
            continue;
        }
        for test in arr(group, "tests") {
            let case = format!("{file} tcId {}", n(test, "tcId"));
            let (secret, msg, tag) = (
                hex(s(test, "key")),
                hex(s(test, "msg")),
                hex(s(test, "tag")),
            );
            let result = s(test, "result");
            let key = no_panic(&*case, || VerifyingKey::hmac(alg, &secret));
            if (secret.len() as u64) * 8 < hash_bits {
                assert_eq!(
                    key.as_ref().err(),
                    Some(&KeyError::HmacTooShort),
                    "{case}: a {}-byte secret must be rejected for {alg}",
                    secret.len()
                );
                short_keys += 1;
                tally.record(false, true);
                continue;
            }
            let key = key.unwrap_or_else(|e| panic!("{case}: key rejected: {e:?}"));
            let outcome = no_panic(&*case, || key.verify(&msg, &tag));
            if let Err(reason) = outcome {
                assert_eq!(reason, TokenError::InvalidSignature, "{case}");
            }
            match result {
                "valid" => assert!(outcome.is_ok(), "{case} is valid but was rejected"),
                "invalid" => assert!(outcome.is_err(), "{case} is invalid but was accepted"),
                "acceptable" => {}
                other => panic!("{case}: unknown result {other:?}"),
            }
            tally.record(outcome.is_ok(), false);
            if result == "valid" {
                tally.tampered += assert_primitive_tamper_rejected(&case, &key, &msg, &tag);
            }
        }
    }
    assert_eq!(tally.total as u64, n(&doc, "numberOfTests"), "{file}");
    assert!(short_keys > 0, "{file}: the short-key group is gone");
    tally.report(file);
}

#[test]
fn wycheproof_hmac_sha256() {
    run_hmac_file("hmac_sha256_test.json", Algorithm::HS256, 256);
}

#[test]
fn wycheproof_hmac_sha384() {
    run_hmac_file("hmac_sha384_test.json", Algorithm::HS384, 384);
}

#[test]
fn wycheproof_hmac_sha512() {
    run_hmac_file("hmac_sha512_test.json", Algorithm::HS512, 512);
}

/// Known-answer RSASSA-PKCS1-v1_5 signing (deterministic): `SigningKey::from_pkcs8_der` and
/// `sign` must reproduce every signature of the SHA-256/384/512 groups, and the matching
/// `VerifyingKey` must verify it. Other hashes are skipped.
#[test]
fn wycheproof_rsa_pkcs1_sign_known_answers() {
    let file = "rsa_pkcs1_2048_sig_gen_test.json";
    let doc = load_json(&format!("wycheproof/{file}"));
    let mut tally = Tally::default();
    let (mut signed, mut acceptable) = (0, 0);
    for group in arr(&doc, "testGroups") {
        let alg = match s(group, "sha") {
            "SHA-256" => Algorithm::RS256,
            "SHA-384" => Algorithm::RS384,
            "SHA-512" => Algorithm::RS512,
            _ => {
                arr(group, "tests").iter().for_each(|_| tally.skip());
                continue;
            }
        };
        let pkcs8 = hex(s(group, "privateKeyPkcs8"));
        let key = no_panic(file, || SigningKey::from_pkcs8_der(alg, &pkcs8));
        for test in arr(group, "tests") {
            let case = format!("{file} tcId {}", n(test, "tcId"));
            let (msg, sig, result) = (hex(s(test, "msg")), hex(s(test, "sig")), s(test, "result"));
            acceptable += i32::from(result == "acceptable");
            let key = match (&key, result) {
                (Ok(key), _) => key,
                (Err(e), "acceptable") if token_engine::crypto_backend() == "ring" => {
                    // e = 3 keys: ring signs only with e >= 65537 (aws-lc-rs signs with them).
                    eprintln!("  {case} [acceptable]: signing key rejected: {e:?}");
                    tally.record(false, true);
                    continue;
                }
                (Err(e), _) => panic!("{case} ({result}): signing key rejected: {e:?}"),
            };
            let ours =
                no_panic(&*case, || key.sign(&msg)).unwrap_or_else(|e| panic!("{case}: {e}"));
            assert_eq!(ours, sig, "{case}: signature differs from the known answer");
            let vk = key.verifying_key();
            assert_eq!(vk.verify(&msg, &sig), Ok(()), "{case}");
            tally.record(true, false);
            signed += 1;
            if result == "valid" {
                tally.tampered += assert_primitive_tamper_rejected(&case, &vk, &msg, &sig);
            }
        }
    }
    assert_eq!(tally.total as u64, n(&doc, "numberOfTests"));
    // 24 valid cases; the acceptable ones (e = 3 keys) sign with aws-lc-rs only.
    assert_eq!(acceptable, 3);
    let expected = if token_engine::crypto_backend() == "ring" {
        24
    } else {
        24 + acceptable
    };
    assert_eq!(signed, expected, "the SHA-256/384/512 groups");
    tally.report(file);
}
