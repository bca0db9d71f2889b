//! Heap use, measured with a counting global allocator: bytes per refresh-token family in
//! `MemoryStore`, and allocations per access-token verification.
//!
//! One test function on purpose: the counters are process-wide, and tests of one binary run
//! on parallel threads. Run `cargo test --test alloc -- --nocapture` to see the numbers.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::alloc::System;
use std::borrow::Cow;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use serde::Deserialize;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use token_engine::{
    __private, AccessTokenClaims, Algorithm, KeySet, ManualClock, MemoryStore, RefreshKeys,
    RefreshSecret, SigningKey, TokenStore, Validation,
};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const NOW: i64 = 1_800_000_000;

fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct App<'a> {
    #[serde(borrow)]
    role: Cow<'a, str>,
    #[serde(borrow)]
    tenant_id: Cow<'a, str>,
}

#[test]
fn heap_use_per_family_and_per_verify() {
    // --- Memory per family in MemoryStore ------------------------------------------------
    const FAMILIES: usize = 20_000;
    let keys = RefreshKeys::new(RefreshSecret::from_bytes(&[7; 32]).unwrap());
    let records: Vec<_> = (0..FAMILIES)
        .map(|i| {
            __private::new_family(&keys, &format!("user{i:07}"), "client_app_1", NOW)
                .unwrap()
                .0
        })
        .collect();
    // The application's strings, which the target excludes: subject, client id, scope.
    let strings: usize = records
        .iter()
        .map(|r| r.subject.len() + r.client_id.len() + r.scope.len())
        .sum::<usize>()
        / FAMILIES;
    let store = MemoryStore::new();
    let region = Region::new(GLOBAL);
    for r in &records {
        // The record's strings are shared (`Arc<str>`): the store keeps copies made here, not
        // the ones `records` holds, so their bytes (and reference counts) are counted.
        let mut own = r.clone();
        own.subject = std::sync::Arc::from(&*r.subject);
        own.client_id = std::sync::Arc::from(&*r.client_id);
        own.scope = std::sync::Arc::from(&*r.scope);
        assert!(
            own.tenant.is_none() && own.claims.is_none(),
            "no other strings to copy"
        );
        assert_eq!(
            block_on(store.create_family(&own)).unwrap(),
            token_engine::store::InsertOutcome::Inserted
        );
    }
    let change = region.change();
    let live = (change.bytes_allocated + change.bytes_reallocated.max(0) as usize)
        .saturating_sub(change.bytes_deallocated);
    let per_family = live / FAMILIES;
    eprintln!(
        "MemoryStore: {per_family} bytes per family ({} of them the family's own strings), over {FAMILIES} families",
        strings
    );
    assert!(
        per_family <= 512 + strings,
        "memory per family {per_family} B exceeds 512 B + {strings} B of strings"
    );
    drop(store);

    // --- Allocations per HS256 verification -------------------------------------------------
    let keys = KeySet::new(
        SigningKey::hmac(Algorithm::HS256, &[5; 32])
            .unwrap()
            .with_kid("k"),
    );
    let mut claims: AccessTokenClaims<'_, serde_json::Value> =
        AccessTokenClaims::new(serde_json::json!({"role": "admin", "tenant_id": "org_987654321"}));
    claims.iss = Some("https://as".into());
    claims.sub = Some("user123456".into());
    claims.aud = Some("https://api".into());
    claims.exp = Some(NOW + 900);
    claims.iat = Some(NOW);
    claims.jti = Some("abcd1234-ef56-gh78-ij90".into());
    claims.client_id = Some("client_app_123".into());
    claims.scope = Some("read:profile write:settings".into());
    let token = keys.sign_access_token(&claims).unwrap();
    let verifier = keys
        .verifier(Validation::new("https://as", "https://api"))
        .unwrap()
        .with_clock(ManualClock::new(NOW));
    let mut buf = Vec::new();
    // Warm up: the buffer grows once; lazily initialised statics are set up.
    verifier
        .verify_borrowed::<App<'_>>(&token, &mut buf)
        .unwrap();
    const N: usize = 1000;
    let region = Region::new(GLOBAL);
    for _ in 0..N {
        let c = verifier
            .verify_borrowed::<App<'_>>(&token, &mut buf)
            .unwrap();
        assert_eq!(c.custom.role, "admin");
    }
    let borrowed = region.change().allocations;
    let region = Region::new(GLOBAL);
    for _ in 0..N {
        verifier.verify(&token).unwrap();
    }
    let owned = region.change().allocations;
    eprintln!(
        "HS256 verify: {:.1} allocations per borrowed verify, {:.1} per owned verify",
        borrowed as f64 / N as f64,
        owned as f64 / N as f64
    );
    assert_eq!(borrowed, 0, "a borrowed HS256 verify must not allocate");

    // --- The same on tokens whose header another issuer wrote ------------------------------
    // Another member order, `kid` first, extra members, whitespace: decoded and parsed once,
    // still without a heap allocation.
    let payload = token.split('.').nth(1).unwrap();
    for header in [
        r#"{"typ":"at+jwt","alg":"HS256","kid":"k"}"#,
        r#"{"kid":"k","alg":"HS256","typ":"at+jwt"}"#,
        r#"{ "alg": "HS256", "kid": "k", "typ": "application/at+jwt", "x5t": "abc" }"#,
    ] {
        use base64::Engine as _;
        let input = format!(
            "{}.{payload}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(header)
        );
        let sig = keys.signing_key().sign(input.as_bytes()).unwrap();
        let foreign = format!(
            "{input}.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig)
        );
        verifier
            .verify_borrowed::<App<'_>>(&foreign, &mut buf)
            .unwrap();
        let region = Region::new(GLOBAL);
        for _ in 0..N {
            let c = verifier
                .verify_borrowed::<App<'_>>(&foreign, &mut buf)
                .unwrap();
            assert_eq!(c.custom.role, "admin");
        }
        let foreign_allocations = region.change().allocations;
        eprintln!(
            "HS256 verify_borrowed, header {header}: {foreign_allocations} allocations in {N}"
        );
        assert_eq!(
            foreign_allocations, 0,
            "a borrowed HS256 verify of a foreign header must not allocate: {header}"
        );
    }

    // --- Owned verification, pinned ------------------------------------------------------
    // The claims the application gets back own their strings: one allocation per string
    // claim present (iss, sub, aud, jti, client_id, scope) and nothing else.
    assert!(
        owned <= 6 * N,
        "an owned HS256 verify made {:.1} allocations, more than its 6 owned strings",
        owned as f64 / N as f64
    );

    // --- A verified-token cache hit, pinned ------------------------------------------------
    let es = KeySet::new(
        SigningKey::generate(Algorithm::ES256)
            .unwrap()
            .0
            .with_kid("e"),
    );
    let es_token = es.sign_access_token(&claims).unwrap();
    let cached = es
        .verifier(Validation::new("https://as", "https://api"))
        .unwrap()
        .with_clock(ManualClock::new(NOW))
        .with_cache(64);
    cached.verify(&es_token).unwrap();
    let region = Region::new(GLOBAL);
    for _ in 0..N {
        cached.verify(&es_token).unwrap();
    }
    let hit = region.change().allocations;
    let region = Region::new(GLOBAL);
    for _ in 0..N {
        cached
            .verify_borrowed::<App<'_>>(&es_token, &mut buf)
            .unwrap();
    }
    let hit_borrowed = region.change().allocations;
    cached
        .verify_shared::<token_engine::jose::NoCustomClaims>(&es_token)
        .unwrap();
    let region = Region::new(GLOBAL);
    for _ in 0..N {
        std::hint::black_box(
            cached
                .verify_shared::<token_engine::jose::NoCustomClaims>(&es_token)
                .unwrap(),
        );
    }
    let hit_shared = region.change().allocations;
    eprintln!(
        "ES256 cache hit: {:.1} allocations per owned verify, {:.1} per borrowed, {:.1} shared",
        hit as f64 / N as f64,
        hit_borrowed as f64 / N as f64,
        hit_shared as f64 / N as f64
    );
    assert!(
        hit <= 6 * N,
        "a cache hit made {:.1} allocations: more than the owned claims need",
        hit as f64 / N as f64
    );
    assert_eq!(hit_borrowed, 0, "a borrowed cache hit must not allocate");
    assert_eq!(hit_shared, 0, "a shared cache hit must not allocate");

    // --- One refresh through MemoryStore, pinned ---------------------------------------------
    let engine = token_engine::Engine::builder()
        .issuer("https://as")
        .audience("https://api")
        .signing_key(SigningKey::hmac(Algorithm::HS256, &[5; 32]).unwrap())
        .refresh_secret(RefreshSecret::from_bytes(&[7; 32]).unwrap())
        .clock(ManualClock::new(NOW))
        .build(MemoryStore::new())
        .unwrap();
    let client = token_engine::Client::new("app").allow_scopes(["read"]);
    let first = block_on(engine.issue(&client, token_engine::IssueRequest::new("user-1"))).unwrap();
    let mut rt = first.refresh_token.unwrap().expose_secret().to_owned();
    // Warm up (lazy statics, the store's table grown).
    for _ in 0..3 {
        let r = block_on(engine.refresh(&client, &rt, token_engine::RefreshRequest::default()))
            .unwrap();
        rt = r.refresh_token.unwrap().expose_secret().to_owned();
    }
    const R: usize = 200;
    let region = Region::new(GLOBAL);
    for _ in 0..R {
        let r = block_on(engine.refresh(&client, &rt, token_engine::RefreshRequest::default()))
            .unwrap();
        rt.clear();
        rt.push_str(r.refresh_token.as_ref().unwrap().expose_secret());
    }
    let refresh = region.change().allocations;
    eprintln!(
        "refresh through MemoryStore (HS256 access token): {:.1} allocations per refresh",
        refresh as f64 / R as f64
    );
    assert!(
        refresh <= REFRESH_ALLOCATIONS * R,
        "a refresh made {:.1} allocations, more than the {REFRESH_ALLOCATIONS} pinned",
        refresh as f64 / R as f64
    );

    // --- The refresh's future, bounded ------------------------------------------------------
    // Every move of the future (into `pin!`, into a runtime's task, through a caller's own
    // future) copies all of it: 1,872 bytes before its decision stopped being held across the
    // store's await beside a second record, 1,264 after (rustc 1.95).
    let future = engine.refresh(&client, &rt, token_engine::RefreshRequest::default());
    let size = std::mem::size_of_val(&future);
    drop(future);
    eprintln!("refresh future over MemoryStore: {size} bytes");
    assert!(
        size <= REFRESH_FUTURE_BYTES,
        "the refresh future is {size} bytes, more than the {REFRESH_FUTURE_BYTES} pinned"
    );
}

/// The refresh future's size over `MemoryStore`, pinned with room for compiler versions'
/// layouts (1,264 bytes on rustc 1.95).
const REFRESH_FUTURE_BYTES: usize = 1_400;

/// Allocations per refresh through `MemoryStore`, pinned so a regression fails (issue 26's
/// target was 8): the successor refresh token, the access token's claims and compact form,
/// and the response's scope (24 before the work: the access token borrowed its `jti`, `sid`
/// and audience; `decide` returns a `Rotation` applied in place instead of a copied record;
/// the record's strings are shared `Arc<str>`, so loading and swapping it copies none; the
/// signature stays on the stack).
const REFRESH_ALLOCATIONS: usize = 4;
