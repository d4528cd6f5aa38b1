-- Migration 2 for PostgreSQL (SQLite's migration 2): spend. `usage` has one row per model call,
-- `org_billing` an org's plan as set by the latest billing event, `billing_events` makes billing
-- webhooks idempotent. Every table with org_id has forced row-level security keyed to the
-- transaction's tenant. Billing events for no known org carry org_id '' and are visible only
-- with no tenant set (the platform's own rows, never a tenant's).

CREATE TABLE bulwark_schema (
    version    integer PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO bulwark_schema (version) VALUES (1), (2);
-- Not tenant data, but under RLS like every table here (a test holds the schema to that):
-- everyone may read the version, only the owner role (BYPASSRLS) may write it.
ALTER TABLE bulwark_schema ENABLE ROW LEVEL SECURITY;
ALTER TABLE bulwark_schema FORCE ROW LEVEL SECURITY;
CREATE POLICY bulwark_schema_read ON bulwark_schema FOR SELECT USING (true);

CREATE TABLE usage (
    id                text PRIMARY KEY,
    org_id            text NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    agent             text NOT NULL DEFAULT '',
    key_id            text NOT NULL DEFAULT '',
    model             text NOT NULL,
    prompt_tokens     bigint NOT NULL CHECK (prompt_tokens >= 0),
    completion_tokens bigint NOT NULL CHECK (completion_tokens >= 0),
    total_tokens      bigint NOT NULL CHECK (total_tokens >= 0),
    cost_micros       bigint NOT NULL CHECK (cost_micros >= 0),
    status            text NOT NULL,
    started_ms        bigint NOT NULL,
    ended_ms          bigint NOT NULL,
    month             integer NOT NULL,
    receipt_id        text NOT NULL DEFAULT ''
);
CREATE INDEX usage_org_time ON usage (org_id, started_ms);
CREATE INDEX usage_month ON usage (month, org_id);

CREATE TABLE org_billing (
    org_id              text PRIMARY KEY REFERENCES orgs(id) ON DELETE CASCADE,
    plan                text NOT NULL,
    monthly_tokens      bigint NOT NULL CHECK (monthly_tokens >= -1),
    monthly_cost_micros bigint NOT NULL CHECK (monthly_cost_micros >= -1),
    event_created       bigint NOT NULL,
    event_id            text NOT NULL,
    updated_ms          bigint NOT NULL
);

CREATE TABLE billing_events (
    event_id    text PRIMARY KEY,
    org_id      text NOT NULL DEFAULT '',
    type        text NOT NULL,
    created     bigint NOT NULL,
    outcome     text NOT NULL CHECK (outcome IN ('applied', 'stale', 'ignored')),
    receipt_id  text NOT NULL DEFAULT '',
    received_ms bigint NOT NULL
);

ALTER TABLE usage ENABLE ROW LEVEL SECURITY;
ALTER TABLE usage FORCE ROW LEVEL SECURITY;
CREATE POLICY usage_tenant ON usage
    USING (org_id = current_setting('app.org_id', true))
    WITH CHECK (org_id = current_setting('app.org_id', true));

ALTER TABLE org_billing ENABLE ROW LEVEL SECURITY;
ALTER TABLE org_billing FORCE ROW LEVEL SECURITY;
CREATE POLICY org_billing_tenant ON org_billing
    USING (org_id = current_setting('app.org_id', true))
    WITH CHECK (org_id = current_setting('app.org_id', true));

ALTER TABLE billing_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE billing_events FORCE ROW LEVEL SECURITY;
CREATE POLICY billing_events_tenant ON billing_events
    USING (org_id = coalesce(current_setting('app.org_id', true), ''))
    WITH CHECK (org_id = coalesce(current_setting('app.org_id', true), ''));

-- Budget restore at start needs every org's month totals before any tenant is known: the one
-- aggregate that crosses tenants, returning sums only.
CREATE FUNCTION bulwark_usage_month_totals(for_month integer)
RETURNS TABLE (org_id text, agent text, tokens bigint, cost_micros bigint)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
    SELECT u.org_id, u.agent, sum(u.total_tokens)::bigint, sum(u.cost_micros)::bigint
    FROM public.usage u WHERE u.month = for_month AND u.agent <> '' GROUP BY u.org_id, u.agent
    UNION ALL
    SELECT u.org_id, '', sum(u.total_tokens)::bigint, sum(u.cost_micros)::bigint
    FROM public.usage u WHERE u.month = for_month GROUP BY u.org_id
$$;
REVOKE ALL ON FUNCTION bulwark_usage_month_totals(integer) FROM PUBLIC;

-- Billing webhooks are idempotent by event id before the event's org is known: the outcome
-- word of a recorded event id, and nothing else.
CREATE FUNCTION bulwark_billing_event_outcome(id text)
RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
    SELECT e.outcome FROM public.billing_events e WHERE e.event_id = id
$$;
REVOKE ALL ON FUNCTION bulwark_billing_event_outcome(text) FROM PUBLIC;
