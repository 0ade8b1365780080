-- Custom intensity rules (SPEC §3). Deleted rules are kept with deleted_at so other
-- instances' caches see the deletion through updated_at.
CREATE TABLE rules (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    rule_type TEXT NOT NULL,
    pattern TEXT NOT NULL,
    priority BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT
);
CREATE INDEX rules_user ON rules(user_id);
CREATE INDEX rules_updated ON rules(updated_at);
