-- Usage retention (SPEC §7): usage rows older than `usage_retention_days` are rolled up
-- into one row per account, key, provider, model, endpoint, intensity, holdout flag,
-- measurability and UTC calendar month, then deleted. The sums (including the sum of
-- squared output tokens) keep totals, estimated and measured savings computable.
-- `measurable` = the rows were 2xx answers with provider-reported usage (the only rows
-- the measured-savings statistics use).
CREATE TABLE usage_monthly (
    user_id TEXT NOT NULL,
    key_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    intensity TEXT NOT NULL,
    holdout INTEGER NOT NULL,
    measurable INTEGER NOT NULL,
    month_start INTEGER NOT NULL,
    requests INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    output_tokens_sq REAL NOT NULL,
    skill_tokens INTEGER NOT NULL,
    context_tokens_before INTEGER NOT NULL,
    context_tokens_after INTEGER NOT NULL,
    PRIMARY KEY (user_id, key_id, provider, model, endpoint, intensity, holdout, measurable, month_start)
);
CREATE INDEX usage_events_time ON usage_events(created_at);
