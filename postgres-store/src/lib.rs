//! A PostgreSQL store for [`token_engine`]: [`TokenStore`], [`CodeStore`], [`DeviceStore`],
//! [`ReplayStore`] and [`ClientStore`] over `tokio-postgres` with a `deadpool-postgres` pool, shared by any
//! number of engine instances (app servers) over one database, and the device flow's
//! user-code limiter with one count for all of them ([`PgUserCodeLimiter`]). It passes the
//! whole conformance kit and the cross-instance tests in `tests/`.
//!
//! It is a workspace member, not published and not a dependency of the library: **copy it**
//! into your application (`src/*.rs` and `migrations/*.sql`, about 1,100 lines
//! with their docs) and adapt it (table names, TLS, pool settings). Every statement is a
//! whole string literal in the source ([`sql`]), every value goes in as a parameter.
//!
//! ```no_run
//! use token_engine::{Engine, MemoryStore, RefreshSecret, SigningKey};
//! use token_engine_postgres::PgStore;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config: tokio_postgres::Config = std::env::var("DATABASE_URL")?.parse()?;
//! // Loopback here; across a network use a TLS connector (tokio-postgres-rustls).
//! let store = PgStore::connect(config, tokio_postgres::NoTls, 16)?;
//! store.migrate().await?; // creates the tables once; safe to run from every instance
//! let engine = Engine::builder()
//!     .issuer("https://auth.example.com")
//!     .signing_key(SigningKey::ed25519_from_pkcs8(&std::fs::read("key.der")?)?)
//!     .refresh_secret(RefreshSecret::from_bytes(&std::fs::read("refresh.key")?)?)
//!     .build(store)?;
//! // Sweep expired families, codes, device records and replay ids now and then:
//! engine.delete_expired().await?;
//! # let _ = MemoryStore::new();
//! # Ok(()) }
//! ```
//!
//! # One statement per method
//!
//! | method | statement | index |
//! |---|---|---|
//! | `create_family` | `INSERT ... ON CONFLICT (id) DO NOTHING` | primary key |
//! | `load_family` | `SELECT ... WHERE id = $1` | primary key |
//! | `compare_and_swap_family` | `UPDATE ... SET (every column) = (...) WHERE id = $1 AND version = $29` | primary key |
//! | `list_families` | `SELECT ... WHERE subject = $1` | `token_families_subject` |
//! | `revoke_subject` | `UPDATE ... WHERE subject = $1 AND revoked_reason IS NULL` (no version: unconditional per row) | `token_families_subject` |
//! | `load_policy` / `save_policy` | `SELECT` / `INSERT ... ON CONFLICT DO UPDATE` / `DELETE` on `(is_global, tenant)` | primary key |
//! | `delete_expired` | one `WITH ... DELETE ... RETURNING` over the four tables and the limiter's past windows | the `*_expiry` indexes, `token_user_code_attempts_window` |
//! | `insert_code` / `take_code` | `INSERT ... ON CONFLICT DO NOTHING` / `DELETE ... RETURNING` | primary key |
//! | `insert_device` | `INSERT ... ON CONFLICT DO NOTHING` (key or user code) | primary key, unique `user_code` |
//! | `load_device` / `load_device_by_user_code` | `SELECT` | primary key / unique `user_code` |
//! | `compare_and_swap_device` | `UPDATE ... WHERE key = $1 AND version = $9` | primary key |
//! | `insert_replay_id` | `INSERT ... ON CONFLICT (id) DO UPDATE ... WHERE expires_at <= now` (an expired entry is replaced) | primary key |
//! | `insert_client` / `load_client` | `INSERT ... ON CONFLICT (client_id) DO NOTHING` / `SELECT` (`COLLATE "C"`: exact ids) | primary key |
//! | [`PgUserCodeLimiter`] (`attempt`) | `INSERT ... ON CONFLICT (key) DO UPDATE ... RETURNING attempts` (one count per key and 60-second window, for every instance) | primary key |
//!
//! A refresh is therefore one `SELECT` by primary key and one conditional `UPDATE` by primary
//! key, one round trip each (the statements are prepared once per connection and cached).
//! The engine also reads the policy versions, through its per-instance cache: one `SELECT`
//! per level (global, and the family's tenant if it has one) per
//! [`policy_refresh`](token_engine::EngineBuilder::policy_refresh) interval (5 s by default),
//! not per refresh.
//!
//! # Values, exactly
//!
//! The schema is in `migrations/0001_schema.sql`, with its reasons. SQL integers are signed:
//! `u64` versions are stored as `BIGINT` holding the same 64 bits (`u64::MAX` is -1),
//! `u32` values as `BIGINT` holding the value, `u8` as `SMALLINT`; times are `BIGINT`. The
//! subject and the policy tenant are `bytea`, so matching is byte-wise whatever the
//! collation. Other strings are `text`: PostgreSQL keeps them byte for byte in a UTF8
//! database, but cannot hold U+0000; a record with one is refused with an error
//! ([`token_engine::Error::Store`]), never stored altered. Reading refuses any value the Rust
//! type cannot hold ([`PgStoreError::Corrupt`]).
//!
//! # Why these choices
//!
//! - **`deadpool-postgres` rather than `bb8-postgres`**: it keeps a prepared-statement cache
//!   per connection (`prepare_cached`), so after a connection's first use each statement is
//!   one round trip (Bind/Execute), and its `RecyclingMethod::Fast` checks a connection out
//!   without a round trip (`is_closed` only). `bb8-postgres` has no statement cache (a
//!   `&str` query is prepared on every call: one more round trip per statement) and by
//!   default tests each checkout with a query (one more again). deadpool-postgres is
//!   actively maintained (0.14 tracks tokio-postgres 0.7) and has wait, create and recycle
//!   timeouts. Both declare Rust 1.85, below the library's 1.88, which is this crate's
//!   `rust-version` too.
//! - **READ COMMITTED** (PostgreSQL's default), pinned by [`PgStore::connect`] for its
//!   connections: a conditional `UPDATE` on a row another transaction is writing waits for it
//!   and re-checks its `WHERE` against the committed row. That is what makes the
//!   compare-and-swap atomic and `revoke_subject` reach rows rotated while it runs. Under
//!   REPEATABLE READ or SERIALIZABLE those statements fail with a serialization error
//!   instead (an `Error::Store` under contention); if you build your own pool, keep READ
//!   COMMITTED for it.
//! - **The primary, always**: read your writes. A refresh that reads a lagging replica
//!   sees an old generation and takes an honest client for a thief. Point the pool at the
//!   primary (`target_session_attrs=read-write` with several hosts), never at a replica.
//! - **Failures are errors**: a dropped connection, a refused connection, a pool wait past
//!   its timeout, all surface as [`PgStoreError`] (the engine answers
//!   [`token_engine::Error::Store`]); a committed write whose answer was lost is read back
//!   by the client's retry.
//!
//! # Operating it
//!
//! - **Sweeping**: call [`Engine::delete_expired`](token_engine::Engine::delete_expired)
//!   from one place every minute or so (any instance; the statement is idempotent). It
//!   deletes what expired (families past their absolute expiry, codes, device records,
//!   replay ids) through the `*_expiry` indexes, in one statement.
//! - **Pool size**: every instance's `max_size` together must stay under the server's
//!   `max_connections`. A refresh holds a connection for one statement at a time.
//! - **A killed connection** (server restart, `pg_terminate_backend`, failover) is noticed
//!   by the pool at the next checkout, or fails the one request that picked it up first
//!   (`Error::Store`: the client retries). Fast recycling checks `is_closed` only, which is
//!   the price of checkouts without a round trip.
//! - **Hung servers and silent networks**: nothing here bounds a statement's time. Set
//!   `statement_timeout` (`options=-c statement_timeout=5s`) and, on Linux,
//!   `tcp_user_timeout` in the connection settings, or put a timeout around your request
//!   handling; a timeout is an `Error::Store`.
//! - **PgBouncer** in transaction mode needs 1.21 or later with `max_prepared_statements`
//!   set, since the statements are prepared and cached per connection.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::Socket;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};

