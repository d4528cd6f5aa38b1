/* store_billing.c: usage metering rows and billing state (store.h, migration 2), one code path
 * for both backends through sql.h.
 *
 * Tenant reads bind org_id and run in the org's scope (row-level security on PostgreSQL).
 * Two reads are not a tenant's: the month totals that restore budgets at start (PostgreSQL:
 * the SECURITY DEFINER function bulwark_usage_month_totals, sums only) and the billing-event
 * lookup by event id (bulwark_billing_event_outcome: an outcome word only). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/sql.h"
#include "store/store.h"
#include "store/store_internal.h"
#include "util/buf.h"
#include "util/time.h"

static int is_pg(const struct bw_store *s) {
    return s->kind == BW_STORE_POSTGRES;
}

/* ---- usage ---- */

bw_err bw_store_usage_insert(struct bw_store *s, const struct bw_usage_record *u) {
    BW_ENSURE(u->org_id[0] && u->model[0], BW_E_INVALID);
    BW_ENSURE(u->prompt_tokens >= 0 && u->completion_tokens >= 0 && u->total_tokens >= 0 &&
                  u->cost_micros >= 0,
              BW_E_INVALID);
    char id[BW_ID_SIZE];
    if (u->id[0])
        snprintf(id, sizeof id, "%s", u->id);
    else
        bw_store_new_id("use", id);
    static const char sql[] =
        "INSERT INTO usage(id, org_id, agent, key_id, model, prompt_tokens, completion_tokens,"
        " total_tokens, cost_micros, status, started_ms, ended_ms, month, receipt_id, estimated)"
        " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15)";
    struct bw_sql_arg a[15] = {
        BW_SQL_T(id),
        BW_SQL_T(u->org_id),
        BW_SQL_T(u->agent),
        BW_SQL_T(u->key_id),
        BW_SQL_T(u->model),
        BW_SQL_I(u->prompt_tokens),
        BW_SQL_I(u->completion_tokens),
        BW_SQL_I(u->total_tokens),
        BW_SQL_I(u->cost_micros),
        BW_SQL_T(u->status),
        BW_SQL_I(u->started_ms),
        BW_SQL_I(u->ended_ms),
        BW_SQL_I(u->month),
        BW_SQL_T(u->receipt_id),
        BW_SQL_I(u->estimated ? 1 : 0),
    };
    if (!s->in_tx) /* one row, its own transaction */
        return bw_sql_once(s, u->org_id, 1, sql, a, 15, NULL, NULL, NULL);
    /* inside a metering batch: each row under its own org */
    BW_TRY(bw_sql_tenant(s, u->org_id));
    return bw_sql_run(s, sql, a, 15, NULL, NULL, NULL);
}

/* ---- usage, a batch (PostgreSQL) ----
 * One INSERT ... SELECT FROM unnest(arrays) per org in the batch, instead of a set_config and
 * an INSERT per row: the rows' columns travel as 15 array parameters, so the statement is
 * parsed once per org per batch whatever the batch size (issue 15: per-row statements were
 * most of PostgreSQL's CPU per call). */

#define USAGE_COLS 15
#define USAGE_CHUNK 512 /* rows per statement: bounds the arrays (a few hundred KiB) */

static const char usage_unnest_sql[] =
    "INSERT INTO usage(id, org_id, agent, key_id, model, prompt_tokens, completion_tokens,"
    " total_tokens, cost_micros, status, started_ms, ended_ms, month, receipt_id, estimated)"
    " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],"
    " $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::text[], $11::bigint[],"
    " $12::bigint[], $13::integer[], $14::text[], $15::integer[])";

static int usage_row_ok(const struct bw_usage_record *u) {
    return u->org_id[0] && u->model[0] && u->prompt_tokens >= 0 && u->completion_tokens >= 0 &&
           u->total_tokens >= 0 && u->cost_micros >= 0;
}

/* Appends one element of a text[] literal: always quoted, '"' and '\' escaped (array input
 * syntax), so no value can end the element or the array early. */
static bw_err array_text(struct bw_buf *b, const char *v, int first) {
    BW_TRY(bw_buf_append_str(b, first ? "{\"" : ",\""));
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\')
            BW_TRY(bw_buf_append(b, "\\", 1));
        BW_TRY(bw_buf_append(b, p, 1));
    }
    return bw_buf_append(b, "\"", 1);
}

