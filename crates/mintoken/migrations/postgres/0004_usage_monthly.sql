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
    holdout BIGINT NOT NULL,
    measurable BIGINT NOT NULL,
    month_start BIGINT NOT NULL,
    requests BIGINT NOT NULL,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    output_tokens_sq DOUBLE PRECISION NOT NULL,
    skill_tokens BIGINT NOT NULL,
    context_tokens_before BIGINT NOT NULL,
    context_tokens_after BIGINT NOT NULL,
    PRIMARY KEY (user_id, key_id, provider, model, endpoint, intensity, holdout, measurable, month_start)
);
CREATE INDEX usage_events_time ON usage_events(created_at);
