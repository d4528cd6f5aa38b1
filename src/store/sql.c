/* sql.c: the statement runner behind sql.h, for both backends. */
#include "store/sql.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_internal.h"
#include "util/log.h"
#include "util/thread_role.h"

struct bw_sql_row {
    sqlite3_stmt *st; /* SQLite */
    PGresult *res;    /* PostgreSQL */
    int index;
};

int bw_sql_id_ok(const char *id) {
    size_t i = 0;
    while (id[i] >= 'a' && id[i] <= 'z' && i < 9)
        i++;
    if (i == 0 || i > 8 || id[i] != '_')
        return 0;
    const char *hex = id + i + 1;
    for (i = 0; i < 16; i++)
        if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f')))
            return 0;
    return hex[16] == 0;
}

/* ---- rows ---- */

const char *bw_sql_text(const struct bw_sql_row *r, int col) {
    if (r->st) {
        const unsigned char *t = sqlite3_column_text(r->st, col);
        return t ? (const char *)t : "";
    }
    return PQgetisnull(r->res, r->index, col) ? "" : PQgetvalue(r->res, r->index, col);
}

int64_t bw_sql_int(const struct bw_sql_row *r, int col) {
    if (r->st)
        return sqlite3_column_int64(r->st, col);
    return strtoll(bw_sql_text(r, col), NULL, 10);
}

int bw_sql_blob(const struct bw_sql_row *r, int col, void *out, size_t size) {
    if (r->st) {
        if ((size_t)sqlite3_column_bytes(r->st, col) != size)
            return -1;
        if (size)
            memcpy(out, sqlite3_column_blob(r->st, col), size);
        return 0;
    }
    /* bytea in text results: "\x" followed by hex (bytea_output = hex, the default) */
    const char *t = bw_sql_text(r, col);
    size_t n = strlen(t), got = 0;
    if (n < 2 || t[0] != '\\' || t[1] != 'x' || n - 2 != size * 2)
        return -1;
    if (sodium_hex2bin(out, size, t + 2, n - 2, NULL, &got, NULL) != 0 || got != size)
        return -1;
    return 0;
}

void bw_sql_copy(const struct bw_sql_row *r, int col, char *out, size_t size) {
    snprintf(out, size, "%s", bw_sql_text(r, col));
}

/* ---- SQLite ---- */

/* "$12" -> "?12" outside string literals: SQLite's ?NNN binds by number like PostgreSQL's $N. */
static char *sqlite_dialect(const char *sql) {
    char *copy = strdup(sql);
    if (!copy)
        return NULL;
    int quoted = 0;
    for (char *p = copy; *p; p++) {
        if (*p == '\'')
            quoted = !quoted;
        else if (!quoted && *p == '$' && p[1] >= '1' && p[1] <= '9')
            *p = '?';
    }
    return copy;
}

/* Statements are prepared once per handle: callers pass string literals, so the pointer is the
 * key. A collision finalizes the older statement. */
static sqlite3_stmt *sqlite_prepare(struct bw_store *s, const char *sql) {
    size_t slot = ((uintptr_t)sql >> 3) % BW_SQL_CACHE;
    if (s->sql_cache[slot].sql == sql) {
        sqlite3_stmt *st = s->sql_cache[slot].st;
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        return st;
    }
    char *text = sqlite_dialect(sql);
    sqlite3_stmt *st = NULL;
    int rc = text ? sqlite3_prepare_v3(s->db, text, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL)
                  : SQLITE_NOMEM;
    free(text);
    if (rc != SQLITE_OK) {
        bw_error("store: sqlite: cannot prepare a statement: %s", sqlite3_errmsg(s->db));
        return NULL;
    }
    sqlite3_finalize(s->sql_cache[slot].st);
    s->sql_cache[slot].sql = sql;
    s->sql_cache[slot].st = st;
    return st;
}

static bw_err sqlite_error(struct bw_store *s, int rc) {
    switch (sqlite3_extended_errcode(s->db)) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
        return BW_E_EXISTS;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        return BW_E_NOT_FOUND;
    case SQLITE_CONSTRAINT_CHECK:
    case SQLITE_CONSTRAINT_NOTNULL:
        return BW_E_INVALID;
    default:
        bw_error("store: sqlite: statement failed (%d): %s", rc, sqlite3_errmsg(s->db));
        return BW_E_UNAVAILABLE;
    }
}

