/* store_operator_keys.c: operator keys (identity.h "operator keys"). They belong to no org, so
 * these are not tenant reads. SQLite reads the table; PostgreSQL forbids every role but the
 * owner to touch it (a policy that is always false) and goes through the definer functions of
 * src/store/pg/0009_principals.sql, one narrow action each. */
#include <stdlib.h>
#include <string.h>

#include "store/identity.h"
#include "store/sql.h"
#include "store/store_internal.h"

#define OP_COLUMNS                                                                                 \
    "id, name, created_by, rotated_to, created_ms, expires_ms, revoked_ms, last_used_ms"

static void op_fill(const struct bw_sql_row *r, struct bw_key_record *k) {
    memset(k, 0, sizeof *k);
    bw_sql_copy(r, 0, k->id, sizeof k->id);
    bw_sql_copy(r, 1, k->name, sizeof k->name);
    bw_sql_copy(r, 2, k->created_by, sizeof k->created_by);
    bw_sql_copy(r, 3, k->rotated_to, sizeof k->rotated_to);
    k->created_ms = bw_sql_int(r, 4);
    k->expires_ms = bw_sql_int(r, 5);
    k->revoked_ms = bw_sql_int(r, 6);
    k->last_used_ms = bw_sql_int(r, 7);
    memcpy(k->role, "operator", sizeof "operator");
    memcpy(k->member_id, "operator", sizeof "operator"); /* the operator principal */
}

/* Rows are gathered first and fn runs after the transaction ends, so fn may use the store. */
struct op_list {
    struct bw_key_record v[BW_STORE_LIST_MAX];
    size_t n;
    int include_revoked;
};

static int op_list_row(void *arg, const struct bw_sql_row *r) {
    struct op_list *l = arg;
    if (l->n == BW_STORE_LIST_MAX)
        return 0;
    op_fill(r, &l->v[l->n++]);
    return 0;
}

static bw_err op_select(struct bw_store *s, struct op_list *l) {
    struct bw_sql_arg a = BW_SQL_I(l->include_revoked ? 1 : 0);
    return bw_sql_once(s, NULL, 0,
                       s->kind == BW_STORE_POSTGRES ? "SELECT " OP_COLUMNS
                                                      " FROM bulwark_operator_keys_list($1)"
                                                    : "SELECT " OP_COLUMNS " FROM operator_keys"
                                                      " WHERE $1 = 1 OR revoked_ms = 0"
                                                      " ORDER BY created_ms DESC, id LIMIT 1000",
                       &a, 1, op_list_row, l, NULL);
}

bw_err bw_store_operator_key_list(struct bw_store *s, int include_revoked, bw_store_key_fn fn,
                                  void *arg) {
    struct op_list *l = calloc(1, sizeof *l);
    BW_ENSURE(l, BW_E_NOMEM);
    l->include_revoked = include_revoked;
    bw_err e = op_select(s, l);
    for (size_t i = 0; e == BW_OK && i < l->n; i++)
        if (fn(arg, &l->v[i]) != 0)
            e = BW_E_INTERNAL;
    free(l);
    return e;
}

static int op_get_row(void *arg, const struct bw_sql_row *r) {
    op_fill(r, arg);
    return 0;
}

bw_err bw_store_operator_key_get(struct bw_store *s, const char *key_id,
                                 struct bw_key_record *out) {
    BW_ENSURE(bw_sql_id_ok(key_id), BW_E_NOT_FOUND);
    struct bw_key_record k;
    memset(&k, 0, sizeof k);
    struct bw_sql_arg a = BW_SQL_T(key_id);
    BW_TRY(bw_sql_once(s, NULL, 0,
                       s->kind == BW_STORE_POSTGRES
                           ? "SELECT " OP_COLUMNS " FROM bulwark_operator_key_get($1)"
                           : "SELECT " OP_COLUMNS " FROM operator_keys WHERE id = $1",
                       &a, 1, op_get_row, &k, NULL));
    BW_ENSURE(k.id[0], BW_E_NOT_FOUND);
    *out = k;
    return BW_OK;
}

static int int_row(void *arg, const struct bw_sql_row *r) {
    *(int64_t *)arg = bw_sql_int(r, 0);
    return 0;
}

/* SQLite: one IMMEDIATE transaction (the single writer), so the count and the update cannot
 * interleave with another revocation. */
static bw_err revoke_sqlite(struct bw_store *s, const char *key_id, int64_t now_ms, int keep_one,
                            int64_t *result) {
    struct bw_sql_arg a[2] = {BW_SQL_T(key_id), BW_SQL_I(now_ms)};
    int64_t others = 1, n = 0;
    BW_TRY(bw_sql_begin(s, NULL, 1));
    bw_err e = BW_OK;
    if (keep_one)
        e = bw_sql_run(s,
                       "SELECT count(*) FROM operator_keys WHERE id <> $1 AND revoked_ms = 0"
                       " AND (expires_ms = 0 OR expires_ms > $2)",
                       a, 2, int_row, &others, NULL);
    if (e == BW_OK && others > 0)
        e = bw_sql_run(s,
                       "UPDATE operator_keys SET revoked_ms = $2"
                       " WHERE id = $1 AND revoked_ms = 0",
                       a, 2, NULL, NULL, &n);
    if (e != BW_OK) {
        bw_sql_rollback(s);
        return e;
    }
    BW_TRY(bw_sql_commit(s));
    *result = others > 0 ? n : -1;
    return BW_OK;
}

