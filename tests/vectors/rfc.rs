//! RFC examples (`rfc_examples.json`): RFC 7515 App. A and E, RFC 7638 §3.1, RFC 8037 App. A,
//! RFC 7520 §4.1-4.4, RFC 7636 App. B (PKCE S256) and the RFC 9449 proof-key thumbprint.

use serde_json::Value;
use token_engine::{Algorithm, KeyError, SigningKey, TokenError, VerifyingKey};

use super::common::{Outcome, arr, assert_tamper_rejected, b64d, b64e, load_json, s, verify};

/// One entry of `rfc_examples.json`.
fn example(name: &str) -> Value {
    let all = load_json("rfc_examples.json");
    assert!(all[name].is_object(), "no entry {name}");
    all[name].clone()
}

/// The JWK with `alg` set. The RFC keys carry no `alg`; this crate binds every RSA and `oct`
/// key to one algorithm, so the test names it (as a deployment would).
fn with_alg(jwk: &Value, alg: &str) -> String {
    let mut jwk = jwk.clone();
    jwk["alg"] = Value::from(alg);
    jwk.to_string()
}

/// The JWK without its private members.
fn public_part(jwk: &Value) -> Value {
    let mut jwk = jwk.clone();
    let map = jwk.as_object_mut().expect("a JWK object");
    for member in ["d", "p", "q", "dp", "dq", "qi"] {
        map.remove(member);
    }
    jwk
}

/// Verify `compact` with `key`, require acceptance with `payload`, and require that both
/// tampered copies are rejected.
fn assert_verifies(case: &str, compact: &str, key: &VerifyingKey, payload: &[u8]) {
    let keys = [key.clone()];
    assert_eq!(
        verify(case, compact, &keys),
        Outcome::Accepted(payload.to_vec()),
        "{case}"
    );
    assert_tamper_rejected(case, compact, &keys);
}

/// The entry's compact JWS is its signing input, a dot and its signature.
fn assert_compact_consistent(e: &Value, signing_input: &str, signature: &str) {
    assert_eq!(
        s(e, "compact"),
        format!("{}.{}", s(e, signing_input), s(e, signature))
    );
}

/// The byte array member `key` (the RFCs' octet listings).
fn octets(e: &Value, key: &str) -> Vec<u8> {
    arr(e, key)
        .iter()
        .map(|b| u8::try_from(b.as_u64().expect("an octet")).expect("an octet"))
        .collect()
}

#[test]
fn rfc7515_a1_hs256() {
    let e = example("rfc7515_A1_HS256");
    assert_compact_consistent(&e, "signing_input", "signature_b64u");
    let secret = b64d(s(&e["key_jwk"], "k"));
    assert_eq!(secret.len(), 64);
    let key = VerifyingKey::hmac(Algorithm::HS256, &secret).expect("HS256 key");
    let payload = octets(&e, "payload_octets");
    assert_eq!(payload, s(&e, "payload_exact").as_bytes());
    assert_verifies("RFC 7515 A.1", s(&e, "compact"), &key, &payload);

    // The same key imported from the JWK (with its algorithm named) verifies too.
    let from_jwk = VerifyingKey::from_jwk(&with_alg(&e["key_jwk"], "HS256")).expect("oct JWK");
    assert_verifies("RFC 7515 A.1 (JWK)", s(&e, "compact"), &from_jwk, &payload);
    // Without `alg` an `oct` JWK names no algorithm, and this crate does not guess one.
    assert_eq!(
        SigningKey::from_jwk(&e["key_jwk"].to_string()).err(),
        Some(KeyError::MissingAlgorithm)
    );

    // HMAC is deterministic: re-signing the exact signing input reproduces the RFC's MAC.
    let signer = SigningKey::from_jwk(&with_alg(&e["key_jwk"], "HS256")).expect("oct JWK");
    let mac = signer
        .sign(s(&e, "signing_input").as_bytes())
        .expect("sign");
    assert_eq!(mac, octets(&e, "signature_octets"));
}

