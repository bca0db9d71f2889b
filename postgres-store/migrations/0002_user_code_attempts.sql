-- Device-flow user-code attempts (RFC 8628 §5.1), counted for every instance over this
-- database: one row per limiter key (the application's: a client IP, an account), the
-- number of its current 60-second window (Unix seconds / 60) and the attempts in it.
-- Rows of past windows are swept by delete_expired.
CREATE TABLE token_user_code_attempts (
    key          bytea   PRIMARY KEY,
    window_start bigint  NOT NULL,
    attempts     integer NOT NULL CHECK (attempts >= 1)
);
CREATE INDEX token_user_code_attempts_window ON token_user_code_attempts (window_start);
