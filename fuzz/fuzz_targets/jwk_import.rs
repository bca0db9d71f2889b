//! JWK and JWK Set import on arbitrary input (lossy UTF-8).
//!
//! `VerifyingKey::from_jwk`, `SigningKey::from_jwk` and `Jwks::parse` (with and without a
//! default RSA algorithm) must not panic. Whatever imports must be usable and stable:
//! - an imported verifying key that exports a JWK (`to_jwk`, serialized with serde_json)
//!   re-imports, alone and as a one-key set, to a key with the same `alg`, `kid` and
//!   `thumbprint`; HMAC keys export nothing and have no thumbprint;
//! - a signing key imported from a JWK signs a message that its `verifying_key()` verifies
//!   (and a different message does not), and its public half passes the export check above
//!   (regression: tests/fuzz_regressions.rs, `jwk_rsa_inconsistent_crt_is_rejected_at_import`);
//! - an imported set never holds more keys than the limit, and its `kid`s are distinct.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use token_engine::jose::Jwks;
use token_engine::{Algorithm, JwksOptions, SigningKey, VerifyingKey};

const MESSAGE: &[u8] = b"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJmdXp6In0";

static OPTIONS: LazyLock<[(JwksOptions, usize); 2]> = LazyLock::new(|| {
    let rsa_default = JwksOptions::new()
        .default_rsa_algorithm(Algorithm::RS256)
        .max_keys(4);
    [(JwksOptions::default(), 100), (rsa_default, 4)]
});

/// The export / re-import property of one verification key.
fn check_export(key: &VerifyingKey) {
    let Some(jwk) = key.to_jwk() else {
        assert!(key.is_symmetric(), "an asymmetric key exports no JWK");
        assert!(key.thumbprint().is_none(), "an HMAC key has a thumbprint");
        return;
    };
    let thumbprint = key.thumbprint();
    assert!(thumbprint.is_some(), "an exported key has no thumbprint");
    let text = serde_json::to_string(&jwk).expect("serialize the exported JWK");
    let again = VerifyingKey::from_jwk(&text)
        .unwrap_or_else(|e| panic!("exported JWK {text} does not re-import: {e:?}"));
    assert_eq!(again.alg(), key.alg(), "{text}");
    assert_eq!(again.kid(), key.kid(), "{text}");
    assert_eq!(again.thumbprint(), thumbprint, "{text}");
    let set = format!(r#"{{"keys":[{text}]}}"#);
    let jwks = Jwks::parse(&set, &JwksOptions::default())
        .unwrap_or_else(|e| panic!("exported JWK {text} does not re-import as a set: {e:?}"));
    assert!(jwks.skipped.is_empty(), "{text}: {:?}", jwks.skipped);
    let [one] = jwks.keys.as_slice() else {
        panic!("{text}: {} keys", jwks.keys.len())
    };
    assert_eq!(
        (one.alg(), one.thumbprint()),
        (key.alg(), thumbprint),
        "{text}"
    );
}

fuzz_target!(|data: &[u8]| {
    let json = String::from_utf8_lossy(data);
    if let Ok(key) = VerifyingKey::from_jwk(&json) {
        check_export(&key);
    }
    if let Ok(key) = SigningKey::from_jwk(&json) {
        let public = key.verifying_key();
        assert_eq!(public.alg(), key.alg());
        assert_eq!(public.kid(), key.kid());
        let sig = key.sign(MESSAGE).expect("an imported key signs");
        public
            .verify(MESSAGE, &sig)
            .expect("its verifying key verifies its signature");
        assert!(
            public.verify(b"another message", &sig).is_err(),
            "verifies anything"
        );
        check_export(&public);
    }
    for (options, max_keys) in OPTIONS.iter() {
        if let Ok(set) = Jwks::parse(&json, options) {
            assert!(set.keys.len() + set.skipped.len() <= *max_keys);
            for (i, k) in set.keys.iter().enumerate() {
                if let Some(kid) = k.kid() {
                    assert!(
                        set.keys.iter().skip(i + 1).all(|o| o.kid() != Some(kid)),
                        "dup kid"
                    );
                }
                check_export(k);
            }
        }
    }
});
