-- Migration 1 for PostgreSQL (the same number as SQLite's migration 1): orgs and API keys.
-- Applied by the owner role (owns the tables, has BYPASSRLS so its SECURITY DEFINER lookup can
-- find a key before the tenant is known). The gateway's runtime role owns nothing, lacks
-- BYPASSRLS, and sees only the rows of the org it sets per transaction with
--   SELECT set_config('app.org_id', $1, true);
-- With no tenant set, current_setting('app.org_id', true) is NULL or '' and matches no row.

CREATE TABLE orgs (
    id         text PRIMARY KEY,
    name       text NOT NULL UNIQUE,   -- orgs are created by operators, not by tenants
    created_ms bigint NOT NULL
);

CREATE TABLE api_keys (
    id         text PRIMARY KEY,
    org_id     text NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    role       text NOT NULL CHECK (role IN ('owner', 'admin', 'reviewer', 'member', 'agent')),
    agent      text NOT NULL DEFAULT '',
    hash       bytea NOT NULL UNIQUE CHECK (length(hash) = 32),
    created_ms bigint NOT NULL,
    expires_ms bigint NOT NULL DEFAULT 0,
    revoked_ms bigint NOT NULL DEFAULT 0
);
CREATE INDEX api_keys_org ON api_keys (org_id);

-- Row-level security, enforced by the database for every role but BYPASSRLS ones (FORCE makes it
-- apply to the table owner too).
ALTER TABLE orgs ENABLE ROW LEVEL SECURITY;
ALTER TABLE orgs FORCE ROW LEVEL SECURITY;
CREATE POLICY orgs_tenant ON orgs
    USING (id = current_setting('app.org_id', true))
    WITH CHECK (id = current_setting('app.org_id', true));

ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY api_keys_tenant ON api_keys
    USING (org_id = current_setting('app.org_id', true))
    WITH CHECK (org_id = current_setting('app.org_id', true));

-- The one path that crosses tenants, by design: authentication. A request presents a key before
-- its org is known; the keyed hash of that key is the capability. The function returns at most
-- the one matching row and nothing else, and runs as its owner.
CREATE FUNCTION bulwark_key_lookup(key_hash bytea)
RETURNS TABLE (id text, org_id text, org_name text, role text, agent text, hash bytea,
               created_ms bigint, expires_ms bigint, revoked_ms bigint)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
    SELECT k.id, k.org_id, o.name, k.role, k.agent, k.hash, k.created_ms, k.expires_ms,
           k.revoked_ms
    FROM public.api_keys k JOIN public.orgs o ON o.id = k.org_id
    WHERE k.hash = key_hash AND length(key_hash) = 32
$$;
REVOKE ALL ON FUNCTION bulwark_key_lookup(bytea) FROM PUBLIC;
