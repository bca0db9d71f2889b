//! JWT versus opaque access tokens (issue 23), in one run: what a resource server or gateway
//! pays to check one access token.
//!
//! - `jwt_verify`: a JWT (EdDSA) verified locally by the `Verifier` (no I/O);
//! - `jwt_verify_with_revocation/memory`: the same plus its session read (`MemoryStore`);
//! - `reference_introspect/memory`: a reference token introspected (`Engine::introspect`:
//!   MAC check, one `load_family`) on `MemoryStore`;
//! - `reference_introspect/postgres`: the same on PostgreSQL over loopback (skipped without
//!   `DATABASE_URL`, as `pg_refresh` is);
//! - `gateway_cache_hit`: `IntrospectionCache::get` of a cached answer.
//!
//! It also prints the bytes stored per session with 1 and with 100 access tokens issued a
//! second apart (JWT and reference), and for reference tokens the most and the last while
//! revoking each of them one by one: the PostgreSQL row (`pg_column_size`) when
//! `DATABASE_URL` is set, and the record's JSON form.
//!
//! Run: `.ci/with-postgres cargo bench -p token-engine-benches --bench reference` (a
//! throwaway PostgreSQL 15), or plain `cargo bench -p token-engine-benches --bench
//! reference` for the in-memory half.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use criterion::{Criterion, criterion_group, criterion_main};
use token_engine::store::TokenStore;
use token_engine::{
    AccessTokenFormat, Algorithm, Client, Engine, FamilyId, IntrospectionCache, IssueRequest,
    ManualClock, MemoryStore, RefreshRequest, RefreshSecret, SigningKey,
};
use token_engine_postgres::PgStore;
use tokio_postgres::NoTls;

const NOW: i64 = 1_800_000_000;

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

fn engine<S: TokenStore>(store: S, format: AccessTokenFormat) -> Engine<S> {
    engine_at(store, format, ManualClock::new(NOW))
}

fn engine_at<S: TokenStore>(store: S, format: AccessTokenFormat, clock: ManualClock) -> Engine<S> {
    Engine::builder()
        .issuer("https://auth.example.com")
        .audience("https://api.example.com")
        .signing_key(
            SigningKey::generate(Algorithm::EdDSA)
                .unwrap()
                .0
                .with_kid("k1"),
        )
        .refresh_secret(RefreshSecret::from_bytes(&[7; 32]).unwrap())
        .access_token_format(format)
        .clock(clock)
        .build(store)
        .unwrap()
}

fn client() -> Client {
    Client::new("client_app_123").allow_scopes(["read:profile", "write:settings"])
}

fn request() -> IssueRequest {
    IssueRequest::new("user123456")
        .tenant("org_987654321")
        .claim("role", "admin")
}

/// A session and its first access token.
async fn login<S: TokenStore>(e: &Engine<S>) -> (String, String) {
    let r = e.issue(&client(), request()).await.unwrap();
    (
        r.access_token,
        r.refresh_token.unwrap().expose_secret().to_owned(),
    )
}

fn family(refresh: &str) -> FamilyId {
    let keys = token_engine::RefreshKeys::new(RefreshSecret::from_bytes(&[7; 32]).unwrap());
    keys.parse(refresh).unwrap().family()
}

/// A session with `n` access tokens issued a second apart (the login and `n - 1`
/// refreshes). Returns the family and the access tokens.
async fn session<S: TokenStore>(
    e: &Engine<S>,
    clock: &ManualClock,
    n: usize,
) -> (FamilyId, Vec<String>) {
    let (at, mut rt) = login(e).await;
    let id = family(&rt);
    let mut issued = vec![at];
    for _ in 1..n {
        clock.advance(time::Duration::seconds(1));
        let r = e
            .refresh(&client(), &rt, RefreshRequest::default())
            .await
            .unwrap();
        rt = r.refresh_token.unwrap().expose_secret().to_owned();
        issued.push(r.access_token);
    }
    (id, issued)
}

async fn record_json_len<S: TokenStore>(e: &Engine<S>, id: FamilyId) -> usize {
    let r = e.store().load_family(&id).await.unwrap().unwrap();
    serde_json::to_vec(&r).unwrap().len()
}

