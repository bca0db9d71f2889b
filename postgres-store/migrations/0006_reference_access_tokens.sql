-- Reference access tokens (token-engine issue 23), in the family row so that introspecting one
-- stays one primary-key read:
--   access_only       the row exists only for the reference token of a grant without a
--                     refresh token; it ends (and delete_expired sweeps it) at
--                     absolute_expires_at, the token's expiry.
--   revoked_access    the reference tokens revoked one by one, 32 bytes each:
--                     id (16) | iat (8, big-endian i64) | exp (8, big-endian i64). The engine
--                     keeps at most 16 (512 bytes), dropping expired ones.
--   access_not_before reference tokens issued before it are revoked (0: none).
-- Existing rows get the values of a session with nothing revoked.
ALTER TABLE token_families
    ADD COLUMN access_only       boolean NOT NULL DEFAULT false,
    ADD COLUMN revoked_access    bytea   NOT NULL DEFAULT '\x'::bytea
        CHECK (octet_length(revoked_access) % 32 = 0),
    ADD COLUMN access_not_before bigint  NOT NULL DEFAULT 0;
