-- Requests-per-minute limits across instances: each instance publishes, per account, the
-- running total of requests it admitted (and the limit it applied); the others read the
-- increments and count them against the account as if they had arrived locally.
CREATE TABLE rate_usage (
    instance_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    total BIGINT NOT NULL,
    rpm BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (instance_id, user_id)
);
CREATE INDEX rate_usage_updated ON rate_usage(updated_at);
