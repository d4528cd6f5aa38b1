-- Migration 10 for PostgreSQL (SQLite's migration 10): MCP tool pins (issue 14; docs/MCP.md
-- "Tool pinning"). One row per (org, server, tool): the pinned definition's SHA-256 and
-- canonical text (RFC 8785), and, while the tool waits for an admin (a changed definition, or
-- a first sight under mcp.pin: approve), the pending one. A text over 64 KiB is kept as ''.
-- Forced row-level security keyed to app.org_id, like every tenant table.

INSERT INTO bulwark_schema (version) VALUES (10);

CREATE TABLE mcp_pins (
    org_id         text NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    server         text NOT NULL CHECK (length(server) BETWEEN 1 AND 64),
    tool           text NOT NULL CHECK (length(tool) BETWEEN 1 AND 128),
    state          text NOT NULL CHECK (state IN ('pinned', 'changed', 'pending')),
    pinned_sha256  bytea CHECK (pinned_sha256 IS NULL OR length(pinned_sha256) = 32),
    pinned_def     text NOT NULL DEFAULT '',
    pending_sha256 bytea CHECK (pending_sha256 IS NULL OR length(pending_sha256) = 32),
    pending_def    text NOT NULL DEFAULT '',
    first_seen_ms  bigint NOT NULL,
    last_seen_ms   bigint NOT NULL,
    changed_ms     bigint NOT NULL DEFAULT 0,
    approved_ms    bigint NOT NULL DEFAULT 0,
    approved_by    text NOT NULL DEFAULT '',
    PRIMARY KEY (org_id, server, tool),
    CHECK ((state = 'pinned') = (pending_sha256 IS NULL)),
    CHECK (state = 'pending' OR pinned_sha256 IS NOT NULL)
);

ALTER TABLE mcp_pins ENABLE ROW LEVEL SECURITY;
ALTER TABLE mcp_pins FORCE ROW LEVEL SECURITY;
CREATE POLICY mcp_pins_tenant ON mcp_pins
    USING (org_id = current_setting('app.org_id', true))
    WITH CHECK (org_id = current_setting('app.org_id', true));
