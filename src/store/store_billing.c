/* store_billing.c: usage metering rows and billing state (store.h, migration 2).
 *
 * Every statement is prepared with bound parameters; tenant reads bind org_id. */
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "store/store.h"
#include "store/store_internal.h"
#include "util/time.h"

/* The SQLite handle, or NULL for the PostgreSQL backend, whose spend tables (migration 0002
 * with row-level security) are not written yet: its callers get BW_E_UNAVAILABLE, i.e. deny. */
static sqlite3 *db_of(struct bw_store *s) {
    return s && s->kind == BW_STORE_SQLITE ? s->db : NULL;
}

static void copy_col(sqlite3_stmt *st, int col, char *out, size_t size) {
    const unsigned char *t = sqlite3_column_text(st, col);
    snprintf(out, size, "%s", t ? (const char *)t : "");
}

static bw_err prepare(struct bw_store *s, const char *sql, sqlite3_stmt **st) {
    sqlite3 *db = db_of(s);
    if (!db)
        return BW_E_UNAVAILABLE;
    return sqlite3_prepare_v2(db, sql, -1, st, NULL) == SQLITE_OK ? BW_OK : BW_E_UNAVAILABLE;
}

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
    /* Metering inserts one row per model call: keep the statement prepared. */
    if (!s->usage_insert)
        BW_TRY(prepare(s,
                       "INSERT INTO usage(id, org_id, agent, key_id, model, prompt_tokens,"
                       " completion_tokens, total_tokens, cost_micros, status, started_ms,"
                       " ended_ms, month, receipt_id)"
                       " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14)",
                       &s->usage_insert));
    sqlite3_stmt *st = s->usage_insert;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, u->org_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, u->agent, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, u->key_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, u->model, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, u->prompt_tokens);
    sqlite3_bind_int64(st, 7, u->completion_tokens);
    sqlite3_bind_int64(st, 8, u->total_tokens);
    sqlite3_bind_int64(st, 9, u->cost_micros);
    sqlite3_bind_text(st, 10, u->status, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 11, u->started_ms);
    sqlite3_bind_int64(st, 12, u->ended_ms);
    sqlite3_bind_int(st, 13, u->month);
    sqlite3_bind_text(st, 14, u->receipt_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc == SQLITE_CONSTRAINT)
        return BW_E_EXISTS;
    return rc == SQLITE_DONE ? BW_OK : BW_E_UNAVAILABLE;
}

bw_err bw_store_usage_month_totals(struct bw_store *s, int32_t month, bw_store_usage_total_fn fn,
                                   void *arg) {
    sqlite3_stmt *st = NULL;
    /* per agent, and the org's total as agent '' (an org row is not the sum of agent rows
     * when some calls have no agent, so it is computed separately) */
    BW_TRY(prepare(s,
                   "SELECT org_id, agent, SUM(total_tokens), SUM(cost_micros) FROM usage"
                   " WHERE month = ?1 AND agent <> '' GROUP BY org_id, agent"
                   " UNION ALL"
                   " SELECT org_id, '', SUM(total_tokens), SUM(cost_micros) FROM usage"
                   " WHERE month = ?1 GROUP BY org_id",
                   &st));
    sqlite3_bind_int(st, 1, month);
    bw_err result = BW_OK;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *org = (const char *)sqlite3_column_text(st, 0);
        const char *agent = (const char *)sqlite3_column_text(st, 1);
        if (fn(arg, org ? org : "", agent ? agent : "", sqlite3_column_int64(st, 2),
               sqlite3_column_int64(st, 3)) != 0) {
            result = BW_E_INTERNAL;
            break;
        }
    }
    if (result == BW_OK && rc != SQLITE_DONE)
        result = BW_E_UNAVAILABLE;
    sqlite3_finalize(st);
    return result;
}

