/* store_leases.c: budget pools, lease rows and shared rate buckets (leases.h, migration 5), one
 * code path for both backends through sql.h.
 *
 * Integer parameters inside expressions are written CAST($n AS BIGINT): PostgreSQL infers an
 * untyped parameter compared with a literal as int4, which would refuse budgets past 2^31.
 * Portable CASE expressions stand in for LEAST/GREATEST (PostgreSQL) and min/max (SQLite).
 * In an UPDATE every SET expression sees the row as it was before the statement, so the grant
 * is computed once per column from the same old values. */
#include <stdio.h>
#include <string.h>

#include "limits/limits.h"
#include "store/leases.h"
#include "store/sql.h"
#include "store/store_internal.h"

#define RATE_UNIT 60000LL /* bucket units per token: a rate of R per minute adds R per ms */
#define AMOUNT_MAX BW_LIMITS_MAX_BUDGET

static int amount_ok(int64_t v) {
    return v >= 0 && v <= AMOUNT_MAX;
}

static int limit_ok(int64_t v) {
    return v == -1 || amount_ok(v);
}

static int scope_ok(const struct bw_lease_scope *sc) {
    return sc && sc->org_id && bw_sql_id_ok(sc->org_id) && sc->agent && strlen(sc->agent) < 128 &&
           sc->month > 0;
}

static int holder_ok(const struct bw_lease_holder *h) {
    return h && h->replica && h->replica[0] && strlen(h->replica) <= 64;
}

/* ---- budget pools ---- */

#define LIM_T "CAST($4 AS BIGINT)"
#define LIM_C "CAST($5 AS BIGINT)"
#define WANT_T "CAST($6 AS BIGINT)"
#define WANT_C "CAST($7 AS BIGINT)"
#define NEED_T "CAST($8 AS BIGINT)"
#define NEED_C "CAST($9 AS BIGINT)"
#define DIV "CAST($10 AS BIGINT)"
/* grant = min(rem, max(need, min(want, rem / div))), rem = limit - granted: a fraction of what
 * the pool has NOW, so leases shrink as it empties whoever emptied it; 0 when unlimited. */
#define GRANT_OF(LIM, GRANTED, WANT, NEED)                                                         \
    "(CASE WHEN " LIM " < 0 THEN 0 WHEN (CASE WHEN (CASE WHEN (" LIM " - " GRANTED ") / " DIV      \
    " < " WANT " THEN (" LIM " - " GRANTED ") / " DIV " ELSE " WANT " END) < " NEED " THEN " NEED  \
    " ELSE (CASE WHEN (" LIM " - " GRANTED ") / " DIV " < " WANT " THEN (" LIM " - " GRANTED       \
    ") / " DIV " ELSE " WANT " END) END) > " LIM " - " GRANTED " THEN " LIM " - " GRANTED          \
    " ELSE (CASE WHEN (CASE WHEN (" LIM " - " GRANTED ") / " DIV " < " WANT " THEN (" LIM          \
    " - " GRANTED ") / " DIV " ELSE " WANT " END) < " NEED " THEN " NEED " ELSE (CASE WHEN (" LIM  \
    " - " GRANTED ") / " DIV " < " WANT " THEN (" LIM " - " GRANTED ") / " DIV " ELSE " WANT       \
    " END) END) END)"
#define GRANT_T GRANT_OF(LIM_T, "granted_tokens", WANT_T, NEED_T)
#define GRANT_C GRANT_OF(LIM_C, "granted_cost", WANT_C, NEED_C)

/* The grant: never past the limit (WHERE), never below need, at most want. */
static const char grant_sql[] =
    "UPDATE budget_pools SET last_grant_tokens = " GRANT_T ", last_grant_cost = " GRANT_C ","
    " granted_tokens = granted_tokens + " GRANT_T ", granted_cost = granted_cost + " GRANT_C
    " WHERE org_id = $1 AND agent = $2 AND month = $3"
    " AND (" LIM_T " < 0 OR " LIM_T " - granted_tokens >= " NEED_T ")"
    " AND (" LIM_C " < 0 OR " LIM_C " - granted_cost >= " NEED_C ")"
    " RETURNING last_grant_tokens, last_grant_cost, granted_tokens, granted_cost";

