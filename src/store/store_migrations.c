#include "store/store_migrations.h"

/* 001: orgs and API keys. Key hashes are keyed BLAKE2b (see auth.h), unique; names are unique
 * per org where they are tenant data. */
static const char m001_sqlite[] =
    "CREATE TABLE orgs ("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  created_ms INTEGER NOT NULL"
    ");"
    "CREATE TABLE api_keys ("
    "  id TEXT PRIMARY KEY,"
    "  org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,"
    "  role TEXT NOT NULL CHECK (role IN ('owner','admin','reviewer','member','agent')),"
    "  agent TEXT NOT NULL DEFAULT '',"
    "  hash BLOB NOT NULL UNIQUE CHECK (length(hash) = 32),"
    "  created_ms INTEGER NOT NULL,"
    "  expires_ms INTEGER NOT NULL DEFAULT 0,"
    "  revoked_ms INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX api_keys_org ON api_keys(org_id);";

/* 002: spend (issue 6, docs/SPEND.md). `usage` has one row per model call, written at
 * settlement; it is both the metering record and what restores a month's budget spend after a
 * restart (grouped by the reservation's month). `org_billing` is an org's plan as set by the
 * latest billing event (by the provider's `created` time); `billing_events` makes webhooks
 * idempotent: its row is inserted in the same transaction as the event's effect. Limits of -1
 * mean unlimited. */
static const char m002_sqlite[] =
    "CREATE TABLE usage ("
    "  id TEXT PRIMARY KEY,"
    "  org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,"
    "  agent TEXT NOT NULL DEFAULT '',"
    "  key_id TEXT NOT NULL DEFAULT '',"
    "  model TEXT NOT NULL,"
    "  prompt_tokens INTEGER NOT NULL CHECK (prompt_tokens >= 0),"
    "  completion_tokens INTEGER NOT NULL CHECK (completion_tokens >= 0),"
    "  total_tokens INTEGER NOT NULL CHECK (total_tokens >= 0),"
    "  cost_micros INTEGER NOT NULL CHECK (cost_micros >= 0),"
    "  status TEXT NOT NULL,"
    "  started_ms INTEGER NOT NULL,"
    "  ended_ms INTEGER NOT NULL,"
    "  month INTEGER NOT NULL,"
    "  receipt_id TEXT NOT NULL DEFAULT ''"
    ");"
    "CREATE INDEX usage_org_time ON usage(org_id, started_ms);"
    "CREATE INDEX usage_month ON usage(month, org_id);"
    "CREATE TABLE org_billing ("
    "  org_id TEXT PRIMARY KEY REFERENCES orgs(id) ON DELETE CASCADE,"
    "  plan TEXT NOT NULL,"
    "  monthly_tokens INTEGER NOT NULL CHECK (monthly_tokens >= -1),"
    "  monthly_cost_micros INTEGER NOT NULL CHECK (monthly_cost_micros >= -1),"
    "  event_created INTEGER NOT NULL,"
    "  event_id TEXT NOT NULL,"
    "  updated_ms INTEGER NOT NULL"
    ");"
    "CREATE TABLE billing_events ("
    "  event_id TEXT PRIMARY KEY,"
    "  org_id TEXT NOT NULL DEFAULT '',"
    "  type TEXT NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  outcome TEXT NOT NULL CHECK (outcome IN ('applied','stale','ignored')),"
    "  receipt_id TEXT NOT NULL DEFAULT '',"
    "  received_ms INTEGER NOT NULL"
    ");";

/* 003: identity and access (issue 4, docs/ACCESS.md). Keys gain a name, the member they belong
 * to, who made them, when they were last used and what replaced them on rotation (the old key's
 * expires_ms then ends its grace period); a usage row says whether its tokens were counted by
 * the gateway (the upstream reported none). Operator keys belong to no org. Members are the people
 * of an org, each with a role; agents are named per org with an optional public widget key
 * (NULL until the widget is first enabled); transcripts hold widget conversations; plans are
 * the confirm tokens of destructive actions (only the token's hash is stored); org_policies an
 * org's own policy rules (docs/POLICY.md, exact bytes and their SHA-256). Composite
 * foreign keys (org_id, id) keep a child row in its parent's org. */
