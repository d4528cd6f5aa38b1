/* store_vault.c: connections and their sealed secrets (connections.h), one code path for both
 * backends through sql.h. The sealed column is read by exactly one function
 * (bw_store_connection_sealed); listings select metadata only. */
#include <stdio.h>
#include <string.h>

#include "store/connections.h"
#include "store/identity.h"
#include "store/sql.h"
#include "store/store_internal.h"

#define CONN_COLUMNS                                                                               \
    "c.id, c.org_id, c.kind, c.name, c.url, c.secret_id, c.status, c.status_reason,"               \
    " s.fingerprint, c.verified_ms, c.created_ms, s.updated_ms, s.last_used_ms"
#define CONN_FROM " FROM connections c JOIN secrets s ON s.org_id = c.org_id AND s.id = c.secret_id"

static void conn_fill(const struct bw_sql_row *r, struct bw_connection_record *c) {
    memset(c, 0, sizeof *c);
    bw_sql_copy(r, 0, c->id, sizeof c->id);
    bw_sql_copy(r, 1, c->org_id, sizeof c->org_id);
    bw_sql_copy(r, 2, c->kind, sizeof c->kind);
    bw_sql_copy(r, 3, c->name, sizeof c->name);
    bw_sql_copy(r, 4, c->url, sizeof c->url);
    bw_sql_copy(r, 5, c->secret_id, sizeof c->secret_id);
    bw_sql_copy(r, 6, c->status, sizeof c->status);
    bw_sql_copy(r, 7, c->status_reason, sizeof c->status_reason);
    bw_sql_copy(r, 8, c->fingerprint, sizeof c->fingerprint);
    c->verified_ms = bw_sql_int(r, 9);
    c->created_ms = bw_sql_int(r, 10);
    c->secret_updated_ms = bw_sql_int(r, 11);
    c->last_used_ms = bw_sql_int(r, 12);
}

bw_err bw_store_connection_create(struct bw_store *s, const struct bw_connection_record *c,
                                  const struct bw_sealed_secret *sec) {
    BW_ENSURE(bw_sql_id_ok(c->org_id) && bw_sql_id_ok(c->id) && bw_sql_id_ok(c->secret_id),
              BW_E_NOT_FOUND);
    struct bw_sql_arg a[8] = {
        BW_SQL_T(c->secret_id),
        BW_SQL_T(c->org_id),
        BW_SQL_T(c->kind),
        BW_SQL_T(c->name),
        BW_SQL_B(sec->sealed, sec->sealed_len),
        BW_SQL_B(sec->master_id, sizeof sec->master_id),
        BW_SQL_T(sec->fingerprint),
        BW_SQL_I(c->created_ms),
    };
    struct bw_sql_arg b[8] = {
        BW_SQL_T(c->id),  BW_SQL_T(c->org_id),    BW_SQL_T(c->kind),        BW_SQL_T(c->name),
        BW_SQL_T(c->url), BW_SQL_T(c->secret_id), BW_SQL_I(c->verified_ms), BW_SQL_I(c->created_ms),
    };
    BW_TRY(bw_sql_begin(s, c->org_id, 1));
    bw_err e = bw_sql_run(s,
                          "INSERT INTO secrets(id, org_id, kind, name, sealed, master_id,"
                          " fingerprint, created_ms, updated_ms) VALUES ($1, $2, $3, $4, $5, $6,"
                          " $7, $8, $8)",
                          a, 8, NULL, NULL, NULL);
    if (e == BW_OK)
        e = bw_sql_run(s,
                       "INSERT INTO connections(id, org_id, kind, name, url, secret_id, status,"
                       " verified_ms, created_ms) VALUES ($1, $2, $3, $4, $5, $6, 'healthy', $7,"
                       " $8)",
                       b, 8, NULL, NULL, NULL);
    if (e != BW_OK) {
        bw_sql_rollback(s);
        return e;
    }
    return bw_sql_commit(s);
}

struct conn_each {
    bw_store_connection_fn fn;
    void *arg;
};

static int conn_row(void *arg, const struct bw_sql_row *r) {
    struct conn_each *e = arg;
    struct bw_connection_record c;
    conn_fill(r, &c);
    return e->fn(e->arg, &c);
}

