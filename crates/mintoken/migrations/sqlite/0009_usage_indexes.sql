-- Every usage row was written into four indexes; the usage writer's cost per row is
-- mostly those (docs/BENCHMARKS.md). Two are narrowed:
-- * usage_events_key_time: no query filters usage rows by key (analytics group by key
--   within an account's rows, found through usage_events_user_time or _org_time).
-- * usage_events_org_time: only rows of org keys have an org_id, and only those are
--   looked up by it (`org_id = ?` implies `org_id IS NOT NULL`, so both databases use
--   the partial index); personal keys' rows no longer go into it.
DROP INDEX usage_events_key_time;
DROP INDEX usage_events_org_time;
CREATE INDEX usage_events_org_time ON usage_events(org_id, created_at) WHERE org_id IS NOT NULL;
