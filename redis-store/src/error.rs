//! The store's one error type.

use std::time::Duration;

/// What went wrong talking to Redis. Every variant means the backend failed: the engine
/// answers [`token_engine::Error::Store`] and never takes it for an invalid token. "Not
/// found" and a lost race are values of the trait methods, never errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisStoreError {
    /// A command failed: no connection, a dropped connection, a timeout, a cluster without
    /// a primary for the slot (`CLUSTERDOWN`), or an error from the server (its message is
    /// shown).
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// With [`Durability::WaitForReplica`](crate::Durability::WaitForReplica): the write was
    /// applied on the primary (and is visible there) but no replica acknowledged it within
    /// the timeout, so a failover now could lose it.
    #[error("Redis: the write was not acknowledged by a replica within {0:?}")]
    NotReplicated(Duration),
    /// A stored value is not what this store writes (a hand-edited key, another program's
    /// key under the namespace): refused rather than read as something else.
    #[error("a stored value is malformed: {0}")]
    Corrupt(&'static str),
    /// The store's settings are unusable (a namespace with a `{` or `}`, no node URL).
    #[error("invalid Redis store settings: {0}")]
    Config(&'static str),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_shows_the_servers_message() {
        let server = redis::RedisError::from((
            redis::ErrorKind::Client,
            "An error was signalled by the server",
            "ERR Error running script: @user_script:3: bad argument".to_owned(),
        ));
        let shown = RedisStoreError::from(server).to_string();
        assert!(shown.starts_with("Redis: "), "{shown}");
        assert!(shown.contains("@user_script:3: bad argument"), "{shown}");
    }
}
