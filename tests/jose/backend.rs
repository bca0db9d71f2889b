//! What each cryptography backend has: the same API and behaviour on both, and what the
//! `aws-lc-rs` backend adds (ES512 on P-521, RSA key generation). Run on both builds by CI
//! (`cargo test` and `cargo test -p token-engine --no-default-features --features
//! aws-lc-rs,conformance`); the assertions branch on `crypto_backend()` where the backends
//! differ by design.

use token_engine::{
    Algorithm, Error, KeyError, ManualClock, SigningKey, TokenError, Verifier, VerifyingKey,
    crypto_backend,
};

use crate::common::{NOW, SeedApp, key_file, rules, seed_claims, setup, signing_key};

fn aws() -> bool {
    crypto_backend() != "ring"
}

#[test]
fn the_backend_is_the_one_the_features_chose() {
    let expected = if cfg!(feature = "fips") {
        "aws-lc-rs (FIPS)"
    } else if cfg!(feature = "aws-lc-rs") {
        "aws-lc-rs"
    } else {
        "ring"
    };
    assert_eq!(crypto_backend(), expected);
    assert_eq!(Algorithm::available().len(), if aws() { 14 } else { 13 });
    // `ALL` is the common set either way.
    assert!(
        Algorithm::ALL
            .iter()
            .all(|a| Algorithm::available().contains(a))
    );
}

/// Sign an access token with `key` and verify it through a `Verifier` holding only the
/// public half, exported as a JWKS and imported again; a flipped signature byte fails.
fn token_round_trip(key: SigningKey) {
    let alg = key.alg();
    let (keys, _, _) = setup(key);
    let jwks = serde_json::to_string(&keys.jwks()).unwrap();
    let verifier = Verifier::from_jwks(&jwks, rules())
        .unwrap()
        .with_clock(ManualClock::new(NOW + 60));
    let token = keys.sign_access_token(&seed_claims()).unwrap();
    assert_eq!(
        verifier.verify_as::<SeedApp>(&token).unwrap(),
        seed_claims(),
        "{alg}"
    );
    // Flip a character inside the signature (not the last one, whose low bits are padding).
    let mut forged = token.into_bytes();
    let i = forged.len() - 10;
    forged[i] = if forged[i] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    assert!(
        matches!(
            verifier.verify(&forged),
            Err(Error::InvalidToken(TokenError::InvalidSignature))
        ),
        "{alg}"
    );
}

#[test]
fn es512_exists_exactly_with_aws_lc_rs() {
    let Some(es512) = Algorithm::from_name("ES512") else {
        assert!(!aws(), "aws-lc-rs has P-521");
        // ring: P-521 keys are an unsupported curve, however they come.
        assert_eq!(
            SigningKey::from_pem(Algorithm::ES384, &key_file("p521.pkcs8.pem")).unwrap_err(),
            KeyError::UnsupportedCurve
        );
        return;
    };
    assert!(aws());
    assert_eq!(es512.name(), "ES512");
    // PKCS#8 and SPKI from OpenSSL (tests/data/keys/README.md says how they were made).
    let sk = SigningKey::from_pem(es512, &key_file("p521.pkcs8.pem")).unwrap();
    let vk = VerifyingKey::from_pem(es512, &key_file("p521.spki.pem")).unwrap();
    assert_eq!(sk.verifying_key().thumbprint(), vk.thumbprint());
    let sig = sk.sign(b"message").unwrap();
    assert_eq!(sig.len(), 132, "R || S, 66 bytes each");
    assert_eq!(vk.verify(b"message", &sig), Ok(()));
    assert!(vk.verify(b"messagf", &sig).is_err());
    // The public key exports and re-imports in every form.
    let jwk = serde_json::to_value(vk.to_jwk().unwrap()).unwrap();
    assert_eq!(jwk["crv"], "P-521");
    assert_eq!(jwk["alg"], "ES512");
    let again = VerifyingKey::from_jwk(&jwk.to_string()).unwrap();
    assert_eq!(again.thumbprint(), vk.thumbprint());
    let again = VerifyingKey::from_pem(es512, &vk.to_public_pem().unwrap()).unwrap();
    assert_eq!(again.thumbprint(), vk.thumbprint());
    // Bound to its algorithm and curve.
    assert_eq!(
        VerifyingKey::from_pem(Algorithm::ES384, &key_file("p521.spki.pem")).unwrap_err(),
        KeyError::WrongKeyType
    );
    assert_eq!(
        VerifyingKey::from_pem(es512, &key_file("p384.spki.pem")).unwrap_err(),
        KeyError::WrongKeyType
    );
    // A point off the curve does not import.
    let mut point = [0u8; 133];
    point[0] = 4;
    point[1] = 1;
    assert_eq!(
        VerifyingKey::from_raw(es512, &point).unwrap_err(),
        KeyError::PointEncoding
    );
    // Generated keys sign tokens that verify through the JWKS.
    let (generated, doc) = SigningKey::generate(es512).unwrap();
    assert!(doc.to_pem().is_some());
    token_round_trip(generated);
    token_round_trip(sk);
}

#[test]
fn rsa_keys_are_generated_only_with_aws_lc_rs() {
    let generated = SigningKey::generate(Algorithm::PS256);
    if !aws() {
        // ring cannot generate RSA keys: the error the ring build always gave.
        assert!(matches!(generated, Err(Error::Key(KeyError::Unsupported))));
        return;
    }
    let (key, doc) = generated.unwrap();
    // 3072 bits by default: a 384-byte signature.
    assert_eq!(key.sign(b"m").unwrap().len(), 384);
    // The document is PKCS#8 that loads again, under any RSA algorithm.
    let again = SigningKey::from_pem(Algorithm::RS256, &doc.to_pem().unwrap()).unwrap();
    assert_eq!(
        again.verifying_key().thumbprint(),
        key.verifying_key().thumbprint()
    );
    token_round_trip(key);
    token_round_trip(again);
}

#[test]
fn every_asymmetric_algorithm_of_this_backend_round_trips_through_a_jwks() {
    for &alg in Algorithm::available() {
        if !alg.is_symmetric() {
            token_round_trip(signing_key(alg));
        }
    }
}
