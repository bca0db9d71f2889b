//! Access-token verification, side by side in one run, on the identical ~450-byte token (the
//! seed's claim set):
//!
//! - `ours_owned`: `Verifier::verify_as::<App>` (signature, decode, validation, owned claims)
//! - `ours_borrowed`: `Verifier::verify_borrowed::<BorrowedApp>` into a reused buffer
//! - `jsonwebtoken`: `jsonwebtoken::decode::<Claims>` 9.3 (also on ring) with the same checks
//! - `floor`: the raw ring signature check + base64 decode + one borrowed serde parse, no
//!   header parse and no validation: what no verifier can beat
//! - `ring_sig_only`: the raw ring signature check on pre-decoded bytes
//!
//! Each algorithm is then measured again in `paired/<alg>`: all contenders interleaved in
//! batches of 8 inside one timing loop, so interference on a shared machine hits them alike;
//! the ratios of their totals are printed (`paired/<alg>: ...`). Those are the numbers the
//! README reports.
//!
//! Run: `cargo bench --bench verify`. Compare ratios within one run; absolute times drift on
//! shared machines.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::borrow::Cow;
use std::cell::RefCell;
use std::hint::black_box;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use ring::{hmac, signature};
use serde::{Deserialize, Serialize};
use token_engine::{AccessTokenClaims, Algorithm, KeySet, SigningKey, Validation, Verifier};

const ISS: &str = "https://auth.example.com";
const AUD: &str = "https://api.example.com";

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct App {
    role: String,
    tenant_id: String,
}

#[derive(Debug, Deserialize)]
struct BorrowedApp<'a> {
    #[serde(borrow)]
    role: Cow<'a, str>,
    #[serde(borrow)]
    tenant_id: Cow<'a, str>,
}

/// What the floor parses: every claim of the token, borrowed.
#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct FloorClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: i64,
    iat: i64,
    jti: &'a str,
    client_id: &'a str,
    scope: &'a str,
    auth_time: i64,
    role: &'a str,
    tenant_id: &'a str,
}

/// The same claims as jsonwebtoken users write them.
#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct JwtClaims {
    iss: String,
    sub: String,
    aud: String,
    exp: i64,
    iat: i64,
    jti: String,
    client_id: String,
    scope: String,
    auth_time: i64,
    role: String,
    tenant_id: String,
}

fn keys_dir(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/data/keys/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn seed_claims(now: i64) -> AccessTokenClaims<'static, App> {
    let mut c = AccessTokenClaims::new(App {
        role: "admin".into(),
        tenant_id: "org_987654321".into(),
    });
    c.iss = Some(ISS.into());
    c.sub = Some("user123456".into());
    c.aud = Some(AUD.into());
    c.iat = Some(now);
    c.exp = Some(now + 3600);
    c.jti = Some("abcd1234-ef56-gh78-ij90".into());
    c.scope = Some("read:profile write:settings".into());
    c.client_id = Some("client_app_123".into());
    c.auth_time = Some(now - 100);
    c
}

/// A raw ring signature check, as a closure over the signing input and signature.
type RawVerify = Box<dyn Fn(&[u8], &[u8]) -> bool>;

struct Case {
    alg: Algorithm,
    signing: SigningKey,
    jwt_key: jsonwebtoken::DecodingKey,
    jwt_alg: jsonwebtoken::Algorithm,
    raw: RawVerify,
}

