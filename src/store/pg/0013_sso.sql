-- Migration 13 for PostgreSQL (SQLite's migration 13): per-org OpenID Connect single sign-on
-- (issue 16, docs/CONSOLE.md "Single sign-on (OpenID Connect)"). sso_configs: one row per org,
-- the IdP's issuer and client id, the claim that names a member ('email' or 'sub'), the opt-in
-- for unknown people, and the client secret sealed for (org, row id) (src/vault/seal.h) with
-- its master key id in clear, so a master key rotation re-wraps it like the `secrets` rows.
-- sso_subjects: an IdP subject linked to one member (claim 'sub'); removed with the member.
-- Forced row-level security keyed to app.org_id, like every tenant table.

INSERT INTO bulwark_schema (version) VALUES (13);

CREATE TABLE sso_configs (
    id            text PRIMARY KEY,
    org_id        text NOT NULL UNIQUE REFERENCES orgs(id) ON DELETE CASCADE,
    issuer        text NOT NULL CHECK (length(issuer) BETWEEN 1 AND 511),
    client_id     text NOT NULL CHECK (length(client_id) BETWEEN 1 AND 255),
    claim         text NOT NULL CHECK (claim IN ('email', 'sub')),
    allow_unknown bigint NOT NULL DEFAULT 0 CHECK (allow_unknown IN (0, 1)),
    sealed        bytea NOT NULL CHECK (length(sealed) BETWEEN 126 AND 8317),
    master_id     bytea NOT NULL CHECK (length(master_id) = 8),
    fingerprint   text NOT NULL DEFAULT '',
    updated_by    text NOT NULL DEFAULT '',
    updated_ms    bigint NOT NULL,
    UNIQUE (org_id, id)
);

ALTER TABLE sso_configs ENABLE ROW LEVEL SECURITY;
ALTER TABLE sso_configs FORCE ROW LEVEL SECURITY;
CREATE POLICY sso_configs_tenant ON sso_configs
    USING (org_id = current_setting('app.org_id', true))
    WITH CHECK (org_id = current_setting('app.org_id', true));

CREATE TABLE sso_subjects (
    org_id     text NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    subject    text NOT NULL CHECK (length(subject) BETWEEN 1 AND 255),
    member_id  text NOT NULL UNIQUE REFERENCES members(id) ON DELETE CASCADE,
    created_ms bigint NOT NULL,
    PRIMARY KEY (org_id, subject)
);

ALTER TABLE sso_subjects ENABLE ROW LEVEL SECURITY;
ALTER TABLE sso_subjects FORCE ROW LEVEL SECURITY;
CREATE POLICY sso_subjects_tenant ON sso_subjects
    USING (org_id = current_setting('app.org_id', true))
    WITH CHECK (org_id = current_setting('app.org_id', true));
