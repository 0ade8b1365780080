-- Accounts, sessions, API keys and usage. Timestamps are UTC Unix milliseconds
-- (INTEGER) so both backends sort, bucket and compare them the same way.
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT,
    plan TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

-- Only a SHA-256 of each refresh token is kept.
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX refresh_tokens_session ON refresh_tokens(session_id);

-- Only a SHA-256 of each raw key is kept. updated_at moves on every settings change
-- or revocation; running instances poll it to refresh their key caches.
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    key_hash TEXT NOT NULL UNIQUE,
    key_prefix TEXT NOT NULL,
    name TEXT NOT NULL,
    intensity TEXT NOT NULL,
    auto_compress_input BIGINT NOT NULL,
    smart_detect_enabled BIGINT NOT NULL,
    context_compress BIGINT NOT NULL,
    context_compress_level TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);
CREATE UNIQUE INDEX api_keys_active_name ON api_keys(user_id, name) WHERE revoked_at IS NULL;
CREATE INDEX api_keys_updated ON api_keys(updated_at);
CREATE INDEX users_updated ON users(updated_at);

-- One row per proxied request. Never a prompt, a response or a provider key.
CREATE TABLE usage_events (
    id BIGSERIAL PRIMARY KEY,
    request_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    user_id TEXT NOT NULL,
    key_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    intensity TEXT NOT NULL,
    intensity_reason TEXT NOT NULL,
    status BIGINT NOT NULL,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    skill_tokens BIGINT NOT NULL,
    context_tokens_before BIGINT,
    context_tokens_after BIGINT,
    duration_ms BIGINT NOT NULL,
    upstream_ms BIGINT NOT NULL,
    streamed BIGINT NOT NULL,
    usage_source TEXT NOT NULL
);
CREATE INDEX usage_events_user_time ON usage_events(user_id, created_at);
CREATE INDEX usage_events_key_time ON usage_events(key_id, created_at);
