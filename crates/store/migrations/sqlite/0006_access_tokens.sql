-- Keep in step with ../postgres/0006_access_tokens.sql (same tables and columns).

-- Personal access tokens (CVAT 2's `Authorization: Bearer`): only a hash is kept.
CREATE TABLE access_tokens (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    -- SHA-256 of the token, hex
    token_hash     TEXT NOT NULL UNIQUE,
    created_date   TEXT NOT NULL,
    expiry_date    TEXT NULL,
    last_used_date TEXT NULL
);
CREATE INDEX access_tokens_user ON access_tokens (user_id);
