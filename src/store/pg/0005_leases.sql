-- Migration 5 for PostgreSQL (SQLite's migration 5): budget and rate leases, so several replicas
-- sharing this database hold budgets and rate limits together (docs/SPEND.md, "Several
-- replicas"). Number 4 is the review queue.
--
-- budget_pools: per (org, agent, month) what all replicas together were granted. A replica
--   takes a lease with one conditional UPDATE that never grants past the limit it passes in;
--   last_grant_* record the size of that grant so the same statement can return it.
-- budget_leases: per replica (its evidence log's key id, which prefixes its receipt ids) and
--   process incarnation: granted and returned. An incarnation that ended without returning
--   (a crash) is marked 'lost' when the replica starts again; lost budget is never re-spent.
-- rate_buckets: shared token buckets, level in 1/60,000 token (a rate of R per minute refills R
--   units per millisecond), refilled in SQL and leased in chunks.
-- All three have org_id under forced row-level security like every tenant table.

INSERT INTO bulwark_schema (version) VALUES (5);

CREATE TABLE budget_pools (
    org_id            text NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    agent             text NOT NULL DEFAULT '',
    month             integer NOT NULL,
    granted_tokens    bigint NOT NULL CHECK (granted_tokens >= 0),
    granted_cost      bigint NOT NULL CHECK (granted_cost >= 0),
    last_grant_tokens bigint NOT NULL DEFAULT 0,
    last_grant_cost   bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, agent, month)
);

CREATE TABLE budget_leases (
    org_id          text NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    agent           text NOT NULL DEFAULT '',
    month           integer NOT NULL,
    replica         text NOT NULL,
    incarnation     bigint NOT NULL,
    granted_tokens  bigint NOT NULL DEFAULT 0,
    granted_cost    bigint NOT NULL DEFAULT 0,
    returned_tokens bigint NOT NULL DEFAULT 0,
    returned_cost   bigint NOT NULL DEFAULT 0,
    state           text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'returned', 'lost')),
    updated_ms      bigint NOT NULL,
    PRIMARY KEY (org_id, agent, month, replica, incarnation)
);
CREATE INDEX budget_leases_replica ON budget_leases (org_id, replica, state);

CREATE TABLE rate_buckets (
    org_id     text NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    bucket     text NOT NULL,
    level      bigint NOT NULL CHECK (level >= 0),
    last_ms    bigint NOT NULL,
    last_grant bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, bucket)
);

ALTER TABLE budget_pools ENABLE ROW LEVEL SECURITY;
ALTER TABLE budget_pools FORCE ROW LEVEL SECURITY;
CREATE POLICY budget_pools_tenant ON budget_pools
    USING (org_id = current_setting('app.org_id', true))
    WITH CHECK (org_id = current_setting('app.org_id', true));
ALTER TABLE budget_leases ENABLE ROW LEVEL SECURITY;
ALTER TABLE budget_leases FORCE ROW LEVEL SECURITY;
CREATE POLICY budget_leases_tenant ON budget_leases
    USING (org_id = current_setting('app.org_id', true))
    WITH CHECK (org_id = current_setting('app.org_id', true));
ALTER TABLE rate_buckets ENABLE ROW LEVEL SECURITY;
ALTER TABLE rate_buckets FORCE ROW LEVEL SECURITY;
CREATE POLICY rate_buckets_tenant ON rate_buckets
    USING (org_id = current_setting('app.org_id', true))
    WITH CHECK (org_id = current_setting('app.org_id', true));