bw_err bw_store_operator_key_revoke(struct bw_store *s, const char *key_id, int64_t now_ms,
                                    int keep_one) {
    BW_ENSURE(bw_sql_id_ok(key_id), BW_E_NOT_FOUND);
    int64_t result = 0;
    if (s->kind == BW_STORE_POSTGRES) {
        struct bw_sql_arg a[3] = {BW_SQL_T(key_id), BW_SQL_I(now_ms), BW_SQL_I(keep_one ? 1 : 0)};
        BW_TRY(bw_sql_once(s, NULL, 1, "SELECT bulwark_operator_key_revoke($1, $2, $3)", a, 3,
                           int_row, &result, NULL));
    } else {
        BW_TRY(revoke_sqlite(s, key_id, now_ms, keep_one, &result));
    }
    BW_ENSURE(result >= 0, BW_E_DENIED);
    return result == 1 ? BW_OK : BW_E_NOT_FOUND;
}

static bw_err rotate_sqlite(struct bw_store *s, const char *old_id, const struct bw_key_record *f,
                            int64_t grace_until_ms, int64_t now_ms) {
    struct bw_sql_arg a[4] = {BW_SQL_T(old_id), BW_SQL_T(f->id), BW_SQL_I(grace_until_ms),
                              BW_SQL_I(now_ms)};
    struct bw_sql_arg k[6] = {BW_SQL_T(f->id),         BW_SQL_T(f->name),
                              BW_SQL_B(f->hash, 32),   BW_SQL_I(f->created_ms),
                              BW_SQL_I(f->expires_ms), BW_SQL_T(f->created_by)};
    int64_t n = 0;
    BW_TRY(bw_sql_begin(s, NULL, 1));
    bw_err e = bw_sql_run(s,
                          "UPDATE operator_keys SET rotated_to = $2,"
                          " expires_ms = CASE WHEN expires_ms = 0 OR expires_ms > $3 THEN $3"
                          " ELSE expires_ms END"
                          " WHERE id = $1 AND revoked_ms = 0 AND rotated_to = ''"
                          " AND (expires_ms = 0 OR expires_ms > $4)",
                          a, 4, NULL, NULL, &n);
    if (e == BW_OK && n != 1)
        e = BW_E_NOT_FOUND;
    if (e == BW_OK)
        e = bw_sql_run(s,
                       "INSERT INTO operator_keys(id, name, hash, created_ms, expires_ms,"
                       " created_by) VALUES ($1, $2, $3, $4, $5, $6)",
                       k, 6, NULL, NULL, NULL);
    if (e != BW_OK) {
        bw_sql_rollback(s);
        return e;
    }
    return bw_sql_commit(s);
}

bw_err bw_store_operator_key_rotate(struct bw_store *s, const char *old_id,
                                    const struct bw_key_record *fresh, int64_t grace_until_ms,
                                    int64_t now_ms) {
    BW_ENSURE(bw_sql_id_ok(old_id) && bw_sql_id_ok(fresh->id), BW_E_NOT_FOUND);
    BW_ENSURE(strcmp(fresh->role, "operator") == 0 && !fresh->org_id[0], BW_E_INTERNAL);
    if (s->kind != BW_STORE_POSTGRES)
        return rotate_sqlite(s, old_id, fresh, grace_until_ms, now_ms);
    struct bw_sql_arg a[9] = {BW_SQL_T(old_id),
                              BW_SQL_T(fresh->id),
                              BW_SQL_T(fresh->name),
                              BW_SQL_B(fresh->hash, 32),
                              BW_SQL_I(fresh->created_ms),
                              BW_SQL_I(fresh->expires_ms),
                              BW_SQL_T(fresh->created_by),
                              BW_SQL_I(grace_until_ms),
                              BW_SQL_I(now_ms)};
    int64_t result = 0;
    BW_TRY(bw_sql_once(s, NULL, 1,
                       "SELECT bulwark_operator_key_rotate($1, $2, $3, $4, $5, $6, $7, $8, $9)", a,
                       9, int_row, &result, NULL));
    return result == 1 ? BW_OK : BW_E_NOT_FOUND;
}

bw_err bw_store_operator_key_touch(struct bw_store *s, const char *key_id, int64_t now_ms) {
    BW_ENSURE(bw_sql_id_ok(key_id), BW_E_NOT_FOUND);
    struct bw_sql_arg a[2] = {BW_SQL_T(key_id), BW_SQL_I(now_ms)};
    return bw_sql_once(s, NULL, 1,
                       s->kind == BW_STORE_POSTGRES ? "SELECT bulwark_operator_key_touch($1, $2)"
                                                    : "UPDATE operator_keys SET last_used_ms = $2"
                                                      " WHERE id = $1 AND last_used_ms < $2",
                       a, 2, NULL, NULL, NULL);
}