bw_err bw_store_connection_list(struct bw_store *s, const char *org_id, bw_store_connection_fn fn,
                                void *arg) {
    BW_ENSURE(bw_sql_id_ok(org_id), BW_E_NOT_FOUND);
    struct conn_each e = {fn, arg};
    struct bw_sql_arg v[2] = {BW_SQL_T(org_id), BW_SQL_I(BW_STORE_LIST_MAX)};
    return bw_sql_once(s, org_id, 0,
                       "SELECT " CONN_COLUMNS CONN_FROM " WHERE c.org_id = $1 ORDER BY c.name"
                       " LIMIT $2",
                       v, 2, conn_row, &e, NULL);
}

static int conn_one(void *arg, const struct bw_connection_record *c) {
    *(struct bw_connection_record *)arg = *c;
    return 0;
}

bw_err bw_store_connection_get(struct bw_store *s, const char *org_id, const char *id,
                               struct bw_connection_record *out) {
    BW_ENSURE(bw_sql_id_ok(org_id) && bw_sql_id_ok(id), BW_E_NOT_FOUND);
    struct bw_connection_record c;
    memset(&c, 0, sizeof c);
    struct conn_each e = {conn_one, &c};
    struct bw_sql_arg v[2] = {BW_SQL_T(org_id), BW_SQL_T(id)};
    BW_TRY(bw_sql_once(s, org_id, 0,
                       "SELECT " CONN_COLUMNS CONN_FROM " WHERE c.org_id = $1 AND c.id = $2", v, 2,
                       conn_row, &e, NULL));
    BW_ENSURE(c.id[0], BW_E_NOT_FOUND);
    *out = c;
    return BW_OK;
}

struct sealed_read {
    struct bw_connection_record c;
    uint8_t *out;
    size_t size, len;
    int found, bad;
};

static int sealed_row(void *arg, const struct bw_sql_row *r) {
    struct sealed_read *x = arg;
    conn_fill(r, &x->c);
    int64_t n = bw_sql_int(r, 13);
    x->found = 1;
    if (n <= 0 || (uint64_t)n > x->size) {
        x->bad = 2;
        return 0;
    }
    if (bw_sql_blob(r, 14, x->out, (size_t)n) != 0)
        x->bad = 1;
    x->len = (size_t)n;
    return 0;
}

bw_err bw_store_connection_sealed(struct bw_store *s, const char *org_id, const char *id,
                                  int64_t now_ms, struct bw_connection_record *out, uint8_t *sealed,
                                  size_t size, size_t *sealed_len) {
    BW_ENSURE(bw_sql_id_ok(org_id) && bw_sql_id_ok(id), BW_E_NOT_FOUND);
    struct sealed_read x;
    memset(&x, 0, sizeof x);
    x.out = sealed;
    x.size = size;
    struct bw_sql_arg v[3] = {BW_SQL_T(org_id), BW_SQL_T(id), BW_SQL_I(now_ms)};
    BW_TRY(bw_sql_begin(s, org_id, 1));
    bw_err e = bw_sql_run(s,
                          "SELECT " CONN_COLUMNS ", length(s.sealed), s.sealed" CONN_FROM
                          " WHERE c.org_id = $1 AND c.id = $2",
                          v, 2, sealed_row, &x, NULL);
    if (e == BW_OK && x.found && !x.bad)
        e = bw_sql_run(s,
                       "UPDATE secrets SET last_used_ms = $3 WHERE org_id = $1 AND id IN"
                       " (SELECT secret_id FROM connections WHERE org_id = $1 AND id = $2)"
                       " AND last_used_ms < $3",
                       v, 3, NULL, NULL, NULL);
    if (e != BW_OK) {
        bw_sql_rollback(s);
        return e;
    }
    BW_TRY(bw_sql_commit(s));
    BW_ENSURE(x.found, BW_E_NOT_FOUND);
    BW_ENSURE(x.bad != 2, BW_E_TOO_LARGE);
    BW_ENSURE(!x.bad, BW_E_UNAVAILABLE);
    x.c.last_used_ms = now_ms;
    *out = x.c;
    *sealed_len = x.len;
    return BW_OK;
}

/* Waiting rows of a connection that has just been verified go out now rather than after
 * their backoff. */
static const char due_now_sql[] =
    "UPDATE outbox SET next_attempt_ms = $3 WHERE org_id = $1 AND connection_id = $2"
    " AND state IN ('pending', 'failed') AND next_attempt_ms > $3";

