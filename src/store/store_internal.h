/* store_internal.h: what the store's backends share. Not a public contract: only src/store/
 * includes it. The public functions in store.c dispatch on `kind`. */
#ifndef BW_STORE_INTERNAL_H
#define BW_STORE_INTERNAL_H

#include <libpq-fe.h>
#include <sqlite3.h>
#include "util/err.h"

#include "store/store.h"

enum bw_store_kind { BW_STORE_SQLITE, BW_STORE_POSTGRES };

#define BW_SQL_CACHE 64 /* prepared statements kept per SQLite handle (sql.c) */

struct bw_store {
    enum bw_store_kind kind;
    int version;
    int in_tx; /* a bw_sql_begin scope is open */
    /* SQLite */
    sqlite3 *db;
    sqlite3_stmt *usage_insert; /* prepared on first use (store_billing.c) */
    struct {
        const char *sql; /* the caller's string literal: its address is the key */
        sqlite3_stmt *st;
    } sql_cache[BW_SQL_CACHE];
    /* PostgreSQL */
    PGconn *pg;
    int64_t reconnect_after_ms; /* a broken connection is retried at most once a second */
};

/* PostgreSQL: reconnects a broken connection, at most once per second per handle, so a dead
 * server costs each call one fast failure, not one connect timeout (store_pg.c). 1 if the
 * connection is usable after it. */
int bw_store_pg_usable(struct bw_store *s) BW_MUST_CHECK;

bw_err bw_store_sqlite_open(const char *path, int create, struct bw_store *s) BW_MUST_CHECK;
void bw_store_sqlite_close(struct bw_store *s);

bw_err bw_store_pg_open(const char *conninfo, struct bw_store *s) BW_MUST_CHECK;
void bw_store_pg_close(struct bw_store *s);

#endif
