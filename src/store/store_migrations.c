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

const struct bw_migration bw_store_migrations[] = {
    {1, m001_sqlite},
};
const size_t bw_store_n_migrations = sizeof bw_store_migrations / sizeof bw_store_migrations[0];
