/* store_outbox.c: the durable outbox (connections.h), one code path for both backends through
 * sql.h. Parameters in a SELECT list are CAST so PostgreSQL knows their types. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/connections.h"
#include "store/sql.h"
#include "store/store_internal.h"

bw_err bw_store_outbox_enqueue(struct bw_store *s, const char *org_id, const char *event_id,
                               const char *type, const char *text, const char *payload,
                               int64_t event_ms, int64_t now_ms, int64_t *queued) {
    BW_ENSURE(bw_sql_id_ok(org_id), BW_E_NOT_FOUND);
    BW_ENSURE(event_id && *event_id && strlen(event_id) < 64 && type && *type &&
                  strlen(type) < 64 && text && strlen(text) <= 4000 && payload &&
                  strlen(payload) <= BW_OUTBOX_PAYLOAD_MAX,
              BW_E_INVALID);
    struct bw_sql_arg v[7] = {BW_SQL_T(org_id), BW_SQL_T(event_id), BW_SQL_T(type),
                              BW_SQL_T(text),   BW_SQL_T(payload),  BW_SQL_I(event_ms),
                              BW_SQL_I(now_ms)};
    int64_t n = 0;
    BW_TRY(bw_sql_once(s, org_id, 1,
                       "INSERT INTO outbox(org_id, connection_id, event_id, event_type, text,"
                       " payload, event_ms, attempts, next_attempt_ms, state, created_ms)"
                       " SELECT c.org_id, c.id, CAST($2 AS TEXT), CAST($3 AS TEXT),"
                       " CAST($4 AS TEXT), CAST($5 AS TEXT), CAST($6 AS BIGINT), 0,"
                       " CAST($7 AS BIGINT), 'pending', CAST($7 AS BIGINT) FROM connections c"
                       " WHERE c.org_id = $1 AND c.kind IN ('slack', 'discord', 'webhook')"
                       " ON CONFLICT DO NOTHING",
                       v, 7, NULL, NULL, &n));
    if (queued)
        *queued = n;
    return BW_OK;
}

struct id_list {
    char (*v)[BW_ID_SIZE];
    size_t n, cap;
};

static int id_list_row(void *arg, const struct bw_sql_row *r) {
    struct id_list *l = arg;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char(*v)[BW_ID_SIZE] = realloc(l->v, cap * sizeof *v);
        if (!v)
            return 1;
        l->v = v;
        l->cap = cap;
    }
    bw_sql_copy(r, 0, l->v[l->n++], BW_ID_SIZE);
    return 0;
}

bw_err bw_store_outbox_due_orgs(struct bw_store *s, int64_t now_ms, bw_store_org_id_fn fn,
                                void *arg) {
    struct id_list l = {NULL, 0, 0};
    struct bw_sql_arg v = BW_SQL_I(now_ms);
    bw_err e = bw_sql_once(s, NULL, 0,
                           s->kind == BW_STORE_POSTGRES
                               ? "SELECT org_id FROM bulwark_outbox_due_orgs($1)"
                               : "SELECT DISTINCT org_id FROM outbox WHERE state IN ('pending',"
                                 " 'failed') AND next_attempt_ms <= $1 ORDER BY org_id LIMIT 1000",
                           &v, 1, id_list_row, &l, NULL);
    for (size_t i = 0; e == BW_OK && i < l.n; i++)
        if (fn(arg, l.v[i]) != 0)
            e = BW_E_INTERNAL;
    free(l.v);
    return e;
}

struct due_read {
    struct bw_outbox_row *rows;
    size_t n, max;
};

static int due_row(void *arg, const struct bw_sql_row *r) {
    struct due_read *d = arg;
    if (d->n == d->max)
        return 0;
    struct bw_outbox_row *o = &d->rows[d->n];
    memset(o, 0, sizeof *o);
    bw_sql_copy(r, 0, o->org_id, sizeof o->org_id);
    bw_sql_copy(r, 1, o->connection_id, sizeof o->connection_id);
    bw_sql_copy(r, 2, o->event_id, sizeof o->event_id);
    bw_sql_copy(r, 3, o->event_type, sizeof o->event_type);
    bw_sql_copy(r, 4, o->text, sizeof o->text);
    o->payload = strdup(bw_sql_text(r, 5));
    if (!o->payload)
        return 1;
    o->event_ms = bw_sql_int(r, 6);
    o->attempts = bw_sql_int(r, 7);
    o->next_attempt_ms = bw_sql_int(r, 8);
    bw_sql_copy(r, 9, o->state, sizeof o->state);
    bw_sql_copy(r, 10, o->last_error, sizeof o->last_error);
    o->delivered_ms = bw_sql_int(r, 11);
    d->n++;
    return 0;
}

bw_err bw_store_outbox_due(struct bw_store *s, const char *org_id, int64_t now_ms, size_t max,
                           struct bw_outbox_row *rows, size_t *n) {
    BW_ENSURE(bw_sql_id_ok(org_id), BW_E_NOT_FOUND);
    struct due_read d = {rows, 0, max};
    struct bw_sql_arg v[3] = {BW_SQL_T(org_id), BW_SQL_I(now_ms), BW_SQL_I((int64_t)max)};
    bw_err e = bw_sql_once(s, org_id, 0,
                           "SELECT org_id, connection_id, event_id, event_type, text, payload,"
                           " event_ms, attempts, next_attempt_ms, state, last_error, delivered_ms"
                           " FROM outbox WHERE org_id = $1 AND state IN ('pending', 'failed')"
                           " AND next_attempt_ms <= $2 ORDER BY next_attempt_ms LIMIT $3",
                           v, 3, due_row, &d, NULL);
    if (e != BW_OK) {
        bw_outbox_rows_free(rows, d.n);
        return e;
    }
    *n = d.n;
    return BW_OK;
}

void bw_outbox_rows_free(struct bw_outbox_row *rows, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(rows[i].payload);
        rows[i].payload = NULL;
    }
}

bw_err bw_store_outbox_claim(struct bw_store *s, const struct bw_outbox_row *r,
                             int64_t lease_until_ms, int *claimed) {
    BW_ENSURE(bw_sql_id_ok(r->org_id), BW_E_NOT_FOUND);
    struct bw_sql_arg v[7] = {BW_SQL_T(r->org_id),         BW_SQL_T(r->connection_id),
                              BW_SQL_T(r->event_id),       BW_SQL_I(lease_until_ms),
                              BW_SQL_T(r->state),          BW_SQL_I(r->attempts),
                              BW_SQL_I(r->next_attempt_ms)};
    int64_t n = 0;
    BW_TRY(bw_sql_once(s, r->org_id, 1,
                       "UPDATE outbox SET attempts = attempts + 1, next_attempt_ms = $4"
                       " WHERE org_id = $1 AND connection_id = $2 AND event_id = $3"
                       " AND state = $5 AND attempts = $6 AND next_attempt_ms = $7",
                       v, 7, NULL, NULL, &n));
    *claimed = n == 1;
    return BW_OK;
}

bw_err bw_store_outbox_finish(struct bw_store *s, const struct bw_outbox_row *r, const char *state,
                              int64_t next_ms, const char *last_error, int64_t now_ms) {
    BW_ENSURE(bw_sql_id_ok(r->org_id), BW_E_NOT_FOUND);
    int delivered = strcmp(state, "delivered") == 0;
    struct bw_sql_arg v[7] = {BW_SQL_T(r->org_id),
                              BW_SQL_T(r->connection_id),
                              BW_SQL_T(r->event_id),
                              BW_SQL_T(state),
                              BW_SQL_I(next_ms),
                              BW_SQL_T(last_error),
                              BW_SQL_I(delivered ? now_ms : 0)};
    int64_t n = 0;
    BW_TRY(bw_sql_once(s, r->org_id, 1,
                       "UPDATE outbox SET state = $4, next_attempt_ms = $5, last_error = $6,"
                       " delivered_ms = $7 WHERE org_id = $1 AND connection_id = $2"
                       " AND event_id = $3 AND state IN ('pending', 'failed')",
                       v, 7, NULL, NULL, &n));
    return n == 1 ? BW_OK : BW_E_NOT_FOUND;
}

static int count_row(void *arg, const struct bw_sql_row *r) {
    struct bw_outbox_counts *c = arg;
    const char *state = bw_sql_text(r, 0);
    int64_t n = bw_sql_int(r, 1);
    if (strcmp(state, "pending") == 0)
        c->pending = n;
    else if (strcmp(state, "failed") == 0)
        c->failed = n;
    else if (strcmp(state, "delivered") == 0)
        c->delivered = n;
    else if (strcmp(state, "dead") == 0)
        c->dead = n;
    return 0;
}

bw_err bw_store_outbox_counts(struct bw_store *s, const char *org_id, const char *connection_id,
                              struct bw_outbox_counts *out) {
    BW_ENSURE(bw_sql_id_ok(org_id) && bw_sql_id_ok(connection_id), BW_E_NOT_FOUND);
    struct bw_outbox_counts c = {0, 0, 0, 0};
    struct bw_sql_arg v[2] = {BW_SQL_T(org_id), BW_SQL_T(connection_id)};
    BW_TRY(bw_sql_once(s, org_id, 0,
                       "SELECT state, count(*) FROM outbox WHERE org_id = $1"
                       " AND connection_id = $2 GROUP BY state",
                       v, 2, count_row, &c, NULL));
    *out = c;
    return BW_OK;
}

bw_err bw_store_outbox_org_counts(struct bw_store *s, const char *org_id,
                                  struct bw_outbox_counts *out) {
    BW_ENSURE(bw_sql_id_ok(org_id), BW_E_NOT_FOUND);
    struct bw_outbox_counts c = {0, 0, 0, 0};
    struct bw_sql_arg v[1] = {BW_SQL_T(org_id)};
    BW_TRY(bw_sql_once(s, org_id, 0,
                       "SELECT state, count(*) FROM outbox WHERE org_id = $1 GROUP BY state", v, 1,
                       count_row, &c, NULL));
    *out = c;
    return BW_OK;
}