/* A new pool starts with what the month's usage rows already hold for the scope. The SELECT's
 * WHERE also keeps SQLite's parser from reading ON CONFLICT as a join constraint. */
static const char pool_create_sql[] =
    "INSERT INTO budget_pools(org_id, agent, month, granted_tokens, granted_cost)"
    " SELECT $1, $2, $3, COALESCE(SUM(total_tokens), 0), COALESCE(SUM(cost_micros), 0)"
    " FROM usage WHERE org_id = $1 AND month = $3 AND ($2 = '' OR agent = $2)"
    " ON CONFLICT (org_id, agent, month) DO NOTHING";

static const char pool_get_sql[] = "SELECT granted_tokens, granted_cost FROM budget_pools"
                                   " WHERE org_id = $1 AND agent = $2 AND month = $3";

static const char lease_grant_sql[] =
    "INSERT INTO budget_leases(org_id, agent, month, replica, incarnation, granted_tokens,"
    " granted_cost, updated_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    " ON CONFLICT (org_id, agent, month, replica, incarnation) DO UPDATE SET"
    " granted_tokens = budget_leases.granted_tokens + excluded.granted_tokens,"
    " granted_cost = budget_leases.granted_cost + excluded.granted_cost,"
    " state = 'open', updated_ms = excluded.updated_ms";

struct grant_row {
    int found;
    int64_t v[4];
};

static int four_ints(void *arg, const struct bw_sql_row *r) {
    struct grant_row *g = arg;
    g->found = 1;
    for (int i = 0; i < 4; i++)
        g->v[i] = bw_sql_int(r, i);
    return 0;
}

static int two_ints(void *arg, const struct bw_sql_row *r) {
    struct grant_row *g = arg;
    g->found = 1;
    g->v[0] = bw_sql_int(r, 0);
    g->v[1] = bw_sql_int(r, 1);
    return 0;
}

static int64_t left_of(int64_t limit, int64_t granted) {
    if (limit < 0)
        return -1;
    return limit > granted ? limit - granted : 0;
}

/* Inside the open scope: the grant, creating the pool if it does not exist yet. */
static bw_err grant_in_scope(struct bw_store *s, const struct bw_lease_scope *sc,
                             const struct bw_budget_ask *ask, struct grant_row *g) {
    struct bw_sql_arg a[10] = {
        BW_SQL_T(sc->org_id),      BW_SQL_T(sc->agent),
        BW_SQL_I(sc->month),       BW_SQL_I(ask->limit_tokens),
        BW_SQL_I(ask->limit_cost), BW_SQL_I(ask->want_tokens),
        BW_SQL_I(ask->want_cost),  BW_SQL_I(ask->need_tokens),
        BW_SQL_I(ask->need_cost),  BW_SQL_I(ask->divisor > 0 ? ask->divisor : 1),
    };
    int64_t n = 0;
    BW_TRY(bw_sql_run(s, grant_sql, a, 10, four_ints, g, &n));
    if (g->found)
        return BW_OK;
    /* No row changed: either the pool is short or it does not exist yet. */
    struct grant_row cur = {0, {0}};
    BW_TRY(bw_sql_run(s, pool_get_sql, a, 3, two_ints, &cur, NULL));
    if (cur.found) {
        g->v[2] = cur.v[0];
        g->v[3] = cur.v[1];
        return BW_E_LIMIT;
    }
    BW_TRY(bw_sql_run(s, pool_create_sql, a, 3, NULL, NULL, NULL));
    BW_TRY(bw_sql_run(s, grant_sql, a, 10, four_ints, g, &n));
    if (g->found)
        return BW_OK;
    BW_TRY(bw_sql_run(s, pool_get_sql, a, 3, two_ints, &cur, NULL));
    g->v[2] = cur.v[0];
    g->v[3] = cur.v[1];
    return BW_E_LIMIT;
}