static bw_err array_int(struct bw_buf *b, int64_t v, int first) {
    return bw_buf_appendf(b, "%s%lld", first ? "{" : ",", (long long)v);
}

/* The 15 column arrays of rows[0..n) into cols (reset first), each closed with '}'. */
static bw_err usage_arrays(const struct bw_usage_record *rows, const size_t *pick, size_t n,
                           struct bw_buf cols[USAGE_COLS]) {
    for (int c = 0; c < USAGE_COLS; c++)
        bw_buf_reset(&cols[c]);
    for (size_t i = 0; i < n; i++) {
        const struct bw_usage_record *u = &rows[pick[i]];
        char id[BW_ID_SIZE];
        if (u->id[0])
            snprintf(id, sizeof id, "%s", u->id);
        else
            bw_store_new_id("use", id);
        int f = i == 0;
        BW_TRY(array_text(&cols[0], id, f));
        BW_TRY(array_text(&cols[1], u->org_id, f));
        BW_TRY(array_text(&cols[2], u->agent, f));
        BW_TRY(array_text(&cols[3], u->key_id, f));
        BW_TRY(array_text(&cols[4], u->model, f));
        BW_TRY(array_int(&cols[5], u->prompt_tokens, f));
        BW_TRY(array_int(&cols[6], u->completion_tokens, f));
        BW_TRY(array_int(&cols[7], u->total_tokens, f));
        BW_TRY(array_int(&cols[8], u->cost_micros, f));
        BW_TRY(array_text(&cols[9], u->status, f));
        BW_TRY(array_int(&cols[10], u->started_ms, f));
        BW_TRY(array_int(&cols[11], u->ended_ms, f));
        BW_TRY(array_int(&cols[12], u->month, f));
        BW_TRY(array_text(&cols[13], u->receipt_id, f));
        BW_TRY(array_int(&cols[14], u->estimated ? 1 : 0, f));
    }
    for (int c = 0; c < USAGE_COLS; c++)
        BW_TRY(bw_buf_append(&cols[c], "}", 2)); /* with the NUL: a C string for the bind */
    return BW_OK;
}

/* Rows pick[0..n) (one org) in statements of at most USAGE_CHUNK rows. */
static bw_err usage_insert_org(struct bw_store *s, const struct bw_usage_record *rows,
                               const size_t *pick, size_t n, struct bw_buf cols[USAGE_COLS]) {
    BW_TRY(bw_sql_tenant(s, rows[pick[0]].org_id));
    for (size_t at = 0; at < n; at += USAGE_CHUNK) {
        size_t k = n - at < USAGE_CHUNK ? n - at : USAGE_CHUNK;
        BW_TRY(usage_arrays(rows, pick + at, k, cols));
        struct bw_sql_arg a[USAGE_COLS];
        for (int c = 0; c < USAGE_COLS; c++)
            a[c] = BW_SQL_T((const char *)cols[c].ptr);
        BW_TRY(bw_sql_run(s, usage_unnest_sql, a, USAGE_COLS, NULL, NULL, NULL));
    }
    return BW_OK;
}

static bw_err usage_insert_pg(struct bw_store *s, const struct bw_usage_record *rows, size_t n) {
    size_t *pick = calloc(n, sizeof *pick);
    unsigned char *done = calloc(n, 1);
    struct bw_buf cols[USAGE_COLS];
    for (int c = 0; c < USAGE_COLS; c++)
        bw_buf_init(&cols[c], 64u << 20);
    bw_err result = pick && done ? BW_OK : BW_E_NOMEM;
    for (size_t i = 0; result == BW_OK && i < n; i++) {
        if (done[i])
            continue;
        size_t k = 0; /* rows i.. of the same org, in batch order */
        for (size_t j = i; j < n; j++)
            if (!done[j] && strcmp(rows[j].org_id, rows[i].org_id) == 0) {
                pick[k++] = j;
                done[j] = 1;
            }
        result = usage_insert_org(s, rows, pick, k, cols);
    }
    for (int c = 0; c < USAGE_COLS; c++)
        bw_buf_cleanup(&cols[c]);
    free(pick);
    free(done);
    return result;
}

