//! [`PgUserCodeLimiter`]: the device flow's user-code limiter over this database, one count
//! for every instance.

use token_engine::UserCodeLimiter;

use crate::sql::USER_CODE_ATTEMPT;
use crate::{PgStore, PgStoreError};

/// The limiter's window of `now`: Unix seconds / 60, as [`token_engine::MemoryLimiter`]
/// counts.
pub(crate) fn window(now: i64) -> i64 {
    now.div_euclid(60)
}

/// Throttles user-code guessing (RFC 8628 §5.1) with one count per key for every instance
/// over the same database: at most `max` attempts per key per 60-second window, whichever
/// instance they reach. Each attempt is one atomic upsert (`INSERT ... ON CONFLICT DO UPDATE
/// ... RETURNING`) on `token_user_code_attempts` (migration 2); concurrent attempts on one key
/// are serialized by its row, so no more than `max` pass per window. Rows of past windows go
/// with [`Engine::delete_expired`](token_engine::Engine::delete_expired).
///
/// The key (a client IP, an account) is stored as its bytes while its window lasts. Made by
/// [`PgStore::user_code_limiter`]; clones share the pool.
///
/// ```no_run
/// # async fn f(store: token_engine_postgres::PgStore, engine: token_engine::Engine<token_engine_postgres::PgStore>) -> Result<(), token_engine::Error> {
/// let limiter = store.user_code_limiter(5);
/// let request = engine.device_request("WDJB-MJHT", &limiter, "203.0.113.7").await?;
/// # let _ = request; Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct PgUserCodeLimiter {
    store: PgStore,
    max: u32,
}

impl PgStore {
    /// A user-code limiter over this store's pool allowing `max` attempts per key per
    /// 60-second window, shared by every instance over the same database.
    #[must_use]
    pub fn user_code_limiter(&self, max: u32) -> PgUserCodeLimiter {
        PgUserCodeLimiter {
            store: self.clone(),
            max,
        }
    }
}

impl UserCodeLimiter for PgUserCodeLimiter {
    type Error = PgStoreError;

    async fn attempt(&self, key: &str, now: i64) -> Result<bool, PgStoreError> {
        let client = self.store.client().await?;
        let stmt = client.prepare_cached(USER_CODE_ATTEMPT).await?;
        let attempts: i32 = client
            .query_one(&stmt, &[&key.as_bytes(), &window(now)])
            .await?
            .try_get(0)?;
        Ok(u32::try_from(attempts).is_ok_and(|n| n <= self.max))
    }
}
