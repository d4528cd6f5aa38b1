-- Migration 8 for PostgreSQL (SQLite's migration 8): policy texts for evidence packs
-- (docs/EVIDENCE.md 9.2). Every policy text a receipt may name, by SHA-256, never deleted: the
-- platform policy file and the texts that stand for the config when there is none (org_id ''),
-- and every org policy version (org_id: that org). No foreign key to orgs: deleting an org or
-- replacing its policy must not make its older receipts unprovable.
--
-- RLS: a tenant sees and writes its own texts and the platform's (org_id ''), which every
-- tenant may see (docs/POLICY.md: the platform policy is shown to org admins). A transaction
-- without a tenant sees the platform's only.

INSERT INTO bulwark_schema (version) VALUES (8);

CREATE TABLE policy_texts (
    org_id     text NOT NULL,
    sha256     bytea NOT NULL CHECK (length(sha256) = 32),
    text       text NOT NULL,
    created_ms bigint NOT NULL,
    PRIMARY KEY (org_id, sha256)
);
ALTER TABLE policy_texts ENABLE ROW LEVEL SECURITY;
ALTER TABLE policy_texts FORCE ROW LEVEL SECURITY;
CREATE POLICY policy_texts_tenant ON policy_texts
    USING (org_id = current_setting('app.org_id', true) OR org_id = '')
    WITH CHECK (org_id = current_setting('app.org_id', true) OR org_id = '');

INSERT INTO policy_texts (org_id, sha256, text, created_ms)
    SELECT org_id, sha256, text, updated_ms FROM org_policies;
