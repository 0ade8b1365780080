-- Honest savings (SPEC §7): a key may hold out a share of its requests from the skill;
-- each usage row says whether it was held out, so analytics can compare the two groups.
ALTER TABLE api_keys ADD COLUMN holdout_percent INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_events ADD COLUMN holdout INTEGER NOT NULL DEFAULT 0;
