//! The store's one error type.

/// What went wrong talking to PostgreSQL. Every variant means the backend failed: the engine
/// answers [`token_engine::Error::Store`] and never takes it for an invalid token. "Not
/// found" and a lost race are values of the trait methods, never errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgStoreError {
    /// No connection: the pool is exhausted past its wait timeout, or a new connection
    /// could not be made (server down, refused, timed out).
    #[error("PostgreSQL pool: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// A statement failed: connection dropped mid-statement, server error, a value the
    /// schema refuses (a U+0000 in a `text` column, for one). `Display` says what the server
    /// said: its SQLSTATE, severity and message (`PostgreSQL error 22021 (ERROR): invalid
    /// byte sequence for encoding "UTF8": 0x00`), or for a client-side failure the cause
    /// (`PostgreSQL: error communicating with the server: Connection reset by peer`). The
    /// server's `DETAIL`, which may quote row values, is left out; it stays reachable through
    /// `source()`.
    #[error("{}", describe(.0))]
    Db(#[from] tokio_postgres::Error),
    /// A stored value is outside what the record type can hold (a hand-edited row, or a
    /// schema that drifted): refused rather than read as something else.
    #[error("a stored value is out of range: {0}")]
    Corrupt(&'static str),
    /// The database cannot hold the schema as written (its encoding is not UTF8).
    #[error("unsupported database: {0}")]
    Unsupported(String),
    /// The pool could not be built (no runtime, bad settings).
    #[error("PostgreSQL pool setup: {0}")]
    Build(#[from] deadpool_postgres::BuildError),
}

/// The server's SQLSTATE and message, or the client-side cause: what `tokio_postgres::Error`'s
/// own `Display` ("db error") leaves to `source()`.
fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!(
            "PostgreSQL error {} ({}): {}",
            db.code().code(),
            db.severity(),
            db.message()
        );
    }
    match std::error::Error::source(e) {
        Some(cause) => format!("PostgreSQL: {e}: {cause}"),
        None => format!("PostgreSQL: {e}"),
    }
}
