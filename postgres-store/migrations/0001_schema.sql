-- token-engine PostgreSQL store: schema version 1.
--
-- Applied by `token_engine_postgres::migrate` in one transaction, under an advisory lock, and
-- recorded in token_schema_migrations. Unqualified names: the tables land in the first schema
-- of the connection's search_path.
--
-- Integers (SQL integers are signed; every value of the Rust type must come back):
--   u64  versions                    BIGINT holding the same 64 bits (a bit cast: u64::MAX is -1)
--   u32  generation, policy versions BIGINT holding the value, 0 ..= 4294967295
--   u8   key_id                      SMALLINT, 0 ..= 255
--   i64  times (Unix seconds)        BIGINT, the full range
-- Ids and hashes are BYTEA of a checked length. The subject and the policy tenant are BYTEA
-- as well: they are matched by equality, and BYTEA equality is byte-wise whatever the
-- database's collation. Other strings are TEXT, which PostgreSQL stores byte for byte (no
-- trimming, no normalization) in a UTF8 database; `migrate` refuses any other encoding.
-- Enum values (revocation reason, device state) are TEXT holding their serde names
-- ('ReuseDetected', 'Pending'), readable in psql.

-- One row per login session, whatever the number of rotations. A refresh reads it by id
-- and writes it back with one conditional UPDATE on (id, version).
CREATE TABLE token_families (
    id                  bytea    PRIMARY KEY CHECK (octet_length(id) = 16),
    subject             bytea    NOT NULL,
    client_id           text     NOT NULL,
    scope               text     NOT NULL,
    tenant              text,
    device_id           text,
    dpop_jkt            text,
    cert_thumbprint     text,
    claims              text,
    auth_time           bigint   NOT NULL,
    created_at          bigint   NOT NULL,
    absolute_expires_at bigint   NOT NULL,
    last_used_at        bigint   NOT NULL,
    policy_major        bigint   NOT NULL CHECK (policy_major BETWEEN 0 AND 4294967295),
    policy_minor        bigint   NOT NULL CHECK (policy_minor BETWEEN 0 AND 4294967295),
    generation          bigint   NOT NULL CHECK (generation BETWEEN 0 AND 4294967295),
    key_id              smallint NOT NULL CHECK (key_id BETWEEN 0 AND 255),
    current_secret_hash bytea    NOT NULL CHECK (octet_length(current_secret_hash) = 32),
    rotated_at          bigint   NOT NULL,
    -- Active: the three revoked_* columns are NULL. Revoked: all three are set.
    revoked_reason      text,
    revoked_at          bigint,
    revoked_operation   bytea    CHECK (octet_length(revoked_operation) = 16),
    version             bigint   NOT NULL,
    CHECK ((revoked_reason IS NULL) = (revoked_at IS NULL)
       AND (revoked_reason IS NULL) = (revoked_operation IS NULL))
)
-- A rotation changes no indexed column, so with free room on the page PostgreSQL updates
-- the row in place (a HOT update: no index entry per rotation). Leave that room.
WITH (fillfactor = 70);

-- list_families and revoke_subject.
CREATE INDEX token_families_subject ON token_families (subject);
-- delete_expired.
CREATE INDEX token_families_expiry ON token_families (absolute_expires_at);

-- Authorization codes under the SHA-256 of the code; taken with DELETE ... RETURNING.
CREATE TABLE token_codes (
    key        bytea  PRIMARY KEY CHECK (octet_length(key) = 32),
    client_id  text   NOT NULL,
    expires_at bigint NOT NULL,
    payload    bytea  NOT NULL
);
CREATE INDEX token_codes_expiry ON token_codes (expires_at);

-- Device-authorization requests under the SHA-256 of the device code, findable (and unique)
-- by user code.
CREATE TABLE token_devices (
    key            bytea  PRIMARY KEY CHECK (octet_length(key) = 32),
    user_code      text   NOT NULL UNIQUE,
    client_id      text   NOT NULL,
    expires_at     bigint NOT NULL,
    last_polled_at bigint NOT NULL,
    state          text   NOT NULL,
    payload        bytea  NOT NULL,
    version        bigint NOT NULL
);
CREATE INDEX token_devices_expiry ON token_devices (expires_at);

-- Replay ids (DPoP proof jti, client assertion jti) until they expire.
CREATE TABLE token_replay_ids (
    id         bytea  PRIMARY KEY CHECK (octet_length(id) = 32),
    expires_at bigint NOT NULL
);
CREATE INDEX token_replay_ids_expiry ON token_replay_ids (expires_at);

-- Security-policy versions per level. The global level is (true, ''); a tenant t is
-- (false, t), so the empty tenant (false, '') is a level of its own.
CREATE TABLE token_policy_versions (
    is_global boolean NOT NULL,
    tenant    bytea   NOT NULL,
    major     bigint  NOT NULL CHECK (major BETWEEN 0 AND 4294967295),
    minor     bigint  NOT NULL CHECK (minor BETWEEN 0 AND 4294967295),
    PRIMARY KEY (is_global, tenant),
    CHECK (NOT is_global OR tenant = '')
);
