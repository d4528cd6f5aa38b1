-- Migration 7 for PostgreSQL (SQLite's migration 7): platform secrets (docs/SECURITY.md
-- "Master key rotation"). A platform secret is a sealed record (src/vault/seal.h) that belongs
-- to no org; the first is the API-key hash pepper (id 'pepper'), kept here sealed so that it
-- survives a master key rotation (it used to be derived from the master key).
--
-- RLS reasoning. `secrets` is tenant data (org_id, forced RLS keyed to app.org_id); a platform
-- secret has no tenant, and a row with org_id '' in `secrets` would be visible to any
-- transaction that sets no tenant. So it gets its own table, with forced RLS and a policy that
-- is always false: the runtime role (no BYPASSRLS) can neither read nor write it directly, with
-- or without a tenant set. The gateway reaches it only through the definer functions below,
-- each of which does one narrow thing:
--   bulwark_platform_secret_get(id)          one sealed record (ciphertext: opening it needs
--                                            the master key, which never enters the database)
--   bulwark_platform_secrets_list()          ids and master key ids (for a rotation)
--   bulwark_platform_secret_create(...)      insert if absent (first start; replicas racing to
--                                            create it agree: the first insert wins, all re-read)
--   bulwark_platform_secret_swap(...)        compare-and-swap: replaces the record only if it is
--                                            still byte-for-byte the one the caller read (a
--                                            rotation's re-wrap; never a blind overwrite)
-- A runtime role that is abused can at worst replace the record with garbage it cannot seal
-- (gateways then refuse to start: fail closed); it cannot learn the pepper.

INSERT INTO bulwark_schema (version) VALUES (7);

CREATE TABLE platform_secrets (
    id         text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 32),
    sealed     bytea NOT NULL CHECK (length(sealed) BETWEEN 126 AND 8317),
    master_id  bytea NOT NULL CHECK (length(master_id) = 8),
    created_ms bigint NOT NULL,
    updated_ms bigint NOT NULL
);
ALTER TABLE platform_secrets ENABLE ROW LEVEL SECURITY;
ALTER TABLE platform_secrets FORCE ROW LEVEL SECURITY;
CREATE POLICY platform_secrets_none ON platform_secrets USING (false) WITH CHECK (false);

-- A rotation looks, org by org, for the records not yet wrapped by the new key.
CREATE INDEX secrets_master ON secrets (org_id, master_id, id);

CREATE FUNCTION bulwark_platform_secret_get(secret_id text)
RETURNS TABLE (id text, sealed bytea, master_id bytea)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
    SELECT p.id, p.sealed, p.master_id FROM public.platform_secrets p WHERE p.id = secret_id
$$;
REVOKE ALL ON FUNCTION bulwark_platform_secret_get(text) FROM PUBLIC;

CREATE FUNCTION bulwark_platform_secrets_list()
RETURNS TABLE (id text, master_id bytea)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
    SELECT p.id, p.master_id FROM public.platform_secrets p ORDER BY p.id LIMIT 1000
$$;
REVOKE ALL ON FUNCTION bulwark_platform_secrets_list() FROM PUBLIC;

CREATE FUNCTION bulwark_platform_secret_create(secret_id text, new_sealed bytea,
                                               new_master_id bytea, now_ms bigint)
RETURNS integer
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
    WITH ins AS (
        INSERT INTO public.platform_secrets (id, sealed, master_id, created_ms, updated_ms)
        VALUES (secret_id, new_sealed, new_master_id, now_ms, now_ms)
        ON CONFLICT (id) DO NOTHING RETURNING 1
    )
    SELECT count(*)::integer FROM ins
$$;
REVOKE ALL ON FUNCTION bulwark_platform_secret_create(text, bytea, bytea, bigint) FROM PUBLIC;

CREATE FUNCTION bulwark_platform_secret_swap(secret_id text, old_sealed bytea, new_sealed bytea,
                                             new_master_id bytea, now_ms bigint)
RETURNS integer
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
    WITH upd AS (
        UPDATE public.platform_secrets p
        SET sealed = new_sealed, master_id = new_master_id, updated_ms = now_ms
        WHERE p.id = secret_id AND p.sealed = old_sealed
        RETURNING 1
    )
    SELECT count(*)::integer FROM upd
$$;
REVOKE ALL ON FUNCTION bulwark_platform_secret_swap(text, bytea, bytea, bytea, bigint) FROM PUBLIC;
