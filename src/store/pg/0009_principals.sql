-- Migration 9 for PostgreSQL (SQLite's migration 9): accountable principals and the operator
-- key lifecycle (docs/ACCESS.md "Principals" and "Operator keys").
--
-- api_keys.member_id becomes the key's principal, fixed at creation: a member id, or
-- 'operator' for an org key the operator made on the host without naming a member. Existing
-- keys are assigned in this order: a key bound to a member keeps it; a key made by a key of
-- the same org that has a member gets that member (three passes follow short chains); every
-- key still unassigned goes to the org's oldest owner member, created (owner@legacy.invalid)
-- where the org has none. Keys nobody can attribute thus become ONE person: fail closed.
--
-- Operator keys stay in their own table that no tenant can see (policy always false). The
-- runtime role reaches them only through the definer functions below, each doing one thing;
-- the API calls them only for an authenticated operator key (src/api/api_operator_keys.c).

INSERT INTO bulwark_schema (version) VALUES (9);

ALTER TABLE operator_keys ADD COLUMN created_by text NOT NULL DEFAULT '';
ALTER TABLE operator_keys ADD COLUMN rotated_to text NOT NULL DEFAULT '';
ALTER TABLE operator_keys ADD COLUMN last_used_ms bigint NOT NULL DEFAULT 0;

DO $$
BEGIN
    FOR i IN 1..3 LOOP
        UPDATE api_keys k SET member_id = c.member_id
        FROM api_keys c
        WHERE k.member_id = '' AND k.created_by <> '' AND c.org_id = k.org_id
          AND c.id = k.created_by AND c.member_id <> '';
    END LOOP;
END
$$;

INSERT INTO members (id, org_id, email, role, created_ms)
SELECT 'mem_' || substr(md5(random()::text || clock_timestamp()::text || o.id), 1, 16), o.id,
       'owner@legacy.invalid', 'owner', (extract(epoch FROM now()) * 1000)::bigint
FROM orgs o
WHERE EXISTS (SELECT 1 FROM api_keys k WHERE k.org_id = o.id AND k.member_id = '')
  AND NOT EXISTS (SELECT 1 FROM members m WHERE m.org_id = o.id AND m.role = 'owner');

UPDATE api_keys k SET member_id = (
    SELECT m.id FROM members m WHERE m.org_id = k.org_id AND m.role = 'owner'
    ORDER BY m.created_ms, m.id LIMIT 1)
WHERE k.member_id = '';

ALTER TABLE api_keys ADD CONSTRAINT api_keys_principal CHECK (member_id <> '');

-- Open reviews name their requester's principal too, so four eyes holds across the upgrade (a
-- widget's call, 'widget:...', has no key row and keeps none). Old votes are left as they are:
-- giving them principals could collide in review_votes_member.
UPDATE review_items r SET requester_member = k.member_id
FROM api_keys k WHERE r.requester_member = '' AND k.org_id = r.org_id AND k.id = r.requester_key;
CREATE INDEX api_keys_principal_idx ON api_keys (org_id, member_id);

CREATE FUNCTION bulwark_operator_keys_list(include_revoked integer)
RETURNS TABLE (id text, name text, created_by text, rotated_to text, created_ms bigint,
               expires_ms bigint, revoked_ms bigint, last_used_ms bigint)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
    SELECT p.id, p.name, p.created_by, p.rotated_to, p.created_ms, p.expires_ms, p.revoked_ms,
           p.last_used_ms
    FROM public.operator_keys p WHERE include_revoked = 1 OR p.revoked_ms = 0
    ORDER BY p.created_ms DESC, p.id LIMIT 1000
$$;
REVOKE ALL ON FUNCTION bulwark_operator_keys_list(integer) FROM PUBLIC;

CREATE FUNCTION bulwark_operator_key_get(key_id text)
RETURNS TABLE (id text, name text, created_by text, rotated_to text, created_ms bigint,
               expires_ms bigint, revoked_ms bigint, last_used_ms bigint)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
    SELECT p.id, p.name, p.created_by, p.rotated_to, p.created_ms, p.expires_ms, p.revoked_ms,
           p.last_used_ms
    FROM public.operator_keys p WHERE p.id = key_id
$$;
REVOKE ALL ON FUNCTION bulwark_operator_key_get(text) FROM PUBLIC;

CREATE FUNCTION bulwark_operator_key_insert(key_id text, key_name text, key_hash bytea,
                                            key_created_ms bigint, key_expires_ms bigint,
                                            key_created_by text)
RETURNS integer
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
    WITH ins AS (
        INSERT INTO public.operator_keys (id, name, hash, created_ms, expires_ms, created_by)
        VALUES (key_id, key_name, key_hash, key_created_ms, key_expires_ms, key_created_by)
        RETURNING 1
    )
    SELECT count(*)::integer FROM ins
$$;
REVOKE ALL ON FUNCTION bulwark_operator_key_insert(text, text, bytea, bigint, bigint, text)
    FROM PUBLIC;

-- Revokes an active key: 1 if done, 0 if no such unrevoked key, -1 if keep_one is set and it
-- is the last live operator key (the table is locked so two concurrent revocations of the last
-- two keys cannot both succeed).
CREATE FUNCTION bulwark_operator_key_revoke(key_id text, now_ms bigint, keep_one integer)
RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    others integer;
    n integer;
BEGIN
    LOCK TABLE public.operator_keys IN SHARE ROW EXCLUSIVE MODE;
    IF keep_one <> 0 THEN
        SELECT count(*) INTO others FROM public.operator_keys p
        WHERE p.id <> key_id AND p.revoked_ms = 0 AND (p.expires_ms = 0 OR p.expires_ms > now_ms);
        IF others = 0 THEN
            RETURN -1;
        END IF;
    END IF;
    UPDATE public.operator_keys p SET revoked_ms = now_ms
    WHERE p.id = key_id AND p.revoked_ms = 0;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
REVOKE ALL ON FUNCTION bulwark_operator_key_revoke(text, bigint, integer) FROM PUBLIC;

-- Ends the old key's life at grace_until (if it is live and never rotated) and inserts its
-- successor, atomically: 1 if done, 0 if the old key is not live or was already rotated.
CREATE FUNCTION bulwark_operator_key_rotate(old_id text, new_id text, key_name text,
                                            key_hash bytea, key_created_ms bigint,
                                            key_expires_ms bigint, key_created_by text,
                                            grace_until bigint, now_ms bigint)
RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    n integer;
BEGIN
    UPDATE public.operator_keys p SET rotated_to = new_id,
        expires_ms = CASE WHEN p.expires_ms = 0 OR p.expires_ms > grace_until THEN grace_until
                     ELSE p.expires_ms END
    WHERE p.id = old_id AND p.revoked_ms = 0 AND p.rotated_to = ''
      AND (p.expires_ms = 0 OR p.expires_ms > now_ms);
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n <> 1 THEN
        RETURN 0;
    END IF;
    INSERT INTO public.operator_keys (id, name, hash, created_ms, expires_ms, created_by)
    VALUES (new_id, key_name, key_hash, key_created_ms, key_expires_ms, key_created_by);
    RETURN 1;
END
$$;
REVOKE ALL ON FUNCTION bulwark_operator_key_rotate(text, text, text, bytea, bigint, bigint, text,
                                                   bigint, bigint) FROM PUBLIC;

CREATE FUNCTION bulwark_operator_key_touch(key_id text, now_ms bigint)
RETURNS integer
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
    WITH upd AS (
        UPDATE public.operator_keys p SET last_used_ms = now_ms
        WHERE p.id = key_id AND p.last_used_ms < now_ms RETURNING 1
    )
    SELECT count(*)::integer FROM upd
$$;
REVOKE ALL ON FUNCTION bulwark_operator_key_touch(text, bigint) FROM PUBLIC;
