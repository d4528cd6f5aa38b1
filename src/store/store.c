/* store.c: the store's public functions, dispatching to the SQLite or PostgreSQL backend. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/sql.h"
#include "store/store_internal.h"
#include "util/thread_role.h"

void bw_store_new_id(const char *prefix, char id[BW_ID_SIZE]) {
    uint8_t r[8];
    char hex[17];
    randombytes_buf(r, sizeof r);
    sodium_bin2hex(hex, sizeof hex, r, sizeof r);
    snprintf(id, BW_ID_SIZE, "%.8s_%s", prefix, hex);
}

int bw_store_is_postgres(const char *where) {
    return strncmp(where, "postgres://", 11) == 0 || strncmp(where, "postgresql://", 13) == 0;
}

bw_err bw_store_open(const char *where, int create, struct bw_store **out) {
    bw_thread_check_store(__func__);
    struct bw_store *s = calloc(1, sizeof *s);
    if (!s)
        return BW_E_NOMEM;
    bw_err e = bw_store_is_postgres(where) ? bw_store_pg_open(where, s)
                                           : bw_store_sqlite_open(where, create, s);
    if (e != BW_OK) {
        bw_store_close(s);
        return e;
    }
    *out = s;
    return BW_OK;
}

bw_err bw_store_open_sqlite(const char *path, int create, struct bw_store **out) {
    if (bw_store_is_postgres(path))
        return BW_E_INVALID;
    return bw_store_open(path, create, out);
}

void bw_store_close(struct bw_store *s) {
    if (!s)
        return;
    if (s->kind == BW_STORE_POSTGRES)
        bw_store_pg_close(s);
    else
        bw_store_sqlite_close(s);
    free(s);
}

bw_err bw_store_ping(struct bw_store *s) {
    bw_thread_check_store(__func__);
    if (s->kind == BW_STORE_POSTGRES) {
        if (!bw_store_pg_usable(s))
            return BW_E_UNAVAILABLE;
        PGresult *r = PQexec(s->pg, "SELECT 1");
        int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
        PQclear(r);
        return ok ? BW_OK : BW_E_UNAVAILABLE;
    }
    /* Reads the schema page from the file: an I/O error or a file that is no database fails. */
    int rc = sqlite3_exec(s->db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
    return rc == SQLITE_OK ? BW_OK : BW_E_UNAVAILABLE;
}

int bw_store_schema_version(struct bw_store *s) {
    return s->version;
}

bw_err bw_store_tx_begin(struct bw_store *s) {
    return bw_sql_begin(s, NULL, 1);
}

bw_err bw_store_tx_commit(struct bw_store *s) {
    return bw_sql_commit(s);
}

void bw_store_tx_rollback(struct bw_store *s) {
    bw_sql_rollback(s);
}

void bw_store_relax_durability(struct bw_store *s) {
    if (s->kind == BW_STORE_SQLITE)
        (void)sqlite3_exec(s->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
}