bw_err bw_store_usage_insert_many(struct bw_store *s, const struct bw_usage_record *rows,
                                  size_t n) {
    BW_ENSURE(s->in_tx, BW_E_INTERNAL);
    for (size_t i = 0; i < n; i++)
        BW_ENSURE(usage_row_ok(&rows[i]), BW_E_INVALID);
    if (n == 0)
        return BW_OK;
    if (is_pg(s))
        return usage_insert_pg(s, rows, n);
    for (size_t i = 0; i < n; i++) /* SQLite: a prepared statement in-process, row by row */
        BW_TRY(bw_store_usage_insert(s, &rows[i]));
    return BW_OK;
}

struct totals {
    bw_store_usage_total_fn fn;
    void *arg;
};

static int total_row(void *arg, const struct bw_sql_row *r) {
    struct totals *t = arg;
    return t->fn(t->arg, bw_sql_text(r, 0), bw_sql_text(r, 1), bw_sql_int(r, 2), bw_sql_int(r, 3));
}

bw_err bw_store_usage_month_totals(struct bw_store *s, int32_t month, bw_store_usage_total_fn fn,
                                   void *arg) {
    /* per agent, and the org's total as agent '' (an org row is not the sum of agent rows
     * when some calls have no agent, so it is computed separately) */
    static const char lite[] =
        "SELECT org_id, agent, SUM(total_tokens), SUM(cost_micros) FROM usage"
        " WHERE month = $1 AND agent <> '' GROUP BY org_id, agent"
        " UNION ALL"
        " SELECT org_id, '', SUM(total_tokens), SUM(cost_micros) FROM usage"
        " WHERE month = $1 GROUP BY org_id";
    static const char pg[] =
        "SELECT org_id, agent, tokens, cost_micros FROM bulwark_usage_month_totals($1)";
    struct totals t = {fn, arg};
    struct bw_sql_arg a = BW_SQL_I(month);
    return bw_sql_once(s, NULL, 0, is_pg(s) ? pg : lite, &a, 1, total_row, &t, NULL);
}

static int two_ints(void *arg, const struct bw_sql_row *r) {
    int64_t *v = arg;
    v[0] = bw_sql_int(r, 0);
    v[1] = bw_sql_int(r, 1);
    return 0;
}

bw_err bw_store_usage_month_org(struct bw_store *s, const char *org_id, int32_t month,
                                int64_t *tokens, int64_t *cost_micros) {
    int64_t v[2] = {0, 0};
    struct bw_sql_arg a[2] = {BW_SQL_T(org_id), BW_SQL_I(month)};
    BW_TRY(bw_sql_once(s, org_id, 0,
                       "SELECT COALESCE(SUM(total_tokens),0), COALESCE(SUM(cost_micros),0)"
                       " FROM usage WHERE org_id = $1 AND month = $2",
                       a, 2, two_ints, v, NULL));
    *tokens = v[0];
    *cost_micros = v[1];
    return BW_OK;
}

struct usage_rows {
    bw_store_usage_row_fn fn;
    void *arg;
    size_t rows, max_rows;
    int over;
};

static int usage_row(void *arg, const struct bw_sql_row *r) {
    struct usage_rows *u = arg;
    if (++u->rows > u->max_rows) {
        u->over = 1;
        return 1;
    }
    struct bw_usage_row row = {bw_sql_text(r, 0), bw_sql_int(r, 1), bw_sql_int(r, 2),
                               bw_sql_int(r, 3),  bw_sql_int(r, 4), bw_sql_int(r, 5)};
    return u->fn(u->arg, &row);
}

