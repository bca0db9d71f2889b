//! The two cryptography backends side by side: for every algorithm of the build
//! (`Algorithm::available()`: 13 on ring, 14 with ES512 on aws-lc-rs), on the seed's ~500-byte
//! claim set (the `verify` bench's token):
//!
//! - `verify/<alg>/ours`: `Verifier::verify_as::<App>` (signature, decode, validation, owned
//!   claims; no verified-token cache)
//! - `verify/<alg>/bare`: the backend's own check of the pre-decoded signing input and
//!   signature with a key built once: aws-lc-rs `ParsedPublicKey::verify_sig` (HMAC:
//!   `hmac::verify`); ring `RsaPublicKeyComponents::verify`, `UnparsedPublicKey::verify` or
//!   `hmac::verify` (ring has no parsed public-key type: it reads the key on every check)
//! - `verify/<alg>/borrowed`: `Verifier::verify_borrowed` into a reused buffer
//! - `verify/<alg>/floor`: `seed::floor`, shared with the `verify` bench: the bare check after
//!   decoding the signature, one base64 decode of the payload, one borrowed serde parse; no
//!   header, no validation (what no verifier that returns the claims can beat)
//! - `sign/<alg>/ours`: `KeySet::sign_access_token` (a whole token: claims serialized, encoded,
//!   signed, encoded)
//! - `sign/<alg>/bare`: the backend's signature primitive over the same signing input
//! - with the `aws-lc-rs` feature, on the same RS256, ES256 and EdDSA tokens:
//!   `verify/<alg>/jsonwebtoken10` (`jsonwebtoken::decode` 10 on aws-lc-rs) and
//!   `verify/<alg>/oxitoken` (oxitoken 0.1's `ValidationPipeline` with a `ParsedPublicKey`,
//!   through a `VerificationKey` impl of a few lines here: oxitoken's own does not build
//!   against aws-lc-rs 1.19), each checking issuer, audience and expiry and deserializing
//!   every claim into an owned struct, as ours does
//!
//! Each contender is measured on its own, then `paired/<alg>` runs the verify contenders, then
//! the sign contenders, interleaved in batches of 8 inside one timing loop, so interference on
//! a shared machine hits them alike. The ratios of those totals and each contender's mean time
//! in that loop are printed (`<backend>/paired/<alg> verify: ...`), and tables of them at the
//! end. criterion's own time for `paired/<alg>/verify` (or `sign`) is one round of all of them;
//! under `--test` (one iteration each) the printed numbers mean nothing. Absolute times drift
//! on a shared machine: only ratios from one run are comparable, and an aws-lc-rs/ring ratio
//! of two runs is only as good as the machine was steady between them.
//!
//! Every criterion id and printed line starts with `token_engine::crypto_backend()`, so the two
//! runs can be put side by side. Run both, back to back, from the repository root:
//!
//! ```text
//! cargo bench -p token-engine-benches --bench backends
//! cargo bench -p token-engine-benches --bench backends --features aws-lc-rs
//! ```
//!
//! (1 s warm-up and 2 s per measurement: about two minutes each; `-- --test` runs every
//! contender once, in well under a second). The feature is this package's `aws-lc-rs`, not
//! `token-engine/aws-lc-rs`: the bare checks must come from the backend token-engine uses.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod seed;

use std::cell::RefCell;
use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

#[cfg(feature = "aws-lc-rs")]
use aws_lc_rs as backend;
#[cfg(not(feature = "aws-lc-rs"))]
use ring as backend;

use backend::hmac;
use backend::rand::SystemRandom;
use backend::signature::{self, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use seed::{AUD, App, BorrowedApp, Contender, ISS, Peer, RawVerify, floor, key_file, seed_claims};
use token_engine::{Algorithm, KeySet, SigningKey, Validation, Verifier, crypto_backend};

/// The backend this bench's bare primitives come from.
#[cfg(feature = "aws-lc-rs")]
const BARE_BACKEND: &str = "aws-lc-rs";
#[cfg(not(feature = "aws-lc-rs"))]
const BARE_BACKEND: &str = "ring";

/// The DER inside a one-block PEM file.
fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).unwrap()
}

/// A bare signature over the signing input, appended to the buffer.
type RawSign = Box<dyn Fn(&[u8], &mut Vec<u8>)>;

