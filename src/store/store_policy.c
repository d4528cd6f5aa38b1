/* store_policy.c: org policies (org_policy.h) on both backends through sql.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/org_policy.h"
#include "store/sql.h"

bw_err bw_store_org_policy_put(struct bw_store *s, const char *org_id, const char *text,
                               size_t len, const uint8_t sha256[32], int64_t now_ms,
                               const char *updated_by) {
    BW_ENSURE(bw_sql_id_ok(org_id), BW_E_NOT_FOUND);
    BW_ENSURE(strlen(text) == len, BW_E_INVALID); /* no NUL inside: TEXT columns end there */
    struct bw_sql_arg a[5] = {BW_SQL_T(org_id), BW_SQL_T(text), BW_SQL_B(sha256, 32),
                              BW_SQL_I(now_ms), BW_SQL_T(updated_by)};
    return bw_sql_once(s, org_id, 1,
                       "INSERT INTO org_policies(org_id, text, sha256, updated_ms, updated_by)"
                       " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (org_id) DO UPDATE SET"
                       " text = excluded.text, sha256 = excluded.sha256,"
                       " updated_ms = excluded.updated_ms, updated_by = excluded.updated_by",
                       a, 5, NULL, NULL, NULL);
}

bw_err bw_store_org_policy_delete(struct bw_store *s, const char *org_id) {
    BW_ENSURE(bw_sql_id_ok(org_id), BW_E_NOT_FOUND);
    struct bw_sql_arg a = BW_SQL_T(org_id);
    int64_t n = 0;
    BW_TRY(bw_sql_once(s, org_id, 1, "DELETE FROM org_policies WHERE org_id = $1", &a, 1, NULL,
                       NULL, &n));
    return n == 1 ? BW_OK : BW_E_NOT_FOUND;
}

struct found {
    struct bw_org_policy_meta meta;
    char *text;
    size_t len;
    int rows, bad, want_text;
};

static int policy_row(void *arg, const struct bw_sql_row *r) {
    struct found *f = arg;
    f->rows++;
    if (bw_sql_blob(r, 0, f->meta.sha256, 32) != 0)
        f->bad = 1;
    f->meta.updated_ms = bw_sql_int(r, 1);
    bw_sql_copy(r, 2, f->meta.updated_by, sizeof f->meta.updated_by);
    if (f->want_text) {
        const char *t = bw_sql_text(r, 3);
        f->len = strlen(t);
        f->text = malloc(f->len + 1);
        if (!f->text)
            return 1;
        memcpy(f->text, t, f->len + 1);
    }
    return 0;
}

static bw_err read_policy(struct bw_store *s, const char *org_id, struct found *f) {
    BW_ENSURE(bw_sql_id_ok(org_id), BW_E_NOT_FOUND);
    struct bw_sql_arg a = BW_SQL_T(org_id);
    bw_err e = bw_sql_once(s, org_id, 0,
                           f->want_text ? "SELECT sha256, updated_ms, updated_by, text"
                                          " FROM org_policies WHERE org_id = $1"
                                        : "SELECT sha256, updated_ms, updated_by"
                                          " FROM org_policies WHERE org_id = $1",
                           &a, 1, policy_row, f, NULL);
    if (e == BW_OK && f->bad)
        e = BW_E_UNAVAILABLE;
    if (e == BW_OK && f->rows == 0)
        e = BW_E_NOT_FOUND;
    if (e != BW_OK) {
        free(f->text);
        f->text = NULL;
    }
    return e;
}

bw_err bw_store_org_policy_meta(struct bw_store *s, const char *org_id,
                                struct bw_org_policy_meta *out) {
    struct found f;
    memset(&f, 0, sizeof f);
    BW_TRY(read_policy(s, org_id, &f));
    *out = f.meta;
    return BW_OK;
}

bw_err bw_store_org_policy_get(struct bw_store *s, const char *org_id, char **text, size_t *len,
                               struct bw_org_policy_meta *meta) {
    struct found f;
    memset(&f, 0, sizeof f);
    f.want_text = 1;
    BW_TRY(read_policy(s, org_id, &f));
    *text = f.text;
    *len = f.len;
    if (meta)
        *meta = f.meta;
    return BW_OK;
}