/* The statement for a grouping: fixed texts, never caller text. Days are UTC. */
static const char *usage_sql(const struct bw_store *s, enum bw_usage_group group) {
#define USAGE_SQL(KEY)                                                                             \
    "SELECT " KEY " AS g, COUNT(*), SUM(prompt_tokens), SUM(completion_tokens),"                   \
    " SUM(total_tokens), SUM(cost_micros) FROM usage"                                              \
    " WHERE org_id = $1 AND started_ms >= $2 AND started_ms < $3 GROUP BY g ORDER BY g"
    static const char none[] = USAGE_SQL("''");
    static const char model[] = USAGE_SQL("model");
    static const char agent[] = USAGE_SQL("agent");
    static const char day_lite[] =
        USAGE_SQL("strftime('%Y-%m-%d', started_ms / 1000, 'unixepoch')");
    static const char day_pg[] =
        USAGE_SQL("to_char(to_timestamp(started_ms / 1000) AT TIME ZONE 'UTC', 'YYYY-MM-DD')");
#undef USAGE_SQL
    switch (group) {
    case BW_USAGE_BY_NONE:
        return none;
    case BW_USAGE_BY_MODEL:
        return model;
    case BW_USAGE_BY_AGENT:
        return agent;
    case BW_USAGE_BY_DAY:
        return is_pg(s) ? day_pg : day_lite;
    default:
        return NULL;
    }
}

bw_err bw_store_usage_query(struct bw_store *s, const char *org_id, int64_t from_ms, int64_t to_ms,
                            enum bw_usage_group group, size_t max_rows, bw_store_usage_row_fn fn,
                            void *arg) {
    const char *sql = usage_sql(s, group);
    BW_ENSURE(sql, BW_E_INVALID);
    struct usage_rows u = {fn, arg, 0, max_rows, 0};
    struct bw_sql_arg a[3] = {BW_SQL_T(org_id), BW_SQL_I(from_ms), BW_SQL_I(to_ms)};
    bw_err e = bw_sql_once(s, org_id, 0, sql, a, 3, usage_row, &u, NULL);
    return u.over ? BW_E_TOO_LARGE : e;
}

/* ---- billing ---- */

struct state_found {
    struct bw_billing_state b;
    int found;
};

static int state_row(void *arg, const struct bw_sql_row *r) {
    struct state_found *f = arg;
    memset(&f->b, 0, sizeof f->b);
    bw_sql_copy(r, 0, f->b.org_id, sizeof f->b.org_id);
    bw_sql_copy(r, 1, f->b.plan, sizeof f->b.plan);
    f->b.monthly_tokens = bw_sql_int(r, 2);
    f->b.monthly_cost_micros = bw_sql_int(r, 3);
    f->b.event_created = bw_sql_int(r, 4);
    bw_sql_copy(r, 5, f->b.event_id, sizeof f->b.event_id);
    f->b.updated_ms = bw_sql_int(r, 6);
    f->found = 1;
    return 0;
}

static const char state_sql[] =
    "SELECT org_id, plan, monthly_tokens, monthly_cost_micros, event_created, event_id,"
    " updated_ms FROM org_billing WHERE org_id = $1";

bw_err bw_store_billing_get(struct bw_store *s, const char *org_id, struct bw_billing_state *out) {
    struct state_found f = {.found = 0};
    struct bw_sql_arg a = BW_SQL_T(org_id);
    BW_TRY(bw_sql_once(s, org_id, 0, state_sql, &a, 1, state_row, &f, NULL));
    BW_ENSURE(f.found, BW_E_NOT_FOUND);
    *out = f.b;
    return BW_OK;
}

static int outcome_row(void *arg, const struct bw_sql_row *r) {
    bw_sql_copy(r, 0, arg, 16);
    return 0;
}

bw_err bw_store_billing_event_seen(struct bw_store *s, const char *event_id, char outcome[16]) {
    char found[16] = "";
    struct bw_sql_arg a = BW_SQL_T(event_id);
    BW_TRY(bw_sql_once(s, NULL, 0,
                       is_pg(s) ? "SELECT bulwark_billing_event_outcome($1)"
                                : "SELECT outcome FROM billing_events WHERE event_id = $1",
                       &a, 1, outcome_row, found, NULL));
    BW_ENSURE(found[0], BW_E_NOT_FOUND);
    memcpy(outcome, found, sizeof found);
    return BW_OK;
}

/* In the open scope (tenant = the event's org): claims the event id first. An id already
 * recorded (by any org: the primary key is enforced across row-level security) inserts nothing:
 * *dup = 1. The outcome is corrected by apply once decided. */