mod convert;
mod error;
mod families;
mod groups;
mod limiter;
mod migrate;
pub mod sql;

pub use error::PgStoreError;
pub use limiter::PgUserCodeLimiter;
pub use migrate::{MIGRATIONS, migrate};

// Re-exported for the types in this crate's signatures.
pub use deadpool_postgres;
pub use tokio_postgres;

#[cfg(doc)]
use token_engine::store::{ClientStore, CodeStore, DeviceStore, ReplayStore, TokenStore};

/// How long [`PgStore::connect`]'s pool waits for a free connection, for a new connection,
/// and for a recycle check, before the call fails with [`PgStoreError::Pool`].
pub const POOL_TIMEOUT: Duration = Duration::from_secs(5);

/// A PostgreSQL store over a connection pool. Clones share the pool.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: Pool,
}

impl PgStore {
    /// A store over `pool`: any `deadpool-postgres` pool (your TLS, your settings). Keep its
    /// connections at READ COMMITTED and on the primary (see the crate docs).
    #[must_use]
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }

    /// A store with its own pool of at most `max_size` connections to `config`: fast
    /// recycling (no round trip per checkout), [`POOL_TIMEOUT`] for waits, connects and
    /// recycling, a 5 s connect timeout unless `config` sets one, and READ COMMITTED for
    /// every connection whatever the database's default.
    pub fn connect<T>(
        mut config: tokio_postgres::Config,
        tls: T,
        max_size: usize,
    ) -> Result<Self, PgStoreError>
    where
        T: MakeTlsConnect<Socket> + Clone + Sync + Send + 'static,
        T::Stream: Sync + Send,
        T::TlsConnect: Sync + Send,
        <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
    {
        const READ_COMMITTED: &str = r"-c default_transaction_isolation=read\ committed";
        let options = match config.get_options() {
            Some(o) if !o.is_empty() => format!("{o} {READ_COMMITTED}"),
            _ => READ_COMMITTED.to_owned(),
        };
        config.options(options);
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(POOL_TIMEOUT);
        }
        let manager = Manager::from_config(
            config,
            tls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(max_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_TIMEOUT))
            .create_timeout(Some(POOL_TIMEOUT))
            .recycle_timeout(Some(POOL_TIMEOUT))
            .build()?;
        Ok(Self::new(pool))
    }

    /// The pool (for metrics, or to close it).
    #[must_use]
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Apply the schema migrations not yet applied ([`migrate`]) over a pooled connection.
    pub async fn migrate(&self) -> Result<(), PgStoreError> {
        let mut client = self.pool.get().await?;
        migrate(&mut client).await
    }

    async fn client(&self) -> Result<deadpool_postgres::Client, PgStoreError> {
        Ok(self.pool.get().await?)
    }
}
