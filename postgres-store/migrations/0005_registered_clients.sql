-- Dynamically registered clients (RFC 7591): one row per client, keyed by its id compared
-- byte for byte (COLLATE "C": no case folding or normalization). The payload is the engine's
-- opaque registration (metadata and, for confidential clients, the HMAC of the secret, never
-- the secret): bytea, any bytes. Registrations do not expire; delete_expired leaves them.
CREATE TABLE token_clients (
    client_id text   COLLATE "C" PRIMARY KEY,
    issued_at bigint NOT NULL,
    payload   bytea  NOT NULL
);
