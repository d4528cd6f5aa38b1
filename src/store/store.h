/* store.h: the persistent store's interface (orgs, API keys), with two backends:
 *   SQLite (embedded default): a file path; WAL, so readers never block the writer; every
 *     tenant statement binds org_id.
 *   PostgreSQL (scale-out, many gateway replicas): a "postgres://" or "postgresql://" URL; the
 *     connecting role is the runtime role (owns nothing, no BYPASSRLS), every tenant table has
 *     forced row-level security, and each transaction sets its tenant with
 *     set_config('app.org_id', $1, true). Migrations are applied by the owner role
 *     (the files in src/store/pg/; scripts/pg-test.sh shows how), not by the gateway.
 * Every statement is parameterized. A handle is used by one thread at a time: each event-loop
 * worker opens its own. */
#ifndef BW_STORE_STORE_H
#define BW_STORE_STORE_H

#include <stdint.h>

#include "util/err.h"

#define BW_ID_SIZE 40

struct bw_store;

struct bw_key_record {
    char id[BW_ID_SIZE];
    char org_id[BW_ID_SIZE];
    char org_name[64];
    char role[16];   /* owner | admin | reviewer | member | agent */
    char agent[64];  /* optional agent name the key is bound to ("" = none) */
    uint8_t hash[32];
    int64_t created_ms;
    int64_t expires_ms; /* 0 = never */
    int64_t revoked_ms; /* 0 = active */
};

/* Opens the SQLite database at path (create=1: creates it, failing with BW_E_EXISTS if the file
 * exists) with WAL, foreign keys and a busy timeout, and applies pending migrations. */
bw_err bw_store_open_sqlite(const char *path, int create, struct bw_store **out) BW_MUST_CHECK;

/* Opens `where`: a PostgreSQL URL (the schema must exist: BW_E_UNAVAILABLE otherwise, and if
 * the server is unreachable) or else a SQLite path as bw_store_open_sqlite (create ignored for
 * PostgreSQL). */
bw_err bw_store_open(const char *where, int create, struct bw_store **out) BW_MUST_CHECK;

/* 1 if `where` names a PostgreSQL database. */
int bw_store_is_postgres(const char *where);
void bw_store_close(struct bw_store *s); /* NULL is a no-op */

/* Schema version after migrations. */
int bw_store_schema_version(struct bw_store *s);

/* Creates an org; writes its new id ("org_<16 hex>"). BW_E_EXISTS if the name is taken. */
bw_err bw_store_org_create(struct bw_store *s, const char *name, char id[BW_ID_SIZE]) BW_MUST_CHECK;

/* Inserts a key record (id, org_id, role, agent, hash, created/expires set by caller). */
bw_err bw_store_key_insert(struct bw_store *s, const struct bw_key_record *k) BW_MUST_CHECK;

/* Looks up a key by its keyed hash (joined with its org's name). BW_E_NOT_FOUND if none. The
 * caller still compares hashes in constant time and checks revoked/expired. */
bw_err bw_store_key_by_hash(struct bw_store *s, const uint8_t hash[32],
                            struct bw_key_record *out) BW_MUST_CHECK;

/* New random id "<prefix>_<16 hex>" (prefix up to 8 chars). */
void bw_store_new_id(const char *prefix, char id[BW_ID_SIZE]);

#endif
