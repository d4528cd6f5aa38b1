/* store_platform.c: what a master key rotation reads and writes, and the platform secrets
 * (connections.h, migration 7). Tenant secrets are re-wrapped org by org under that org's
 * tenant, so PostgreSQL's row-level security stays on; platform secrets have no tenant and go
 * through definer functions on PostgreSQL (src/store/pg/0007_platform_secrets.sql says why). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/connections.h"
#include "store/sql.h"
#include "store/store_internal.h"

#define PLATFORM_ID_MAX 32

static int platform_id_ok(const char *id) {
    size_t n = strnlen(id, PLATFORM_ID_MAX + 1);
    if (n == 0 || n > PLATFORM_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((id[i] >= 'a' && id[i] <= 'z') || id[i] == '_'))
            return 0;
    return 1;
}

struct blob_read {
    struct bw_secret_blob *rows;
    size_t max, n;
    int bad;
};

/* Columns: id, master_id, length(sealed), sealed. */
static int blob_row(void *arg, const struct bw_sql_row *r) {
    struct blob_read *x = arg;
    if (x->n >= x->max)
        return 0;
    struct bw_secret_blob *b = &x->rows[x->n];
    bw_sql_copy(r, 0, b->id, sizeof b->id);
    int64_t len = bw_sql_int(r, 2);
    if (bw_sql_blob(r, 1, b->master_id, sizeof b->master_id) != 0 || len <= 0 ||
        (uint64_t)len > sizeof b->sealed || bw_sql_blob(r, 3, b->sealed, (size_t)len) != 0) {
        x->bad = 1;
        return 0;
    }
    b->len = (size_t)len;
    x->n++;
    return 0;
}

bw_err bw_store_secrets_not_wrapped_by(struct bw_store *s, const char *org_id,
                                       const uint8_t master_id[BW_VAULT_MASTER_ID_BYTES],
                                       const char *after_id, size_t max,
                                       struct bw_secret_blob *rows, size_t *n) {
    BW_ENSURE(bw_sql_id_ok(org_id), BW_E_NOT_FOUND);
    BW_ENSURE(max > 0 && max <= 10000, BW_E_INVALID);
    struct blob_read x = {rows, max, 0, 0};
    struct bw_sql_arg v[4] = {BW_SQL_T(org_id), BW_SQL_B(master_id, BW_VAULT_MASTER_ID_BYTES),
                              BW_SQL_T(after_id), BW_SQL_I(max)};
    BW_TRY(bw_sql_once(s, org_id, 0,
                       /* the orgs' MCP server credentials are sealed records too (migration
                        * 10): their ids ("mcs_") never collide with secrets' ("sec_") */
                       "SELECT id, master_id, length(sealed), sealed FROM (SELECT id, master_id,"
                       " sealed FROM secrets WHERE org_id = $1 UNION ALL SELECT id, master_id,"
                       " sealed FROM mcp_servers WHERE org_id = $1 AND sealed IS NOT NULL"
                       /* and the orgs' SSO client secrets (migration 13, "sso_" ids) */
                       " UNION ALL SELECT id, master_id, sealed FROM sso_configs WHERE"
                       " org_id = $1) t"
                       " WHERE master_id <> $2 AND id > $3 ORDER BY id LIMIT $4",
                       v, 4, blob_row, &x, NULL));
    BW_ENSURE(!x.bad, BW_E_UNAVAILABLE);
    *n = x.n;
    return BW_OK;
}

bw_err bw_store_secrets_swap(struct bw_store *s, const char *org_id, const struct bw_secret_swap *v,
                             size_t n, size_t *swapped) {
    BW_ENSURE(bw_sql_id_ok(org_id), BW_E_NOT_FOUND);
    size_t done = 0;
    BW_TRY(bw_sql_begin(s, org_id, 1));
    bw_err e = BW_OK;
    for (size_t i = 0; e == BW_OK && i < n; i++) {
        struct bw_sql_arg a[5] = {BW_SQL_T(org_id), BW_SQL_T(v[i].id),
                                  BW_SQL_B(v[i].old, v[i].old_len), BW_SQL_B(v[i].sealed, v[i].len),
                                  BW_SQL_B(v[i].master_id, BW_VAULT_MASTER_ID_BYTES)};
        int64_t changed = 0, mcp = 0;
        e = bw_sql_run(s,
                       "UPDATE secrets SET sealed = $4, master_id = $5 WHERE org_id = $1 AND"
                       " id = $2 AND sealed = $3",
                       a, 5, NULL, NULL, &changed);
        if (e == BW_OK && changed == 0) /* an MCP server's credential (migration 11) */
            e = bw_sql_run(s,
                           "UPDATE mcp_servers SET sealed = $4, master_id = $5 WHERE org_id = $1"
                           " AND id = $2 AND sealed = $3",
                           a, 5, NULL, NULL, &mcp);
        int64_t sso = 0;
        if (e == BW_OK && changed + mcp == 0) /* an SSO client secret (migration 13) */
            e = bw_sql_run(s,
                           "UPDATE sso_configs SET sealed = $4, master_id = $5 WHERE org_id = $1"
                           " AND id = $2 AND sealed = $3",
                           a, 5, NULL, NULL, &sso);
        done += changed + mcp + sso == 1;
    }
    if (e != BW_OK) {
        bw_sql_rollback(s);
        return e;
    }
    BW_TRY(bw_sql_commit(s));
    *swapped = done;
    return BW_OK;
}