static bw_err sqlite_run(struct bw_store *s, const char *sql, const struct bw_sql_arg *args, int n,
                         bw_sql_row_fn fn, void *arg, int64_t *changes) {
    sqlite3_stmt *st = sqlite_prepare(s, sql);
    if (!st)
        return BW_E_UNAVAILABLE;
    for (int i = 0; i < n; i++) {
        const struct bw_sql_arg *a = &args[i];
        switch (a->kind) {
        case BW_SQL_TEXT:
            sqlite3_bind_text(st, i + 1, a->text, -1, SQLITE_STATIC);
            break;
        case BW_SQL_INT:
            sqlite3_bind_int64(st, i + 1, a->num);
            break;
        case BW_SQL_BLOB:
            sqlite3_bind_blob(st, i + 1, a->blob, (int)a->len, SQLITE_STATIC);
            break;
        default:
            sqlite3_bind_null(st, i + 1);
            break;
        }
    }
    struct bw_sql_row row = {.st = st};
    bw_err result = BW_OK;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (fn && fn(arg, &row) != 0) {
            result = BW_E_INTERNAL;
            break;
        }
    }
    if (result == BW_OK && rc != SQLITE_DONE)
        result = sqlite_error(s, rc);
    if (result == BW_OK && changes)
        *changes = sqlite3_changes64(s->db);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return result;
}

/* ---- PostgreSQL ---- */

static bw_err pg_error(struct bw_store *s, PGresult *r) {
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (state) {
        if (strcmp(state, "23505") == 0)
            return BW_E_EXISTS;
        if (strcmp(state, "23503") == 0 || strcmp(state, "42501") == 0)
            return BW_E_NOT_FOUND; /* FK, or a row-level-security WITH CHECK violation */
        if (strcmp(state, "23514") == 0 || strcmp(state, "23502") == 0 ||
            strncmp(state, "22", 2) == 0)
            return BW_E_INVALID; /* CHECK, NOT NULL, data exceptions (bad UTF-8, range) */
    }
    /* The primary message names constraints and objects, never our parameter values. */
    bw_error("store: postgres: statement failed (%s): %s", state ? state : "-",
             r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : PQerrorMessage(s->pg));
    /* this call is already denied; the next one reconnects (bw_store_pg_usable) */
    return BW_E_UNAVAILABLE;
}

static bw_err pg_run(struct bw_store *s, const char *sql, const struct bw_sql_arg *args, int n,
                     bw_sql_row_fn fn, void *arg, int64_t *changes) {
    const char *vals[BW_SQL_MAX_ARGS];
    int lens[BW_SQL_MAX_ARGS], fmts[BW_SQL_MAX_ARGS];
    char nums[BW_SQL_MAX_ARGS][24];
    for (int i = 0; i < n; i++) {
        const struct bw_sql_arg *a = &args[i];
        lens[i] = 0;
        fmts[i] = 0;
        switch (a->kind) {
        case BW_SQL_TEXT:
            vals[i] = a->text;
            break;
        case BW_SQL_INT:
            snprintf(nums[i], sizeof nums[i], "%lld", (long long)a->num);
            vals[i] = nums[i];
            break;
        case BW_SQL_BLOB:
            vals[i] = a->blob;
            lens[i] = (int)a->len;
            fmts[i] = 1; /* bytea goes as binary */
            break;
        default:
            vals[i] = NULL;
            break;
        }
    }
    PGresult *r = PQexecParams(s->pg, sql, n, NULL, vals, lens, fmts, 0);
    ExecStatusType status = PQresultStatus(r);
    bw_err result = BW_OK;
    if (status == PGRES_TUPLES_OK) {
        struct bw_sql_row row = {.res = r};
        for (row.index = 0; row.index < PQntuples(r); row.index++) {
            if (fn && fn(arg, &row) != 0) {
                result = BW_E_INTERNAL;
                break;
            }
        }
    } else if (status != PGRES_COMMAND_OK) {
        result = pg_error(s, r);
    }
    if (result == BW_OK && changes) {
        const char *t = PQcmdTuples(r);
        *changes = t && *t ? strtoll(t, NULL, 10) : 0;
    }
    PQclear(r);
    return result;
}