bw_err bw_store_budget_lease(struct bw_store *s, const struct bw_lease_scope *sc,
                             const struct bw_lease_holder *h, const struct bw_budget_ask *ask,
                             int64_t now_ms, struct bw_budget_grant *out) {
    BW_ENSURE(scope_ok(sc) && holder_ok(h) && ask, BW_E_INVALID);
    BW_ENSURE(limit_ok(ask->limit_tokens) && limit_ok(ask->limit_cost), BW_E_INVALID);
    BW_ENSURE(amount_ok(ask->need_tokens) && amount_ok(ask->need_cost) &&
                  amount_ok(ask->want_tokens) && amount_ok(ask->want_cost) &&
                  ask->want_tokens >= ask->need_tokens && ask->want_cost >= ask->need_cost &&
                  ask->divisor >= 0 && ask->divisor <= 1000000,
              BW_E_INVALID);
    struct grant_row g = {0, {0}};
    BW_TRY(bw_sql_begin(s, sc->org_id, 1));
    bw_err e = grant_in_scope(s, sc, ask, &g);
    if (e == BW_OK) {
        struct bw_sql_arg a[8] = {BW_SQL_T(sc->org_id),     BW_SQL_T(sc->agent),
                                  BW_SQL_I(sc->month),      BW_SQL_T(h->replica),
                                  BW_SQL_I(h->incarnation), BW_SQL_I(g.v[0]),
                                  BW_SQL_I(g.v[1]),         BW_SQL_I(now_ms)};
        e = bw_sql_run(s, lease_grant_sql, a, 8, NULL, NULL, NULL);
    }
    if (e != BW_OK) {
        bw_sql_rollback(s);
        if (e == BW_E_LIMIT) {
            out->tokens = out->cost = 0;
            out->left_tokens = left_of(ask->limit_tokens, g.v[2]);
            out->left_cost = left_of(ask->limit_cost, g.v[3]);
        }
        return e;
    }
    BW_TRY(bw_sql_commit(s));
    out->tokens = g.v[0];
    out->cost = g.v[1];
    out->left_tokens = left_of(ask->limit_tokens, g.v[2]);
    out->left_cost = left_of(ask->limit_cost, g.v[3]);
    return BW_OK;
}

static const char return_sql[] =
    "UPDATE budget_pools SET"
    " granted_tokens = CASE WHEN granted_tokens - CAST($4 AS BIGINT) < 0 THEN 0"
    " ELSE granted_tokens - CAST($4 AS BIGINT) END,"
    " granted_cost = CASE WHEN granted_cost - CAST($5 AS BIGINT) < 0 THEN 0"
    " ELSE granted_cost - CAST($5 AS BIGINT) END"
    " WHERE org_id = $1 AND agent = $2 AND month = $3";

static const char lease_return_sql[] =
    "INSERT INTO budget_leases(org_id, agent, month, replica, incarnation, returned_tokens,"
    " returned_cost, state, updated_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, 'returned', $8)"
    " ON CONFLICT (org_id, agent, month, replica, incarnation) DO UPDATE SET"
    " returned_tokens = budget_leases.returned_tokens + excluded.returned_tokens,"
    " returned_cost = budget_leases.returned_cost + excluded.returned_cost,"
    " state = 'returned', updated_ms = excluded.updated_ms";

