/* store_policy.c: org policies (org_policy.h) on both backends through sql.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/org_policy.h"
#include "store/sql.h"
#include "util/codec.h"

bw_err bw_store_org_policy_put(struct bw_store *s, const char *org_id, const char *text, size_t len,
                               const uint8_t sha256[32], int64_t now_ms, const char *updated_by) {
    BW_ENSURE(bw_sql_id_ok(org_id), BW_E_NOT_FOUND);
    BW_ENSURE(strlen(text) == len, BW_E_INVALID); /* no NUL inside: TEXT columns end there */
    struct bw_sql_arg a[5] = {BW_SQL_T(org_id), BW_SQL_T(text), BW_SQL_B(sha256, 32),
                              BW_SQL_I(now_ms), BW_SQL_T(updated_by)};
    /* Versions are kept by hash (the evidence of older receipts); one is active. */
    BW_TRY(bw_sql_begin(s, org_id, 1));
    bw_err e = bw_sql_run(s, "UPDATE org_policies SET active = 0 WHERE org_id = $1 AND active = 1",
                          a, 1, NULL, NULL, NULL);
    if (e == BW_OK)
        e = bw_sql_run(s,
                       "INSERT INTO org_policies(org_id, text, sha256, updated_ms, updated_by,"
                       " active) VALUES ($1, $2, $3, $4, $5, 1) ON CONFLICT (org_id, sha256)"
                       " DO UPDATE SET active = 1, updated_ms = excluded.updated_ms,"
                       " updated_by = excluded.updated_by",
                       a, 5, NULL, NULL, NULL);
    /* and among the texts kept for evidence, which outlive the org (migration 8) */
    if (e == BW_OK)
        e = bw_sql_run(s,
                       "INSERT INTO policy_texts(org_id, sha256, text, created_ms)"
                       " VALUES ($1, $3, $2, $4) ON CONFLICT (org_id, sha256) DO NOTHING",
                       a, 4, NULL, NULL, NULL);
    if (e != BW_OK) {
        bw_sql_rollback(s);
        return e;
    }
    return bw_sql_commit(s);
}

bw_err bw_store_org_policy_delete(struct bw_store *s, const char *org_id) {
    BW_ENSURE(bw_sql_id_ok(org_id), BW_E_NOT_FOUND);
    struct bw_sql_arg a = BW_SQL_T(org_id);
    int64_t n = 0;
    BW_TRY(bw_sql_once(s, org_id, 1,
                       "UPDATE org_policies SET active = 0 WHERE org_id = $1 AND active = 1", &a, 1,
                       NULL, NULL, &n));
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
                                          " FROM org_policies WHERE org_id = $1 AND active = 1"
                                        : "SELECT sha256, updated_ms, updated_by"
                                          " FROM org_policies WHERE org_id = $1 AND active = 1",
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

struct versions {
    bw_store_org_policy_fn fn;
    void *arg;
    char **texts;
    size_t n, cap;
};

static int version_row(void *arg, const struct bw_sql_row *r) {
    struct versions *v = arg;
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 8;
        char **t = realloc(v->texts, cap * sizeof *t);
        if (!t)
            return 1;
        v->texts = t;
        v->cap = cap;
    }
    const char *text = bw_sql_text(r, 0);
    size_t len = strlen(text);
    if (!(v->texts[v->n] = malloc(len + 1)))
        return 1;
    memcpy(v->texts[v->n++], text, len + 1);
    return 0;
}

/* Hands the gathered texts to their callback (outside the transaction), frees them, and
 * returns the query's error or, if fn stopped, BW_E_INTERNAL. */
static bw_err deliver_versions(struct versions *v, bw_err e) {
    for (size_t i = 0; i < v->n; i++) {
        if (e == BW_OK && v->fn(v->arg, v->texts[i], strlen(v->texts[i])) != 0)
            e = BW_E_INTERNAL;
        free(v->texts[i]);
    }
    free(v->texts);
    return e;
}

bw_err bw_store_org_policy_each(struct bw_store *s, const char *org_id, size_t max,
                                bw_store_org_policy_fn fn, void *arg) {
    BW_ENSURE(bw_sql_id_ok(org_id), BW_E_NOT_FOUND);
    struct versions v = {fn, arg, NULL, 0, 0};
    struct bw_sql_arg a[2] = {BW_SQL_T(org_id), BW_SQL_I((int64_t)max)};
    /* gathered first: fn runs outside the transaction */
    bw_err e = bw_sql_once(s, org_id, 0,
                           "SELECT text FROM org_policies WHERE org_id = $1"
                           " ORDER BY updated_ms, sha256 LIMIT $2",
                           a, 2, version_row, &v, NULL);
    return deliver_versions(&v, e);
}

/* ---- policy texts for evidence (migration 8) ---- */

bw_err bw_store_policy_text_put(struct bw_store *s, const char *org_id, const char *text,
                                size_t len, int64_t now_ms) {
    const char *org = org_id ? org_id : "";
    BW_ENSURE(!org[0] || bw_sql_id_ok(org), BW_E_NOT_FOUND);
    BW_ENSURE(strlen(text) == len, BW_E_INVALID); /* no NUL inside: TEXT columns end there */
    uint8_t sha[32];
    bw_sha256(text, len, sha);
    struct bw_sql_arg a[4] = {BW_SQL_T(org), BW_SQL_B(sha, 32), BW_SQL_T(text), BW_SQL_I(now_ms)};
    return bw_sql_once(s, org[0] ? org : NULL, 1,
                       "INSERT INTO policy_texts(org_id, sha256, text, created_ms)"
                       " VALUES ($1, $2, $3, $4) ON CONFLICT (org_id, sha256) DO NOTHING",
                       a, 4, NULL, NULL, NULL);
}

bw_err bw_store_policy_texts_each(struct bw_store *s, const char *org_id, size_t max,
                                  bw_store_org_policy_fn fn, void *arg) {
    BW_ENSURE(!org_id || bw_sql_id_ok(org_id), BW_E_NOT_FOUND);
    struct versions v = {fn, arg, NULL, 0, 0};
    struct bw_sql_arg a[2] = {BW_SQL_I((int64_t)max), BW_SQL_T(org_id ? org_id : "")};
    /* gathered first: fn runs outside the transaction. Without an org: every row the scope
     * shows (SQLite: all; PostgreSQL without a tenant: the platform's). */
    bw_err e = bw_sql_once(s, org_id, 0,
                           org_id ? "SELECT text FROM policy_texts WHERE org_id = $2 OR"
                                    " org_id = '' ORDER BY sha256 LIMIT $1"
                                  : "SELECT text FROM policy_texts ORDER BY sha256 LIMIT $1",
                           a, org_id ? 2 : 1, version_row, &v, NULL);
    return deliver_versions(&v, e);
}