/// The public half, as the peers take it.
#[cfg_attr(not(feature = "aws-lc-rs"), allow(dead_code))]
enum Public {
    /// HMAC (no peers for it here).
    Hmac,
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// An uncompressed EC point or the 32-byte Ed25519 key.
    Raw(Vec<u8>),
}

/// The backend's own keys for one algorithm, built once from the same material as ours.
struct Bare {
    verify: RawVerify,
    sign: RawSign,
    #[cfg_attr(not(feature = "aws-lc-rs"), allow(dead_code))]
    public: Public,
}

/// Ours and the backend's keys for `alg`: RSA from the 2048-bit test key, the others
/// generated.
fn keys_for(alg: Algorithm) -> (SigningKey, Bare) {
    let rsa_params = |p: &'static signature::RsaParameters,
                      e: &'static dyn signature::RsaEncoding| {
        let pem = key_file("rsa2048.pkcs8.pem");
        let ours = SigningKey::from_pem(alg, &pem).unwrap();
        (ours, rsa_bare(&pem_der(&pem), p, e))
    };
    let generated = || {
        let (ours, doc) = SigningKey::generate(alg).unwrap();
        (ours, doc.expose_secret().to_vec())
    };
    match alg {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
            let h = match alg {
                Algorithm::HS256 => hmac::HMAC_SHA256,
                Algorithm::HS384 => hmac::HMAC_SHA384,
                _ => hmac::HMAC_SHA512,
            };
            let (ours, secret) = generated();
            (ours, hmac_bare(h, &secret))
        }
        Algorithm::RS256 => rsa_params(
            &signature::RSA_PKCS1_2048_8192_SHA256,
            &signature::RSA_PKCS1_SHA256,
        ),
        Algorithm::RS384 => rsa_params(
            &signature::RSA_PKCS1_2048_8192_SHA384,
            &signature::RSA_PKCS1_SHA384,
        ),
        Algorithm::RS512 => rsa_params(
            &signature::RSA_PKCS1_2048_8192_SHA512,
            &signature::RSA_PKCS1_SHA512,
        ),
        Algorithm::PS256 => rsa_params(
            &signature::RSA_PSS_2048_8192_SHA256,
            &signature::RSA_PSS_SHA256,
        ),
        Algorithm::PS384 => rsa_params(
            &signature::RSA_PSS_2048_8192_SHA384,
            &signature::RSA_PSS_SHA384,
        ),
        Algorithm::PS512 => rsa_params(
            &signature::RSA_PSS_2048_8192_SHA512,
            &signature::RSA_PSS_SHA512,
        ),
        Algorithm::ES256 => {
            let (ours, der) = generated();
            let bare = ecdsa_bare(
                &der,
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                &signature::ECDSA_P256_SHA256_FIXED,
            );
            (ours, bare)
        }
        Algorithm::ES384 => {
            let (ours, der) = generated();
            let bare = ecdsa_bare(
                &der,
                &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
                &signature::ECDSA_P384_SHA384_FIXED,
            );
            (ours, bare)
        }
        #[cfg(feature = "aws-lc-rs")]
        Algorithm::ES512 => {
            let (ours, der) = generated();
            let bare = ecdsa_bare(
                &der,
                &signature::ECDSA_P521_SHA512_FIXED_SIGNING,
                &signature::ECDSA_P521_SHA512_FIXED,
            );
            (ours, bare)
        }
        Algorithm::EdDSA | Algorithm::Ed25519 => {
            let (ours, der) = generated();
            (ours, ed25519_bare(&der))
        }
        other => panic!("{other}: no bare {BARE_BACKEND} primitive in this bench"),
    }
}

fn hmac_bare(alg: hmac::Algorithm, secret: &[u8]) -> Bare {
    let key = hmac::Key::new(alg, secret);
    let signing = key.clone();
    Bare {
        verify: Box::new(move |m, s| hmac::verify(&key, m, s).is_ok()),
        sign: Box::new(move |m, out| out.extend_from_slice(hmac::sign(&signing, m).as_ref())),
        public: Public::Hmac,
    }
}

