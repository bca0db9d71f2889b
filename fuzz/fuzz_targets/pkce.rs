//! PKCE (RFC 7636) on arbitrary input: a verifier, a challenge and a method byte.
//!
//! Nothing panics. A verifier that parses has RFC 7636 §4.1 syntax, its `S256` challenge is
//! accepted as received and verifies it, and no other verifier of the input verifies it; a
//! challenge accepted from a request verifies only the verifier it was made from (`plain`) or
//! one hashing to it (`S256`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use token_engine::pkce::{CodeChallenge, CodeVerifier};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let (verifier, challenge) = text.split_once('\n').unwrap_or((&text, ""));
    let method = match mode % 4 {
        0 => Some("S256"),
        1 => Some("plain"),
        2 => None,
        _ => Some(challenge.get(..4).unwrap_or("")),
    };
    if let Ok(v) = CodeVerifier::parse(verifier) {
        let s = verifier;
        assert!((43..=128).contains(&s.len()));
        assert!(
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
        );
        let c = v.s256_challenge();
        let received = CodeChallenge::from_request(c.as_str(), Some("S256"), false)
            .expect("an S256 challenge of a valid verifier is valid");
        received.verify(s).expect("it verifies its verifier");
        if challenge != s {
            assert!(
                received.verify(challenge).is_err(),
                "another verifier verified"
            );
        }
    }
    for allow_plain in [false, true] {
        if let Ok(c) = CodeChallenge::from_request(challenge, method, allow_plain) {
            if !allow_plain {
                assert_eq!(
                    c.as_str().len(),
                    43,
                    "only S256 without the dangerous switch"
                );
            }
            if c.verify(verifier).is_ok() && c.as_str() != verifier {
                let v = CodeVerifier::parse(verifier).expect("a matching verifier is valid");
                assert_eq!(v.s256_challenge().as_str(), c.as_str());
            }
        }
    }
});
