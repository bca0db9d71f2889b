//! Every statement the store runs, one constant each: whole string literals, values only as
//! `$n` parameters. The tables are in `migrations/0001_schema.sql`. Each is prepared once per
//! connection and cached, so running it is one round trip.

/// The family columns, in the parameter order of the family statements (`$1 ..= $27`;
/// `resources`, `acr` from `migrations/0004_resources_acr.sql`, the last three from
/// `migrations/0006_reference_access_tokens.sql`).
/// A macro so that the statements are whole string literals at compile time.
macro_rules! family_columns {
    () => {
        "id, subject, client_id, scope, tenant, device_id, dpop_jkt, cert_thumbprint, claims, \
         auth_time, created_at, absolute_expires_at, last_used_at, policy_major, policy_minor, \
         generation, key_id, current_secret_hash, rotated_at, \
         revoked_reason, revoked_at, revoked_operation, version, resources, acr, \
         access_only, revoked_access, access_not_before"
    };
}

/// The device columns, in the parameter order of the device statements (`$1 ..= $8`).
macro_rules! device_columns {
    () => {
        "key, user_code, client_id, expires_at, last_polled_at, state, payload, version"
    };
}

/// `create_family`: insert-if-absent on the id (0 rows affected: it exists).
pub const CREATE_FAMILY: &str = concat!(
    "INSERT INTO token_families (",
    family_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
     $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28) ON CONFLICT (id) DO NOTHING"
);

/// `load_family`: by primary key.
pub const LOAD_FAMILY: &str = concat!(
    "SELECT ",
    family_columns!(),
    " FROM token_families WHERE id = $1"
);

/// `compare_and_swap_family`: one conditional UPDATE of every column. Under READ COMMITTED a
/// concurrent writer of the row makes this one wait, then re-check `version = $29` against
/// the row it committed, so of two swaps on one version exactly one matches (1 row affected:
/// swapped; 0: conflict, or no such family).
pub const SWAP_FAMILY: &str = concat!(
    "UPDATE token_families SET (",
    family_columns!(),
    ") = ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
     $19, $20, $21, $22, $23, $24, $25, $26, $27, $28) WHERE id = $1 AND version = $29"
);

/// `list_families`: every family of the subject (byte-wise `bytea` equality), no limit.
pub const LIST_FAMILIES: &str = concat!(
    "SELECT ",
    family_columns!(),
    " FROM token_families WHERE subject = $1"
);

/// `revoke_subject`: one UPDATE, unconditional per row: no version in the `WHERE` clause, so
/// a row rotated while it runs is waited for and revoked in its new version. Already revoked
/// families keep their revocation. The version goes up by one with the `u64` wrap:
/// `i64::MAX + 1` is `i64::MIN` (2^63 as `u64`) and -1 (`u64::MAX`) + 1 is 0.
pub const REVOKE_SUBJECT: &str = "UPDATE token_families \
     SET revoked_reason = $2, revoked_at = $3, revoked_operation = $4, \
         version = CASE WHEN version = 9223372036854775807 \
                        THEN (-9223372036854775807)::bigint - 1 ELSE version + 1 END \
     WHERE subject = $1 AND revoked_reason IS NULL";

/// `load_policy`: one level, `(true, '')` for the global one, `(false, tenant)` for a tenant.
pub const LOAD_POLICY: &str =
    "SELECT major, minor FROM token_policy_versions WHERE is_global = $1 AND tenant = $2";

/// `save_policy` with a version: last write wins.
pub const SAVE_POLICY: &str = "INSERT INTO token_policy_versions (is_global, tenant, major, minor) \
     VALUES ($1, $2, $3, $4) \
     ON CONFLICT (is_global, tenant) DO UPDATE SET major = EXCLUDED.major, minor = EXCLUDED.minor";

/// `save_policy` with `None`: the level is removed.
pub const DELETE_POLICY: &str =
    "DELETE FROM token_policy_versions WHERE is_global = $1 AND tenant = $2";