#[test]
fn rfc7515_a2_rs256() {
    let e = example("rfc7515_A2_RS256");
    assert_compact_consistent(&e, "signing_input", "signature_b64u");
    // An RSA JWK without `alg` is not bound to an algorithm: rejected, never guessed.
    assert_eq!(
        VerifyingKey::from_jwk(&e["key_jwk_public"].to_string()).err(),
        Some(KeyError::MissingAlgorithm)
    );
    let key = VerifyingKey::from_jwk(&with_alg(&e["key_jwk_public"], "RS256")).expect("RSA JWK");
    assert_eq!(key.alg(), Algorithm::RS256);
    assert_verifies(
        "RFC 7515 A.2",
        s(&e, "compact"),
        &key,
        s(&e, "payload_exact").as_bytes(),
    );

    // RSASSA-PKCS1-v1_5 is deterministic: re-signing reproduces the RFC's signature.
    let signer = SigningKey::from_jwk(&with_alg(&e["key_jwk_private"], "RS256")).expect("RSA JWK");
    assert_eq!(signer.verifying_key().thumbprint(), key.thumbprint());
    let sig = signer
        .sign(s(&e, "signing_input").as_bytes())
        .expect("sign");
    assert_eq!(sig, octets(&e, "signature_octets"));
    assert_eq!(b64e(&sig), s(&e, "signature_b64u"));
}

#[test]
fn rfc7515_a3_es256() {
    let e = example("rfc7515_A3_ES256");
    assert_compact_consistent(&e, "signing_input", "signature_b64u");
    let key = VerifyingKey::from_jwk(&e["key_jwk_public"].to_string()).expect("EC JWK");
    assert_eq!(key.alg(), Algorithm::ES256);
    // The JWS signature is R || S, 32 bytes each, not DER.
    let rs = [octets(&e, "R_octets"), octets(&e, "S_octets")].concat();
    assert_eq!(b64d(s(&e, "signature_b64u")), rs);
    assert_verifies(
        "RFC 7515 A.3",
        s(&e, "compact"),
        &key,
        s(&e, "payload_exact").as_bytes(),
    );

    // ECDSA is randomized: a fresh signature by the private JWK over the same input verifies.
    let signer = SigningKey::from_jwk(&e["key_jwk_private"].to_string()).expect("EC JWK");
    let signing_input = s(&e, "signing_input");
    let sig = signer.sign(signing_input.as_bytes()).expect("sign");
    assert_eq!(sig.len(), 64);
    assert_verifies(
        "RFC 7515 A.3 (re-signed)",
        &format!("{signing_input}.{}", b64e(&sig)),
        &key,
        s(&e, "payload_exact").as_bytes(),
    );
}

/// Whether this build has P-521 (`ES512`): the aws-lc-rs backend.
fn has_p521() -> bool {
    token_engine::crypto_backend() != "ring"
}

#[test]
fn rfc7515_a4_es512() {
    let e = example("rfc7515_A4_ES512");
    let es256 = VerifyingKey::from_jwk(&example("rfc7515_A3_ES256")["key_jwk_public"].to_string())
        .expect("EC JWK");
    if !has_p521() {
        // ring: P-521 keys do not import, with or without `alg: ES512`.
        for jwk in [
            e["key_jwk_public"].to_string(),
            with_alg(&e["key_jwk_public"], "ES512"),
        ] {
            assert_eq!(
                VerifyingKey::from_jwk(&jwk).err(),
                Some(KeyError::UnsupportedCurve),
                "{jwk}"
            );
        }
        assert_eq!(
            SigningKey::from_jwk(&e["key_jwk_private"].to_string()).err(),
            Some(KeyError::UnsupportedCurve)
        );
        // The token names an algorithm this build does not implement: rejected before any
        // key is selected, whatever keys the verifier holds.
        assert_eq!(
            verify("RFC 7515 A.4", s(&e, "compact"), &[es256]),
            Outcome::Token(TokenError::UnsupportedAlgorithm)
        );
        return;
    }
    // aws-lc-rs: the RFC's P-521 key imports (its curve implies ES512) and verifies the RFC's
    // token; a fresh signature by the private JWK (ECDSA is randomized) verifies too.
    let signing_input = format!("{}.{}", s(&e, "protected_b64u"), s(&e, "payload_b64u"));
    assert_eq!(
        s(&e, "compact"),
        format!("{signing_input}.{}", s(&e, "signature_b64u"))
    );
    let rs = [octets(&e, "R_octets"), octets(&e, "S_octets")].concat();
    assert_eq!(b64d(s(&e, "signature_b64u")), rs);
    let key = VerifyingKey::from_jwk(&e["key_jwk_public"].to_string()).expect("P-521 JWK");
    assert_eq!(key.alg().name(), "ES512");
    let payload = s(&e, "payload_exact").as_bytes();
    assert_verifies("RFC 7515 A.4", s(&e, "compact"), &key, payload);
    let signer = SigningKey::from_jwk(&e["key_jwk_private"].to_string()).expect("P-521 JWK");
    assert_eq!(signer.verifying_key().thumbprint(), key.thumbprint());
    let sig = signer.sign(signing_input.as_bytes()).expect("sign");
    assert_eq!(sig.len(), 132, "R || S, 66 bytes each");
    assert_verifies(
        "RFC 7515 A.4 (re-signed)",
        &format!("{signing_input}.{}", b64e(&sig)),
        &key,
        payload,
    );
    // The key is bound to ES512: an ES256 key does not verify the token, nor ES256 this key.
    assert_eq!(
        verify("RFC 7515 A.4", s(&e, "compact"), &[es256]),
        Outcome::Token(TokenError::AlgorithmMismatch)
    );
    assert_eq!(
        VerifyingKey::from_jwk(&with_alg(&e["key_jwk_public"], "ES256")).err(),
        Some(KeyError::AlgorithmMismatch)
    );
}

