//! Key import from every supported form, rejection of the unsupported ones, generation,
//! export, and the redacted `Debug` of every secret-holding type.

use token_engine::{Algorithm, KeyDocument, KeyError, SigningKey, VerifyingKey};

use crate::common::{key_bytes, key_file};

fn round_trip(sk: &SigningKey, vk: &VerifyingKey) {
    let sig = sk.sign(b"message").unwrap();
    assert_eq!(vk.verify(b"message", &sig), Ok(()));
    assert!(vk.verify(b"messagf", &sig).is_err());
}

#[test]
fn imports_every_supported_pem_and_der_form() {
    let rsa_pkcs8 = SigningKey::from_pem(Algorithm::RS256, &key_file("rsa2048.pkcs8.pem")).unwrap();
    let rsa_pkcs1 = SigningKey::from_pem(Algorithm::PS256, &key_file("rsa2048.pkcs1.pem")).unwrap();
    for (alg, sk) in [
        (Algorithm::RS256, &rsa_pkcs8),
        (Algorithm::PS256, &rsa_pkcs1),
    ] {
        round_trip(
            sk,
            &VerifyingKey::from_pem(alg, &key_file("rsa2048.spki.pem")).unwrap(),
        );
        round_trip(
            sk,
            &VerifyingKey::from_pem(alg, &key_file("rsa2048.pkcs1pub.pem")).unwrap(),
        );
    }
    let p256 = SigningKey::from_pem(Algorithm::ES256, &key_file("p256.pkcs8.pem")).unwrap();
    round_trip(
        &p256,
        &VerifyingKey::from_pem(Algorithm::ES256, &key_file("p256.spki.pem")).unwrap(),
    );
    round_trip(
        &p256,
        &VerifyingKey::from_spki_der(Algorithm::ES256, &key_bytes("p256.spki.der")).unwrap(),
    );
    let p384 = SigningKey::from_pem(Algorithm::ES384, &key_file("p384.pkcs8.pem")).unwrap();
    round_trip(
        &p384,
        &VerifyingKey::from_pem(Algorithm::ES384, &key_file("p384.spki.pem")).unwrap(),
    );
    let ed = SigningKey::ed25519_from_pkcs8(&key_bytes("ed25519.pkcs8.der")).unwrap();
    assert_eq!(ed.alg(), Algorithm::EdDSA);
    round_trip(
        &ed,
        &VerifyingKey::from_pem(Algorithm::EdDSA, &key_file("ed25519.spki.pem")).unwrap(),
    );
    let ed_full = SigningKey::from_pem(Algorithm::Ed25519, &key_file("ed25519.pkcs8.pem")).unwrap();
    round_trip(
        &ed_full,
        &VerifyingKey::from_pem(Algorithm::Ed25519, &key_file("ed25519.spki.pem")).unwrap(),
    );
    // The exported public key re-imports to the same key.
    for sk in [&rsa_pkcs8, &p256, &p384, &ed] {
        let vk = sk.verifying_key();
        let again = VerifyingKey::from_pem(sk.alg(), &vk.to_public_pem().unwrap()).unwrap();
        assert_eq!(again.thumbprint(), vk.thumbprint());
        let jwk = serde_json::to_string(&vk.to_jwk().unwrap()).unwrap();
        let from_jwk = VerifyingKey::from_jwk(&jwk).unwrap();
        assert_eq!(from_jwk.thumbprint(), vk.thumbprint());
        assert_eq!(from_jwk.alg(), sk.alg());
        round_trip(sk, &from_jwk);
    }
}