fn rsa_bare(
    pkcs8: &[u8],
    params: &'static signature::RsaParameters,
    padding: &'static dyn signature::RsaEncoding,
) -> Bare {
    let pair = signature::RsaKeyPair::from_pkcs8(pkcs8).unwrap();
    let c: signature::RsaPublicKeyComponents<Vec<u8>> = pair.public_key().into();
    #[cfg(feature = "aws-lc-rs")]
    let verify: RawVerify = {
        let key = c.to_parsed_public_key(params).unwrap();
        Box::new(move |m, s| key.verify_sig(m, s).is_ok())
    };
    #[cfg(not(feature = "aws-lc-rs"))]
    let verify: RawVerify = {
        let key = signature::RsaPublicKeyComponents {
            n: c.n.clone(),
            e: c.e.clone(),
        };
        Box::new(move |m, s| key.verify(params, m, s).is_ok())
    };
    let rng = SystemRandom::new();
    Bare {
        verify,
        sign: Box::new(move |m, out| {
            let start = out.len();
            out.resize(start + pair.public_key().modulus_len(), 0);
            pair.sign(padding, &rng, m, &mut out[start..]).unwrap();
        }),
        public: Public::Rsa { n: c.n, e: c.e },
    }
}

fn ecdsa_bare(
    pkcs8: &[u8],
    signing: &'static signature::EcdsaSigningAlgorithm,
    verifying: &'static signature::EcdsaVerificationAlgorithm,
) -> Bare {
    let rng = SystemRandom::new();
    #[cfg(feature = "aws-lc-rs")]
    let pair = signature::EcdsaKeyPair::from_pkcs8(signing, pkcs8).unwrap();
    #[cfg(not(feature = "aws-lc-rs"))]
    let pair = signature::EcdsaKeyPair::from_pkcs8(signing, pkcs8, &rng).unwrap();
    let point = pair.public_key().as_ref().to_vec();
    Bare {
        verify: public_verify(verifying, &point),
        sign: Box::new(move |m, out| {
            out.extend_from_slice(pair.sign(&rng, m).unwrap().as_ref());
        }),
        public: Public::Raw(point),
    }
}

fn ed25519_bare(pkcs8: &[u8]) -> Bare {
    let pair = signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8).unwrap();
    let pk = pair.public_key().as_ref().to_vec();
    Bare {
        verify: public_verify(&signature::ED25519, &pk),
        sign: Box::new(move |m, out| out.extend_from_slice(pair.sign(m).as_ref())),
        public: Public::Raw(pk),
    }
}

/// aws-lc-rs: the key parsed once, as token-engine does at import.
#[cfg(feature = "aws-lc-rs")]
fn public_verify(alg: &'static dyn signature::VerificationAlgorithm, bytes: &[u8]) -> RawVerify {
    let key = signature::ParsedPublicKey::new(alg, bytes).unwrap();
    Box::new(move |m, s| key.verify_sig(m, s).is_ok())
}

/// ring: the bytes, read on every check (ring has no parsed public-key type).
#[cfg(not(feature = "aws-lc-rs"))]
fn public_verify(alg: &'static dyn signature::VerificationAlgorithm, bytes: &[u8]) -> RawVerify {
    let key = signature::UnparsedPublicKey::new(alg, bytes.to_vec());
    Box::new(move |m, s| key.verify(m, s).is_ok())
}

/// jsonwebtoken 10 and oxitoken, on aws-lc-rs, with the same checks as ours.
#[cfg(feature = "aws-lc-rs")]
mod peers {
    use oxitoken::validation::{StaticKeyProvider, ValidationPipeline, VerificationKey};
    use serde::Deserialize;
    use token_engine::Algorithm;

    use super::{AUD, ISS, Peer, Public, signature};

