//! Private and public key import on arbitrary input: PEM (lossy UTF-8, bundles with
//! certificates and text between blocks, PKCS#8, PKCS#1, SEC1) and DER (PKCS#8, SPKI).
//!
//! The first byte picks the algorithm among `Algorithm::available()`; the rest is the input.
//! `SigningKey::from_pem`, `SigningKey::from_pkcs8_der`, `VerifyingKey::from_pem` and
//! `VerifyingKey::from_spki_der` must not panic, and whatever imports must be usable:
//! - a signing key is bound to the chosen algorithm, signs a message its `verifying_key()`
//!   verifies (and a different message does not);
//! - an asymmetric verifying key exports SPKI DER that re-imports under the same algorithm
//!   to a key with the same thumbprint.
#![no_main]

use libfuzzer_sys::fuzz_target;
use token_engine::{Algorithm, SigningKey, VerifyingKey};

const MESSAGE: &[u8] = b"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJmdXp6In0";

fn check_public(alg: Algorithm, key: &VerifyingKey) {
    assert_eq!(key.alg(), alg);
    let spki = key.to_spki_der().expect("an asymmetric key exports SPKI");
    let again = VerifyingKey::from_spki_der(alg, &spki)
        .unwrap_or_else(|e| panic!("exported SPKI does not re-import: {e:?}"));
    assert_eq!(again.thumbprint(), key.thumbprint());
}

fn check_signing(alg: Algorithm, key: &SigningKey) {
    assert_eq!(key.alg(), alg);
    let public = key.verifying_key();
    let sig = key.sign(MESSAGE).expect("an imported key signs");
    public
        .verify(MESSAGE, &sig)
        .expect("its verifying key verifies its signature");
    assert!(
        public.verify(b"another message", &sig).is_err(),
        "verifies anything"
    );
    check_public(alg, &public);
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, input)) = data.split_first() else {
        return;
    };
    let algs = Algorithm::available();
    let Some(&alg) = algs.get(usize::from(pick) % algs.len()) else {
        return;
    };
    if alg.is_symmetric() {
        // HMAC keys are raw secrets; PEM and DER import must refuse them.
        assert!(SigningKey::from_pkcs8_der(alg, input).is_err());
        assert!(SigningKey::from_pem(alg, &String::from_utf8_lossy(input)).is_err());
        return;
    }
    let text = String::from_utf8_lossy(input);
    if let Ok(key) = SigningKey::from_pem(alg, &text) {
        check_signing(alg, &key);
    }
    if let Ok(key) = SigningKey::from_pkcs8_der(alg, input) {
        check_signing(alg, &key);
    }
    if let Ok(key) = VerifyingKey::from_pem(alg, &text) {
        check_public(alg, &key);
    }
    if let Ok(key) = VerifyingKey::from_spki_der(alg, input) {
        check_public(alg, &key);
    }
});