#[test]
fn rejects_unsupported_and_mismatched_keys_with_typed_errors() {
    let err = |r: Result<SigningKey, KeyError>| r.unwrap_err();
    assert_eq!(
        err(SigningKey::from_pem(
            Algorithm::ES256,
            &key_file("p256.encrypted.pem")
        )),
        KeyError::Encrypted
    );
    assert_eq!(
        err(SigningKey::from_pem(
            Algorithm::ES256,
            &key_file("p521.pkcs8.pem")
        )),
        if token_engine::crypto_backend() == "ring" {
            KeyError::UnsupportedCurve
        } else {
            KeyError::CurveMismatch
        }
    );
    assert_eq!(
        err(SigningKey::from_pem(
            Algorithm::ES384,
            &key_file("p256.pkcs8.pem")
        )),
        KeyError::CurveMismatch
    );
    assert_eq!(
        err(SigningKey::from_pem(
            Algorithm::RS256,
            &key_file("p256.pkcs8.pem")
        )),
        KeyError::WrongKeyType
    );
    assert_eq!(
        err(SigningKey::from_pem(
            Algorithm::HS256,
            &key_file("p256.pkcs8.pem")
        )),
        KeyError::WrongKeyType
    );
    assert_eq!(
        err(SigningKey::from_pem(
            Algorithm::RS256,
            &key_file("rsa1024.pkcs8.pem")
        )),
        KeyError::WeakKey
    );
    assert_eq!(
        err(SigningKey::from_pem(Algorithm::ES256, "not pem")),
        KeyError::Pem
    );
    assert_eq!(
        err(SigningKey::hmac(Algorithm::HS256, &[7; 31])),
        KeyError::HmacTooShort
    );
    assert_eq!(
        err(SigningKey::hmac(Algorithm::HS512, &[7; 63])),
        KeyError::HmacTooShort
    );
    assert_eq!(
        err(SigningKey::hmac(Algorithm::ES256, &[7; 64])),
        KeyError::WrongKeyType
    );

    let verr = |r: Result<VerifyingKey, KeyError>| r.unwrap_err();
    // A P-521 key: no such curve with ring; with aws-lc-rs, not an ES256 key.
    assert_eq!(
        verr(VerifyingKey::from_pem(
            Algorithm::ES256,
            &key_file("p521.spki.pem")
        )),
        if token_engine::crypto_backend() == "ring" {
            KeyError::UnsupportedCurve
        } else {
            KeyError::WrongKeyType
        }
    );
    assert_eq!(
        verr(VerifyingKey::from_pem(
            Algorithm::RS256,
            &key_file("rsa1024.spki.pem")
        )),
        KeyError::WeakKey
    );
    assert_eq!(
        verr(VerifyingKey::from_pem(
            Algorithm::ES384,
            &key_file("p256.spki.pem")
        )),
        KeyError::WrongKeyType
    );
    assert_eq!(
        verr(VerifyingKey::from_pem(
            Algorithm::RS256,
            &key_file("ed25519.spki.pem")
        )),
        KeyError::WrongKeyType
    );
    assert_eq!(
        verr(VerifyingKey::from_pem(
            Algorithm::ES256,
            &key_file("p256.pkcs8.pem")
        )),
        KeyError::PemLabel
    );
    assert_eq!(
        verr(VerifyingKey::from_raw(Algorithm::EdDSA, &[1; 31])),
        KeyError::PointEncoding
    );
    assert_eq!(
        verr(VerifyingKey::from_raw(Algorithm::ES256, &[4; 65])),
        KeyError::PointEncoding
    );
    assert_eq!(
        verr(VerifyingKey::from_raw(Algorithm::ES256, &[4; 64])),
        KeyError::PointEncoding
    );
    assert_eq!(
        verr(VerifyingKey::hmac(Algorithm::HS384, &[1; 47])),
        KeyError::HmacTooShort
    );
    // RSA: even modulus, exponent 1, too large an exponent, leading zero.
    let n = [0xc1u8; 256];
    let mut even = n;
    even[255] = 0xc0;
    assert_eq!(
        verr(VerifyingKey::rsa_from_components(
            Algorithm::RS256,
            &even,
            &[1, 0, 1]
        )),
        KeyError::RsaKeySize
    );
    assert_eq!(
        verr(VerifyingKey::rsa_from_components(
            Algorithm::RS256,
            &n,
            &[1]
        )),
        KeyError::RsaKeySize
    );
    assert_eq!(
        verr(VerifyingKey::rsa_from_components(
            Algorithm::RS256,
            &n,
            &[2, 0, 0, 0, 1]
        )),
        KeyError::RsaKeySize
    );
    assert_eq!(
        verr(VerifyingKey::rsa_from_components(
            Algorithm::RS256,
            &[&[0][..], &n].concat(),
            &[1, 0, 1]
        )),
        KeyError::RsaKeySize
    );
    assert!(VerifyingKey::rsa_from_components(Algorithm::RS256, &n, &[1, 0, 1]).is_ok());
    // Truncated or garbage DER never panics.
    let der = key_bytes("p256.spki.der");
    for cut in 0..der.len() {
        assert!(VerifyingKey::from_spki_der(Algorithm::ES256, &der[..cut]).is_err());
    }
}

