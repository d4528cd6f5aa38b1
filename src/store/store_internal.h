/* store_internal.h: what the store's backends share. Not a public contract: only src/store/
 * includes it. The public functions in store.c dispatch on `kind`. */
#ifndef BW_STORE_INTERNAL_H
#define BW_STORE_INTERNAL_H

#include <libpq-fe.h>
#include <sqlite3.h>

#include "store/store.h"

enum bw_store_kind { BW_STORE_SQLITE, BW_STORE_POSTGRES };

struct bw_store {
    enum bw_store_kind kind;
    int version;
    /* SQLite */
    sqlite3 *db;
    sqlite3_stmt *key_by_hash;
    sqlite3_stmt *usage_insert; /* prepared on first use (store_billing.c) */
    /* PostgreSQL */
    PGconn *pg;
};

bw_err bw_store_sqlite_open(const char *path, int create, struct bw_store *s) BW_MUST_CHECK;
void bw_store_sqlite_close(struct bw_store *s);
bw_err bw_store_sqlite_org_create(struct bw_store *s, const char *id, const char *name);
bw_err bw_store_sqlite_key_insert(struct bw_store *s, const struct bw_key_record *k);
bw_err bw_store_sqlite_key_by_hash(struct bw_store *s, const uint8_t hash[32],
                                   struct bw_key_record *out);

bw_err bw_store_pg_open(const char *conninfo, struct bw_store *s) BW_MUST_CHECK;
void bw_store_pg_close(struct bw_store *s);
bw_err bw_store_pg_org_create(struct bw_store *s, const char *id, const char *name);
bw_err bw_store_pg_key_insert(struct bw_store *s, const struct bw_key_record *k);
bw_err bw_store_pg_key_by_hash(struct bw_store *s, const uint8_t hash[32],
                               struct bw_key_record *out);

#endif
