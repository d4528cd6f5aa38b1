#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store_internal.h"
#include "store/store_migrations.h"
#include "util/log.h"
#include "util/time.h"

static bw_err exec(struct bw_store *s, const char *sql) {
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        bw_error("store: sqlite: %s", msg ? msg : "error");
        sqlite3_free(msg);
        return BW_E_UNAVAILABLE;
    }
    return BW_OK;
}

static bw_err read_version(struct bw_store *s, int *v) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return BW_E_UNAVAILABLE;
    bw_err result = sqlite3_step(st) == SQLITE_ROW ? BW_OK : BW_E_UNAVAILABLE;
    if (result == BW_OK)
        *v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return result;
}

/* Each migration runs in one IMMEDIATE transaction together with its version bump, so a crash
 * leaves either the old or the new schema, never half of one. */
static bw_err migrate(struct bw_store *s) {
    BW_TRY(read_version(s, &s->version));
    for (size_t i = 0; i < bw_store_n_migrations; i++) {
        const struct bw_migration *m = &bw_store_migrations[i];
        if (m->version <= s->version)
            continue;
        char bump[64];
        snprintf(bump, sizeof bump, "PRAGMA user_version = %d;", m->version);
        BW_TRY(exec(s, "BEGIN IMMEDIATE"));
        if (exec(s, m->sqlite) != BW_OK || exec(s, bump) != BW_OK) {
            (void)exec(s, "ROLLBACK");
            bw_error("store: migration %d failed", m->version);
            return BW_E_UNAVAILABLE;
        }
        BW_TRY(exec(s, "COMMIT"));
        s->version = m->version;
    }
    return BW_OK;
}

/* Fills s (zeroed by the caller) or leaves it for bw_store_sqlite_close. */
bw_err bw_store_sqlite_open(const char *path, int create, struct bw_store *s) {
    bw_err result = BW_OK;
    struct stat st;
    if (create && stat(path, &st) == 0)
        return BW_E_EXISTS;
    if (!create && stat(path, &st) != 0)
        return BW_E_NOT_FOUND;
    s->kind = BW_STORE_SQLITE;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
    mode_t old = umask(077); /* the database holds key hashes: owner-only */
    int rc = sqlite3_open_v2(path, &s->db, flags, NULL);
    umask(old);
    BW_GOTO_IF(rc != SQLITE_OK, BW_E_UNAVAILABLE);
    sqlite3_busy_timeout(s->db, 5000);
    BW_GOTO(exec(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"));
    BW_GOTO(migrate(s));
    return BW_OK;
out:
    if (s->db)
        bw_error("store: %s: %s", path, sqlite3_errmsg(s->db));
    return result;
}

void bw_store_sqlite_close(struct bw_store *s) {
    sqlite3_finalize(s->usage_insert);
    for (size_t i = 0; i < BW_SQL_CACHE; i++)
        sqlite3_finalize(s->sql_cache[i].st);
    sqlite3_close_v2(s->db);
}