    /// Every claim of the token, owned, as both peers' users write them.
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    pub struct Claims {
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

    impl oxitoken::claims::Iss for Claims {
        fn iss(&self) -> &str {
            &self.iss
        }
    }

    impl oxitoken::claims::Aud for Claims {
        fn aud(&self) -> impl Iterator<Item = impl AsRef<str>> {
            std::iter::once(self.aud.as_str())
        }
    }

    impl oxitoken::claims::Exp for Claims {
        fn exp(&self) -> i64 {
            self.exp
        }
    }

    /// A `ParsedPublicKey` as oxitoken's verification key: what oxitoken's own aws-lc-rs
    /// impl does (`verify_sig`), which does not build against aws-lc-rs 1.19 (see
    /// `Cargo.toml`); the algorithm is stored instead of found by comparing addresses.
    pub struct OxKey(signature::ParsedPublicKey, oxitoken::Algorithm);

    impl VerificationKey for OxKey {
        fn alg(&self) -> Option<oxitoken::Algorithm> {
            Some(self.1)
        }

        fn verify(&self, message: &[u8], sig: &[u8]) -> Result<(), oxitoken::error::JwtError> {
            self.0
                .verify_sig(message, sig)
                .map_err(|_| oxitoken::error::JwtError::InvalidSignature)
        }
    }

    /// oxitoken reads `alg` and ignores the rest of the header.
    #[derive(Debug, Deserialize)]
    pub struct Header {
        alg: oxitoken::Algorithm,
    }

    impl oxitoken::header::Alg for Header {
        fn alg(&self) -> oxitoken::Algorithm {
            self.alg
        }
    }

    /// The peers for `alg` (RS256, ES256 and EdDSA), named.
    pub fn for_alg(alg: Algorithm, public: &Public) -> Vec<(&'static str, Peer)> {
        use jsonwebtoken10::{Algorithm as J, DecodingKey};
        use oxitoken::Algorithm as O;
        let (jwt_alg, jwt_key, ox_alg, parsed) = match (alg, public) {
            (Algorithm::RS256, Public::Rsa { n, e }) => (
                J::RS256,
                DecodingKey::from_rsa_raw_components(n, e),
                O::RS256,
                signature::RsaPublicKeyComponents { n, e }
                    .to_parsed_public_key(&signature::RSA_PKCS1_2048_8192_SHA256)
                    .unwrap(),
            ),
            (Algorithm::ES256, Public::Raw(point)) => (
                J::ES256,
                DecodingKey::from_ec_der(point),
                O::ES256,
                signature::ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                    .unwrap(),
            ),
            (Algorithm::EdDSA, Public::Raw(pk)) => (
                J::EdDSA,
                DecodingKey::from_ed_der(pk),
                O::EdDSA,
                signature::ParsedPublicKey::new(&signature::ED25519, pk).unwrap(),
            ),
            _ => return Vec::new(),
        };
        let mut v = jsonwebtoken10::Validation::new(jwt_alg);
        v.set_issuer(&[ISS]);
        v.set_audience(&[AUD]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let jsonwebtoken: Peer =
            Box::new(move |t| jsonwebtoken10::decode::<Claims>(t, &jwt_key, &v).is_ok());
        let pipeline = ValidationPipeline::<Header, Claims, StaticKeyProvider<_>>::builder(
            OxKey(parsed, ox_alg).into(),
        )
        .with_issuer_validator(ISS)
        .with_audience_validator(AUD)
        .with_expiration_validator()
        .build();
        let oxitoken: Peer = Box::new(move |t| pipeline.verify(t.as_bytes()).is_ok());
        vec![("jsonwebtoken10", jsonwebtoken), ("oxitoken", oxitoken)]
    }
}

/// The mean time per operation of each contender in a paired loop, and its ratios.
struct Paired {
    names: Vec<&'static str>,
    means: Vec<f64>,
}

impl Paired {
    fn at(&self, name: &str) -> Option<f64> {
        Some(self.means[self.names.iter().position(|n| *n == name)?])
    }

    fn ratio(&self, a: &str, b: &str) -> Option<f64> {
        Some(self.at(a)? / self.at(b)?)
    }
}

/// Run `contenders` interleaved in batches of 8 inside one timing loop (criterion sees the
/// time of a whole round); `None` when criterion's filter left it out.
fn paired(
    c: &mut Criterion,
    group: &str,
    op: &str,
    contenders: &[Contender<'_>],
) -> Option<Paired> {
    let totals = RefCell::new((vec![Duration::ZERO; contenders.len()], 0u64));
    let mut g = c.benchmark_group(group);
    g.sampling_mode(SamplingMode::Flat);
    g.bench_function(op, |b| {
        b.iter_custom(|iters| {
            let mut t = vec![Duration::ZERO; contenders.len()];
            let mut left = iters;
            while left > 0 {
                let n = left.min(8);
                for (slot, (_, f)) in t.iter_mut().zip(contenders) {
                    let start = Instant::now();
                    for _ in 0..n {
                        f();
                    }
                    *slot += start.elapsed();
                }
                left -= n;
            }
            let mut totals = totals.borrow_mut();
            for (acc, d) in totals.0.iter_mut().zip(&t) {
                *acc += *d;
            }
            totals.1 += iters;
            t.iter().sum()
        })
    });
    g.finish();
    let (t, iters) = totals.into_inner();
    if iters == 0 {
        return None;
    }
    Some(Paired {
        names: contenders.iter().map(|(n, _)| *n).collect(),
        means: t
            .iter()
            .map(|d| d.as_secs_f64() * 1e6 / iters as f64)
            .collect(),
    })
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "-".into(), |r| format!("{r:.3}"))
}

fn fmt_us(t: Option<f64>) -> String {
    t.map_or_else(|| "-".into(), |t| format!("{t:.2}"))
}

fn bench_backends(c: &mut Criterion) {
    let be = crypto_backend();
    assert!(
        be.starts_with(BARE_BACKEND),
        "token-engine runs on {be} but this bench's bare primitives are {BARE_BACKEND}'s: \
         enable this package's feature (`--features aws-lc-rs`), not `token-engine/aws-lc-rs`"
    );
    // `--test` runs each routine once: say so beside numbers that mean nothing.
    let be_tag = if std::env::args().any(|a| a == "--test") {
        format!("{be} (--test: one iteration each, not a measurement)")
    } else {
        be.to_owned()
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = seed_claims(now);
    let mut verify_rows = String::new();
    let mut sign_rows = String::new();
    let mut peer_rows = String::new();
    eprintln!(
        "{be}: {} algorithms: {:?}",
        Algorithm::available().len(),
        Algorithm::available()
    );
    for &alg in Algorithm::available() {
        let (signing, bare) = keys_for(alg);
        let keys = KeySet::new(signing.with_kid("2026-11"));
        let token = keys.sign_access_token(&claims).unwrap();
        let verifier: Verifier = keys.verifier(Validation::new(ISS, AUD)).unwrap();
        let (input, sig_b64) = token.rsplit_once('.').unwrap();
        let input = input.as_bytes();
        let sig = URL_SAFE_NO_PAD.decode(sig_b64).unwrap();
        #[cfg(feature = "aws-lc-rs")]
        let peers = peers::for_alg(alg, &bare.public);
        #[cfg(not(feature = "aws-lc-rs"))]
        let peers: Vec<(&'static str, Peer)> = Vec::new();

        // Every contender accepts the token (and the bare signer's signature verifies) before
        // anything is timed, so nothing measures an error path.
        verifier.verify_as::<App>(&token).unwrap();
        assert!((bare.verify)(input, &sig), "{be} {alg}: bare check rejects");
        let mut own = Vec::new();
        (bare.sign)(input, &mut own);
        assert!((bare.verify)(input, &own), "{be} {alg}: bare signature");
        for (name, peer) in &peers {
            assert!(peer(&token), "{be} {alg}: {name} rejects the token");
        }

        let out = RefCell::new(Vec::with_capacity(1024));
        let borrowed_buf = RefCell::new(Vec::with_capacity(1024));
        let floor_buf = RefCell::new(Vec::with_capacity(1024));
        {
            let mut b = borrowed_buf.borrow_mut();
            let c = verifier
                .verify_borrowed::<BorrowedApp<'_>>(&token, &mut b)
                .unwrap();
            assert_eq!(
                (&*c.custom.role, &*c.custom.tenant_id),
                ("admin", "org_987654321")
            );
        }
        let mut verify: Vec<Contender<'_>> = vec![
            (
                "ours",
                Box::new(|| {
                    drop(black_box(
                        verifier.verify_as::<App>(black_box(&token)).unwrap(),
                    ))
                }),
            ),
            (
                "bare",
                Box::new(|| assert!((bare.verify)(black_box(input), black_box(&sig)))),
            ),
            (
                "borrowed",
                Box::new(|| {
                    let mut b = borrowed_buf.borrow_mut();
                    let c = verifier
                        .verify_borrowed::<BorrowedApp<'_>>(black_box(&token), &mut b)
                        .unwrap();
                    black_box(&c);
                }),
            ),
            (
                // What no verifier that returns the claims can beat (`seed::floor`).
                "floor",
                Box::new(|| {
                    let mut b = floor_buf.borrow_mut();
                    black_box(floor(black_box(&token), &bare.verify, &mut b).exp);
                }),
            ),
        ];
        for (name, peer) in &peers {
            verify.push((*name, Box::new(|| assert!(peer(black_box(&token))))));
        }
        let sign: Vec<Contender<'_>> = vec![
            (
                "ours",
                Box::new(|| {
                    drop(black_box(
                        keys.sign_access_token(black_box(&claims)).unwrap(),
                    ))
                }),
            ),
            (
                "bare",
                Box::new(|| {
                    let mut o = out.borrow_mut();
                    o.clear();
                    (bare.sign)(black_box(input), &mut o);
                    black_box(o.len());
                }),
            ),
        ];

        let mut group = c.benchmark_group(format!("{be}/verify/{alg}"));
        for (name, f) in &verify {
            group.bench_function(*name, |b| b.iter(f));
        }
        group.finish();
        let mut group = c.benchmark_group(format!("{be}/sign/{alg}"));
        group.sampling_mode(SamplingMode::Flat);
        for (name, f) in &sign {
            group.bench_function(*name, |b| b.iter(f));
        }
        group.finish();

        let group = format!("{be}/paired/{alg}");
        if let Some(p) = paired(c, &group, "verify", &verify) {
            let mut line = format!(
                "{group} verify: ours {} µs  bare {} µs  ours/bare {}  borrowed/bare {}  \
                 floor/bare {}  ours/floor {}  borrowed/floor {}",
                fmt_us(p.at("ours")),
                fmt_us(p.at("bare")),
                fmt_ratio(p.ratio("ours", "bare")),
                fmt_ratio(p.ratio("borrowed", "bare")),
                fmt_ratio(p.ratio("floor", "bare")),
                fmt_ratio(p.ratio("ours", "floor")),
                fmt_ratio(p.ratio("borrowed", "floor")),
            );
            for (name, _) in &peers {
                write!(
                    line,
                    "  {name} {} µs  ours/{name} {}  borrowed/{name} {}",
                    fmt_us(p.at(name)),
                    fmt_ratio(p.ratio("ours", name)),
                    fmt_ratio(p.ratio("borrowed", name))
                )
                .unwrap();
            }
            eprintln!("{line}  (token {} bytes)", token.len());
            writeln!(
                verify_rows,
                "| {alg} | {} | {} | {} | {} | {} | {} | {} |",
                fmt_us(p.at("ours")),
                fmt_us(p.at("borrowed")),
                fmt_us(p.at("floor")),
                fmt_us(p.at("bare")),
                fmt_ratio(p.ratio("ours", "bare")),
                fmt_ratio(p.ratio("borrowed", "bare")),
                fmt_ratio(p.ratio("floor", "bare"))
            )
            .unwrap();
            if !peers.is_empty() {
                writeln!(
                    peer_rows,
                    "| {alg} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    fmt_us(p.at("ours")),
                    fmt_us(p.at("borrowed")),
                    fmt_us(p.at("bare")),
                    fmt_us(p.at("jsonwebtoken10")),
                    fmt_us(p.at("oxitoken")),
                    fmt_ratio(p.ratio("ours", "jsonwebtoken10")),
                    fmt_ratio(p.ratio("ours", "oxitoken")),
                    fmt_ratio(p.ratio("borrowed", "oxitoken")),
                )
                .unwrap();
            }
        }
        if let Some(p) = paired(c, &group, "sign", &sign) {
            eprintln!(
                "{group} sign: ours {} µs  bare {} µs  ours/bare {}",
                fmt_us(p.at("ours")),
                fmt_us(p.at("bare")),
                fmt_ratio(p.ratio("ours", "bare")),
            );
            writeln!(
                sign_rows,
                "| {alg} | {} | {} | {} |",
                fmt_us(p.at("ours")),
                fmt_us(p.at("bare")),
                fmt_ratio(p.ratio("ours", "bare"))
            )
            .unwrap();
        }
    }
    if !verify_rows.is_empty() {
        eprintln!(
            "\n{be_tag} verify (paired, means in µs)\n| alg | ours | borrowed | floor | bare | ours/bare | borrowed/bare | floor/bare |\n|---|---:|---:|---:|---:|---:|---:|---:|\n{verify_rows}"
        );
    }
    if !sign_rows.is_empty() {
        eprintln!(
            "\n{be_tag} sign (paired, means in µs)\n| alg | ours | bare | ours/bare |\n|---|---:|---:|---:|\n{sign_rows}"
        );
    }
    if !peer_rows.is_empty() {
        eprintln!(
            "\n{be_tag} verify against peers (paired, means in µs)\n| alg | ours | borrowed | bare | jsonwebtoken10 | oxitoken | ours/jsonwebtoken10 | ours/oxitoken | borrowed/oxitoken |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n{peer_rows}"
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    targets = bench_backends
}
criterion_main!(benches);
