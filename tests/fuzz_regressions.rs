#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Inputs found by the fuzz targets in `fuzz/`, minimized (`cargo fuzz tmin`), each with the
//! exact behaviour it must have. A test marked `#[ignore = "BUG: ..."]` documents a bug not
//! fixed yet: run it with `cargo test --test fuzz_regressions -- --ignored`.

use token_engine::{KeyError, SigningKey};

/// `jwk_import`: an RSA private JWK (RS384, 2048 bits) whose `d`, `dp` and `dq` do not fit
/// its primes (the fuzzer truncated them; `n`, `e`, `p`, `q` and `qi` are consistent).
/// `ring` validates the CRT exponents only when signing, so `SigningKey::from_jwk` accepted the
/// key and every `sign` then failed with `Error::Crypto("signing failed")`: a server configured
/// with it started and then failed every token issuance. An inconsistent private key must be
/// rejected at import (fixed by the load-time sign-and-verify self-test).
#[test]
fn jwk_rsa_inconsistent_crt_is_rejected_at_import() {
    const INPUT: &[u8] = concat!(
        r#"{"kty":"RSA","alg":"RS384","n":"zab6XKdr_gSS7Ffgo7__cnLcjR4lrR-zOKoFDwLBBOYxM9a1t8SYXruu"#,
        r#"msA2pbnAMHTWCuyOJbrzkqDEMP8FuI6UiAXT3XRRHYiFJQp7V0IVraAVxVkHZobiU8zJbAgVsSke54fMM2O0932T"#,
        r#"DrmY18WCskzqnOId6XInkZiYY6J-vICgDeW9L5Iod15aTOsFTVjJvjagVDNpcaE2Qt2VEN1paqJo2zqrIpnV2I-O"#,
        r#"ViQ00UJwlNPfjnLR72m07TTRK6w3UiOyolzyJ_c1-BboXhcjkwR2mmCCFUzRWJn8Hq77abdIo-XtJNODcll94-Ti"#,
        r#"onuVHWrH2xgtaAnY_1Ebfw","e":"AQAB","kid":"RS384_2048","d":"Wj3JeeTOq1z6v_RHh1SyWowCwaR9g"#,
        r#"Nnzer5ELKmniyP2Mbb_PhWklW1_GFkM3rIG1eK2mL0ITyYOgu8o_57G28haiV7Io4ZXUPUBuWEl2xu92ZpK5GiK2"#,
        r#"zBKq9_E4M-5_mtrwNt0yIr4IJK81aQs-Dt7zz4OUbTHjnKzIHpgpwGtsQ","p":"74hbh-JcKdHuQx0fSs54fE-I"#,
        r#"LpLRLEsnZshPiSYxBu8L4N3E3jvwYaK6Rv_nwTKuZ9M38E3Gba653lU3kfSYn1CyJMmBgStTiNHCtdUzSaYTk79m"#,
        r#"EZlbaYjxQ8J4zMJgz-gqasSmQJgH6rMmZLfuPxxB3-Vn4Jf9ev6FIIcaHFM","q":"28pYIojIGjDWWB8nIFCl_q"#,
        r#"dz1xEwG91uyschTgDA_LlJjx5YUIaxRGPMiaAsLneoknHAWMb2nzzRNVOZTYp2z2KtnidSF3INYutuiI7EUJzqR0"#,
        r#"tT83tFj8lW3THfO7bsfeZZ6I5-cJ_jvmqNNyZMPSDn0IgnbOdlGkA8aNbEfqU","dp":"nX6HyFHSjYDF64TzdUl"#,
        r#"KuVn73FKltv6ht0Ned1IgAWnxI-KgOTFxqtkLo4sFvIWfdgmLWr7IzUjCVyOQvvF1_pc","dq":"Du1gLQBDLtww"#,
        r#"Qo3jF2PC0lfHG000ij_wvV7m2Shd8wwWfdzevQviEpycqN3SVQUV1Tz43W0","qi":"EB0fSa-wTQZb2MKQAdIS5"#,
        r#"ze7ppYQhXSjMKnLrMUb9slllPN_upyN4VbCJjcdSZAhkeH2nYShNSGTv_KeMY6zbt5v-6uTtlVez2rdyp4TTCAiC"#,
        r#"i0ksDptI--MYIpRhnafZv4vayG8OfYnetcGA4uQeHLEcWYJwiN2ITDvA2FkgvI"}"#
    )
    .as_bytes();
    let json = String::from_utf8_lossy(INPUT);
    assert_eq!(SigningKey::from_jwk(&json).err(), Some(KeyError::Rejected));
}

/// `token_request`: an `Authorization` header whose sixth byte is inside a multi-byte
/// character (`"Basi"` then `Å`...). The check for a failed Basic attempt sliced the header at
/// byte 6 and panicked on the char boundary; any header must get a plain answer (here 401:
/// the header is not Basic credentials and nothing else authenticates the client).
#[tokio::test]
async fn token_endpoint_survives_a_header_cut_inside_a_character() {
    use token_engine::{Client, Engine, MemoryStore, NoPasswordGrant, RefreshSecret};
    let engine = Engine::builder()
        .issuer("https://as")
        .audience("https://api")
        .signing_key(SigningKey::hmac(token_engine::Algorithm::HS256, &[7; 32]).unwrap())
        .refresh_secret(RefreshSecret::from_bytes(&[7; 32]).unwrap())
        .build(MemoryStore::new())
        .unwrap();
    let clients = vec![Client::new("app")];
    for header in [
        "Basi\u{c5}\u{c5}c YmFzaWM6c2VjcmV0",
        "\u{e9}\u{e9}\u{e9}",
        "Basic",
    ] {
        let request = token_engine::HttpRequest::post("grant_type=client_credentials&scope=read")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Authorization", header);
        let r = engine
            .token_endpoint(&clients, &NoPasswordGrant, &request)
            .await;
        assert_eq!(r.status(), 401, "{header:?}");
        assert_eq!(
            r.header("www-authenticate"),
            None,
            "not a Basic attempt: {header:?}"
        );
    }
}
