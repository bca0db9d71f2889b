//! Access-token verification, side by side in one run, on the identical ~500-byte token (the
//! seed's claim set), for HS256, RS256, ES256 and EdDSA:
//!
//! - `ours_owned`: `Verifier::verify_as::<App>` (signature, decode, validation, owned claims)
//! - `ours_borrowed`: `Verifier::verify_borrowed::<BorrowedApp>` into a reused buffer
//! - `ours_cached`: `verify_as::<App>` on a verifier with the verified-token cache, the token
//!   already cached (only asymmetric tokens are cached: for HS256 this is the uncached path)
//! - `ours_cached_shared`: `verify_shared::<App>` on that verifier, the token's claims already
//!   kept: a lookup, the claim checks against the clock and an `Arc` clone (HS256: uncached)
//! - `jsonwebtoken`: `jsonwebtoken::decode` 9.3 (on ring) with the same checks
//! - `jwt_simple`: `jwt-simple` 0.14 with its pure-Rust crypto, same checks
//! - `floor`: the raw ring signature check + one base64 decode + one borrowed serde parse; no
//!   header parse and no validation: what no verifier can beat
//! - `ring_sig_only`: the raw ring signature check on pre-decoded bytes
//! - `*_typ_first`, `*_kid_first`: `ours_owned`, `ours_borrowed` and `floor` again on the same
//!   claims under a header this crate did not write, as other issuers do: `{"typ":"at+jwt",
//!   "alg":..,"kid":..}` and `{"kid":..,"alg":..,"typ":"JWT"}` (the verifier of the latter
//!   accepts `typ: JWT`): both are among the spellings a verifier knows ahead for each key
//!   (`alg`, `kid` and a `typ` of none, `JWT` or `at+jwt`, in any order), so they are
//!   recognised by their bytes from the first token on
//! - `*_learned`: a header in none of those spellings (`{"kid":..,"alg":..,"typ":"JWT",
//!   "x5t":..}`), decoded and scanned the first time, then recognised by its bytes (the
//!   verifier remembers up to eight headers that verified, per key set); `*_scanned` is the
//!   same token on a verifier that cannot remember it (its eight slots hold other headers), so
//!   its header is decoded and scanned on every call: the first-sight cost, every time
//!
//! Each contender is measured on its own (`verify/<alg>/<name>`), then all of them again
//! interleaved in batches of 32 inside one timing loop (`paired/<alg>`), so interference on a
//! shared machine hits them alike (32, not 8: a contender's first call after another's runs
//! with cold caches and branch predictors, and at 8 that skewed the ratios by position in the
//! loop, up to 0.1 of the HS256 floor); the ratios of those totals are printed
//! (`paired/<alg>: ...`) and are the numbers the README reports. For each header shape,
//! `paired/<alg> header_<shape>` gives owned and borrowed against the floor on the same token
//! and against `floor3`, the mean of the floor on the three tokens. The floor never parses the
//! header, but the signature covers it: for the asymmetric algorithms that is a few bytes more
//! to hash and `floor3` is the same work measured three times as often; for HS256 the
//! `kid`-first header is four base64 characters shorter and its HMAC one SHA-256 block
//! shorter, so there only the per-token floor (`ours_*/floor`) compares like with like.
//! `revocation/HS256` measures
//! `Engine::verify_with_revocation` against `MemoryStore` next to plain `verify`.
//!
//! Run: `cargo bench --bench verify`.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod seed;

use std::cell::RefCell;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use jwt_simple::prelude::{
    ECDSAP256PublicKeyLike, EdDSAPublicKeyLike, MACLike, RSAPublicKeyLike, VerificationOptions,
};
use ring::{hmac, signature};
use seed::{AUD, App, BorrowedApp, Contender, ISS, Peer, RawVerify, floor, key_file, seed_claims};
use serde::{Deserialize, Serialize};
use token_engine::{
    Algorithm, Client, Engine, IssueRequest, KeySet, ManualClock, MemoryStore, RefreshSecret,
    SigningKey, TypeCheck, Validation, Verifier,
};

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

/// jwt-simple parses the registered claims itself; these are the rest.
#[derive(Debug, Serialize, Deserialize)]
#[allow(dead_code)]
struct SimpleCustom {
    client_id: String,
    scope: String,
    auth_time: i64,
    role: String,
    tenant_id: String,
}