#[test]
fn generates_keys_for_every_algorithm_ring_can() {
    for alg in Algorithm::ALL {
        match SigningKey::generate(alg) {
            Ok((sk, doc)) => {
                assert_eq!(sk.alg(), alg);
                round_trip(&sk, &sk.verifying_key());
                if alg.is_symmetric() {
                    assert!(doc.to_pem().is_none());
                    assert_eq!(sk.kid(), None);
                    round_trip(&sk, &VerifyingKey::hmac(alg, doc.expose_secret()).unwrap());
                } else {
                    // The document reloads to the same key, whose default kid is its thumbprint.
                    let again = SigningKey::from_pem(alg, &doc.to_pem().unwrap()).unwrap();
                    assert_eq!(again.kid(), sk.kid());
                    assert_eq!(sk.kid().map(str::to_owned), sk.verifying_key().thumbprint());
                }
            }
            Err(e) => {
                assert!(
                    matches!(
                        alg,
                        Algorithm::RS256
                            | Algorithm::RS384
                            | Algorithm::RS512
                            | Algorithm::PS256
                            | Algorithm::PS384
                            | Algorithm::PS512
                    ),
                    "{alg}: {e}"
                );
                assert_eq!(
                    e.to_string(),
                    "key rejected: operation not supported for this algorithm"
                );
            }
        }
    }
}

#[test]
fn secret_types_debug_is_redacted_and_pinned() {
    let secret = [0x42u8; 32];
    let sk = SigningKey::hmac(Algorithm::HS256, &secret).unwrap();
    assert_eq!(
        format!("{sk:?}"),
        r#"SigningKey { alg: HS256, kid: None, key: "[redacted]" }"#
    );
    let vk = VerifyingKey::hmac(Algorithm::HS256, &secret)
        .unwrap()
        .with_kid("k");
    assert_eq!(
        format!("{vk:?}"),
        r#"VerifyingKey { alg: HS256, kid: Some("k"), secret: "[redacted]" }"#
    );
    let (ed, doc) = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let ed = ed.with_kid("ed-1");
    assert_eq!(
        format!("{ed:?}"),
        r#"SigningKey { alg: EdDSA, kid: Some("ed-1"), key: "[redacted]" }"#
    );
    assert_eq!(format!("{doc:?}"), "KeyDocument(EdDSA, [redacted])");
    let (_, hdoc) = SigningKey::generate(Algorithm::HS512).unwrap();
    let shown = format!("{hdoc:?} {:#?}", hdoc);
    assert!(!shown.contains(hdoc.to_base64url().as_str()));
    assert!(!shown.contains(&format!("{:?}", hdoc.expose_secret())));
    // A private JWK's members never reach Debug output of what it builds.
    let jwk = r#"{"kty":"oct","alg":"HS256","kid":"j","k":"QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI"}"#;
    let from_jwk = SigningKey::from_jwk(jwk).unwrap();
    assert!(!format!("{from_jwk:?}").contains("QkJC"));
}

#[test]
fn owned_secret_buffers_zeroize_on_drop() {
    fn zeroize_on_drop<T: zeroize::ZeroizeOnDrop>() {}
    zeroize_on_drop::<KeyDocument>();
}

#[test]
fn keys_are_send_sync_and_verifying_keys_cheap_to_clone() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<SigningKey>();
    send_sync::<VerifyingKey>();
    send_sync::<token_engine::Verifier>();
    send_sync::<token_engine::KeySet>();
}

/// The public key of a signing key, to tell that two files hold the same key.
fn public(sk: &SigningKey) -> String {
    sk.verifying_key().thumbprint().unwrap()
}