#[test]
fn rfc7515_a5_unsecured_rejected() {
    let e = example("rfc7515_A5_unsecured");
    let a1 = example("rfc7515_A1_HS256");
    let key = VerifyingKey::hmac(Algorithm::HS256, &b64d(s(&a1["key_jwk"], "k"))).expect("key");
    let compact = s(&e, "compact");
    assert!(
        compact.ends_with('.'),
        "an unsecured JWS has an empty signature"
    );
    // As written in the RFC (empty third segment): rejected for its `alg`, not its shape.
    assert_eq!(
        verify("RFC 7515 A.5", compact, std::slice::from_ref(&key)),
        Outcome::Token(TokenError::AlgNone)
    );
    // With a non-empty signature appended (here A.1's valid HS256 MAC), `alg: none` still
    // rejects it, in every letter case.
    for header in [
        s(&e, "protected_header_exact"),
        r#"{"alg":"NONE"}"#,
        r#"{"alg":"nOnE"}"#,
    ] {
        let token = format!(
            "{}.{}.{}",
            b64e(header.as_bytes()),
            s(&e, "payload_b64u"),
            s(&a1, "signature_b64u")
        );
        assert_eq!(
            verify("RFC 7515 A.5", &token, std::slice::from_ref(&key)),
            Outcome::Token(TokenError::AlgNone),
            "{header}"
        );
    }
}

