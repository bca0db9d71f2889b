//! DPoP proofs (`check_proof`) on arbitrary input, against `POST https://as/token` at a fixed
//! time with the default rules.
//!
//! The first byte picks the mode: arbitrary bytes as the proof; or arbitrary bytes as the
//! claims of a proof whose header carries a fixed ES256 key and that is signed with it, so
//! the claim checks are reached past the signature. Nothing panics; an accepted proof has the
//! key's thumbprint, `htm` `POST`, an `htu` naming the endpoint and an `iat` in the window.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use token_engine::dpop::check_proof;
use token_engine::{Algorithm, DpopRules, SigningKey};

const NOW: i64 = 1_800_000_000;

struct Fixture {
    key: SigningKey,
    header: String,
    jkt: String,
}

fn b64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let key = SigningKey::generate(Algorithm::ES256).expect("key").0;
    let jwk = serde_json::to_value(key.verifying_key().to_jwk().expect("jwk")).expect("json");
    let header = serde_json::json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}).to_string();
    let jkt = key.verifying_key().thumbprint().expect("thumbprint");
    Fixture {
        key,
        header: b64(header.as_bytes()),
        jkt,
    }
});

fuzz_target!(|data: &[u8]| {
    let f = &*FIXTURE;
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let proof = if mode & 1 == 0 {
        String::from_utf8_lossy(rest).into_owned()
    } else {
        let input = format!("{}.{}", f.header, b64(rest));
        let Ok(sig) = f.key.sign(input.as_bytes()) else {
            return;
        };
        format!("{input}.{}", b64(&sig))
    };
    let rules = DpopRules::default();
    let access = (mode & 2 != 0).then_some("the-access-token");
    if let Ok(p) = check_proof(&proof, "POST", "https://as/token", access, NOW, &rules) {
        if mode & 1 == 1 {
            assert_eq!(p.jkt(), f.jkt, "accepted under another key");
            let claims: serde_json::Value = serde_json::from_slice(rest).expect("JSON claims");
            assert_eq!(claims["htm"], "POST");
            assert!((NOW - 60..=NOW + 5).contains(&p.iat()));
            assert!(!p.jti().is_empty());
        }
    }
});
