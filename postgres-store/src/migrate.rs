//! The schema, applied in order and recorded in `token_schema_migrations`.

use crate::PgStoreError;

/// The migrations, in order: `(version, SQL)`. Each is applied once, in a transaction.
pub const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("../migrations/0001_schema.sql")),
    (2, include_str!("../migrations/0002_user_code_attempts.sql")),
    (4, include_str!("../migrations/0004_resources_acr.sql")),
    (5, include_str!("../migrations/0005_registered_clients.sql")),
    // Numbered after 4 and 5, which landed first: a database that applied them applies
    // this one too (versions are applied above the highest one recorded). 3 is unused.
    (
        6,
        include_str!("../migrations/0006_reference_access_tokens.sql"),
    ),
];

/// Any 64-bit constant the application does not use for another advisory lock.
const LOCK_KEY: i64 = 0x746f_6b65_6e5f_6d67; // "token_mg"

/// Apply the migrations not yet applied, in one transaction under a transaction-level
/// advisory lock, so instances that start together apply each one exactly once. The tables
/// go into the first schema of the connection's `search_path`. Refuses a database whose
/// encoding is not UTF8 (its `text` columns could not hold every string).
///
/// The migration files are static DDL sent as one simple-protocol batch: no value from
/// outside reaches them.
pub async fn migrate(client: &mut tokio_postgres::Client) -> Result<(), PgStoreError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
        .await?;
    let encoding: String = tx
        .query_one("SELECT current_setting('server_encoding')", &[])
        .await?
        .try_get(0)?;
    if encoding != "UTF8" {
        return Err(PgStoreError::Unsupported(format!(
            "the database's encoding is {encoding}, not UTF8"
        )));
    }
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS token_schema_migrations (\
             version    integer     PRIMARY KEY, \
             applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await?;
    let applied: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM token_schema_migrations",
            &[],
        )
        .await?
        .try_get(0)?;
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > applied) {
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO token_schema_migrations (version) VALUES ($1)",
            &[version],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
