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
    rc = sqlite3_prepare_v3(s->db,
                            "SELECT k.id, k.org_id, o.name, k.role, k.agent, k.hash, k.created_ms,"
                            " k.expires_ms, k.revoked_ms FROM api_keys k JOIN orgs o"
                            " ON o.id = k.org_id WHERE k.hash = ?1",
                            -1, SQLITE_PREPARE_PERSISTENT, &s->key_by_hash, NULL);
    BW_GOTO_IF(rc != SQLITE_OK, BW_E_UNAVAILABLE);
    return BW_OK;
out:
    if (s->db)
        bw_error("store: %s: %s", path, sqlite3_errmsg(s->db));
    return result;
}

void bw_store_sqlite_close(struct bw_store *s) {
    sqlite3_finalize(s->key_by_hash);
    sqlite3_finalize(s->usage_insert);
    sqlite3_close_v2(s->db);
}

static void copy_col(sqlite3_stmt *st, int col, char *out, size_t size) {
    const unsigned char *t = sqlite3_column_text(st, col);
    snprintf(out, size, "%s", t ? (const char *)t : "");
}

bw_err bw_store_sqlite_org_create(struct bw_store *s, const char *new_id, const char *name) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "INSERT INTO orgs(id, name, created_ms) VALUES (?1, ?2, ?3)", -1,
                           &st, NULL) != SQLITE_OK)
        return BW_E_UNAVAILABLE;
    sqlite3_bind_text(st, 1, new_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, bw_now_ms());
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc == SQLITE_CONSTRAINT)
        return BW_E_EXISTS;
    return rc == SQLITE_DONE ? BW_OK : BW_E_UNAVAILABLE;
}

bw_err bw_store_sqlite_key_insert(struct bw_store *s, const struct bw_key_record *k) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO api_keys(id, org_id, role, agent, hash, created_ms,"
                           " expires_ms, revoked_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0)",
                           -1, &st, NULL) != SQLITE_OK)
        return BW_E_UNAVAILABLE;
    sqlite3_bind_text(st, 1, k->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, k->org_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, k->role, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, k->agent, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 5, k->hash, 32, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, k->created_ms);
    sqlite3_bind_int64(st, 7, k->expires_ms);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc == SQLITE_CONSTRAINT)
        return BW_E_EXISTS;
    return rc == SQLITE_DONE ? BW_OK : BW_E_UNAVAILABLE;
}

bw_err bw_store_sqlite_key_by_hash(struct bw_store *s, const uint8_t hash[32],
                                   struct bw_key_record *out) {
    sqlite3_stmt *st = s->key_by_hash;
    sqlite3_bind_blob(st, 1, hash, 32, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    bw_err result = BW_OK;
    if (rc == SQLITE_DONE) {
        result = BW_E_NOT_FOUND;
    } else if (rc != SQLITE_ROW || sqlite3_column_bytes(st, 5) != 32) {
        result = BW_E_UNAVAILABLE;
    } else {
        struct bw_key_record k;
        memset(&k, 0, sizeof k);
        copy_col(st, 0, k.id, sizeof k.id);
        copy_col(st, 1, k.org_id, sizeof k.org_id);
        copy_col(st, 2, k.org_name, sizeof k.org_name);
        copy_col(st, 3, k.role, sizeof k.role);
        copy_col(st, 4, k.agent, sizeof k.agent);
        memcpy(k.hash, sqlite3_column_blob(st, 5), 32);
        k.created_ms = sqlite3_column_int64(st, 6);
        k.expires_ms = sqlite3_column_int64(st, 7);
        k.revoked_ms = sqlite3_column_int64(st, 8);
        *out = k;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return result;
}
