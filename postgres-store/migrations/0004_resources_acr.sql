-- The resource indicators a session was granted (RFC 8707; space-separated absolute URIs)
-- and the authentication context class of its login (RFC 9470 `acr`). Both optional: NULL
-- is "the engine's own audiences" and "no acr named".
ALTER TABLE token_families ADD COLUMN resources text;
ALTER TABLE token_families ADD COLUMN acr text;