static const char m003_sqlite[] =
    "ALTER TABLE api_keys ADD COLUMN name TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE api_keys ADD COLUMN member_id TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE api_keys ADD COLUMN created_by TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE api_keys ADD COLUMN last_used_ms INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE api_keys ADD COLUMN rotated_to TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE usage ADD COLUMN estimated INTEGER NOT NULL DEFAULT 0"
    "  CHECK (estimated IN (0, 1));"
    "CREATE TABLE operator_keys ("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL DEFAULT '',"
    "  hash BLOB NOT NULL UNIQUE CHECK (length(hash) = 32),"
    "  created_ms INTEGER NOT NULL,"
    "  expires_ms INTEGER NOT NULL DEFAULT 0,"
    "  revoked_ms INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE TABLE members ("
    "  id TEXT PRIMARY KEY,"
    "  org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,"
    "  email TEXT NOT NULL,"
    "  role TEXT NOT NULL CHECK (role IN ('owner','admin','reviewer','member')),"
    "  created_ms INTEGER NOT NULL,"
    "  UNIQUE (org_id, email)"
    ");"
    "CREATE TABLE agents ("
    "  id TEXT PRIMARY KEY,"
    "  org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  description TEXT NOT NULL DEFAULT '',"
    "  model TEXT NOT NULL DEFAULT '',"
    "  widget_enabled INTEGER NOT NULL DEFAULT 0 CHECK (widget_enabled IN (0, 1)),"
    "  widget_key TEXT UNIQUE,"
    "  widget_origins TEXT NOT NULL DEFAULT '',"
    "  created_ms INTEGER NOT NULL,"
    "  UNIQUE (org_id, name),"
    "  UNIQUE (org_id, id)"
    ");"
    "CREATE TABLE transcripts ("
    "  id TEXT PRIMARY KEY,"
    "  org_id TEXT NOT NULL,"
    "  agent_id TEXT NOT NULL,"
    "  conversation TEXT NOT NULL,"
    "  role TEXT NOT NULL CHECK (role IN ('user','assistant')),"
    "  content TEXT NOT NULL,"
    "  receipt_id TEXT NOT NULL DEFAULT '',"
    "  created_ms INTEGER NOT NULL,"
    "  FOREIGN KEY (org_id, agent_id) REFERENCES agents(org_id, id) ON DELETE CASCADE"
    ");"
    "CREATE INDEX transcripts_org ON transcripts(org_id, created_ms);"
    "CREATE TABLE plans ("
    "  id TEXT PRIMARY KEY,"
    "  org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,"
    "  action TEXT NOT NULL,"
    "  target TEXT NOT NULL,"
    "  plan_sha256 BLOB NOT NULL CHECK (length(plan_sha256) = 32),"
    "  token_hash BLOB NOT NULL CHECK (length(token_hash) = 32),"
    "  created_by TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  expires_ms INTEGER NOT NULL,"
    "  used_ms INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE TABLE org_policies ("
    "  org_id TEXT PRIMARY KEY REFERENCES orgs(id) ON DELETE CASCADE,"
    "  text TEXT NOT NULL,"
    "  sha256 BLOB NOT NULL CHECK (length(sha256) = 32),"
    "  updated_ms INTEGER NOT NULL,"
    "  updated_by TEXT NOT NULL"
    ");";

const struct bw_migration bw_store_migrations[] = {
    {1, m001_sqlite},
    {2, m002_sqlite},
    {3, m003_sqlite},
};
const size_t bw_store_n_migrations = sizeof bw_store_migrations / sizeof bw_store_migrations[0];
