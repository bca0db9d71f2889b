//! DPoP (RFC 9449) costs, ES256 and EdDSA: proof verification (`check_proof`) beside plain
//! access-token verification, and the whole resource-server check
//! (`Verifier::verify_dpop`: the token, then the proof by its key with `ath`) against its
//! floor, the two bare ring signature checks it cannot avoid, interleaved in one timing loop
//! (`paired/<alg>` prints the ratio; target at most 1.1x).
//!
//! Run: `cargo bench --bench dpop`.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::cell::RefCell;
use std::hint::black_box;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use ring::signature::{self, UnparsedPublicKey};
use serde_json::json;
use token_engine::dpop::{access_token_hash, check_proof};
use token_engine::jose::Confirmation;
use token_engine::{
    AccessTokenClaims, Algorithm, DpopRules, KeySet, ManualClock, SigningKey, Validation,
};

const NOW: i64 = 1_800_000_000;
const API: &str = "https://api.example.com/orders";

fn b64(v: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

/// A proof by `key` for `GET API` bound to `access_token`.
fn proof(key: &SigningKey, access_token: &str) -> String {
    let jwk = serde_json::to_value(key.verifying_key().to_jwk().unwrap()).unwrap();
    let header = json!({"typ": "dpop+jwt", "alg": key.alg().name(), "jwk": jwk});
    let claims = json!({
        "jti": "e1j3V_bKic8-LAEB", "htm": "GET", "htu": API, "iat": NOW,
        "ath": access_token_hash(access_token),
    });
    let input = format!("{}.{}", b64(&header), b64(&claims));
    let sig = key.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// The bare ring check of a compact JWS's signature, everything decoded beforehand.
struct Raw {
    key: UnparsedPublicKey<Vec<u8>>,
    message: Vec<u8>,
    signature: Vec<u8>,
}

impl Raw {
    fn new(alg: Algorithm, public: Vec<u8>, jws: &str) -> Self {
        let ring_alg: &'static dyn signature::VerificationAlgorithm = match alg {
            Algorithm::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
            _ => &signature::ED25519,
        };
        let (message, sig) = jws.rsplit_once('.').unwrap();
        let raw = Self {
            key: UnparsedPublicKey::new(ring_alg, public),
            message: message.as_bytes().to_vec(),
            signature: URL_SAFE_NO_PAD.decode(sig).unwrap(),
        };
        raw.check();
        raw
    }

    fn check(&self) {
        self.key.verify(&self.message, &self.signature).unwrap();
    }
}

/// The raw public key bytes ring takes (uncompressed point, or the Ed25519 key).
fn public_bytes(key: &SigningKey) -> Vec<u8> {
    let spki = key.verifying_key().to_spki_der().unwrap();
    // Both SPKIs end with the key as the BIT STRING's contents.
    let len = match key.alg() {
        Algorithm::ES256 => 65,
        _ => 32,
    };
    spki[spki.len() - len..].to_vec()
}

fn bench_dpop(c: &mut Criterion) {
    for alg in [Algorithm::ES256, Algorithm::EdDSA] {
        let issuer = SigningKey::generate(alg).unwrap().0.with_kid("as");
        let holder = SigningKey::generate(alg).unwrap().0;
        let jkt = holder.verifying_key().thumbprint().unwrap();
        let issuer_public = public_bytes(&issuer);
        let keys = KeySet::new(issuer);
        let mut claims: AccessTokenClaims<'_> = AccessTokenClaims::default();
        claims.iss = Some("https://as".into());
        claims.sub = Some("user123456".into());
        claims.aud = Some("https://api".into());
        claims.iat = Some(NOW);
        claims.exp = Some(NOW + 900);
        claims.jti = Some("abcd1234".into());
        claims.client_id = Some("app".into());
        claims.scope = Some("orders".into());
        claims.cnf = Some(Confirmation::jkt(jkt));
        let token = keys.sign_access_token(&claims).unwrap();
        let verifier = keys
            .verifier(Validation::new("https://as", "https://api"))
            .unwrap()
            .with_clock(ManualClock::new(NOW));
        let proof = proof(&holder, &token);
        let auth = format!("DPoP {token}");
        let rules = DpopRules::default();
        let raw_token = Raw::new(alg, issuer_public, &token);
        let raw_proof = Raw::new(alg, public_bytes(&holder), &proof);
        verifier
            .verify_dpop(&auth, Some(&proof), "GET", API, &rules)
            .unwrap();

        let mut g = c.benchmark_group(format!("dpop/{alg}"));
        g.bench_function("verify_access_token", |b| {
            b.iter(|| black_box(verifier.verify(black_box(&token)).unwrap()))
        });
        g.bench_function("check_proof", |b| {
            b.iter(|| {
                black_box(
                    check_proof(black_box(&proof), "GET", API, Some(&token), NOW, &rules).unwrap(),
                )
            })
        });
        g.bench_function("verify_dpop", |b| {
            b.iter(|| {
                black_box(
                    verifier
                        .verify_dpop(black_box(&auth), Some(&proof), "GET", API, &rules)
                        .unwrap(),
                )
            })
        });
        g.bench_function("two_ring_checks", |b| {
            b.iter(|| {
                raw_token.check();
                raw_proof.check();
            })
        });
        g.finish();

        let totals = RefCell::new([Duration::ZERO; 2]);
        let mut g = c.benchmark_group(format!("paired/{alg}"));
        g.bench_function("round_robin", |b| {
            b.iter_custom(|iters| {
                let mut t = [Duration::ZERO; 2];
                let mut left = iters;
                while left > 0 {
                    let n = left.min(16);
                    let s = Instant::now();
                    for _ in 0..n {
                        black_box(
                            verifier
                                .verify_dpop(black_box(&auth), Some(&proof), "GET", API, &rules)
                                .unwrap(),
                        );
                    }
                    t[0] += s.elapsed();
                    let s = Instant::now();
                    for _ in 0..n {
                        raw_token.check();
                        raw_proof.check();
                    }
                    t[1] += s.elapsed();
                    left -= n;
                }
                let mut tot = totals.borrow_mut();
                tot[0] += t[0];
                tot[1] += t[1];
                t[0]
            })
        });
        g.finish();
        let t = totals.into_inner();
        if !t[1].is_zero() {
            eprintln!(
                "paired/{alg}: verify_dpop / two ring checks {:.3}",
                t[0].as_secs_f64() / t[1].as_secs_f64()
            );
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = bench_dpop
}
criterion_main!(benches);