bw_err bw_store_connection_replace(struct bw_store *s, const char *org_id, const char *id,
                                   const char *url, const struct bw_sealed_secret *sec,
                                   int64_t now_ms) {
    BW_ENSURE(bw_sql_id_ok(org_id) && bw_sql_id_ok(id), BW_E_NOT_FOUND);
    struct bw_sql_arg v[6] = {BW_SQL_T(org_id),
                              BW_SQL_T(id),
                              BW_SQL_I(now_ms),
                              BW_SQL_B(sec->sealed, sec->sealed_len),
                              BW_SQL_B(sec->master_id, sizeof sec->master_id),
                              BW_SQL_T(sec->fingerprint)};
    int64_t n = 0;
    BW_TRY(bw_sql_begin(s, org_id, 1));
    bw_err e = bw_sql_run(s,
                          "UPDATE secrets SET sealed = $4, master_id = $5, fingerprint = $6,"
                          " updated_ms = $3 WHERE org_id = $1 AND id IN (SELECT secret_id FROM"
                          " connections WHERE org_id = $1 AND id = $2)",
                          v, 6, NULL, NULL, &n);
    if (e == BW_OK && n != 1)
        e = BW_E_NOT_FOUND;
    if (e == BW_OK)
        e = bw_sql_run(s,
                       "UPDATE connections SET status = 'healthy', status_reason = '',"
                       " verified_ms = $3, url = $4 WHERE org_id = $1 AND id = $2",
                       (struct bw_sql_arg[4]){v[0], v[1], v[2], BW_SQL_T(url)}, 4, NULL, NULL,
                       NULL);
    if (e == BW_OK)
        e = bw_sql_run(s, due_now_sql, v, 3, NULL, NULL, NULL);
    if (e != BW_OK) {
        bw_sql_rollback(s);
        return e;
    }
    return bw_sql_commit(s);
}

bw_err bw_store_connection_status(struct bw_store *s, const char *org_id, const char *id,
                                  int healthy, const char *reason, int64_t now_ms) {
    BW_ENSURE(bw_sql_id_ok(org_id) && bw_sql_id_ok(id), BW_E_NOT_FOUND);
    struct bw_sql_arg v[5] = {BW_SQL_T(org_id), BW_SQL_T(id), BW_SQL_I(now_ms),
                              BW_SQL_T(healthy ? "healthy" : "unhealthy"),
                              BW_SQL_T(healthy ? "" : reason)};
    int64_t n = 0;
    BW_TRY(bw_sql_begin(s, org_id, 1));
    bw_err e = bw_sql_run(s,
                          "UPDATE connections SET status = $4, status_reason = $5,"
                          " verified_ms = $3 WHERE org_id = $1 AND id = $2",
                          v, 5, NULL, NULL, &n);
    if (e == BW_OK && n != 1)
        e = BW_E_NOT_FOUND;
    if (e == BW_OK && healthy)
        e = bw_sql_run(s, due_now_sql, v, 3, NULL, NULL, NULL);
    if (e != BW_OK) {
        bw_sql_rollback(s);
        return e;
    }
    return bw_sql_commit(s);
}

bw_err bw_store_connection_delete(struct bw_store *s, const char *org_id, const char *id) {
    struct bw_connection_record c;
    BW_TRY(bw_store_connection_get(s, org_id, id, &c));
    struct bw_sql_arg v[3] = {BW_SQL_T(org_id), BW_SQL_T(id), BW_SQL_T(c.secret_id)};
    int64_t n = 0;
    BW_TRY(bw_sql_begin(s, org_id, 1));
    bw_err e = bw_sql_run(s, "DELETE FROM connections WHERE org_id = $1 AND id = $2", v, 2, NULL,
                          NULL, &n);
    if (e == BW_OK && n != 1)
        e = BW_E_NOT_FOUND;
    if (e == BW_OK)
        e = bw_sql_run(s, "DELETE FROM secrets WHERE org_id = $1 AND id = $2",
                       (struct bw_sql_arg[2]){v[0], v[2]}, 2, NULL, NULL, NULL);
    if (e != BW_OK) {
        bw_sql_rollback(s);
        return e;
    }
    return bw_sql_commit(s);
}

/* ---- BYOK ---- */