fn cases() -> Vec<Case> {
    let secret = [0x5au8; 32];
    let hmac_key = hmac::Key::new(hmac::HMAC_SHA256, &secret);
    let rsa = SigningKey::from_pem(Algorithm::RS256, &keys_dir("rsa2048.pkcs8.pem")).unwrap();
    let rsa_jwk = rsa.verifying_key().to_jwk().unwrap();
    let (n, e) = (
        URL_SAFE_NO_PAD
            .decode(rsa_jwk.n.as_deref().unwrap())
            .unwrap(),
        URL_SAFE_NO_PAD
            .decode(rsa_jwk.e.as_deref().unwrap())
            .unwrap(),
    );
    let ec = SigningKey::from_pem(Algorithm::ES256, &keys_dir("p256.pkcs8.pem")).unwrap();
    let ec_spki = ec.verifying_key().to_spki_der().unwrap();
    let ec_point = ec_spki[ec_spki.len() - 65..].to_vec();
    let ed = SigningKey::from_pem(Algorithm::EdDSA, &keys_dir("ed25519.pkcs8.pem")).unwrap();
    let ed_spki = ed.verifying_key().to_spki_der().unwrap();
    let ed_pk = ed_spki[ed_spki.len() - 32..].to_vec();
    let (n2, e2) = (n.clone(), e.clone());
    let ec_point2 = ec_point.clone();
    let ed_pk2 = ed_pk.clone();
    vec![
        Case {
            alg: Algorithm::HS256,
            signing: SigningKey::hmac(Algorithm::HS256, &secret).unwrap(),
            jwt_key: jsonwebtoken::DecodingKey::from_secret(&secret),
            jwt_alg: jsonwebtoken::Algorithm::HS256,
            raw: Box::new(move |m, s| hmac::verify(&hmac_key, m, s).is_ok()),
        },
        Case {
            alg: Algorithm::RS256,
            signing: rsa,
            jwt_key: jsonwebtoken::DecodingKey::from_rsa_raw_components(&n2, &e2),
            jwt_alg: jsonwebtoken::Algorithm::RS256,
            raw: Box::new(move |m, s| {
                signature::RsaPublicKeyComponents { n: &n, e: &e }
                    .verify(&signature::RSA_PKCS1_2048_8192_SHA256, m, s)
                    .is_ok()
            }),
        },
        Case {
            alg: Algorithm::ES256,
            signing: ec,
            jwt_key: jsonwebtoken::DecodingKey::from_ec_der(&ec_point2),
            jwt_alg: jsonwebtoken::Algorithm::ES256,
            raw: Box::new(move |m, s| {
                signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &ec_point)
                    .verify(m, s)
                    .is_ok()
            }),
        },
        Case {
            alg: Algorithm::EdDSA,
            signing: ed,
            jwt_key: jsonwebtoken::DecodingKey::from_ed_der(&ed_pk2),
            jwt_alg: jsonwebtoken::Algorithm::EdDSA,
            raw: Box::new(move |m, s| {
                signature::UnparsedPublicKey::new(&signature::ED25519, &ed_pk)
                    .verify(m, s)
                    .is_ok()
            }),
        },
    ]
}

/// The floor: split at the last dot, decode the signature, check it with ring, decode the
/// payload into a reused buffer, one borrowed serde parse.
fn floor<'b>(token: &str, raw: &RawVerify, buf: &'b mut Vec<u8>) -> FloorClaims<'b> {
    let (input, sig_b64) = token.rsplit_once('.').unwrap();
    let mut sig = [0u8; 512];
    let n = URL_SAFE_NO_PAD.decode_slice(sig_b64, &mut sig).unwrap();
    assert!(raw(input.as_bytes(), &sig[..n]));
    let payload_b64 = input.split_once('.').unwrap().1;
    buf.clear();
    buf.resize(payload_b64.len() * 3 / 4 + 3, 0);
    let len = URL_SAFE_NO_PAD.decode_slice(payload_b64, buf).unwrap();
    buf.truncate(len);
    serde_json::from_slice(buf).unwrap()
}