bw_err bw_store_budget_return(struct bw_store *s, const struct bw_lease_scope *sc,
                              const struct bw_lease_holder *h, int64_t tokens, int64_t cost,
                              int64_t now_ms) {
    BW_ENSURE(scope_ok(sc) && holder_ok(h), BW_E_INVALID);
    BW_ENSURE(tokens >= -AMOUNT_MAX && tokens <= AMOUNT_MAX && cost >= -AMOUNT_MAX &&
                  cost <= AMOUNT_MAX,
              BW_E_INVALID);
    struct bw_sql_arg a[8] = {BW_SQL_T(sc->org_id), BW_SQL_T(sc->agent),     BW_SQL_I(sc->month),
                              BW_SQL_I(tokens),     BW_SQL_I(cost),          BW_SQL_I(now_ms),
                              BW_SQL_T(h->replica), BW_SQL_I(h->incarnation)};
    struct bw_sql_arg l[8] = {a[0], a[1], a[2], a[6], a[7], a[3], a[4], a[5]};
    BW_TRY(bw_sql_begin(s, sc->org_id, 1));
    bw_err e = bw_sql_run(s, return_sql, a, 5, NULL, NULL, NULL);
    if (e == BW_OK)
        e = bw_sql_run(s, lease_return_sql, l, 8, NULL, NULL, NULL);
    if (e != BW_OK) {
        bw_sql_rollback(s);
        return e;
    }
    return bw_sql_commit(s);
}

bw_err bw_store_budget_leases_lost(struct bw_store *s, const char *org_id,
                                   const struct bw_lease_holder *h, int64_t now_ms, int64_t *n) {
    BW_ENSURE(org_id && bw_sql_id_ok(org_id) && holder_ok(h), BW_E_INVALID);
    struct bw_sql_arg a[4] = {BW_SQL_T(org_id), BW_SQL_T(h->replica), BW_SQL_I(h->incarnation),
                              BW_SQL_I(now_ms)};
    int64_t changed = 0;
    BW_TRY(bw_sql_once(s, org_id, 1,
                       "UPDATE budget_leases SET state = 'lost', updated_ms = $4"
                       " WHERE org_id = $1 AND replica = $2 AND incarnation <> $3"
                       " AND state = 'open'",
                       a, 4, NULL, NULL, &changed));
    if (n)
        *n = changed;
    return BW_OK;
}

bw_err bw_store_budget_pool_get(struct bw_store *s, const struct bw_lease_scope *sc,
                                int64_t *granted_tokens, int64_t *granted_cost) {
    BW_ENSURE(scope_ok(sc), BW_E_INVALID);
    struct bw_sql_arg a[3] = {BW_SQL_T(sc->org_id), BW_SQL_T(sc->agent), BW_SQL_I(sc->month)};
    struct grant_row g = {0, {0}};
    BW_TRY(bw_sql_once(s, sc->org_id, 0, pool_get_sql, a, 3, two_ints, &g, NULL));
    BW_ENSURE(g.found, BW_E_NOT_FOUND);
    *granted_tokens = g.v[0];
    *granted_cost = g.v[1];
    return BW_OK;
}

/* ---- rate buckets ---- */

#define NOW "CAST($3 AS BIGINT)"
#define RATE "CAST($4 AS BIGINT)"
#define CAP "CAST($5 AS BIGINT)"

/* Refill to now (overflow-free: elapsed * rate is only computed below the room left plus one
 * rate, as in limits.c); a burst lowered since the last refill caps the level at once. */
static const char refill_sql[] =
    "UPDATE rate_buckets SET"
    " level = CASE WHEN " NOW " <= last_ms THEN (CASE WHEN level > " CAP " THEN " CAP
    " ELSE level END)"
    " WHEN " NOW " - last_ms >= (" CAP " - level) / " RATE " + 1 THEN " CAP " ELSE level + (" NOW
    " - last_ms) * " RATE " END,"
    " last_ms = CASE WHEN " NOW " > last_ms THEN " NOW " ELSE last_ms END"
    " WHERE org_id = $1 AND bucket = $2";

static const char bucket_create_sql[] =
    "INSERT INTO rate_buckets(org_id, bucket, level, last_ms) VALUES ($1, $2, $3, $4)"
    " ON CONFLICT (org_id, bucket) DO NOTHING";