bw_err bw_store_usage_month_org(struct bw_store *s, const char *org_id, int32_t month,
                                int64_t *tokens, int64_t *cost_micros) {
    sqlite3_stmt *st = NULL;
    BW_TRY(prepare(s,
                   "SELECT COALESCE(SUM(total_tokens),0), COALESCE(SUM(cost_micros),0) FROM usage"
                   " WHERE org_id = ?1 AND month = ?2",
                   &st));
    sqlite3_bind_text(st, 1, org_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, month);
    bw_err result = BW_E_UNAVAILABLE;
    if (sqlite3_step(st) == SQLITE_ROW) {
        *tokens = sqlite3_column_int64(st, 0);
        *cost_micros = sqlite3_column_int64(st, 1);
        result = BW_OK;
    }
    sqlite3_finalize(st);
    return result;
}

bw_err bw_store_usage_query(struct bw_store *s, const char *org_id, int64_t from_ms, int64_t to_ms,
                            enum bw_usage_group group, size_t max_rows, bw_store_usage_row_fn fn,
                            void *arg) {
    const char *key;
    switch (group) {
    case BW_USAGE_BY_MODEL:
        key = "model";
        break;
    case BW_USAGE_BY_AGENT:
        key = "agent";
        break;
    case BW_USAGE_BY_DAY:
        key = "strftime('%Y-%m-%d', started_ms / 1000, 'unixepoch')";
        break;
    case BW_USAGE_BY_NONE:
        key = "''";
        break;
    default:
        return BW_E_INVALID;
    }
    /* `key` is one of the fixed expressions above, never caller text */
    char sql[512];
    int n = snprintf(sql, sizeof sql,
                     "SELECT %s AS g, COUNT(*), SUM(prompt_tokens), SUM(completion_tokens),"
                     " SUM(total_tokens), SUM(cost_micros) FROM usage"
                     " WHERE org_id = ?1 AND started_ms >= ?2 AND started_ms < ?3"
                     " GROUP BY g ORDER BY g",
                     key);
    if (n < 0 || (size_t)n >= sizeof sql)
        return BW_E_INTERNAL;
    sqlite3_stmt *st = NULL;
    BW_TRY(prepare(s, sql, &st));
    sqlite3_bind_text(st, 1, org_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, from_ms);
    sqlite3_bind_int64(st, 3, to_ms);
    bw_err result = BW_OK;
    size_t rows = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (++rows > max_rows) {
            result = BW_E_TOO_LARGE;
            break;
        }
        const char *g = (const char *)sqlite3_column_text(st, 0);
        struct bw_usage_row row = {g ? g : "",
                                   sqlite3_column_int64(st, 1),
                                   sqlite3_column_int64(st, 2),
                                   sqlite3_column_int64(st, 3),
                                   sqlite3_column_int64(st, 4),
                                   sqlite3_column_int64(st, 5)};
        if (fn(arg, &row) != 0) {
            result = BW_E_INTERNAL;
            break;
        }
    }
    if (result == BW_OK && rc != SQLITE_DONE)
        result = BW_E_UNAVAILABLE;
    sqlite3_finalize(st);
    return result;
}

