-- Migration 6 for PostgreSQL (SQLite's migration 6): the vault and connections (issue 5;
-- docs/SECURITY.md, docs/API.md "Connections"). Numbers 4 and 5 belong to other migrations.
--   secrets      sealed records (src/vault/seal.h); the row's id and org are the record's
--                associated data, so a record moved to another row or org does not open. The
--                runtime API never returns `sealed`; only a fingerprint (at most 4 characters).
--   connections  an org's verified destinations and tokens, each pointing at its secret.
--   outbox       the durable delivery queue: one row per (event, connection); the primary key
--                makes a second enqueue of the same event a no-op.
-- Every table has forced row-level security keyed to app.org_id; uniqueness is per org; composite
-- foreign keys keep children in their parent's org.

INSERT INTO bulwark_schema (version) VALUES (6);

CREATE TABLE secrets (
    id           text PRIMARY KEY,
    org_id       text NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    kind         text NOT NULL
                 CHECK (kind IN ('slack', 'discord', 'webhook', 'github', 'notion', 'provider')),
    name         text NOT NULL,
    sealed       bytea NOT NULL CHECK (length(sealed) BETWEEN 126 AND 8317),
    master_id    bytea NOT NULL CHECK (length(master_id) = 8),
    fingerprint  text NOT NULL DEFAULT '',
    created_ms   bigint NOT NULL,
    updated_ms   bigint NOT NULL,
    last_used_ms bigint NOT NULL DEFAULT 0,
    UNIQUE (org_id, id)
);

-- BYOK: at most one upstream provider key per org.
CREATE UNIQUE INDEX secrets_one_provider ON secrets (org_id) WHERE kind = 'provider';

CREATE TABLE connections (
    id            text PRIMARY KEY,
    org_id        text NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    kind          text NOT NULL CHECK (kind IN ('slack', 'discord', 'webhook', 'github', 'notion')),
    name          text NOT NULL,
    url           text NOT NULL DEFAULT '',
    secret_id     text NOT NULL,
    status        text NOT NULL CHECK (status IN ('healthy', 'unhealthy')),
    status_reason text NOT NULL DEFAULT '',
    verified_ms   bigint NOT NULL DEFAULT 0,
    created_ms    bigint NOT NULL,
    UNIQUE (org_id, name),
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, secret_id) REFERENCES secrets (org_id, id)
);

CREATE TABLE outbox (
    org_id          text NOT NULL,
    connection_id   text NOT NULL,
    event_id        text NOT NULL,
    event_type      text NOT NULL,
    text            text NOT NULL DEFAULT '',
    payload         text NOT NULL,
    event_ms        bigint NOT NULL,
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_ms bigint NOT NULL,
    state           text NOT NULL CHECK (state IN ('pending', 'delivered', 'failed', 'dead')),
    last_error      text NOT NULL DEFAULT '',
    delivered_ms    bigint NOT NULL DEFAULT 0,
    created_ms      bigint NOT NULL,
    PRIMARY KEY (org_id, connection_id, event_id),
    FOREIGN KEY (org_id, connection_id) REFERENCES connections (org_id, id) ON DELETE CASCADE
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_ms);

ALTER TABLE secrets ENABLE ROW LEVEL SECURITY;
ALTER TABLE secrets FORCE ROW LEVEL SECURITY;
CREATE POLICY secrets_tenant ON secrets
    USING (org_id = current_setting('app.org_id', true))
    WITH CHECK (org_id = current_setting('app.org_id', true));
ALTER TABLE connections ENABLE ROW LEVEL SECURITY;
ALTER TABLE connections FORCE ROW LEVEL SECURITY;
CREATE POLICY connections_tenant ON connections
    USING (org_id = current_setting('app.org_id', true))
    WITH CHECK (org_id = current_setting('app.org_id', true));
ALTER TABLE outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE outbox FORCE ROW LEVEL SECURITY;
CREATE POLICY outbox_tenant ON outbox
    USING (org_id = current_setting('app.org_id', true))
    WITH CHECK (org_id = current_setting('app.org_id', true));

-- The outbox thread serves every org but reads and writes each org's rows under that org's
-- tenant. To know which orgs to visit it gets only their ids: orgs with a row due now.
CREATE FUNCTION bulwark_outbox_due_orgs(now_ms bigint)
RETURNS TABLE (org_id text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
    SELECT DISTINCT o.org_id FROM public.outbox o
    WHERE o.state IN ('pending', 'failed') AND o.next_attempt_ms <= now_ms
    ORDER BY o.org_id LIMIT 1000
$$;
REVOKE ALL ON FUNCTION bulwark_outbox_due_orgs(bigint) FROM PUBLIC;