#[test]
fn keys_are_read_the_way_tools_write_them() {
    let p256 =
        public(&SigningKey::from_pem(Algorithm::ES256, &key_file("p256.pkcs8.pem")).unwrap());
    // A key and its certificate in either order, `openssl pkcs12 -nodes` output, SEC1 alone,
    // after a certificate, or after its `EC PARAMETERS` block.
    for file in [
        "p256.key-then-cert.pem",
        "p256.cert-then-key.pem",
        "p256.pkcs12-nodes.pem",
        "p256.sec1.pem",
        "p256.cert-then-sec1.pem",
    ] {
        let sk = SigningKey::from_pem(Algorithm::ES256, &key_file(file))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(public(&sk), p256, "{file}");
    }
    let sk = SigningKey::from_pem(Algorithm::ES256, &key_file("p256.params-sec1.pem")).unwrap();
    round_trip(&sk, &sk.verifying_key());
    let sk = SigningKey::from_pem(Algorithm::ES384, &key_file("p384.sec1.pem")).unwrap();
    round_trip(&sk, &sk.verifying_key());
    let rsa =
        public(&SigningKey::from_pem(Algorithm::RS256, &key_file("rsa2048.pkcs8.pem")).unwrap());
    for file in ["rsa2048.pkcs12-nodes.pem", "rsa2048.pkcs1.pem"] {
        let sk = SigningKey::from_pem(Algorithm::RS256, &key_file(file)).unwrap();
        assert_eq!(public(&sk), rsa, "{file}");
    }
    // A certificate alone holds no private key.
    assert_eq!(
        SigningKey::from_pem(Algorithm::ES256, &key_file("p256.cert.pem")).unwrap_err(),
        KeyError::PemLabel
    );
    // Two private keys: the caller must choose.
    let two = key_file("p256.pkcs8.pem") + &key_file("p384.pkcs8.pem");
    assert_eq!(
        SigningKey::from_pem(Algorithm::ES256, &two).unwrap_err(),
        KeyError::AmbiguousPem
    );
}

#[test]
fn key_errors_name_the_problem() {
    let pem = |alg, file: &str| SigningKey::from_pem(alg, &key_file(file)).unwrap_err();
    let der = |alg, file: &str| SigningKey::from_pkcs8_der(alg, &key_bytes(file)).unwrap_err();
    // Wrong curve for the algorithm.
    assert_eq!(
        pem(Algorithm::ES256, "ed25519.pkcs8.pem"),
        KeyError::CurveMismatch
    );
    assert_eq!(
        der(Algorithm::ES256, "ed25519.pkcs8.der"),
        KeyError::CurveMismatch
    );
    assert_eq!(
        pem(Algorithm::EdDSA, "p256.pkcs8.pem"),
        KeyError::CurveMismatch
    );
    assert_eq!(
        pem(Algorithm::ES384, "p256.sec1.pem"),
        KeyError::CurveMismatch
    );
    assert_eq!(
        pem(Algorithm::EdDSA, "p256.sec1.pem"),
        KeyError::CurveMismatch
    );
    // RSA below 2048 bits, in every form.
    assert_eq!(
        pem(Algorithm::RS256, "rsa1024.pkcs8.pem"),
        KeyError::WeakKey
    );
    assert_eq!(
        pem(Algorithm::RS256, "rsa1024.pkcs1.pem"),
        KeyError::WeakKey
    );
    assert_eq!(
        der(Algorithm::PS256, "rsa1024.pkcs8.der"),
        KeyError::WeakKey
    );
    // Unsupported curves.
    assert_eq!(
        pem(Algorithm::ES256, "secp256k1.pkcs8.pem"),
        KeyError::UnsupportedCurve
    );
    assert_eq!(
        pem(Algorithm::ES256, "secp256k1.sec1.pem"),
        KeyError::UnsupportedCurve
    );
    assert_eq!(
        pem(Algorithm::EdDSA, "ed448.pkcs8.pem"),
        KeyError::UnsupportedCurve
    );
    // Not a signing key.
    for alg in [Algorithm::EdDSA, Algorithm::ES256, Algorithm::RS256] {
        assert_eq!(pem(alg, "x25519.pkcs8.pem"), KeyError::NotASigningKey);
        assert_eq!(der(alg, "x25519.pkcs8.der"), KeyError::NotASigningKey);
    }
    // Wrong key type.
    assert_eq!(
        pem(Algorithm::ES256, "rsa2048.pkcs1.pem"),
        KeyError::WrongKeyType
    );
    assert_eq!(
        pem(Algorithm::RS256, "p256.sec1.pem"),
        KeyError::WrongKeyType
    );
    assert_eq!(
        der(Algorithm::RS256, "p256.pkcs8.der"),
        KeyError::WrongKeyType
    );
    // None of them says only "private key rejected".
    for e in [
        pem(Algorithm::ES256, "ed25519.pkcs8.pem"),
        pem(Algorithm::RS256, "rsa1024.pkcs8.pem"),
        pem(Algorithm::ES256, "secp256k1.pkcs8.pem"),
        pem(Algorithm::EdDSA, "x25519.pkcs8.pem"),
    ] {
        assert_ne!(e, KeyError::Rejected);
        assert!(!e.to_string().contains("rejected"), "{e}");
    }
}