bw_err bw_store_billing_get(struct bw_store *s, const char *org_id, struct bw_billing_state *out) {
    sqlite3_stmt *st = NULL;
    BW_TRY(prepare(s,
                   "SELECT org_id, plan, monthly_tokens, monthly_cost_micros, event_created,"
                   " event_id, updated_ms FROM org_billing WHERE org_id = ?1",
                   &st));
    sqlite3_bind_text(st, 1, org_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    bw_err result = BW_OK;
    if (rc == SQLITE_DONE) {
        result = BW_E_NOT_FOUND;
    } else if (rc != SQLITE_ROW) {
        result = BW_E_UNAVAILABLE;
    } else {
        struct bw_billing_state b;
        memset(&b, 0, sizeof b);
        copy_col(st, 0, b.org_id, sizeof b.org_id);
        copy_col(st, 1, b.plan, sizeof b.plan);
        b.monthly_tokens = sqlite3_column_int64(st, 2);
        b.monthly_cost_micros = sqlite3_column_int64(st, 3);
        b.event_created = sqlite3_column_int64(st, 4);
        copy_col(st, 5, b.event_id, sizeof b.event_id);
        b.updated_ms = sqlite3_column_int64(st, 6);
        *out = b;
    }
    sqlite3_finalize(st);
    return result;
}

bw_err bw_store_billing_event_seen(struct bw_store *s, const char *event_id, char outcome[16]) {
    sqlite3_stmt *st = NULL;
    BW_TRY(prepare(s, "SELECT outcome FROM billing_events WHERE event_id = ?1", &st));
    sqlite3_bind_text(st, 1, event_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    bw_err result = rc == SQLITE_ROW    ? BW_OK
                    : rc == SQLITE_DONE ? BW_E_NOT_FOUND
                                        : BW_E_UNAVAILABLE;
    if (result == BW_OK)
        copy_col(st, 0, outcome, 16);
    sqlite3_finalize(st);
    return result;
}

static bw_err exec(struct bw_store *s, const char *sql) {
    sqlite3 *db = db_of(s);
    if (!db)
        return BW_E_UNAVAILABLE;
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? BW_OK : BW_E_UNAVAILABLE;
}

static bw_err record_event(struct bw_store *s, const struct bw_billing_event *ev,
                           const char *outcome, int64_t now_ms) {
    sqlite3_stmt *st = NULL;
    BW_TRY(prepare(s,
                   "INSERT INTO billing_events(event_id, org_id, type, created, outcome,"
                   " receipt_id, received_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                   &st));
    sqlite3_bind_text(st, 1, ev->event_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, ev->org_id ? ev->org_id : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, ev->type, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, ev->created);
    sqlite3_bind_text(st, 5, outcome, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, ev->receipt_id ? ev->receipt_id : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, now_ms);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? BW_OK : BW_E_UNAVAILABLE;
}

static bw_err upsert_state(struct bw_store *s, const struct bw_billing_state *b) {
    sqlite3_stmt *st = NULL;
    BW_TRY(prepare(s,
                   "INSERT INTO org_billing(org_id, plan, monthly_tokens, monthly_cost_micros,"
                   " event_created, event_id, updated_ms) VALUES (?1,?2,?3,?4,?5,?6,?7)"
                   " ON CONFLICT(org_id) DO UPDATE SET plan = excluded.plan,"
                   " monthly_tokens = excluded.monthly_tokens,"
                   " monthly_cost_micros = excluded.monthly_cost_micros,"
                   " event_created = excluded.event_created, event_id = excluded.event_id,"
                   " updated_ms = excluded.updated_ms",
                   &st));
    sqlite3_bind_text(st, 1, b->org_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, b->plan, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, b->monthly_tokens);
    sqlite3_bind_int64(st, 4, b->monthly_cost_micros);
    sqlite3_bind_int64(st, 5, b->event_created);
    sqlite3_bind_text(st, 6, b->event_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, b->updated_ms);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? BW_OK : BW_E_UNAVAILABLE;
}

bw_err bw_store_billing_apply(struct bw_store *s, const struct bw_billing_event *ev,
                              const struct bw_billing_state *state,
                              enum bw_billing_outcome *outcome) {
    bw_err result = BW_OK;
    enum bw_billing_outcome o = BW_BILLING_IGNORED;
    char seen[16];
    BW_TRY(exec(s, "BEGIN IMMEDIATE"));
    bw_err e = bw_store_billing_event_seen(s, ev->event_id, seen);
    if (e == BW_OK) {
        o = BW_BILLING_DUPLICATE;
        goto out;
    }
    BW_GOTO_IF(e != BW_E_NOT_FOUND, e);
    if (state) {
        struct bw_billing_state cur;
        e = bw_store_billing_get(s, state->org_id, &cur);
        BW_GOTO_IF(e != BW_OK && e != BW_E_NOT_FOUND, e);
        if (e == BW_OK && cur.event_created > ev->created) {
            o = BW_BILLING_STALE;
        } else {
            BW_GOTO(upsert_state(s, state));
            o = BW_BILLING_APPLIED;
        }
    }
    BW_GOTO(record_event(s, ev,
                         o == BW_BILLING_APPLIED ? "applied"
                         : o == BW_BILLING_STALE ? "stale"
                                                 : "ignored",
                         bw_now_ms()));
out:
    if (result == BW_OK && o != BW_BILLING_DUPLICATE)
        result = exec(s, "COMMIT");
    if (result != BW_OK || o == BW_BILLING_DUPLICATE)
        (void)exec(s, "ROLLBACK");
    if (result == BW_OK)
        *outcome = o;
    return result;
}