/// `delete_expired`: every table in one statement, through the `*_expiry` indexes. Expired
/// at `now` means `expires_at <= now`, as the engine reads it (a family is refused from its
/// absolute expiry on, a replay id is free again from its expiry on).
pub const DELETE_EXPIRED: &str = "WITH \
       f AS (DELETE FROM token_families WHERE absolute_expires_at <= $1 RETURNING 1), \
       c AS (DELETE FROM token_codes WHERE expires_at <= $1 RETURNING 1), \
       d AS (DELETE FROM token_devices WHERE expires_at <= $1 RETURNING 1), \
       r AS (DELETE FROM token_replay_ids WHERE expires_at <= $1 RETURNING 1), \
       u AS (DELETE FROM token_user_code_attempts WHERE window_start < $2 RETURNING 1) \
     SELECT (SELECT count(*) FROM f) + (SELECT count(*) FROM c) \
          + (SELECT count(*) FROM d) + (SELECT count(*) FROM r) + (SELECT count(*) FROM u)";

/// `PgUserCodeLimiter::attempt`: one atomic upsert per attempt. A key's row counts the
/// attempts of its window (`$2`, Unix seconds / 60); an attempt in a later window starts the
/// count again at 1. The window never goes back (instances' clocks differ by a second or
/// two: a late attempt counts in the newer window), and the count stops short of
/// `integer`'s maximum instead of overflowing.
pub const USER_CODE_ATTEMPT: &str = "INSERT INTO token_user_code_attempts AS a \
       (key, window_start, attempts) VALUES ($1, $2, 1) \
     ON CONFLICT (key) DO UPDATE SET \
       attempts = CASE WHEN EXCLUDED.window_start > a.window_start THEN 1 \
                       ELSE LEAST(a.attempts, 2147483646) + 1 END, \
       window_start = GREATEST(a.window_start, EXCLUDED.window_start) \
     RETURNING attempts";

/// `insert_code`: insert-if-absent on the key.
pub const INSERT_CODE: &str = "INSERT INTO token_codes (key, client_id, expires_at, payload) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (key) DO NOTHING";

/// `insert_client`: insert-if-absent on the client id.
pub const INSERT_CLIENT: &str = "INSERT INTO token_clients (client_id, issued_at, payload) \
     VALUES ($1, $2, $3) ON CONFLICT (client_id) DO NOTHING";

/// `load_client`: exact (`COLLATE "C"`) match on the id.
pub const LOAD_CLIENT: &str = "SELECT issued_at, payload FROM token_clients WHERE client_id = $1";

/// `take_code`: the atomic take. Of concurrent deletes of one row exactly one returns it.
pub const TAKE_CODE: &str =
    "DELETE FROM token_codes WHERE key = $1 RETURNING client_id, expires_at, payload";

/// `insert_device`: insert-if-absent on the key *and* on the user code. No conflict target,
/// so either unique constraint turns the insert into nothing.
pub const INSERT_DEVICE: &str = concat!(
    "INSERT INTO token_devices (",
    device_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING"
);

/// `load_device`: by primary key.
pub const LOAD_DEVICE: &str = concat!(
    "SELECT ",
    device_columns!(),
    " FROM token_devices WHERE key = $1"
);

/// `load_device_by_user_code`: through the unique index on `user_code` (exact match).
pub const LOAD_DEVICE_BY_USER_CODE: &str = concat!(
    "SELECT ",
    device_columns!(),
    " FROM token_devices WHERE user_code = $1"
);

/// `compare_and_swap_device`: as for families, on `(key, version)`.
pub const SWAP_DEVICE: &str = concat!(
    "UPDATE token_devices SET (",
    device_columns!(),
    ") = ($1, $2, $3, $4, $5, $6, $7, $8) WHERE key = $1 AND version = $9"
);

/// `insert_replay_id`: insert-if-absent with expiry. A new id is inserted; an id whose entry
/// expired at `now` (`$3`) is replaced, swept or not; a live one is left alone (the `WHERE`
/// of `DO UPDATE` is false: no row affected). Concurrent inserts of one id wait on each
/// other, so exactly one is affected.
pub const INSERT_REPLAY_ID: &str = "INSERT INTO token_replay_ids AS r (id, expires_at) \
     VALUES ($1, $2) \
     ON CONFLICT (id) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE r.expires_at <= $3";
