-- Migration 11 for PostgreSQL (SQLite's migration 11): per-org MCP servers (issue 14,
-- docs/MCP.md "Per-org servers"). One row per (org, name): the URL as checked by the egress
-- guard at save, and optionally the upstream credential sealed for (org, row id)
-- (src/vault/seal.h) with its master key id in clear, so a master key rotation re-wraps it like
-- the `secrets` rows. Sealed and master_id are both NULL or both set; only a fingerprint is ever
-- shown. Forced row-level security keyed to app.org_id, like every tenant table.

INSERT INTO bulwark_schema (version) VALUES (11);

CREATE TABLE mcp_servers (
    id          text PRIMARY KEY,
    org_id      text NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 63),
    url         text NOT NULL CHECK (length(url) BETWEEN 1 AND 2047),
    sealed      bytea CHECK (sealed IS NULL OR length(sealed) BETWEEN 126 AND 8317),
    master_id   bytea CHECK (master_id IS NULL OR length(master_id) = 8),
    fingerprint text NOT NULL DEFAULT '',
    created_by  text NOT NULL DEFAULT '',
    created_ms  bigint NOT NULL,
    CHECK ((sealed IS NULL) = (master_id IS NULL)),
    UNIQUE (org_id, name),
    UNIQUE (org_id, id)
);

ALTER TABLE mcp_servers ENABLE ROW LEVEL SECURITY;
ALTER TABLE mcp_servers FORCE ROW LEVEL SECURITY;
CREATE POLICY mcp_servers_tenant ON mcp_servers
    USING (org_id = current_setting('app.org_id', true))
    WITH CHECK (org_id = current_setting('app.org_id', true));