struct provider_read {
    struct bw_provider_key_record rec;
    uint8_t *out;
    size_t size, len;
    int found, bad;
};

static int provider_row(void *arg, const struct bw_sql_row *r) {
    struct provider_read *x = arg;
    x->found = 1;
    bw_sql_copy(r, 0, x->rec.secret_id, sizeof x->rec.secret_id);
    bw_sql_copy(r, 1, x->rec.fingerprint, sizeof x->rec.fingerprint);
    x->rec.created_ms = bw_sql_int(r, 2);
    x->rec.updated_ms = bw_sql_int(r, 3);
    if (!x->out)
        return 0;
    int64_t n = bw_sql_int(r, 4);
    if (n <= 0 || (uint64_t)n > x->size) {
        x->bad = 2;
        return 0;
    }
    if (bw_sql_blob(r, 5, x->out, (size_t)n) != 0)
        x->bad = 1;
    x->len = (size_t)n;
    return 0;
}

bw_err bw_store_provider_key_get(struct bw_store *s, const char *org_id,
                                 struct bw_provider_key_record *out, uint8_t *sealed, size_t size,
                                 size_t *sealed_len) {
    BW_ENSURE(bw_sql_id_ok(org_id), BW_E_NOT_FOUND);
    struct provider_read x;
    memset(&x, 0, sizeof x);
    x.out = sealed;
    x.size = size;
    struct bw_sql_arg v = BW_SQL_T(org_id);
    BW_TRY(bw_sql_once(s, org_id, 0,
                       sealed ? "SELECT id, fingerprint, created_ms, updated_ms, length(sealed),"
                                " sealed FROM secrets WHERE org_id = $1 AND kind = 'provider'"
                              : "SELECT id, fingerprint, created_ms, updated_ms FROM secrets"
                                " WHERE org_id = $1 AND kind = 'provider'",
                       &v, 1, provider_row, &x, NULL));
    BW_ENSURE(x.found, BW_E_NOT_FOUND);
    BW_ENSURE(x.bad != 2, BW_E_TOO_LARGE);
    BW_ENSURE(!x.bad, BW_E_UNAVAILABLE);
    *out = x.rec;
    if (sealed_len)
        *sealed_len = x.len;
    return BW_OK;
}

bw_err bw_store_provider_key_put(struct bw_store *s, const char *org_id, const char *secret_id,
                                 const struct bw_sealed_secret *sec, int64_t now_ms) {
    BW_ENSURE(bw_sql_id_ok(org_id) && bw_sql_id_ok(secret_id), BW_E_NOT_FOUND);
    struct bw_sql_arg v[6] = {BW_SQL_T(secret_id),
                              BW_SQL_T(org_id),
                              BW_SQL_B(sec->sealed, sec->sealed_len),
                              BW_SQL_B(sec->master_id, sizeof sec->master_id),
                              BW_SQL_T(sec->fingerprint),
                              BW_SQL_I(now_ms)};
    /* The conflict target is the id: a second key under another id hits the per-org unique
     * index instead and is refused (BW_E_EXISTS). */
    return bw_sql_once(s, org_id, 1,
                       "INSERT INTO secrets(id, org_id, kind, name, sealed, master_id, fingerprint,"
                       " created_ms, updated_ms) VALUES ($1, $2, 'provider', 'provider', $3, $4,"
                       " $5, $6, $6) ON CONFLICT (id) DO UPDATE SET sealed = excluded.sealed,"
                       " master_id = excluded.master_id, fingerprint = excluded.fingerprint,"
                       " updated_ms = excluded.updated_ms WHERE secrets.org_id = excluded.org_id"
                       " AND secrets.kind = 'provider'",
                       v, 6, NULL, NULL, NULL);
}

bw_err bw_store_provider_key_delete(struct bw_store *s, const char *org_id) {
    BW_ENSURE(bw_sql_id_ok(org_id), BW_E_NOT_FOUND);
    struct bw_sql_arg v = BW_SQL_T(org_id);
    int64_t n = 0;
    BW_TRY(bw_sql_once(s, org_id, 1, "DELETE FROM secrets WHERE org_id = $1 AND kind = 'provider'",
                       &v, 1, NULL, NULL, &n));
    return n > 0 ? BW_OK : BW_E_NOT_FOUND;
}
