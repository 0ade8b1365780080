-- Output tokens per account and UTC month, moved forward in the same transaction as the
-- usage rows. Instances read it (by updated_at) to bring their in-memory quota counters
-- up to the usage other instances recorded, without summing usage_events.
CREATE TABLE quota_usage (
    user_id TEXT NOT NULL,
    month_start BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, month_start)
);
CREATE INDEX quota_usage_updated ON quota_usage(updated_at);

INSERT INTO quota_usage (user_id, month_start, output_tokens, updated_at)
SELECT user_id,
       CAST(strftime('%s', datetime(created_at / 1000, 'unixepoch', 'start of month')) AS INTEGER) * 1000,
       SUM(output_tokens),
       MAX(created_at)
FROM usage_events
GROUP BY 1, 2;
