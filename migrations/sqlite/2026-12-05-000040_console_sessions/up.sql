-- Sessions of the web console: a token pasted once at sign-in. The cookie's random id is
-- stored as SHA-256 only; a session ends with its token (cascade), at expires_at, or when
-- unused for longer than the idle limit (last_seen_at).
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY NOT NULL,
    token_id BIGINT NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
    csrf_secret TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX sessions_token_id ON sessions (token_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);