struct Case {
    alg: Algorithm,
    signing: SigningKey,
    jsonwebtoken: Peer,
    jwt_simple: Peer,
    raw: RawVerify,
}

fn jsonwebtoken_peer(key: jsonwebtoken::DecodingKey, alg: jsonwebtoken::Algorithm) -> Peer {
    let mut v = jsonwebtoken::Validation::new(alg);
    v.set_issuer(&[ISS]);
    v.set_audience(&[AUD]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    Box::new(move |t| jsonwebtoken::decode::<JwtClaims>(t, &key, &v).is_ok())
}

fn simple_options() -> VerificationOptions {
    VerificationOptions {
        allowed_issuers: Some([ISS.to_owned()].into_iter().collect()),
        allowed_audiences: Some([AUD.to_owned()].into_iter().collect()),
        ..VerificationOptions::default()
    }
}

fn cases() -> Vec<Case> {
    let secret = [0x5au8; 32];
    let hmac_key = hmac::Key::new(hmac::HMAC_SHA256, &secret);
    let rsa = SigningKey::from_pem(Algorithm::RS256, &key_file("rsa2048.pkcs8.pem")).unwrap();
    let rsa_jwk = rsa.verifying_key().to_jwk().unwrap();
    let n = URL_SAFE_NO_PAD
        .decode(rsa_jwk.n.as_deref().unwrap())
        .unwrap();
    let e = URL_SAFE_NO_PAD
        .decode(rsa_jwk.e.as_deref().unwrap())
        .unwrap();
    let ec = SigningKey::from_pem(Algorithm::ES256, &key_file("p256.pkcs8.pem")).unwrap();
    let ec_spki = ec.verifying_key().to_spki_der().unwrap();
    let ec_point = ec_spki[ec_spki.len() - 65..].to_vec();
    let ed = SigningKey::from_pem(Algorithm::EdDSA, &key_file("ed25519.pkcs8.pem")).unwrap();
    let ed_spki = ed.verifying_key().to_spki_der().unwrap();
    let ed_pk = ed_spki[ed_spki.len() - 32..].to_vec();

    let simple_hs = jwt_simple::prelude::HS256Key::from_bytes(&secret);
    let simple_rs = jwt_simple::prelude::RS256PublicKey::from_components(&n, &e).unwrap();
    let simple_es = jwt_simple::prelude::ES256PublicKey::from_bytes(&ec_point).unwrap();
    let simple_ed = jwt_simple::prelude::Ed25519PublicKey::from_bytes(&ed_pk).unwrap();
    let (n2, e2, point2, pk2) = (n.clone(), e.clone(), ec_point.clone(), ed_pk.clone());
    vec![
        Case {
            alg: Algorithm::HS256,
            signing: SigningKey::hmac(Algorithm::HS256, &secret).unwrap(),
            jsonwebtoken: jsonwebtoken_peer(
                jsonwebtoken::DecodingKey::from_secret(&secret),
                jsonwebtoken::Algorithm::HS256,
            ),
            jwt_simple: Box::new(move |t| {
                simple_hs
                    .verify_token::<SimpleCustom>(t, Some(simple_options()))
                    .is_ok()
            }),
            raw: Box::new(move |m, s| hmac::verify(&hmac_key, m, s).is_ok()),
        },
        Case {
            alg: Algorithm::RS256,
            signing: rsa,
            jsonwebtoken: jsonwebtoken_peer(
                jsonwebtoken::DecodingKey::from_rsa_raw_components(&n2, &e2),
                jsonwebtoken::Algorithm::RS256,
            ),
            jwt_simple: Box::new(move |t| {
                simple_rs
                    .verify_token::<SimpleCustom>(t, Some(simple_options()))
                    .is_ok()
            }),
            raw: Box::new(move |m, s| {
                signature::RsaPublicKeyComponents { n: &n, e: &e }
                    .verify(&signature::RSA_PKCS1_2048_8192_SHA256, m, s)
                    .is_ok()
            }),
        },
        Case {
            alg: Algorithm::ES256,
            signing: ec,
            jsonwebtoken: jsonwebtoken_peer(
                jsonwebtoken::DecodingKey::from_ec_der(&point2),
                jsonwebtoken::Algorithm::ES256,
            ),
            jwt_simple: Box::new(move |t| {
                simple_es
                    .verify_token::<SimpleCustom>(t, Some(simple_options()))
                    .is_ok()
            }),
            raw: Box::new(move |m, s| {
                signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &ec_point)
                    .verify(m, s)
                    .is_ok()
            }),
        },
        Case {
            alg: Algorithm::EdDSA,
            signing: ed,
            jsonwebtoken: jsonwebtoken_peer(
                jsonwebtoken::DecodingKey::from_ed_der(&pk2),
                jsonwebtoken::Algorithm::EdDSA,
            ),
            jwt_simple: Box::new(move |t| {
                simple_ed
                    .verify_token::<SimpleCustom>(t, Some(simple_options()))
                    .is_ok()
            }),
            raw: Box::new(move |m, s| {
                signature::UnparsedPublicKey::new(&signature::ED25519, &ed_pk)
                    .verify(m, s)
                    .is_ok()
            }),
        },
    ]
}

