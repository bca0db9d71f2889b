//! Tokens and keys parse exactly as the RFCs say (issue 16), through the public verification
//! and key-import APIs: each section names the rule it checks.

use token_engine::{
    Error, Jwk, JwkSet, Jwks, JwksOptions, KeyError, SigningKey, Verifier, VerifyingKey,
};

use crate::common::*;

/// RFC 7515 Appendix A.3's P-256 key.
const EC_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
const EC_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
const EC_D: &str = "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI";
/// A 32-byte HMAC secret, base64url.
const OCT_K: &str = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr8";

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
