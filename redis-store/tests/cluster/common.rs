//! The cluster from `.ci/with-redis-cluster`, a fresh namespace per store, engines over them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use token_engine::event::CollectingSink;
use token_engine::{
    Algorithm, Client, Engine, IssueRequest, ManualClock, RefreshKeys, RefreshSecret, RefreshToken,
    SigningKey,
};
use token_engine_redis::{RedisOptions, RedisStore};

/// Start of the tests' simulated time.
pub const T0: i64 = 1_800_000_000;
pub const SECRET: [u8; 32] = [42; 32];

/// The cluster's node URLs from `REDIS_CLUSTER_URLS`; `None` (and a clear message) when it
/// is not set, unless `TOKEN_ENGINE_REDIS_REQUIRED` is set (CI), which makes it a failure.
pub fn cluster(test: &str) -> Option<Vec<String>> {
    let Ok(urls) = std::env::var("REDIS_CLUSTER_URLS") else {
        assert!(
            std::env::var_os("TOKEN_ENGINE_REDIS_REQUIRED").is_none(),
            "TOKEN_ENGINE_REDIS_REQUIRED is set but REDIS_CLUSTER_URLS is not"
        );
        eprintln!(
            "SKIPPED {test}: REDIS_CLUSTER_URLS is not set, so this Redis Cluster test did not \
             run (run it with `.ci/with-redis-cluster cargo test -p token-engine-redis`)"
        );
        return None;
    };
    Some(urls.split(',').map(str::to_owned).collect())
}

static NAMESPACES: AtomicUsize = AtomicUsize::new(0);

/// A namespace no other store of this run (or an earlier run) uses: an empty store.
pub fn fresh_namespace(test: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "t-{test}-{}-{nanos}-{}",
        std::process::id(),
        NAMESPACES.fetch_add(1, Ordering::SeqCst)
    )
}

/// A store with its own cluster connection over `namespace`.
pub async fn store_in(urls: &[String], options: RedisOptions) -> RedisStore {
    RedisStore::connect(urls, options).await.unwrap()
}

/// A fresh, empty store with its own connection.
pub async fn fresh_store(urls: &[String], test: &str) -> RedisStore {
    store_in(
        urls,
        RedisOptions::default().namespace(fresh_namespace(test)),
    )
    .await
}

pub fn client() -> Client {
    Client::new("app").allow_scopes(["read"])
}

/// One app server: an engine over its own store handle (its own connection), clock, events.
pub struct Server {
    pub engine: Engine<RedisStore>,
    pub clock: ManualClock,
    pub events: Arc<CollectingSink>,
}

pub fn server(store: RedisStore, now: i64, grace: i64) -> Server {
    let clock = ManualClock::new(now);
    let events = Arc::new(CollectingSink::new());
    let engine = Engine::builder()
        .issuer("https://as.example")
        .audience("https://api.example")
        .signing_key(SigningKey::hmac(Algorithm::HS256, &[7; 32]).unwrap())
        .refresh_secret(RefreshSecret::from_bytes(&SECRET).unwrap())
        .reuse_grace(time::Duration::seconds(grace))
        .clock(clock.clone())
        .events(Arc::clone(&events))
        .build(store)
        .unwrap();
    Server {
        engine,
        clock,
        events,
    }
}

pub async fn login(s: &Server, subject: &str) -> RefreshToken {
    s.engine
        .issue(&client(), IssueRequest::new(subject))
        .await
        .unwrap()
        .refresh_token
        .unwrap()
}

pub fn family_of(token: &RefreshToken) -> token_engine::FamilyId {
    RefreshKeys::new(RefreshSecret::from_bytes(&SECRET).unwrap())
        .parse(token.expose_secret())
        .unwrap()
        .family()
}
