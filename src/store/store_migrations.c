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
 * the confirm tokens of destructive actions (only the token's hash is stored); org_policies every
 * version of an org's own policy (docs/POLICY.md, exact bytes by SHA-256; at most one active),
 * kept so that evidence packs can include the policy any receipt names. Composite
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
    "  used_ms INTEGER NOT NULL DEFAULT 0,"
    "  review_id TEXT NOT NULL DEFAULT ''"
    ");"
    "CREATE TABLE org_policies ("
    "  org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,"
    "  sha256 BLOB NOT NULL CHECK (length(sha256) = 32),"
    "  text TEXT NOT NULL,"
    "  updated_ms INTEGER NOT NULL,"
    "  updated_by TEXT NOT NULL,"
    "  active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),"
    "  PRIMARY KEY (org_id, sha256)"
    ");"
    "CREATE UNIQUE INDEX org_policies_active ON org_policies(org_id) WHERE active = 1;";

/* 004: the review queue (issue 3, src/review/review.h). One row per review item, bound to the
 * request it gates (request hash, org, agent, requester key and member, route, model, rule);
 * status moves only by conditional UPDATEs (store_review.c). One row per vote: a key votes at
 * most once per item, and so does a member (partial unique index), which is what makes a
 * quorum of N mean N distinct people where keys belong to members. */
static const char m004_sqlite[] =
    "CREATE TABLE review_items ("
    "  id TEXT PRIMARY KEY,"
    "  org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,"
    "  agent TEXT NOT NULL DEFAULT '',"
    "  requester_key TEXT NOT NULL,"
    "  requester_member TEXT NOT NULL DEFAULT '',"
    "  route TEXT NOT NULL,"
    "  model TEXT NOT NULL DEFAULT '',"
    "  rule TEXT NOT NULL DEFAULT '',"
    "  reviewer_role TEXT NOT NULL,"
    "  request_sha256 BLOB NOT NULL CHECK (length(request_sha256) = 32),"
    "  quorum INTEGER NOT NULL CHECK (quorum BETWEEN 1 AND 16),"
    "  approvals INTEGER NOT NULL DEFAULT 0 CHECK (approvals >= 0),"
    "  status TEXT NOT NULL CHECK (status IN ('pending','approved','denied','expired','used')),"
    "  created_ms INTEGER NOT NULL,"
    "  expires_ms INTEGER NOT NULL,"
    "  decided_ms INTEGER NOT NULL DEFAULT 0,"
    "  used_ms INTEGER NOT NULL DEFAULT 0,"
    "  decision_receipt TEXT NOT NULL DEFAULT '',"
    "  UNIQUE (org_id, id)"
    ");"
    "CREATE INDEX review_items_org_status ON review_items(org_id, status, created_ms);"
    "CREATE TABLE review_votes ("
    "  org_id TEXT NOT NULL,"
    "  review_id TEXT NOT NULL,"
    "  key_id TEXT NOT NULL,"
    "  member_id TEXT NOT NULL DEFAULT '',"
    "  vote TEXT NOT NULL CHECK (vote IN ('approve','deny')),"
    "  comment TEXT NOT NULL DEFAULT '',"
    "  receipt_id TEXT NOT NULL DEFAULT '',"
    "  created_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (org_id, review_id, key_id),"
    "  FOREIGN KEY (org_id, review_id) REFERENCES review_items(org_id, id) ON DELETE CASCADE"
    ");"
    "CREATE UNIQUE INDEX review_votes_member ON review_votes(org_id, review_id, member_id)"
    "  WHERE member_id <> '';";
/* 005: budget and rate leases for several replicas on one PostgreSQL (docs/SPEND.md, "Several
 * replicas"). budget_pools: per (org, agent, month) how much of the budget all replicas together
 * have been granted (a conditional UPDATE never grants past the limit); last_grant_* hold the size
 * of the latest grant so one statement can return it. budget_leases: what each replica (its log
 * key id) and process incarnation took and gave back; an incarnation that crashed is marked
 * 'lost' at the replica's next start and its lease is never spent again. rate_buckets: shared
 * token buckets (level in 1/60,000 token, so a rate of R per minute refills R units per ms),
 * leased in chunks. SQLite (one process) never uses them; they exist so the version numbers and
 * the statements stay the same on both backends. */
static const char m005_sqlite[] =
    "CREATE TABLE budget_pools ("
    "  org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,"
    "  agent TEXT NOT NULL DEFAULT '',"
    "  month INTEGER NOT NULL,"
    "  granted_tokens INTEGER NOT NULL CHECK (granted_tokens >= 0),"
    "  granted_cost INTEGER NOT NULL CHECK (granted_cost >= 0),"
    "  last_grant_tokens INTEGER NOT NULL DEFAULT 0,"
    "  last_grant_cost INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (org_id, agent, month)"
    ");"
    "CREATE TABLE budget_leases ("
    "  org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,"
    "  agent TEXT NOT NULL DEFAULT '',"
    "  month INTEGER NOT NULL,"
    "  replica TEXT NOT NULL,"
    "  incarnation INTEGER NOT NULL,"
    "  granted_tokens INTEGER NOT NULL DEFAULT 0,"
    "  granted_cost INTEGER NOT NULL DEFAULT 0,"
    "  returned_tokens INTEGER NOT NULL DEFAULT 0,"
    "  returned_cost INTEGER NOT NULL DEFAULT 0,"
    "  state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open','returned','lost')),"
    "  updated_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (org_id, agent, month, replica, incarnation)"
    ");"
    "CREATE TABLE rate_buckets ("
    "  org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,"
    "  bucket TEXT NOT NULL,"
    "  level INTEGER NOT NULL CHECK (level >= 0),"
    "  last_ms INTEGER NOT NULL,"
    "  last_grant INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (org_id, bucket)"
    ");";

/* 006: the vault and connections (issue 5, docs/SECURITY.md, docs/API.md "Connections").
 * `secrets` holds sealed records (src/vault/seal.h): the row's id and org are the record's
 * associated data, so a record copied to another row or org does not open; the master key id
 * is kept in clear so a rotation can find what it has not re-wrapped. Only a fingerprint (at
 * most the last 4 characters) is ever shown. `connections` are the org's verified destinations
 * and tokens, each pointing at its secret; `outbox` is the durable delivery queue: one row per
 * (event, connection), its primary key making a second enqueue of the same event a no-op. An
 * org has at most one `provider` secret: its own upstream key (BYOK).
 * Composite foreign keys (org_id, id) keep children in their parent's org. Numbers 4 and 5 are
 * other branches' migrations. */
static const char m006_sqlite[] =
    "CREATE TABLE secrets ("
    "  id TEXT PRIMARY KEY,"
    "  org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,"
    "  kind TEXT NOT NULL"
    "    CHECK (kind IN ('slack','discord','webhook','github','notion','provider')),"
    "  name TEXT NOT NULL,"
    "  sealed BLOB NOT NULL CHECK (length(sealed) BETWEEN 126 AND 8317),"
    "  master_id BLOB NOT NULL CHECK (length(master_id) = 8),"
    "  fingerprint TEXT NOT NULL DEFAULT '',"
    "  created_ms INTEGER NOT NULL,"
    "  updated_ms INTEGER NOT NULL,"
    "  last_used_ms INTEGER NOT NULL DEFAULT 0,"
    "  UNIQUE (org_id, id)"
    ");"
    "CREATE UNIQUE INDEX secrets_one_provider ON secrets(org_id) WHERE kind = 'provider';"
    "CREATE TABLE connections ("
    "  id TEXT PRIMARY KEY,"
    "  org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,"
    "  kind TEXT NOT NULL CHECK (kind IN ('slack','discord','webhook','github','notion')),"
    "  name TEXT NOT NULL,"
    "  url TEXT NOT NULL DEFAULT '',"
    "  secret_id TEXT NOT NULL,"
    "  status TEXT NOT NULL CHECK (status IN ('healthy','unhealthy')),"
    "  status_reason TEXT NOT NULL DEFAULT '',"
    "  verified_ms INTEGER NOT NULL DEFAULT 0,"
    "  created_ms INTEGER NOT NULL,"
    "  UNIQUE (org_id, name),"
    "  UNIQUE (org_id, id),"
    "  FOREIGN KEY (org_id, secret_id) REFERENCES secrets(org_id, id)"
    ");"
    "CREATE TABLE outbox ("
    "  org_id TEXT NOT NULL,"
    "  connection_id TEXT NOT NULL,"
    "  event_id TEXT NOT NULL,"
    "  event_type TEXT NOT NULL,"
    "  text TEXT NOT NULL DEFAULT '',"
    "  payload TEXT NOT NULL,"
    "  event_ms INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),"
    "  next_attempt_ms INTEGER NOT NULL,"
    "  state TEXT NOT NULL CHECK (state IN ('pending','delivered','failed','dead')),"
    "  last_error TEXT NOT NULL DEFAULT '',"
    "  delivered_ms INTEGER NOT NULL DEFAULT 0,"
    "  created_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (org_id, connection_id, event_id),"
    "  FOREIGN KEY (org_id, connection_id) REFERENCES connections(org_id, id) ON DELETE CASCADE"
    ");"
    "CREATE INDEX outbox_due ON outbox(state, next_attempt_ms);";

/* 007: platform secrets (docs/SECURITY.md "Master key rotation"): sealed records that belong to
 * no org, first of all the API-key hash pepper (id 'pepper'), sealed for (org "platform",
 * record id) so it survives master key rotation. No org_id column: on PostgreSQL no tenant can
 * see the table (a policy that is always false) and the runtime role reaches it only through
 * four narrow definer functions (src/store/pg/0007_platform_secrets.sql). Also an index that
 * lets a rotation find the records still wrapped by an old key. */
static const char m007_sqlite[] =
    "CREATE TABLE platform_secrets ("
    "  id TEXT PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 32),"
    "  sealed BLOB NOT NULL CHECK (length(sealed) BETWEEN 126 AND 8317),"
    "  master_id BLOB NOT NULL CHECK (length(master_id) = 8),"
    "  created_ms INTEGER NOT NULL,"
    "  updated_ms INTEGER NOT NULL"
    ");"
    "CREATE INDEX secrets_master ON secrets(org_id, master_id, id);";

/* 008: policy texts for evidence (docs/EVIDENCE.md 9.2): every policy text a receipt may name,
 * by SHA-256, never deleted: the platform policy file and the texts that stand for the config
 * when there is none (org_id ''), and every org policy version (org_id: that org; no foreign
 * key, so deleting the org or replacing its policy leaves older receipts provable). The
 * stored org policy versions are copied in. */
static const char m008_sqlite[] = "CREATE TABLE policy_texts ("
                                  "  org_id TEXT NOT NULL,"
                                  "  sha256 BLOB NOT NULL CHECK (length(sha256) = 32),"
                                  "  text TEXT NOT NULL,"
                                  "  created_ms INTEGER NOT NULL,"
                                  "  PRIMARY KEY (org_id, sha256)"
                                  ");"
                                  "INSERT INTO policy_texts(org_id, sha256, text, created_ms)"
                                  "  SELECT org_id, sha256, text, updated_ms FROM org_policies;";

/* 009: accountable principals (issue 12, docs/ACCESS.md "Principals"). Every org key belongs to
 * one person: api_keys.member_id becomes the key's principal, fixed at creation (a member id,
 * or "operator" for an org key the operator made on the host without naming a member). Existing
 * keys are assigned, in this order: a key already bound to a member keeps that member; a key
 * made by a key of the same org that has a member gets that member (three passes follow short
 * chains); every key still unassigned goes to the org's oldest owner member, which is created
 * (email owner@legacy.invalid) where the org has none. So keys nobody can attribute all become
 * ONE person: fail closed (they can no longer approve each other); re-issue per person.
 * Review items recorded without a requester member get their key's principal. Operator keys
 * gain the lifecycle of org keys: who made them, their successor on rotation and their last
 * use. */
#define M009_CREATOR_PASS                                                                          \
    "UPDATE api_keys SET member_id = (SELECT c.member_id FROM api_keys c"                          \
    "  WHERE c.org_id = api_keys.org_id AND c.id = api_keys.created_by)"                           \
    " WHERE member_id = '' AND created_by <> '' AND COALESCE((SELECT c.member_id FROM api_keys c"  \
    "  WHERE c.org_id = api_keys.org_id AND c.id = api_keys.created_by), '') <> '';"
static const char m009_sqlite[] =
    "ALTER TABLE operator_keys ADD COLUMN created_by TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE operator_keys ADD COLUMN rotated_to TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE operator_keys ADD COLUMN last_used_ms INTEGER NOT NULL DEFAULT "
    "0;" M009_CREATOR_PASS M009_CREATOR_PASS M009_CREATOR_PASS
    "INSERT INTO members(id, org_id, email, role, created_ms)"
    " SELECT 'mem_' || lower(hex(randomblob(8))), o.id, 'owner@legacy.invalid', 'owner',"
    "  CAST(strftime('%s', 'now') AS INTEGER) * 1000 FROM orgs o"
    " WHERE EXISTS (SELECT 1 FROM api_keys k WHERE k.org_id = o.id AND k.member_id = '')"
    "  AND NOT EXISTS (SELECT 1 FROM members m WHERE m.org_id = o.id AND m.role = 'owner');"
    "UPDATE api_keys SET member_id = (SELECT m.id FROM members m"
    "  WHERE m.org_id = api_keys.org_id AND m.role = 'owner' ORDER BY m.created_ms, m.id LIMIT 1)"
    " WHERE member_id = '';"
    "CREATE INDEX api_keys_principal ON api_keys(org_id, member_id);"
    /* open reviews name their requester's principal too, so four eyes holds across the upgrade
     * (a widget's call, "widget:...", has no key row and keeps none). Old votes are left as
     * they are: giving them principals could collide in review_votes_member. */
    "UPDATE review_items SET requester_member = COALESCE((SELECT k.member_id FROM api_keys k"
    "  WHERE k.org_id = review_items.org_id AND k.id = review_items.requester_key), '')"
    " WHERE requester_member = '';";

/* 010: MCP tool pins (issue 14, docs/MCP.md "Tool pinning"). One row per (org, server, tool):
 * the pinned definition's SHA-256 and canonical text (RFC 8785), and while the tool waits for an
 * admin (a changed definition, or a first sight under mcp.pin: approve) the pending one. A
 * pending tool has no pinned hash until approved; only a pinned tool has no pending one. A text
 * over 64 KiB is kept as '' (its hash is kept). */
static const char m010_sqlite[] =
    "CREATE TABLE mcp_pins ("
    "  org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,"
    "  server TEXT NOT NULL CHECK (length(server) BETWEEN 1 AND 64),"
    "  tool TEXT NOT NULL CHECK (length(tool) BETWEEN 1 AND 128),"
    "  state TEXT NOT NULL CHECK (state IN ('pinned','changed','pending')),"
    "  pinned_sha256 BLOB CHECK (pinned_sha256 IS NULL OR length(pinned_sha256) = 32),"
    "  pinned_def TEXT NOT NULL DEFAULT '',"
    "  pending_sha256 BLOB CHECK (pending_sha256 IS NULL OR length(pending_sha256) = 32),"
    "  pending_def TEXT NOT NULL DEFAULT '',"
    "  first_seen_ms INTEGER NOT NULL,"
    "  last_seen_ms INTEGER NOT NULL,"
    "  changed_ms INTEGER NOT NULL DEFAULT 0,"
    "  approved_ms INTEGER NOT NULL DEFAULT 0,"
    "  approved_by TEXT NOT NULL DEFAULT '',"
    "  PRIMARY KEY (org_id, server, tool),"
    "  CHECK ((state = 'pinned') = (pending_sha256 IS NULL)),"
    "  CHECK (state = 'pending' OR pinned_sha256 IS NOT NULL)"
    ");";

/* 011: per-org MCP servers (issue 14, docs/MCP.md "Per-org servers"). One row per (org, name):
 * the URL as checked by the egress guard at save, and optionally the upstream credential sealed
 * for (org, row id) (src/vault/seal.h) with its master key id in clear, so a master key
 * rotation re-wraps it like the `secrets` rows (store_platform.c reads both tables). Sealed and
 * master_id are both NULL or both set; only a fingerprint is ever shown. */
static const char m011_sqlite[] =
    "CREATE TABLE mcp_servers ("
    "  id TEXT PRIMARY KEY,"
    "  org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 63),"
    "  url TEXT NOT NULL CHECK (length(url) BETWEEN 1 AND 2047),"
    "  sealed BLOB CHECK (sealed IS NULL OR length(sealed) BETWEEN 126 AND 8317),"
    "  master_id BLOB CHECK (master_id IS NULL OR length(master_id) = 8),"
    "  fingerprint TEXT NOT NULL DEFAULT '',"
    "  created_by TEXT NOT NULL DEFAULT '',"
    "  created_ms INTEGER NOT NULL,"
    "  CHECK ((sealed IS NULL) = (master_id IS NULL)),"
    "  UNIQUE (org_id, name),"
    "  UNIQUE (org_id, id)"
    ");";

/* 012: console sessions (issue 16, src/console/session.h) and what a reviewer needs to decide.
 * console_sessions: one row per signed-in browser, bound to a principal (the key it was made
 * from, or for single sign-on only the member); only the token's keyed hash is stored. The
 * review item's `detail` is a JSON object (model, tools declared and called with their
 * arguments) shown to the org's reviewers by GET /api/v1/reviews/{id}, never put in receipts. */
static const char m012_sqlite[] =
    "CREATE TABLE console_sessions ("
    "  id TEXT PRIMARY KEY,"
    "  org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,"
    "  hash BLOB NOT NULL UNIQUE CHECK (length(hash) = 32),"
    "  key_id TEXT NOT NULL DEFAULT '',"
    "  member_id TEXT NOT NULL CHECK (member_id <> ''),"
    "  via TEXT NOT NULL CHECK (via IN ('key','sso')),"
    "  created_ms INTEGER NOT NULL,"
    "  expires_ms INTEGER NOT NULL,"
    "  last_seen_ms INTEGER NOT NULL,"
    "  CHECK ((via = 'key') = (key_id <> '')),"
    "  UNIQUE (org_id, id)"
    ");"
    "CREATE INDEX console_sessions_member ON console_sessions(org_id, member_id);"
    "ALTER TABLE review_items ADD COLUMN detail TEXT NOT NULL DEFAULT ''"
    "  CHECK (length(detail) <= 65536);";

/* 013: per-org OpenID Connect single sign-on (issue 16, docs/CONSOLE.md "Single sign-on").
 * sso_configs: one row per org, the IdP's issuer and client id, the claim that names a member,
 * the opt-in for unknown people, and the client secret sealed for (org, row id) with its master
 * key id in clear (a master key rotation re-wraps it like the `secrets` rows). sso_subjects: an
 * IdP subject linked to one member (claim "sub"); removed with the member. */
static const char m013_sqlite[] =
    "CREATE TABLE sso_configs ("
    "  id TEXT PRIMARY KEY,"
    "  org_id TEXT NOT NULL UNIQUE REFERENCES orgs(id) ON DELETE CASCADE,"
    "  issuer TEXT NOT NULL CHECK (length(issuer) BETWEEN 1 AND 511),"
    "  client_id TEXT NOT NULL CHECK (length(client_id) BETWEEN 1 AND 255),"
    "  claim TEXT NOT NULL CHECK (claim IN ('email','sub')),"
    "  allow_unknown INTEGER NOT NULL DEFAULT 0 CHECK (allow_unknown IN (0,1)),"
    "  sealed BLOB NOT NULL CHECK (length(sealed) BETWEEN 126 AND 8317),"
    "  master_id BLOB NOT NULL CHECK (length(master_id) = 8),"
    "  fingerprint TEXT NOT NULL DEFAULT '',"
    "  updated_by TEXT NOT NULL DEFAULT '',"
    "  updated_ms INTEGER NOT NULL,"
    "  UNIQUE (org_id, id)"
    ");"
    "CREATE TABLE sso_subjects ("
    "  org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,"
    "  subject TEXT NOT NULL CHECK (length(subject) BETWEEN 1 AND 255),"
    "  member_id TEXT NOT NULL UNIQUE REFERENCES members(id) ON DELETE CASCADE,"
    "  created_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (org_id, subject)"
    ");";

const struct bw_migration bw_store_migrations[] = {
    {1, m001_sqlite},  {2, m002_sqlite},  {3, m003_sqlite},  {4, m004_sqlite}, {5, m005_sqlite},
    {6, m006_sqlite},  {7, m007_sqlite},  {8, m008_sqlite},  {9, m009_sqlite}, {10, m010_sqlite},
    {11, m011_sqlite}, {12, m012_sqlite}, {13, m013_sqlite},
};
const size_t bw_store_n_migrations = sizeof bw_store_migrations / sizeof bw_store_migrations[0];
