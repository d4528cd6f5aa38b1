-- Migration 3 for PostgreSQL (SQLite's migration 3): identity and access (docs/ACCESS.md).
-- Members, agents (with an optional public widget key), widget transcripts, confirm-token plans
-- for destructive actions, and operator keys (outside every org). Every table with org_id has
-- forced row-level security; uniqueness is per org, so a constraint error never reveals another
-- tenant's names. Composite foreign keys keep a child in its parent's org.

INSERT INTO bulwark_schema (version) VALUES (3);

ALTER TABLE api_keys ADD COLUMN name text NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN member_id text NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN created_by text NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN last_used_ms bigint NOT NULL DEFAULT 0;
ALTER TABLE api_keys ADD COLUMN rotated_to text NOT NULL DEFAULT '';
-- 1: the upstream reported no usage and the gateway counted the tokens (docs/SPEND.md).
ALTER TABLE usage ADD COLUMN estimated integer NOT NULL DEFAULT 0 CHECK (estimated IN (0, 1));

-- Operator keys: no org, so no tenant can ever see them. Only the owner role (BYPASSRLS) and
-- the lookup function below read or write them.
CREATE TABLE operator_keys (
    id         text PRIMARY KEY,
    name       text NOT NULL DEFAULT '',
    hash       bytea NOT NULL UNIQUE CHECK (length(hash) = 32),
    created_ms bigint NOT NULL,
    expires_ms bigint NOT NULL DEFAULT 0,
    revoked_ms bigint NOT NULL DEFAULT 0
);
ALTER TABLE operator_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE operator_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY operator_keys_none ON operator_keys USING (false) WITH CHECK (false);

CREATE TABLE members (
    id         text PRIMARY KEY,
    org_id     text NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    email      text NOT NULL,
    role       text NOT NULL CHECK (role IN ('owner', 'admin', 'reviewer', 'member')),
    created_ms bigint NOT NULL,
    UNIQUE (org_id, email)
);

CREATE TABLE agents (
    id             text PRIMARY KEY,
    org_id         text NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name           text NOT NULL,
    description    text NOT NULL DEFAULT '',
    model          text NOT NULL DEFAULT '',
    widget_enabled integer NOT NULL DEFAULT 0 CHECK (widget_enabled IN (0, 1)),
    widget_key     text UNIQUE,
    widget_origins text NOT NULL DEFAULT '',
    created_ms     bigint NOT NULL,
    UNIQUE (org_id, name),
    UNIQUE (org_id, id)
);

CREATE TABLE transcripts (
    id           text PRIMARY KEY,
    org_id       text NOT NULL,
    agent_id     text NOT NULL,
    conversation text NOT NULL,
    role         text NOT NULL CHECK (role IN ('user', 'assistant')),
    content      text NOT NULL,
    receipt_id   text NOT NULL DEFAULT '',
    created_ms   bigint NOT NULL,
    FOREIGN KEY (org_id, agent_id) REFERENCES agents(org_id, id) ON DELETE CASCADE
);
CREATE INDEX transcripts_org ON transcripts (org_id, created_ms);

CREATE TABLE plans (
    id          text PRIMARY KEY,
    org_id      text NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    action      text NOT NULL,
    target      text NOT NULL,
    plan_sha256 bytea NOT NULL CHECK (length(plan_sha256) = 32),
    token_hash  bytea NOT NULL CHECK (length(token_hash) = 32),
    created_by  text NOT NULL,
    created_ms  bigint NOT NULL,
    expires_ms  bigint NOT NULL,
    used_ms     bigint NOT NULL DEFAULT 0,
    review_id   text NOT NULL DEFAULT ''  -- a second admin's approval it needs ('' = none)
);

CREATE TABLE org_policies (
    org_id     text NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    sha256     bytea NOT NULL CHECK (length(sha256) = 32),
    text       text NOT NULL,
    updated_ms bigint NOT NULL,
    updated_by text NOT NULL,
    active     integer NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    PRIMARY KEY (org_id, sha256)
);
-- every version is kept (evidence packs include the policy a receipt names); one is active
CREATE UNIQUE INDEX org_policies_active ON org_policies (org_id) WHERE active = 1;
ALTER TABLE org_policies ENABLE ROW LEVEL SECURITY;
ALTER TABLE org_policies FORCE ROW LEVEL SECURITY;
CREATE POLICY org_policies_tenant ON org_policies
    USING (org_id = current_setting('app.org_id', true))
    WITH CHECK (org_id = current_setting('app.org_id', true));

ALTER TABLE members ENABLE ROW LEVEL SECURITY;
ALTER TABLE members FORCE ROW LEVEL SECURITY;
CREATE POLICY members_tenant ON members
    USING (org_id = current_setting('app.org_id', true))
    WITH CHECK (org_id = current_setting('app.org_id', true));
ALTER TABLE agents ENABLE ROW LEVEL SECURITY;
ALTER TABLE agents FORCE ROW LEVEL SECURITY;
CREATE POLICY agents_tenant ON agents
    USING (org_id = current_setting('app.org_id', true))
    WITH CHECK (org_id = current_setting('app.org_id', true));
ALTER TABLE transcripts ENABLE ROW LEVEL SECURITY;
ALTER TABLE transcripts FORCE ROW LEVEL SECURITY;
CREATE POLICY transcripts_tenant ON transcripts
    USING (org_id = current_setting('app.org_id', true))
    WITH CHECK (org_id = current_setting('app.org_id', true));
ALTER TABLE plans ENABLE ROW LEVEL SECURITY;
ALTER TABLE plans FORCE ROW LEVEL SECURITY;
CREATE POLICY plans_tenant ON plans
    USING (org_id = current_setting('app.org_id', true))
    WITH CHECK (org_id = current_setting('app.org_id', true));

-- Authentication, the one path that crosses tenants by design (0001 says why), now also finds
-- operator keys (org_id '') and returns the key's name and member.
DROP FUNCTION bulwark_key_lookup(bytea);
CREATE FUNCTION bulwark_key_lookup(key_hash bytea)
RETURNS TABLE (id text, org_id text, org_name text, role text, agent text, hash bytea,
               created_ms bigint, expires_ms bigint, revoked_ms bigint, name text, member_id text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
    SELECT k.id, k.org_id, o.name, k.role, k.agent, k.hash, k.created_ms, k.expires_ms,
           k.revoked_ms, k.name, k.member_id
    FROM public.api_keys k JOIN public.orgs o ON o.id = k.org_id
    WHERE k.hash = key_hash AND length(key_hash) = 32
    UNION ALL
    SELECT p.id, '', '', 'operator', '', p.hash, p.created_ms, p.expires_ms, p.revoked_ms,
           p.name, ''
    FROM public.operator_keys p
    WHERE p.hash = key_hash AND length(key_hash) = 32
$$;
REVOKE ALL ON FUNCTION bulwark_key_lookup(bytea) FROM PUBLIC;

-- The widget endpoint is public: its key (high-entropy, in a web page) names the agent before
-- any tenant is known. Returns that one agent's widget settings, nothing else.
CREATE FUNCTION bulwark_widget_lookup(public_key text)
RETURNS TABLE (agent_id text, org_id text, org_name text, agent_name text, model text,
               widget_enabled integer, widget_origins text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
    SELECT a.id, a.org_id, o.name, a.name, a.model, a.widget_enabled, a.widget_origins
    FROM public.agents a JOIN public.orgs o ON o.id = a.org_id
    WHERE a.widget_key = public_key AND length(public_key) BETWEEN 40 AND 64
$$;
REVOKE ALL ON FUNCTION bulwark_widget_lookup(text) FROM PUBLIC;

-- The platform operator's list of orgs (ids, names, creation time: no tenant data).
CREATE FUNCTION bulwark_orgs_list()
RETURNS TABLE (id text, name text, created_ms bigint)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
    SELECT o.id, o.name, o.created_ms FROM public.orgs o ORDER BY o.name
$$;
REVOKE ALL ON FUNCTION bulwark_orgs_list() FROM PUBLIC;