fn bench_memory(c: &mut Criterion) {
    let jwt_engine = engine(MemoryStore::new(), AccessTokenFormat::Jwt);
    let (jwt, _) = block_on(login(&jwt_engine));
    let reference_engine = engine(MemoryStore::new(), AccessTokenFormat::Reference);
    let (reference, _) = block_on(login(&reference_engine));
    assert!(reference.starts_with("at_"));
    let cache = IntrospectionCache::new(time::Duration::seconds(30), 10_000)
        .unwrap()
        .with_clock(ManualClock::new(NOW));
    cache.insert(
        &reference,
        block_on(reference_engine.introspect(&reference)).unwrap(),
    );

    let mut g = c.benchmark_group("access_token_check");
    g.bench_function("jwt_verify", |b| {
        b.iter(|| jwt_engine.verifier().verify(black_box(&jwt)).unwrap())
    });
    g.bench_function("jwt_verify_with_revocation/memory", |b| {
        b.iter(|| block_on(jwt_engine.verify_with_revocation(black_box(&jwt))).unwrap())
    });
    g.bench_function("reference_introspect/memory", |b| {
        b.iter(|| {
            let r = block_on(reference_engine.introspect(black_box(&reference))).unwrap();
            assert!(r.active);
            r
        })
    });
    g.bench_function("gateway_cache_hit", |b| {
        b.iter(|| cache.get(black_box(&reference)).unwrap())
    });
    g.finish();

    println!("\nbytes stored per session, MemoryStore (the record's JSON form):");
    for format in [AccessTokenFormat::Jwt, AccessTokenFormat::Reference] {
        for n in [1, 100] {
            let clock = ManualClock::new(NOW);
            let e = engine_at(MemoryStore::new(), format, clock.clone());
            let (id, issued) = block_on(session(&e, &clock, n));
            let issued_bytes = block_on(record_json_len(&e, id));
            let mut most = issued_bytes;
            if format == AccessTokenFormat::Reference {
                for t in &issued {
                    let _ = block_on(e.revoke(&client(), t)).unwrap();
                    most = most.max(block_on(record_json_len(&e, id)));
                }
            }
            print_sizes(
                format,
                n,
                issued_bytes,
                most,
                block_on(record_json_len(&e, id)),
            );
        }
    }
    println!();
}

/// One line of the bytes-per-session table.
fn print_sizes(format: AccessTokenFormat, n: usize, issued: usize, most: usize, after: usize) {
    match format {
        AccessTokenFormat::Jwt => {
            println!("  JWT       {n:3} access token(s) issued: {issued} bytes")
        }
        _ => println!(
            "  reference {n:3} access token(s) issued: {issued} bytes; revoking them one by one \
             (RFC 7009): at most {most} bytes, {after} bytes after the last"
        ),
    }
}

fn bench_postgres(c: &mut Criterion) {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        println!("reference_introspect/postgres: SKIPPED (DATABASE_URL is not set)");
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let admin_config: tokio_postgres::Config = url.parse().expect("DATABASE_URL");
    let name = format!("te_bench_ref_{}", std::process::id());
    let (admin, conn) = rt.block_on(admin_config.connect(NoTls)).unwrap();
    rt.spawn(conn);
    rt.block_on(admin.batch_execute(&format!(
        "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8'"
    )))
    .unwrap();
    let mut config = admin_config.clone();
    config.dbname(&name);
    let (db, conn) = rt.block_on(config.connect(NoTls)).unwrap();
    rt.spawn(conn);
    let version: String = rt
        .block_on(db.query_one("SHOW server_version", &[]))
        .unwrap()
        .get(0);
    println!("reference_introspect/postgres: PostgreSQL {version}, loopback");
    let store = {
        let _guard = rt.enter();
        PgStore::connect(config.clone(), NoTls, 4).unwrap()
    };
    rt.block_on(store.migrate()).unwrap();
    let e = {
        let _guard = rt.enter();
        engine(store, AccessTokenFormat::Reference)
    };
    let (reference, _) = rt.block_on(login(&e));

    let mut g = c.benchmark_group("access_token_check");
    g.bench_function("reference_introspect/postgres", |b| {
        b.iter(|| {
            let r = rt.block_on(e.introspect(black_box(&reference))).unwrap();
            assert!(r.active);
            r
        })
    });
    g.finish();

    let row = |id: FamilyId| -> usize {
        let bytes: i32 = rt
            .block_on(db.query_one(
                "SELECT pg_column_size(f.*) FROM token_families f WHERE id = $1",
                &[&&id.as_bytes()[..]],
            ))
            .unwrap()
            .get(0);
        usize::try_from(bytes).unwrap()
    };
    println!("\nbytes stored per session, PostgreSQL (pg_column_size of the family row):");
    for format in [AccessTokenFormat::Jwt, AccessTokenFormat::Reference] {
        for n in [1, 100] {
            let clock = ManualClock::new(NOW);
            let pg = {
                let _guard = rt.enter();
                engine_at(
                    PgStore::connect(config.clone(), NoTls, 4).unwrap(),
                    format,
                    clock.clone(),
                )
            };
            let (id, issued) = rt.block_on(session(&pg, &clock, n));
            let issued_bytes = row(id);
            let mut most = issued_bytes;
            if format == AccessTokenFormat::Reference {
                for t in &issued {
                    let _ = rt.block_on(pg.revoke(&client(), t)).unwrap();
                    most = most.max(row(id));
                }
            }
            print_sizes(format, n, issued_bytes, most, row(id));
        }
    }
    println!();
    drop(e);
    drop(db);
    rt.block_on(admin.batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)")))
        .unwrap();
}

criterion_group!(benches, bench_memory, bench_postgres);
criterion_main!(benches);
