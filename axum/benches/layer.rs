//! The layer's overhead over a bare `Verifier::verify` on a cache hit: the same token, the
//! same verifier (with its verified-token cache), once called directly and once through
//! `TokenLayer` in front of a handler that does nothing. The request is built outside the
//! timed part (`iter_batched`), and the layer's future is polled once with a no-op waker (a
//! `Verifier` never waits), so the difference is what the layer adds: reading the
//! `Authorization` and `DPoP` fields, the URL, the boxed future, the claims in an `Arc` in
//! the request's extensions.
//!
//! Then both interleaved in batches of 32 in one timing loop (`layer_overhead_paired`), and
//! the overhead per request printed as one number (`layer_overhead_paired: ... overhead`).
//!
//! `cargo bench -p token-engine-axum --bench layer`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::{Request, Response};
use token_engine::{AccessTokenClaims, Algorithm, KeySet, SigningKey, Validation};
use token_engine_axum::ResourceServer;
use tower_layer::Layer;
use tower_service::Service;

const ISS: &str = "https://auth.example.com";
const AUD: &str = "https://api.example.com";

fn token(keys: &KeySet) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut c: AccessTokenClaims = AccessTokenClaims::default();
    c.iss = Some(ISS.into());
    c.sub = Some("user-1".into());
    c.aud = Some(AUD.into());
    c.client_id = Some("app".into());
    c.scope = Some("orders".into());
    c.jti = Some("j-1".into());
    c.iat = Some(now);
    c.exp = Some(now + 3600);
    keys.sign_access_token(&c).unwrap()
}

/// The handler behind the layer: nothing.
#[derive(Clone)]
struct Nothing;

impl Service<Request<()>> for Nothing {
    type Response = Response<String>;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Response<String>, Self::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<()>) -> Self::Future {
        std::future::ready(Ok(Response::new(String::new())))
    }
}

/// Poll once: a `Verifier`-backed check never waits.
fn ready<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("a Verifier check never waits"),
    }
}

fn bench(c: &mut Criterion) {
    let keys = KeySet::new(
        SigningKey::generate(Algorithm::ES256)
            .unwrap()
            .0
            .with_kid("k1"),
    );
    let verifier = keys
        .verifier(Validation::new(ISS, AUD))
        .unwrap()
        .with_cache(1024);
    let token = token(&keys);
    let auth = format!("Bearer {token}");
    verifier.verify(&token).unwrap();
    let api = ResourceServer::new(verifier.clone(), AUD);
    let mut service = api.require().scopes(["orders"]).layer(Nothing);
    let request = || {
        Request::get("/orders")
            .header("authorization", auth.as_str())
            .body(())
            .unwrap()
    };
    assert_eq!(ready(service.call(request())).unwrap().status(), 200);

    let mut group = c.benchmark_group("layer_overhead_cache_hit");
    group.bench_function("bare Verifier::verify", |b| {
        b.iter(|| verifier.verify(black_box(&token)).unwrap());
    });
    group.bench_function("TokenLayer over the same Verifier", |b| {
        b.iter_batched(
            request,
            |r| ready(service.call(r)).unwrap(),
            BatchSize::SmallInput,
        );
    });
    group.finish();

    // Both again, interleaved in batches inside one timing loop, so that interference on a
    // shared machine hits them alike; the overhead per request is printed as one number.
    let (mut bare, mut layered, mut calls) = (Duration::ZERO, Duration::ZERO, 0u64);
    let mut group = c.benchmark_group("layer_overhead_paired");
    group.bench_function("round_robin", |b| {
        b.iter_custom(|iters| {
            let mut took = Duration::ZERO;
            let mut left = iters;
            let mut responses = Vec::with_capacity(BATCH as usize);
            while left > 0 {
                let n = left.min(BATCH);
                let mut requests: Vec<_> = (0..n).map(|_| request()).collect();
                let start = Instant::now();
                for _ in 0..n {
                    black_box(verifier.verify(black_box(&token)).unwrap());
                }
                let t_bare = start.elapsed();
                let start = Instant::now();
                for r in requests.drain(..) {
                    responses.push(ready(service.call(r)).unwrap());
                }
                let t_layer = start.elapsed();
                responses.clear();
                (bare, layered, calls) = (bare + t_bare, layered + t_layer, calls + n);
                took += t_layer;
                left -= n;
            }
            took
        });
    });
    group.finish();
    let per_call = |d: Duration| d.as_secs_f64() * 1e9 / calls as f64;
    eprintln!(
        "layer_overhead_paired: bare Verifier::verify {:.0} ns, TokenLayer {:.0} ns, \
         overhead {:.0} ns per request ({calls} calls each)",
        per_call(bare),
        per_call(layered),
        per_call(layered) - per_call(bare),
    );
}

/// Calls of one contender in a row inside the round robin.
const BATCH: u64 = 32;

criterion_group!(benches, bench);
criterion_main!(benches);