static bw_err claim_event(struct bw_store *s, const struct bw_billing_event *ev, int *dup) {
    int64_t n = 0;
    struct bw_sql_arg a[6] = {BW_SQL_T(ev->event_id),
                              BW_SQL_T(ev->org_id ? ev->org_id : ""),
                              BW_SQL_T(ev->type),
                              BW_SQL_I(ev->created),
                              BW_SQL_T(ev->receipt_id ? ev->receipt_id : ""),
                              BW_SQL_I(bw_now_ms())};
    BW_TRY(bw_sql_run(s,
                      "INSERT INTO billing_events(event_id, org_id, type, created, outcome,"
                      " receipt_id, received_ms) VALUES ($1, $2, $3, $4, 'ignored', $5, $6)"
                      " ON CONFLICT (event_id) DO NOTHING",
                      a, 6, NULL, NULL, &n));
    *dup = n == 0;
    return BW_OK;
}

static bw_err set_outcome(struct bw_store *s, const char *event_id, const char *outcome) {
    struct bw_sql_arg a[2] = {BW_SQL_T(event_id), BW_SQL_T(outcome)};
    return bw_sql_run(s, "UPDATE billing_events SET outcome = $2 WHERE event_id = $1", a, 2, NULL,
                      NULL, NULL);
}

static bw_err upsert_state(struct bw_store *s, const struct bw_billing_state *b) {
    struct bw_sql_arg a[7] = {BW_SQL_T(b->org_id),         BW_SQL_T(b->plan),
                              BW_SQL_I(b->monthly_tokens), BW_SQL_I(b->monthly_cost_micros),
                              BW_SQL_I(b->event_created),  BW_SQL_T(b->event_id),
                              BW_SQL_I(b->updated_ms)};
    return bw_sql_run(s,
                      "INSERT INTO org_billing(org_id, plan, monthly_tokens, monthly_cost_micros,"
                      " event_created, event_id, updated_ms) VALUES ($1,$2,$3,$4,$5,$6,$7)"
                      " ON CONFLICT (org_id) DO UPDATE SET plan = excluded.plan,"
                      " monthly_tokens = excluded.monthly_tokens,"
                      " monthly_cost_micros = excluded.monthly_cost_micros,"
                      " event_created = excluded.event_created, event_id = excluded.event_id,"
                      " updated_ms = excluded.updated_ms",
                      a, 7, NULL, NULL, NULL);
}

/* The decision inside the open scope. */
static bw_err apply_in_scope(struct bw_store *s, const struct bw_billing_event *ev,
                             const struct bw_billing_state *state, enum bw_billing_outcome *o) {
    int dup = 0;
    BW_TRY(claim_event(s, ev, &dup));
    if (dup) {
        *o = BW_BILLING_DUPLICATE;
        return BW_OK;
    }
    if (!state) {
        *o = BW_BILLING_IGNORED;
        return BW_OK; /* recorded as 'ignored' by the claim */
    }
    struct state_found cur = {.found = 0};
    struct bw_sql_arg a = BW_SQL_T(state->org_id);
    BW_TRY(bw_sql_run(s, state_sql, &a, 1, state_row, &cur, NULL));
    if (cur.found && cur.b.event_created > ev->created) {
        *o = BW_BILLING_STALE;
        return set_outcome(s, ev->event_id, "stale");
    }
    BW_TRY(upsert_state(s, state));
    *o = BW_BILLING_APPLIED;
    return set_outcome(s, ev->event_id, "applied");
}

bw_err bw_store_billing_apply(struct bw_store *s, const struct bw_billing_event *ev,
                              const struct bw_billing_state *state,
                              enum bw_billing_outcome *outcome) {
    const char *org = state ? state->org_id : ev->org_id ? ev->org_id : "";
    enum bw_billing_outcome o = BW_BILLING_IGNORED;
    BW_TRY(bw_sql_begin(s, org, 1));
    bw_err e = apply_in_scope(s, ev, state, &o);
    if (e != BW_OK || o == BW_BILLING_DUPLICATE) {
        bw_sql_rollback(s);
        if (e == BW_OK)
            *outcome = o;
        return e;
    }
    BW_TRY(bw_sql_commit(s));
    *outcome = o;
    return BW_OK;
}
