//! Access-token signing: `KeySet::sign_access_token` against the floor (claim
//! serialization, base64url and the raw ring signing primitive) on the same claims,
//! interleaved in one timing loop (`paired/<alg>` prints the ratio).
//!
//! Run: `cargo bench --bench sign`.

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
use ring::rand::SystemRandom;
use ring::{hmac, signature};
use serde::Serialize;
use token_engine::{AccessTokenClaims, Algorithm, KeySet, SigningKey};

#[derive(Clone, Serialize)]
struct App {
    role: &'static str,
    tenant_id: &'static str,
}

fn claims() -> AccessTokenClaims<'static, App> {
    let now = 1_800_000_000;
    let mut c = AccessTokenClaims::new(App {
        role: "admin",
        tenant_id: "org_987654321",
    });
    c.iss = Some("https://auth.example.com".into());
    c.sub = Some("user123456".into());
    c.aud = Some("https://api.example.com".into());
    c.iat = Some(now);
    c.exp = Some(now + 900);
    c.jti = Some("abcd1234-ef56-gh78-ij90".into());
    c.scope = Some("read:profile write:settings".into());
    c.client_id = Some("client_app_123".into());
    c.auth_time = Some(now - 100);
    c
}

/// The raw primitive: sign `msg`, appending the signature.
type RawSign = Box<dyn Fn(&[u8], &mut Vec<u8>)>;

fn raw_signer(alg: Algorithm, pkcs8_or_secret: &[u8]) -> RawSign {
    match alg {
        Algorithm::HS256 => {
            let key = hmac::Key::new(hmac::HMAC_SHA256, pkcs8_or_secret);
            Box::new(move |m, out| out.extend_from_slice(hmac::sign(&key, m).as_ref()))
        }
        Algorithm::ES256 => {
            let rng = SystemRandom::new();
            let key = signature::EcdsaKeyPair::from_pkcs8(
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                pkcs8_or_secret,
                &rng,
            )
            .unwrap();
            Box::new(move |m, out| {
                out.extend_from_slice(key.sign(&SystemRandom::new(), m).unwrap().as_ref())
            })
        }
        _ => {
            let key =
                signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8_or_secret).unwrap();
            Box::new(move |m, out| out.extend_from_slice(key.sign(m).as_ref()))
        }
    }
}

/// The floor: serialize, encode, sign, encode, with the header encoded once.
fn floor(header_b64: &str, claims: &AccessTokenClaims<'static, App>, sign: &RawSign) -> String {
    let payload = serde_json::to_vec(claims).unwrap();
    let mut token = String::with_capacity(header_b64.len() + payload.len() * 4 / 3 + 100);
    token.push_str(header_b64);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
    let mut sig = Vec::with_capacity(64);
    sign(token.as_bytes(), &mut sig);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(&sig, &mut token);
    token
}

fn bench_sign(c: &mut Criterion) {
    let claims = claims();
    for alg in [Algorithm::HS256, Algorithm::ES256, Algorithm::EdDSA] {
        let (key, doc) = SigningKey::generate(alg).unwrap();
        let raw = raw_signer(alg, doc.expose_secret());
        let keys = KeySet::new(key.with_kid("2026-11"));
        let sample = keys.sign_access_token(&claims).unwrap();
        let header_b64 = sample.split('.').next().unwrap().to_owned();
        assert_eq!(
            floor(&header_b64, &claims, &raw).split('.').nth(1),
            sample.split('.').nth(1)
        );

        let mut g = c.benchmark_group(format!("sign/{alg}"));
        g.bench_function("ours", |b| {
            b.iter(|| black_box(keys.sign_access_token(black_box(&claims)).unwrap()))
        });
        g.bench_function("floor", |b| {
            b.iter(|| black_box(floor(&header_b64, black_box(&claims), &raw)))
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
                        black_box(keys.sign_access_token(black_box(&claims)).unwrap());
                    }
                    t[0] += s.elapsed();
                    let s = Instant::now();
                    for _ in 0..n {
                        black_box(floor(&header_b64, black_box(&claims), &raw));
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
                "paired/{alg}: ours/floor {:.3}",
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
    targets = bench_sign
}
criterion_main!(benches);