fn bench_verify(c: &mut Criterion) {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    for case in cases() {
        let keys = KeySet::new(case.signing.with_kid("2026-11"));
        let token = keys.sign_access_token(&seed_claims(now)).unwrap();
        let verifier: Verifier = keys.verifier(Validation::new(ISS, AUD)).unwrap();
        let mut jwt_validation = jsonwebtoken::Validation::new(case.jwt_alg);
        jwt_validation.set_issuer(&[ISS]);
        jwt_validation.set_audience(&[AUD]);
        jwt_validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);

        // Every contender must accept the token before it is timed.
        verifier.verify_as::<App>(&token).unwrap();
        jsonwebtoken::decode::<JwtClaims>(&token, &case.jwt_key, &jwt_validation).unwrap();
        let (input, sig_b64) = token.rsplit_once('.').unwrap();
        let sig = URL_SAFE_NO_PAD.decode(sig_b64).unwrap();
        assert!((case.raw)(input.as_bytes(), &sig));

        let mut group = c.benchmark_group(format!("verify/{}", case.alg));
        group.bench_function("ours_owned", |b| {
            b.iter(|| verifier.verify_as::<App>(black_box(&token)).unwrap())
        });
        let mut buf = Vec::new();
        group.bench_function("ours_borrowed", |b| {
            b.iter(|| {
                let c = verifier
                    .verify_borrowed::<BorrowedApp<'_>>(black_box(&token), &mut buf)
                    .unwrap();
                black_box((c.exp, c.custom.role.len(), c.custom.tenant_id.len()));
            })
        });
        group.bench_function("jsonwebtoken", |b| {
            b.iter(|| {
                jsonwebtoken::decode::<JwtClaims>(black_box(&token), &case.jwt_key, &jwt_validation)
                    .unwrap()
            })
        });
        let mut fbuf = Vec::new();
        group.bench_function("floor", |b| {
            b.iter(|| {
                let c = floor(black_box(&token), &case.raw, &mut fbuf);
                black_box(c.exp);
            })
        });
        group.bench_function("ring_sig_only", |b| {
            b.iter(|| assert!((case.raw)(black_box(input.as_bytes()), black_box(&sig))))
        });
        group.finish();
        eprintln!("verify/{}: token is {} bytes", case.alg, token.len());

        // The same contenders again, interleaved in batches of 8 inside one timing loop, so a
        // burst of interference on this shared machine hits all of them alike. Criterion
        // reports ours_owned; the ratios of the accumulated totals are printed.
        let totals = RefCell::new([Duration::ZERO; 5]);
        let mut pbuf = Vec::new();
        let mut fbuf2 = Vec::new();
        let mut group = c.benchmark_group(format!("paired/{}", case.alg));
        group.bench_function("round_robin", |b| {
            b.iter_custom(|iters| {
                let mut t = [Duration::ZERO; 5];
                let mut left = iters;
                while left > 0 {
                    let n = left.min(8);
                    let start = Instant::now();
                    for _ in 0..n {
                        black_box(verifier.verify_as::<App>(black_box(&token)).unwrap());
                    }
                    t[0] += start.elapsed();
                    let start = Instant::now();
                    for _ in 0..n {
                        let c = verifier
                            .verify_borrowed::<BorrowedApp<'_>>(black_box(&token), &mut pbuf)
                            .unwrap();
                        black_box((c.exp, c.custom.role.len(), c.custom.tenant_id.len()));
                    }
                    t[1] += start.elapsed();
                    let start = Instant::now();
                    for _ in 0..n {
                        black_box(
                            jsonwebtoken::decode::<JwtClaims>(
                                black_box(&token),
                                &case.jwt_key,
                                &jwt_validation,
                            )
                            .unwrap(),
                        );
                    }
                    t[2] += start.elapsed();
                    let start = Instant::now();
                    for _ in 0..n {
                        black_box(floor(black_box(&token), &case.raw, &mut fbuf2).exp);
                    }
                    t[3] += start.elapsed();
                    let start = Instant::now();
                    for _ in 0..n {
                        assert!((case.raw)(black_box(input.as_bytes()), black_box(&sig)));
                    }
                    t[4] += start.elapsed();
                    left -= n;
                }
                let mut totals = totals.borrow_mut();
                for (acc, d) in totals.iter_mut().zip(t) {
                    *acc += d;
                }
                t[0]
            })
        });
        group.finish();
        let t = totals.into_inner().map(|d| d.as_secs_f64());
        if t.contains(&0.0) {
            continue; // filtered out of this run
        }
        eprintln!(
            "paired/{}: ours_owned/floor {:.3}  ours_borrowed/floor {:.3}  ours_owned/ring_sig {:.3}  ours_borrowed/ring_sig {:.3}  jsonwebtoken/ours_owned {:.3}  jsonwebtoken/ours_borrowed {:.3}",
            case.alg,
            t[0] / t[3],
            t[1] / t[3],
            t[0] / t[4],
            t[1] / t[4],
            t[2] / t[0],
            t[2] / t[1],
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(5));
    targets = bench_verify
}
criterion_main!(benches);
