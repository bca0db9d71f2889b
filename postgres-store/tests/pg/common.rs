//! A fresh database per test, a fresh schema per store, engines over them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use token_engine::event::CollectingSink;
use token_engine::{
    Algorithm, Client, Engine, IssueRequest, ManualClock, RefreshSecret, RefreshToken, SigningKey,
};
use token_engine_postgres::PgStore;
use tokio_postgres::{Config, NoTls};

/// Start of the tests' simulated time.
pub const T0: i64 = 1_800_000_000;
pub const SECRET: [u8; 32] = [42; 32];

/// Connections per store in the tests: several tests run at once, each with a store or two.
pub const POOL: usize = 8;

/// One test's own database, created from `DATABASE_URL`; `None` (and a clear message) when
/// the variable is not set, unless `TOKEN_ENGINE_PG_REQUIRED` is set (CI), which makes a
/// missing database a failure.
pub struct TestDb {
    admin: Config,
    /// The test database.
    pub config: Config,
    pub name: String,
    schemas: AtomicUsize,
    /// The schema of the last [`TestDb::fresh_store`], for [`TestDb::same_schema_store`].
    last: std::sync::Mutex<Option<Config>>,
}

pub async fn database(test: &str) -> Option<TestDb> {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        assert!(
            std::env::var_os("TOKEN_ENGINE_PG_REQUIRED").is_none(),
            "TOKEN_ENGINE_PG_REQUIRED is set but DATABASE_URL is not"
        );
        eprintln!(
            "SKIPPED {test}: DATABASE_URL is not set, so this PostgreSQL test did not run \
             (run it with `.ci/with-postgres cargo test -p token-engine-postgres`)"
        );
        return None;
    };
    let admin: Config = url.parse().expect("DATABASE_URL");
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let name = format!("te_test_{test}_{}_{nanos}", std::process::id());
    // Identifiers cannot be parameters; this one is made here from safe characters.
    assert!(
        name.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    );
    let c = connect(&admin).await;
    c.batch_execute(&format!(
        "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8'"
    ))
    .await
    .unwrap();
    let mut config = admin.clone();
    config.dbname(&name);
    Some(TestDb {
        admin,
        config,
        name,
        schemas: AtomicUsize::new(0),
        last: std::sync::Mutex::new(None),
    })
}

/// A plain connection (its driver task spawned).
pub async fn connect(config: &Config) -> tokio_postgres::Client {
    let (client, conn) = config.connect(NoTls).await.unwrap();
    tokio::spawn(conn);
    client
}

impl TestDb {
    /// A new empty schema with the store's tables; returns the connection settings that
    /// put it first on the search path.
    pub async fn schema(&self) -> Config {
        let schema = format!("s{}", self.schemas.fetch_add(1, Ordering::SeqCst));
        let c = connect(&self.config).await;
        c.batch_execute(&format!("CREATE SCHEMA {schema}"))
            .await
            .unwrap();
        let mut config = self.config.clone();
        config.options(format!("-c search_path={schema}"));
        let store = PgStore::connect(config.clone(), NoTls, 1).unwrap();
        store.migrate().await.unwrap();
        config
    }

    /// A fresh, empty store in a schema of its own.
    pub async fn fresh_store(&self) -> PgStore {
        let schema = self.schema().await;
        *self.last.lock().unwrap() = Some(schema.clone());
        store(&schema)
    }

    /// Another store, with its own pool, over the schema of the last
    /// [`TestDb::fresh_store`]: the conformance kit's second instance over the same storage
    /// (the kit asks for it right after making the store).
    pub async fn same_schema_store(&self) -> PgStore {
        let schema = self
            .last
            .lock()
            .unwrap()
            .clone()
            .expect("a fresh store first");
        store(&schema)
    }

    /// A connection to this database.
    pub async fn connect(&self) -> tokio_postgres::Client {
        connect(&self.config).await
    }

    /// Drop the database (a failed test leaves it behind for inspection).
    pub async fn drop(self) {
        let c = connect(&self.admin).await;
        c.batch_execute(&format!("DROP DATABASE {} WITH (FORCE)", self.name))
            .await
            .unwrap();
    }
}

/// A store with its own pool over `config`.
pub fn store(config: &Config) -> PgStore {
    PgStore::connect(config.clone(), NoTls, POOL).unwrap()
}

pub fn client() -> Client {
    Client::new("app").allow_scopes(["read"])
}

/// One app server: an engine with its own pool, clock and events.
pub struct Server {
    pub engine: Engine<PgStore>,
    pub clock: ManualClock,
    pub events: Arc<CollectingSink>,
}

pub fn server(store: PgStore, now: i64, grace: i64) -> Server {
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
