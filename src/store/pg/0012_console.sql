-- Migration 12 for PostgreSQL (SQLite's migration 12): console sessions (issue 16,
-- src/console/session.h, docs/CONSOLE.md "Sessions") and the review item's detail.
--
-- console_sessions: one row per signed-in browser, bound to a principal (the key it was made
-- from, or for single sign-on only the member); only the session token's keyed hash is stored.
-- Forced row-level security keyed to app.org_id like every tenant table. The lookup by hash
-- crosses tenants by design (the token is the capability, like bulwark_key_lookup) and goes
-- through the definer function below, which returns the session with its key and member so the
-- gateway re-checks them on every use.
--
-- review_items.detail: what a reviewer needs to decide (model, the tools the held request
-- declares or calls, with their arguments), a JSON object of at most 64 KiB, shown by
-- GET /api/v1/reviews/{id} to the org's reviewers only and never put in receipts.

INSERT INTO bulwark_schema (version) VALUES (12);

CREATE TABLE console_sessions (
    id           text PRIMARY KEY,
    org_id       text NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    hash         bytea NOT NULL UNIQUE CHECK (length(hash) = 32),
    key_id       text NOT NULL DEFAULT '',
    member_id    text NOT NULL CHECK (member_id <> ''),
    via          text NOT NULL CHECK (via IN ('key', 'sso')),
    created_ms   bigint NOT NULL,
    expires_ms   bigint NOT NULL,
    last_seen_ms bigint NOT NULL,
    CHECK ((via = 'key') = (key_id <> '')),
    UNIQUE (org_id, id)
);
CREATE INDEX console_sessions_member ON console_sessions (org_id, member_id);

ALTER TABLE console_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE console_sessions FORCE ROW LEVEL SECURITY;
CREATE POLICY console_sessions_tenant ON console_sessions
    USING (org_id = current_setting('app.org_id', true))
    WITH CHECK (org_id = current_setting('app.org_id', true));

CREATE FUNCTION bulwark_console_session_lookup(session_hash bytea)
RETURNS TABLE (id text, org_id text, key_id text, member_id text, via text, created_ms bigint,
               expires_ms bigint, last_seen_ms bigint, hash bytea, k_id text, k_role text,
               k_agent text, k_name text, k_member_id text, k_created_by text,
               k_rotated_to text, k_created_ms bigint, k_expires_ms bigint,
               k_revoked_ms bigint, org_name text, m_role text, m_email text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
    SELECT s.id, s.org_id, s.key_id, s.member_id, s.via, s.created_ms, s.expires_ms,
           s.last_seen_ms, s.hash, k.id, k.role, k.agent, k.name, k.member_id, k.created_by,
           k.rotated_to, k.created_ms, k.expires_ms, k.revoked_ms, o.name, m.role, m.email
    FROM public.console_sessions s JOIN public.orgs o ON o.id = s.org_id
    LEFT JOIN public.api_keys k ON k.org_id = s.org_id AND k.id = s.key_id AND s.key_id <> ''
    LEFT JOIN public.members m ON m.org_id = s.org_id AND m.id = s.member_id
    WHERE s.hash = session_hash AND length(session_hash) = 32
$$;
REVOKE ALL ON FUNCTION bulwark_console_session_lookup(bytea) FROM PUBLIC;

ALTER TABLE review_items ADD COLUMN detail text NOT NULL DEFAULT ''
    CHECK (length(detail) <= 65536);