#[test]
fn rfc7515_appendix_e_crit_rejected() {
    let e = example("rfc7515_E_crit_negative");
    // RFC 7515 App. E gives only the header and the payload "FAIL", no signature; the
    // entry's `compact` member is not built from them (it is the RFC 8037 A.4 token), so the
    // token is assembled here from the exact header text.
    let header = s(&e, "protected_header_exact");
    assert!(header.contains("\"crit\"") && header.contains("\r\n"));
    let a1 = example("rfc7515_A1_HS256");
    let secret = b64d(s(&a1["key_jwk"], "k"));
    let key = VerifyingKey::hmac(Algorithm::HS256, &secret).expect("key");
    let signer = SigningKey::hmac(Algorithm::HS256, &secret).expect("key");
    let sign = |header: &str| {
        let input = format!("{}.{}", b64e(header.as_bytes()), b64e(b"FAIL"));
        let mac = signer.sign(input.as_bytes()).expect("sign");
        format!("{input}.{}", b64e(&mac))
    };
    // The header says `alg: none` and `crit`: the `alg` check comes first.
    assert_eq!(
        verify("RFC 7515 App. E", &sign(header), std::slice::from_ref(&key)),
        Outcome::Token(TokenError::AlgNone)
    );
    // With a real algorithm and a valid MAC, `crit` alone rejects it.
    let hs256 = header.replace(r#""alg":"none""#, r#""alg":"HS256""#);
    assert_ne!(hs256, header);
    assert_eq!(
        verify(
            "RFC 7515 App. E (HS256)",
            &sign(&hs256),
            std::slice::from_ref(&key)
        ),
        Outcome::Token(TokenError::CriticalHeader)
    );
    // Control: the same token without `crit` verifies.
    let plain = r#"{"alg":"HS256","http://example.com/UNDEFINED":true}"#;
    assert_eq!(
        verify("RFC 7515 App. E (no crit)", &sign(plain), &[key]),
        Outcome::Accepted(b"FAIL".to_vec())
    );
}

#[test]
fn rfc7638_3_1_thumbprint() {
    let e = example("rfc7638_3_1_rsa_thumbprint");
    let key = VerifyingKey::from_jwk(&e["key_jwk"].to_string()).expect("RSA JWK");
    assert_eq!(key.thumbprint().as_deref(), Some(s(&e, "thumbprint_b64u")));
    assert_eq!(b64d(s(&e, "thumbprint_b64u")), octets(&e, "sha256_octets"));
    // The thumbprint ignores `alg` and `kid`: the same key bound to PS256 has the same one.
    let ps256 = VerifyingKey::from_jwk(&with_alg(&e["key_jwk"], "PS256")).expect("RSA JWK");
    assert_eq!(ps256.thumbprint(), key.thumbprint());
}

#[test]
fn rfc8037_a_ed25519() {
    let e = example("rfc8037_A_ed25519");
    let thumbprint = s(&e, "A3_thumbprint_b64u");
    let signer = SigningKey::from_jwk(&e["A1_private_key_jwk"].to_string()).expect("OKP JWK");
    let key = VerifyingKey::from_jwk(&e["A2_public_key_jwk"].to_string()).expect("OKP JWK");
    assert_eq!(key.alg(), Algorithm::EdDSA);
    assert_eq!(key.thumbprint().as_deref(), Some(thumbprint));
    assert_eq!(
        signer.verifying_key().thumbprint().as_deref(),
        Some(thumbprint)
    );
    // An asymmetric signing key's default kid is its thumbprint.
    assert_eq!(signer.kid(), Some(thumbprint));
    assert_eq!(
        s(&e, "A4_compact"),
        format!(
            "{}.{}",
            s(&e, "A4_signing_input"),
            s(&e, "A4_signature_b64u")
        )
    );
    assert_verifies(
        "RFC 8037 A.4",
        s(&e, "A4_compact"),
        &key,
        s(&e, "A4_payload_exact").as_bytes(),
    );
    // Ed25519 is deterministic: re-signing reproduces A.4's signature.
    let sig = signer
        .sign(s(&e, "A4_signing_input").as_bytes())
        .expect("sign");
    assert_eq!(b64e(&sig), s(&e, "A4_signature_b64u"));
}

#[test]
fn rfc9449_dpop_proof_key_thumbprint() {
    let e = example("rfc9449_dpop");
    let key = VerifyingKey::from_jwk(&e["proof_key_public_jwk"].to_string()).expect("EC JWK");
    assert_eq!(key.thumbprint().as_deref(), Some(s(&e, "proof_key_jkt")));
    // The proofs carry their key in the header (`jwk`): `verify_compact` never trusts an
    // embedded key, even when it is the very key it was given.
    for proof in [
        "sec4_1_and_sec5_token_request_authorization_code_proof",
        "sec5_token_request_refresh_token_proof",
        "sec7_1_protected_resource_request_proof",
    ] {
        assert_eq!(
            verify(proof, s(&e[proof], "jws"), std::slice::from_ref(&key)),
            Outcome::Token(TokenError::EmbeddedKey),
            "{proof}"
        );
    }
}

#[test]
fn rfc7520_4_1_rs256() {
    let e = example("rfc7520_4_1_RS256");
    assert_compact_consistent(&e, "signing_input", "signature_b64u");
    let key =
        VerifyingKey::from_jwk(&with_alg(&public_part(&e["key_jwk"]), "RS256")).expect("RSA JWK");
    assert_eq!(key.kid(), Some("bilbo.baggins@hobbiton.example"));
    assert_verifies(
        "RFC 7520 4.1",
        s(&e, "compact"),
        &key,
        s(&e, "payload_utf8").as_bytes(),
    );
    // A public key set must not hold private members.
    assert_eq!(
        VerifyingKey::from_jwk(&with_alg(&e["key_jwk"], "RS256")).err(),
        Some(KeyError::MixedKeySet)
    );
    let signer = SigningKey::from_jwk(&with_alg(&e["key_jwk"], "RS256")).expect("RSA JWK");
    let sig = signer
        .sign(s(&e, "signing_input").as_bytes())
        .expect("sign");
    assert_eq!(b64e(&sig), s(&e, "signature_b64u"));
}

#[test]
fn rfc7520_4_2_ps384() {
    let e = example("rfc7520_4_2_PS384");
    assert_compact_consistent(&e, "signing_input", "signature_b64u");
    let key =
        VerifyingKey::from_jwk(&with_alg(&public_part(&e["key_jwk"]), "PS384")).expect("RSA JWK");
    assert_verifies(
        "RFC 7520 4.2",
        s(&e, "compact"),
        &key,
        s(&e, "payload_utf8").as_bytes(),
    );
    // RSASSA-PSS is randomized: verify only; a fresh signature verifies too.
    let signer = SigningKey::from_jwk(&with_alg(&e["key_jwk"], "PS384")).expect("RSA JWK");
    let signing_input = s(&e, "signing_input");
    let sig = signer.sign(signing_input.as_bytes()).expect("sign");
    assert_verifies(
        "RFC 7520 4.2 (re-signed)",
        &format!("{signing_input}.{}", b64e(&sig)),
        &key,
        s(&e, "payload_utf8").as_bytes(),
    );
    // The same key bound to RS384 or PS256 refuses the PS384 token.
    for other in ["RS384", "PS256"] {
        let k =
            VerifyingKey::from_jwk(&with_alg(&public_part(&e["key_jwk"]), other)).expect("RSA JWK");
        assert_eq!(
            verify("RFC 7520 4.2", s(&e, "compact"), &[k]),
            Outcome::Token(TokenError::AlgorithmMismatch),
            "{other}"
        );
    }
}

#[test]
fn rfc7520_4_3_es512() {
    let e = example("rfc7520_4_3_ES512");
    assert_compact_consistent(&e, "signing_input", "signature_b64u");
    let rs256 = example("rfc7520_4_1_RS256");
    let rsa = VerifyingKey::from_jwk(&with_alg(&public_part(&rs256["key_jwk"]), "RS256"))
        .expect("RSA JWK");
    let imported = VerifyingKey::from_jwk(&public_part(&e["key_jwk"]).to_string());
    if !has_p521() {
        assert_eq!(imported.err(), Some(KeyError::UnsupportedCurve));
        assert_eq!(
            verify("RFC 7520 4.3", s(&e, "compact"), &[rsa]),
            Outcome::Token(TokenError::UnsupportedAlgorithm)
        );
        return;
    }
    let key = imported.expect("P-521 JWK");
    assert_verifies(
        "RFC 7520 4.3",
        s(&e, "compact"),
        &key,
        s(&e, "payload_utf8").as_bytes(),
    );
    assert_eq!(
        verify("RFC 7520 4.3", s(&e, "compact"), &[rsa]),
        Outcome::Token(TokenError::AlgorithmMismatch)
    );
}

#[test]
fn rfc7520_4_4_hs256() {
    let e = example("rfc7520_4_4_HS256");
    assert_compact_consistent(&e, "signing_input", "signature_b64u");
    let key = VerifyingKey::from_jwk(&e["key_jwk"].to_string()).expect("oct JWK");
    assert_eq!(key.alg(), Algorithm::HS256);
    assert_verifies(
        "RFC 7520 4.4",
        s(&e, "compact"),
        &key,
        s(&e, "payload_utf8").as_bytes(),
    );
    let signer = SigningKey::from_jwk(&e["key_jwk"].to_string()).expect("oct JWK");
    let mac = signer
        .sign(s(&e, "signing_input").as_bytes())
        .expect("sign");
    assert_eq!(b64e(&mac), s(&e, "signature_b64u"));
}

#[test]
fn rfc7636_appendix_b_pkce_s256() {
    use token_engine::pkce::PkceError;
    use token_engine::pkce::{ChallengeMethod, CodeChallenge, CodeVerifier};
    let e = example("rfc7636_B_pkce_s256");
    let verifier_text = s(&e, "code_verifier");
    // The verifier is the base64url of the listed random octets.
    assert_eq!(
        b64e(&octets(&e, "code_verifier_random_octets")),
        verifier_text
    );
    let verifier = CodeVerifier::parse(verifier_text).expect("RFC verifier");
    let challenge = verifier.s256_challenge();
    assert_eq!(challenge.method(), ChallengeMethod::S256);
    assert_eq!(challenge.as_str(), s(&e, "code_challenge"));
    assert_eq!(b64d(s(&e, "code_challenge")), octets(&e, "sha256_octets"));
    // As received at the authorization endpoint, then checked at the token endpoint.
    let received =
        CodeChallenge::from_request(s(&e, "code_challenge"), Some("S256"), false).expect("S256");
    received.verify(verifier_text).expect("RFC pair matches");
    // Tampered: one character of the verifier or of the challenge changed.
    let mut bad = verifier_text.to_owned();
    bad.replace_range(0..1, if bad.starts_with('A') { "B" } else { "A" });
    assert_eq!(received.verify(&bad), Err(PkceError::Mismatch));
    let mut bad_challenge = s(&e, "code_challenge").to_owned();
    bad_challenge.replace_range(0..1, "A");
    let tampered = CodeChallenge::from_request(&bad_challenge, Some("S256"), false).unwrap();
    assert_eq!(tampered.verify(verifier_text), Err(PkceError::Mismatch));
}
