-- Organizations (SPEC §9): teams that share keys and pool quota. An org has no plan of
-- its own: it is on its owner's plan, read live. The owner is the member whose role is
-- 'owner' (exactly one per org, enforced below); org_members is the only record of roles.
-- updated_at moves when the ownership moves, so other instances' key caches re-read
-- whose plan an org's keys are on.
CREATE TABLE orgs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    slug TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX orgs_updated ON orgs(updated_at);

CREATE TABLE org_members (
    org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    joined_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX org_members_user ON org_members(user_id);
CREATE UNIQUE INDEX org_members_one_owner ON org_members(org_id) WHERE role = 'owner';

-- An invitation of an email without an account; it becomes a membership when an account
-- with that email is created (sign-up, the CLI, a first Supabase token).
CREATE TABLE org_invitations (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    role TEXT NOT NULL,
    invited_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX org_invitations_org_email ON org_invitations(org_id, email);
CREATE INDEX org_invitations_email ON org_invitations(email);

-- A key belongs to an org when org_id is set; user_id then records who created it.
-- Names are unique among a user's active personal keys, and among an org's active keys.
ALTER TABLE api_keys ADD COLUMN org_id TEXT REFERENCES orgs(id);
DROP INDEX api_keys_active_name;
CREATE UNIQUE INDEX api_keys_active_name ON api_keys(user_id, name) WHERE revoked_at IS NULL AND org_id IS NULL;
CREATE UNIQUE INDEX api_keys_org_active_name ON api_keys(org_id, name) WHERE revoked_at IS NULL AND org_id IS NOT NULL;
CREATE INDEX api_keys_org ON api_keys(org_id);

-- Usage through an org key carries the org: org analytics read it, and the quota of an
-- org key is counted per org. quota_usage.user_id and rate_usage.user_id hold the
-- account id from now on: the org id for org keys, the user id for personal keys (both
-- UUIDs, so they cannot collide).
ALTER TABLE usage_events ADD COLUMN org_id TEXT;
CREATE INDEX usage_events_org_time ON usage_events(org_id, created_at);
ALTER TABLE usage_monthly ADD COLUMN org_id TEXT;
CREATE INDEX usage_monthly_org ON usage_monthly(org_id, month_start);