#define TAKE                                                                                       \
    "(CASE WHEN level / 60000 < CAST($3 AS BIGINT) THEN level / 60000"                             \
    " ELSE CAST($3 AS BIGINT) END)"
static const char take_sql[] =
    "UPDATE rate_buckets SET last_grant = " TAKE ", level = level - 60000 * " TAKE
    " WHERE org_id = $1 AND bucket = $2 AND level >= 60000 * CAST($4 AS BIGINT)"
    " RETURNING last_grant";

static int one_int(void *arg, const struct bw_sql_row *r) {
    struct grant_row *g = arg;
    g->found = 1;
    g->v[0] = bw_sql_int(r, 0);
    return 0;
}

static bw_err rate_in_scope(struct bw_store *s, const struct bw_rate_ask *q, int64_t now_ms,
                            int64_t *granted, int64_t *retry_after_ms) {
    int64_t cap = q->burst * RATE_UNIT;
    struct bw_sql_arg a[5] = {BW_SQL_T(q->org_id), BW_SQL_T(q->bucket), BW_SQL_I(now_ms),
                              BW_SQL_I(q->rate_per_min), BW_SQL_I(cap)};
    int64_t n = 0;
    BW_TRY(bw_sql_run(s, refill_sql, a, 5, NULL, NULL, &n));
    if (n == 0) {
        struct bw_sql_arg c[4] = {a[0], a[1], BW_SQL_I(cap), BW_SQL_I(now_ms)};
        BW_TRY(bw_sql_run(s, bucket_create_sql, c, 4, NULL, NULL, NULL));
    }
    struct bw_sql_arg t[4] = {a[0], a[1], BW_SQL_I(q->want), BW_SQL_I(q->need)};
    struct grant_row g = {0, {0}};
    BW_TRY(bw_sql_run(s, take_sql, t, 4, one_int, &g, NULL));
    if (g.found) {
        *granted = g.v[0];
        return BW_OK;
    }
    g.found = 0;
    BW_TRY(bw_sql_run(s, "SELECT level FROM rate_buckets WHERE org_id = $1 AND bucket = $2", a, 2,
                      one_int, &g, NULL));
    if (q->need > q->burst) {
        *retry_after_ms = -1;
    } else {
        int64_t missing = q->need * RATE_UNIT - g.v[0];
        int64_t ms = missing > 0 ? (missing + q->rate_per_min - 1) / q->rate_per_min : 1;
        *retry_after_ms = ms < 1 ? 1 : ms;
    }
    return BW_E_LIMIT;
}

bw_err bw_store_rate_lease(struct bw_store *s, const struct bw_rate_ask *q, int64_t now_ms,
                           int64_t *granted, int64_t *retry_after_ms) {
    BW_ENSURE(q && q->org_id && bw_sql_id_ok(q->org_id) && q->bucket && q->bucket[0] &&
                  strlen(q->bucket) < 256,
              BW_E_INVALID);
    BW_ENSURE(q->rate_per_min >= 1 && q->rate_per_min <= BW_LIMITS_MAX_RATE && q->burst >= 1 &&
                  q->burst <= BW_LIMITS_MAX_RATE && q->need >= 1 && q->want >= q->need &&
                  q->want <= BW_LIMITS_MAX_RATE && now_ms >= 0,
              BW_E_INVALID);
    int64_t got = 0, retry = 0;
    BW_TRY(bw_sql_begin(s, q->org_id, 1));
    bw_err e = rate_in_scope(s, q, now_ms, &got, &retry);
    if (e == BW_E_LIMIT) {
        bw_sql_rollback(s); /* the refill is recomputed next time: nothing lost */
        *retry_after_ms = retry;
        return e;
    }
    if (e != BW_OK) {
        bw_sql_rollback(s);
        return e;
    }
    BW_TRY(bw_sql_commit(s));
    *granted = got;
    return BW_OK;
}