static bw_err pg_simple(struct bw_store *s, const char *sql) {
    PGresult *r = PQexec(s->pg, sql);
    bw_err e = PQresultStatus(r) == PGRES_COMMAND_OK ? BW_OK : pg_error(s, r);
    PQclear(r);
    return e;
}

/* ---- scopes ---- */

static bw_err set_tenant(struct bw_store *s, const char *org_id) {
    struct bw_sql_arg a = BW_SQL_T(org_id);
    return pg_run(s, "SELECT set_config('app.org_id', $1, true)", &a, 1, NULL, NULL, NULL);
}

bw_err bw_sql_tenant(struct bw_store *s, const char *org_id) {
    BW_ENSURE(s->in_tx, BW_E_INTERNAL);
    BW_ENSURE(!*org_id || bw_sql_id_ok(org_id), BW_E_INVALID);
    return s->kind == BW_STORE_POSTGRES ? set_tenant(s, org_id) : BW_OK;
}

bw_err bw_sql_begin_at(struct bw_store *s, const char *org_id, int write, const char *caller) {
    bw_thread_check_store(caller);
    BW_ENSURE(!s->in_tx, BW_E_INTERNAL);
    if (org_id && !*org_id)
        org_id = NULL;
    BW_ENSURE(!org_id || bw_sql_id_ok(org_id), BW_E_INVALID);
    if (s->kind == BW_STORE_SQLITE) {
        const char *begin = write ? "BEGIN IMMEDIATE" : "BEGIN";
        if (sqlite3_exec(s->db, begin, NULL, NULL, NULL) != SQLITE_OK)
            return sqlite_error(s, SQLITE_ERROR);
        s->in_tx = 1;
        return BW_OK;
    }
    if (!bw_store_pg_usable(s))
        return BW_E_UNAVAILABLE; /* no statement on a broken connection: fail fast */
    BW_TRY(pg_simple(s, "BEGIN"));
    s->in_tx = 1;
    if (org_id) {
        bw_err e = set_tenant(s, org_id);
        if (e != BW_OK) {
            bw_sql_rollback(s);
            return e;
        }
    }
    return BW_OK;
}

bw_err bw_sql_commit(struct bw_store *s) {
    BW_ENSURE(s->in_tx, BW_E_INTERNAL);
    s->in_tx = 0;
    if (s->kind == BW_STORE_SQLITE) {
        if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
            return BW_OK;
        bw_err e = sqlite_error(s, SQLITE_ERROR);
        (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return e;
    }
    return pg_simple(s, "COMMIT");
}

void bw_sql_rollback(struct bw_store *s) {
    if (!s->in_tx)
        return;
    s->in_tx = 0;
    if (s->kind == BW_STORE_SQLITE)
        (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    else
        PQclear(PQexec(s->pg, "ROLLBACK"));
}

bw_err bw_sql_run(struct bw_store *s, const char *sql, const struct bw_sql_arg *args, int n,
                  bw_sql_row_fn fn, void *arg, int64_t *changes) {
    BW_ENSURE(s->in_tx, BW_E_INTERNAL); /* never outside a tenant scope */
    BW_ENSURE(n >= 0 && n <= BW_SQL_MAX_ARGS, BW_E_INTERNAL);
    return s->kind == BW_STORE_SQLITE ? sqlite_run(s, sql, args, n, fn, arg, changes)
                                      : pg_run(s, sql, args, n, fn, arg, changes);
}

bw_err bw_sql_once_at(struct bw_store *s, const char *org_id, int write, const char *sql,
                      const struct bw_sql_arg *args, int n, bw_sql_row_fn fn, void *arg,
                      int64_t *changes, const char *caller) {
    BW_TRY(bw_sql_begin_at(s, org_id, write, caller));
    bw_err e = bw_sql_run(s, sql, args, n, fn, arg, changes);
    if (e != BW_OK) {
        bw_sql_rollback(s);
        return e;
    }
    return bw_sql_commit(s);
}
