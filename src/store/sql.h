/* sql.h: one way to run a statement on either backend, so each table's code is written once.
 *
 * Statements are written in the subset SQLite and PostgreSQL share: placeholders $1..$N
 * (rewritten to ?N for SQLite), INTEGER/bigint, TEXT, BLOB/bytea, INSERT .. ON CONFLICT,
 * RETURNING, no backend-specific functions (times come from the caller, as integers).
 *
 * Every statement runs inside a scope opened by bw_sql_begin(s, org_id, ...):
 *   PostgreSQL: BEGIN, then set_config('app.org_id', org_id, true) — transaction-local, so the
 *     tenant never leaks to the connection's next transaction, and row-level security (forced
 *     on every tenant table) shows and accepts only that org's rows. org_id NULL sets nothing:
 *     tenant tables then show zero rows (used only for the non-tenant tables).
 *   SQLite: BEGIN IMMEDIATE (write) or BEGIN (read). There is no RLS, so every tenant statement
 *     must bind org_id in its WHERE clause or VALUES — and on PostgreSQL it binds it too.
 * The org id is checked for shape (BW_E_INVALID otherwise, before any SQL runs).
 *
 * Errors map alike on both backends: unique or primary-key violation BW_E_EXISTS, foreign key
 * or row-level-security violation BW_E_NOT_FOUND (another tenant's object is not revealed),
 * CHECK violation BW_E_INVALID, anything else BW_E_UNAVAILABLE (the caller denies). Server
 * messages are logged without parameter values. A handle is used by one thread at a time. */
#ifndef BW_STORE_SQL_H
#define BW_STORE_SQL_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "util/err.h"

#define BW_SQL_MAX_ARGS 16

enum bw_sql_kind { BW_SQL_NULL, BW_SQL_TEXT, BW_SQL_INT, BW_SQL_BLOB };

/* One bound parameter; borrowed for the duration of the call. */
struct bw_sql_arg {
    enum bw_sql_kind kind;
    const char *text;
    int64_t num;
    const void *blob;
    size_t len;
};

#define BW_SQL_T(s) ((struct bw_sql_arg){.kind = BW_SQL_TEXT, .text = (s)})
#define BW_SQL_I(n) ((struct bw_sql_arg){.kind = BW_SQL_INT, .num = (int64_t)(n)})
#define BW_SQL_B(p, n) ((struct bw_sql_arg){.kind = BW_SQL_BLOB, .blob = (p), .len = (n)})

/* A result row, valid only during the row callback. Columns are 0-based. */
struct bw_sql_row;
const char *bw_sql_text(const struct bw_sql_row *r, int col); /* "" for NULL */
int64_t bw_sql_int(const struct bw_sql_row *r, int col);      /* 0 for NULL or non-numeric */
/* Copies the column's bytes into out if it holds exactly size bytes: 0, else -1. */
int bw_sql_blob(const struct bw_sql_row *r, int col, void *out, size_t size);
/* Copies the text column into out (truncating to size-1; NUL-terminated). */
void bw_sql_copy(const struct bw_sql_row *r, int col, char *out, size_t size);

/* Called once per row; a non-zero return stops the statement with BW_E_INTERNAL. */
typedef int (*bw_sql_row_fn)(void *arg, const struct bw_sql_row *row);

/* Opens the tenant scope (see above). write: take the write lock now (SQLite). org_id "" is
 * the same as NULL (no tenant: only rows whose org_id is '' where a policy allows them). */
bw_err bw_sql_begin(struct bw_store *s, const char *org_id, int write) BW_MUST_CHECK;
/* Every transaction starts here, so this is where the store checks it is not on an event
 * worker (util/thread_role.h): the macros pass the calling function's name for the report. */
bw_err bw_sql_begin_at(struct bw_store *s, const char *org_id, int write,
                       const char *caller) BW_MUST_CHECK;
#define bw_sql_begin(s, org_id, write) bw_sql_begin_at((s), (org_id), (write), __func__)
/* Switches the open scope to another tenant (PostgreSQL: set_config again, still transaction
 * local; SQLite: only the shape check). For batches that write rows of several orgs. */
bw_err bw_sql_tenant(struct bw_store *s, const char *org_id) BW_MUST_CHECK;
bw_err bw_sql_commit(struct bw_store *s) BW_MUST_CHECK;
void bw_sql_rollback(struct bw_store *s);

/* Runs one statement inside the scope. fn (may be NULL) gets each row; *changes (may be NULL)
 * gets the number of rows inserted, updated or deleted. At most BW_SQL_MAX_ARGS arguments. */
bw_err bw_sql_run(struct bw_store *s, const char *sql, const struct bw_sql_arg *args, int n,
                  bw_sql_row_fn fn, void *arg, int64_t *changes) BW_MUST_CHECK;

/* bw_sql_begin + bw_sql_run + bw_sql_commit (rolled back on any error): one statement in its
 * own transaction. */
bw_err bw_sql_once(struct bw_store *s, const char *org_id, int write, const char *sql,
                   const struct bw_sql_arg *args, int n, bw_sql_row_fn fn, void *arg,
                   int64_t *changes) BW_MUST_CHECK;
bw_err bw_sql_once_at(struct bw_store *s, const char *org_id, int write, const char *sql,
                      const struct bw_sql_arg *args, int n, bw_sql_row_fn fn, void *arg,
                      int64_t *changes, const char *caller) BW_MUST_CHECK;
#define bw_sql_once(s, org_id, write, sql, args, n, fn, arg, changes)                              \
    bw_sql_once_at((s), (org_id), (write), (sql), (args), (n), (fn), (arg), (changes), __func__)

/* 1 if id looks like one of our ids ("<prefix>_<16 lowercase hex>", prefix 1..8 of [a-z]). */
int bw_sql_id_ok(const char *id);

#endif