bw_err bw_store_platform_secret_get(struct bw_store *s, const char *id,
                                    struct bw_secret_blob *out) {
    BW_ENSURE(platform_id_ok(id), BW_E_NOT_FOUND);
    struct blob_read x = {out, 1, 0, 0};
    struct bw_sql_arg v = BW_SQL_T(id);
    BW_TRY(bw_sql_once(s, NULL, 0,
                       s->kind == BW_STORE_POSTGRES
                           ? "SELECT id, master_id, length(sealed), sealed FROM"
                             " bulwark_platform_secret_get($1)"
                           : "SELECT id, master_id, length(sealed), sealed FROM platform_secrets"
                             " WHERE id = $1",
                       &v, 1, blob_row, &x, NULL));
    BW_ENSURE(!x.bad, BW_E_UNAVAILABLE);
    BW_ENSURE(x.n == 1, BW_E_NOT_FOUND);
    return BW_OK;
}

static int count_row(void *arg, const struct bw_sql_row *r) {
    *(int64_t *)arg = bw_sql_int(r, 0);
    return 0;
}

bw_err bw_store_platform_secret_create(struct bw_store *s, const char *id,
                                       const struct bw_sealed_secret *sec, int64_t now_ms,
                                       int *created) {
    BW_ENSURE(platform_id_ok(id), BW_E_INVALID);
    struct bw_sql_arg v[4] = {BW_SQL_T(id), BW_SQL_B(sec->sealed, sec->sealed_len),
                              BW_SQL_B(sec->master_id, sizeof sec->master_id), BW_SQL_I(now_ms)};
    int64_t n = 0;
    if (s->kind == BW_STORE_POSTGRES)
        BW_TRY(bw_sql_once(s, NULL, 1, "SELECT bulwark_platform_secret_create($1, $2, $3, $4)", v,
                           4, count_row, &n, NULL));
    else
        BW_TRY(bw_sql_once(s, NULL, 1,
                           "INSERT INTO platform_secrets(id, sealed, master_id, created_ms,"
                           " updated_ms) VALUES ($1, $2, $3, $4, $4) ON CONFLICT (id) DO NOTHING",
                           v, 4, NULL, NULL, &n));
    *created = n == 1;
    return BW_OK;
}

bw_err bw_store_platform_secret_swap(struct bw_store *s, const struct bw_secret_swap *w,
                                     int64_t now_ms, int *swapped) {
    BW_ENSURE(platform_id_ok(w->id), BW_E_NOT_FOUND);
    struct bw_sql_arg v[5] = {BW_SQL_T(w->id), BW_SQL_B(w->old, w->old_len),
                              BW_SQL_B(w->sealed, w->len),
                              BW_SQL_B(w->master_id, BW_VAULT_MASTER_ID_BYTES), BW_SQL_I(now_ms)};
    int64_t n = 0;
    if (s->kind == BW_STORE_POSTGRES)
        BW_TRY(bw_sql_once(s, NULL, 1, "SELECT bulwark_platform_secret_swap($1, $2, $3, $4, $5)", v,
                           5, count_row, &n, NULL));
    else
        BW_TRY(bw_sql_once(s, NULL, 1,
                           "UPDATE platform_secrets SET sealed = $3, master_id = $4,"
                           " updated_ms = $5 WHERE id = $1 AND sealed = $2",
                           v, 5, NULL, NULL, &n));
    *swapped = n == 1;
    return BW_OK;
}

struct platform_list {
    struct {
        char id[PLATFORM_ID_MAX + 1];
        uint8_t master_id[BW_VAULT_MASTER_ID_BYTES];
    } v[1000];
    size_t n;
    int bad;
};

static int platform_list_row(void *arg, const struct bw_sql_row *r) {
    struct platform_list *l = arg;
    if (l->n >= sizeof l->v / sizeof l->v[0])
        return 0;
    bw_sql_copy(r, 0, l->v[l->n].id, sizeof l->v[l->n].id);
    if (bw_sql_blob(r, 1, l->v[l->n].master_id, BW_VAULT_MASTER_ID_BYTES) != 0)
        l->bad = 1;
    l->n++;
    return 0;
}

bw_err bw_store_platform_secrets_each(struct bw_store *s, bw_store_platform_fn fn, void *arg) {
    struct platform_list *l = calloc(1, sizeof *l);
    BW_ENSURE(l, BW_E_NOMEM);
    bw_err e = bw_sql_once(s, NULL, 0,
                           s->kind == BW_STORE_POSTGRES
                               ? "SELECT id, master_id FROM bulwark_platform_secrets_list()"
                               : "SELECT id, master_id FROM platform_secrets ORDER BY id"
                                 " LIMIT 1000",
                           NULL, 0, platform_list_row, l, NULL);
    if (e == BW_OK && l->bad)
        e = BW_E_UNAVAILABLE;
    for (size_t i = 0; e == BW_OK && i < l->n; i++)
        if (fn(arg, l->v[i].id, l->v[i].master_id) != 0)
            e = BW_E_INTERNAL;
    free(l);
    return e;
}