/// `MemoryStore` futures are always ready: poll once with a no-op waker.
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// The same claims under another header: what a token from another issuer looks like.
fn with_header(token: &str, header: &str, key: &SigningKey) -> String {
    let payload = token.split('.').nth(1).unwrap();
    let input = format!("{}.{payload}", URL_SAFE_NO_PAD.encode(header));
    let sig = key.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

fn bench_verify(c: &mut Criterion) {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    for case in cases() {
        let keys = KeySet::new(case.signing.with_kid("2026-11"));
        let token = keys.sign_access_token(&seed_claims(now)).unwrap();
        let verifier = keys.verifier(Validation::new(ISS, AUD)).unwrap();
        let signer = keys.signing_key();
        let typ_first = with_header(
            &token,
            &format!(r#"{{"typ":"at+jwt","alg":"{}","kid":"2026-11"}}"#, case.alg),
            &signer,
        );
        let kid_first = with_header(
            &token,
            &format!(r#"{{"kid":"2026-11","alg":"{}","typ":"JWT"}}"#, case.alg),
            &signer,
        );
        // A header in no spelling the verifier knows ahead (an extra member, as some issuers
        // add `x5t`): decoded and scanned on first sight, then learned.
        let unlisted = with_header(
            &token,
            &format!(
                r#"{{"kid":"2026-11","alg":"{}","typ":"JWT","x5t":"bm90LWEtdGh1bWJwcmludA"}}"#,
                case.alg
            ),
            &signer,
        );
        let jwt_verifier = keys
            .verifier(Validation::new(ISS, AUD).typ(TypeCheck::Exactly("JWT".into())))
            .unwrap();
        let learning = keys
            .verifier(Validation::new(ISS, AUD).typ(TypeCheck::Exactly("JWT".into())))
            .unwrap();
        // A verifier of its own whose eight remembered headers are others: the unlisted
        // header is decoded and scanned on every call, as on first sight.
        let scanning = Verifier::new(
            keys.verification_keys().to_vec(),
            Validation::new(ISS, AUD).typ(TypeCheck::Exactly("JWT".into())),
        )
        .unwrap();
        for i in 0..8 {
            let other = with_header(
                &token,
                &format!(
                    r#"{{"kid":"2026-11","alg":"{}","typ":"JWT","n":"{i}"}}"#,
                    case.alg
                ),
                &signer,
            );
            scanning.verify(&other).unwrap();
        }
        let cached = verifier.clone().with_cache(1024);
        let (input, sig_b64) = token.rsplit_once('.').unwrap();
        let sig = URL_SAFE_NO_PAD.decode(sig_b64).unwrap();

        // Every contender must accept the token before it is timed.
        verifier.verify_as::<App>(&token).unwrap();
        verifier.verify_as::<App>(&typ_first).unwrap();
        jwt_verifier.verify_as::<App>(&kid_first).unwrap();
        learning.verify_as::<App>(&unlisted).unwrap();
        scanning.verify_as::<App>(&unlisted).unwrap();
        cached.verify_as::<App>(&token).unwrap();
        cached.verify_shared::<App>(&token).unwrap();
        assert!(
            (case.jsonwebtoken)(&token),
            "jsonwebtoken rejects the token"
        );
        assert!((case.jwt_simple)(&token), "jwt-simple rejects the token");
        assert!((case.raw)(input.as_bytes(), &sig));

        let buf = RefCell::new(Vec::new());
        let fbuf = RefCell::new(Vec::new());
        let contenders: Vec<Contender<'_>> = vec![
            (
                "ours_owned",
                Box::new(|| {
                    drop(black_box(
                        verifier.verify_as::<App>(black_box(&token)).unwrap(),
                    ))
                }),
            ),
            (
                "ours_borrowed",
                Box::new(|| {
                    let mut b = buf.borrow_mut();
                    let c = verifier
                        .verify_borrowed::<BorrowedApp<'_>>(black_box(&token), &mut b)
                        .unwrap();
                    black_box((c.exp, c.custom.role.len(), c.custom.tenant_id.len()));
                }),
            ),
            (
                "ours_cached",
                Box::new(|| {
                    drop(black_box(
                        cached.verify_as::<App>(black_box(&token)).unwrap(),
                    ))
                }),
            ),
            (
                "ours_cached_shared",
                Box::new(|| {
                    drop(black_box(
                        cached.verify_shared::<App>(black_box(&token)).unwrap(),
                    ))
                }),
            ),
            (
                "jsonwebtoken",
                Box::new(|| assert!((case.jsonwebtoken)(black_box(&token)))),
            ),
            (
                "jwt_simple",
                Box::new(|| assert!((case.jwt_simple)(black_box(&token)))),
            ),
            (
                "floor",
                Box::new(|| {
                    let mut b = fbuf.borrow_mut();
                    black_box(floor(black_box(&token), &case.raw, &mut b).exp);
                }),
            ),
            (
                "ring_sig_only",
                Box::new(|| assert!((case.raw)(black_box(input.as_bytes()), black_box(&sig)))),
            ),
        ];
        let mut contenders = contenders;
        for (suffix, foreign, v) in [
            ("typ_first", &typ_first, &verifier),
            ("kid_first", &kid_first, &jwt_verifier),
            ("learned", &unlisted, &learning),
            ("scanned", &unlisted, &scanning),
        ] {
            let (buf, fbuf) = (&buf, &fbuf);
            let raw = &case.raw;
            contenders.push((
                leak(format!("ours_owned_{suffix}")),
                Box::new(move || drop(black_box(v.verify_as::<App>(black_box(foreign)).unwrap()))),
            ));
            contenders.push((
                leak(format!("ours_borrowed_{suffix}")),
                Box::new(move || {
                    let mut b = buf.borrow_mut();
                    let c = v
                        .verify_borrowed::<BorrowedApp<'_>>(black_box(foreign), &mut b)
                        .unwrap();
                    black_box((c.exp, c.custom.role.len(), c.custom.tenant_id.len()));
                }),
            ));
            if suffix == "scanned" {
                continue; // the same token as learned: one floor
            }
            let suffix = suffix.replace("learned", "unlisted");
            contenders.push((
                leak(format!("floor_{suffix}")),
                Box::new(move || {
                    let mut b = fbuf.borrow_mut();
                    black_box(floor(black_box(foreign), raw, &mut b).exp);
                }),
            ));
        }

        let mut group = c.benchmark_group(format!("verify/{}", case.alg));
        for (name, f) in &contenders {
            group.bench_function(*name, |b| b.iter(f));
        }
        group.finish();
        eprintln!("verify/{}: token is {} bytes", case.alg, token.len());

        let totals = RefCell::new(vec![Duration::ZERO; contenders.len()]);
        let mut group = c.benchmark_group(format!("paired/{}", case.alg));
        group.bench_function("round_robin", |b| {
            b.iter_custom(|iters| {
                let mut t = vec![Duration::ZERO; contenders.len()];
                let mut left = iters;
                while left > 0 {
                    let n = left.min(BATCH);
                    for (slot, (_, f)) in t.iter_mut().zip(&contenders) {
                        let start = Instant::now();
                        for _ in 0..n {
                            f();
                        }
                        *slot += start.elapsed();
                    }
                    left -= n;
                }
                for (acc, d) in totals.borrow_mut().iter_mut().zip(&t) {
                    *acc += *d;
                }
                t[0]
            })
        });
        group.finish();
        let t: Vec<f64> = totals
            .into_inner()
            .iter()
            .map(Duration::as_secs_f64)
            .collect();
        if t.contains(&0.0) {
            continue; // filtered out of this run
        }
        let at = |name: &str| t[contenders.iter().position(|(n, _)| *n == name).unwrap()];
        eprintln!(
            "paired/{}: ours_owned/floor {:.3}  ours_borrowed/floor {:.3}  ours_owned/ring_sig {:.3}  \
             ours_borrowed/ring_sig {:.3}  ours_cached/ours_owned {:.3}  ours_cached_shared/ours_owned {:.4}  jsonwebtoken/ours_owned {:.3}  \
             jsonwebtoken/ours_borrowed {:.3}  jwt_simple/ours_owned {:.3}  jwt_simple/ours_borrowed {:.3}",
            case.alg,
            at("ours_owned") / at("floor"),
            at("ours_borrowed") / at("floor"),
            at("ours_owned") / at("ring_sig_only"),
            at("ours_borrowed") / at("ring_sig_only"),
            at("ours_cached") / at("ours_owned"),
            at("ours_cached_shared") / at("ours_owned"),
            at("jsonwebtoken") / at("ours_owned"),
            at("jsonwebtoken") / at("ours_borrowed"),
            at("jwt_simple") / at("ours_owned"),
            at("jwt_simple") / at("ours_borrowed"),
        );
        // The floor never reads the header, so on the three tokens it does the same work:
        // their mean is the steadier floor on a shared machine (`floor3`).
        let floor3 = (at("floor") + at("floor_typ_first") + at("floor_kid_first")) / 3.0;
        for suffix in ["", "_typ_first", "_kid_first", "_learned", "_scanned"] {
            let floor = at(&format!(
                "floor{}",
                suffix
                    .replace("_learned", "_unlisted")
                    .replace("_scanned", "_unlisted")
            ));
            let owned = at(&format!("ours_owned{suffix}"));
            let borrowed = at(&format!("ours_borrowed{suffix}"));
            let ring = at("ring_sig_only");
            eprintln!(
                "paired/{} header{}: ours_owned/floor3 {:.3}  ours_borrowed/floor3 {:.3}  \
                 ours_owned/floor {:.3}  ours_borrowed/floor {:.3}  ours_owned/ring_sig {:.3}  \
                 ours_borrowed/ring_sig {:.3}",
                case.alg,
                if suffix.is_empty() {
                    "_canonical"
                } else {
                    suffix
                },
                owned / floor3,
                borrowed / floor3,
                owned / floor,
                borrowed / floor,
                owned / ring,
                borrowed / ring,
            );
        }
    }
}

/// Calls of one contender in a row inside the round robin.
const BATCH: u64 = 32;

/// A contender's name, made at run time, for the life of the bench.
fn leak(name: String) -> &'static str {
    Box::leak(name.into_boxed_str())
}

fn bench_revocation(c: &mut Criterion) {
    let engine = Engine::builder()
        .issuer(ISS)
        .audience(AUD)
        .signing_key(
            SigningKey::hmac(Algorithm::HS256, &[7; 32])
                .unwrap()
                .with_kid("k"),
        )
        .refresh_secret(RefreshSecret::from_bytes(&[8; 32]).unwrap())
        .clock(ManualClock::new(
            time::OffsetDateTime::now_utc().unix_timestamp(),
        ))
        .build(MemoryStore::new())
        .unwrap();
    let client = Client::new("client_app_123").allow_scopes(["read:profile", "write:settings"]);
    // Some other sessions in the store, so the lookup is not in an empty map.
    for i in 0..1000 {
        block_on(engine.issue(&client, IssueRequest::new(format!("user{i}")))).unwrap();
    }
    let issued = block_on(engine.issue(
        &client,
        IssueRequest::new("user123456").claim("role", "admin"),
    ))
    .unwrap();
    let token = issued.access_token;
    block_on(engine.verify_with_revocation(&token)).unwrap();
    let mut group = c.benchmark_group("revocation/HS256");
    group.bench_function("verify", |b| {
        b.iter(|| engine.verifier().verify(black_box(&token)).unwrap())
    });
    group.bench_function("verify_with_revocation_memory_store", |b| {
        b.iter(|| block_on(engine.verify_with_revocation(black_box(&token))).unwrap())
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = bench_verify, bench_revocation
}
criterion_main!(benches);
