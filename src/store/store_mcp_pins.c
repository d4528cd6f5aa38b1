/* store_mcp_pins.c: MCP tool pins (mcp_pins.h) on both backends through sql.h. Every
 * statement binds the org (RLS on PostgreSQL checks it again). */
#include <stdio.h>
#include <string.h>

#include "store/mcp_pins.h"
#include "store/sql.h"

const char *bw_mcp_pin_state_name(enum bw_mcp_pin_state s) {
    switch (s) {
    case BW_PIN_PINNED:
        return "pinned";
    case BW_PIN_CHANGED:
        return "changed";
    case BW_PIN_PENDING:
        return "pending";
    default:
        return "unknown";
    }
}

static enum bw_mcp_pin_state state_of(const char *s) {
    if (strcmp(s, "pinned") == 0)
        return BW_PIN_PINNED;
    if (strcmp(s, "changed") == 0)
        return BW_PIN_CHANGED;
    if (strcmp(s, "pending") == 0)
        return BW_PIN_PENDING;
    return 0;
}

struct each {
    bw_store_mcp_pin_fn fn;
    void *arg;
    int with_defs;
    int bad;
};

#define PIN_COLUMNS                                                                                \
    "server, tool, state, pinned_sha256, pending_sha256, first_seen_ms, last_seen_ms,"             \
    " changed_ms, approved_ms, approved_by"

/* A row the schema's checks should have made impossible (unknown state, a hash of the wrong
 * size where the state needs one) stops the read: the caller fails closed. */
static int pin_row(void *arg, const struct bw_sql_row *r) {
    struct each *e = arg;
    struct bw_mcp_pin p;
    memset(&p, 0, sizeof p);
    bw_sql_copy(r, 0, p.server, sizeof p.server);
    bw_sql_copy(r, 1, p.tool, sizeof p.tool);
    p.state = state_of(bw_sql_text(r, 2));
    p.has_pinned = bw_sql_blob(r, 3, p.pinned_sha256, 32) == 0;
    p.has_pending = bw_sql_blob(r, 4, p.pending_sha256, 32) == 0;
    p.first_seen_ms = bw_sql_int(r, 5);
    p.last_seen_ms = bw_sql_int(r, 6);
    p.changed_ms = bw_sql_int(r, 7);
    p.approved_ms = bw_sql_int(r, 8);
    bw_sql_copy(r, 9, p.approved_by, sizeof p.approved_by);
    if (e->with_defs) {
        p.pinned_def = bw_sql_text(r, 10);
        p.pending_def = bw_sql_text(r, 11);
    }
    if (!p.state || (p.state != BW_PIN_PENDING && !p.has_pinned) ||
        (p.state != BW_PIN_PINNED && !p.has_pending)) {
        e->bad = 1;
        return 1;
    }
    return e->fn(e->arg, &p);
}

#define PIN_FILTERS                                                                                \
    " WHERE org_id = $1 AND ($2 = '' OR server = $2) AND ($3 = '' OR state = $3)"                  \
    " AND ($5 = '' OR tool = $5) AND ($6 = '' OR tool > $6) ORDER BY server, tool LIMIT $4"

bw_err bw_store_mcp_pins_each(struct bw_store *s, const char *org_id,
                              const struct bw_mcp_pin_filter *f, int with_defs, size_t max,
                              bw_store_mcp_pin_fn fn, void *arg) {
    BW_ENSURE(bw_sql_id_ok(org_id), BW_E_NOT_FOUND);
    struct each e = {fn, arg, with_defs, 0};
#define OR_EMPTY(x) BW_SQL_T(f && f->x ? f->x : "")
    struct bw_sql_arg a[6] = {BW_SQL_T(org_id),       OR_EMPTY(server), OR_EMPTY(state),
                              BW_SQL_I((int64_t)max), OR_EMPTY(tool),   OR_EMPTY(after)};
#undef OR_EMPTY
    bw_err err = bw_sql_once(s, org_id, 0,
                             with_defs ? "SELECT " PIN_COLUMNS ", pinned_def, pending_def"
                                         " FROM mcp_pins" PIN_FILTERS
                                       : "SELECT " PIN_COLUMNS " FROM mcp_pins" PIN_FILTERS,
                             a, 6, pin_row, &e, NULL);
    return e.bad ? BW_E_UNAVAILABLE : err;
}

static int one_row(void *arg, const struct bw_mcp_pin *p) {
    *(struct bw_mcp_pin *)arg = *p;
    return 0;
}

bw_err bw_store_mcp_pin_get(struct bw_store *s, const char *org_id, const char *server,
                            const char *tool, struct bw_mcp_pin *out) {
    BW_ENSURE(bw_sql_id_ok(org_id), BW_E_NOT_FOUND);
    struct bw_mcp_pin p;
    memset(&p, 0, sizeof p);
    struct each e = {one_row, &p, 0, 0};
    struct bw_sql_arg a[3] = {BW_SQL_T(org_id), BW_SQL_T(server), BW_SQL_T(tool)};
    bw_err err = bw_sql_once(s, org_id, 0,
                             "SELECT " PIN_COLUMNS " FROM mcp_pins WHERE org_id = $1"
                             " AND server = $2 AND tool = $3",
                             a, 3, pin_row, &e, NULL);
    if (e.bad)
        return BW_E_UNAVAILABLE;
    BW_TRY(err);
    if (!p.state)
        return BW_E_NOT_FOUND;
    *out = p;
    return BW_OK;
}

/* One seen definition, inside the open transaction. */
static bw_err record_one(struct bw_store *s, const char *org_id, const char *server, int approve,
                         struct bw_mcp_pin_seen *w, int64_t now_ms) {
    int64_t n = 0;
    if (w->refresh_only) {
        struct bw_sql_arg a[4] = {BW_SQL_T(org_id), BW_SQL_T(server), BW_SQL_T(w->tool),
                                  BW_SQL_I(now_ms)};
        return bw_sql_run(s,
                          "UPDATE mcp_pins SET last_seen_ms = $4 WHERE org_id = $1"
                          " AND server = $2 AND tool = $3 AND last_seen_ms < $4",
                          a, 4, NULL, NULL, NULL);
    }
    struct bw_sql_arg hash = BW_SQL_B(w->sha256, 32), none = {.kind = BW_SQL_NULL};
    struct bw_sql_arg ins[9] = {BW_SQL_T(org_id),      BW_SQL_T(server),
                                BW_SQL_T(w->tool),     BW_SQL_T(approve ? "pending" : "pinned"),
                                approve ? none : hash, BW_SQL_T(approve ? "" : w->def),
                                approve ? hash : none, BW_SQL_T(approve ? w->def : ""),
                                BW_SQL_I(now_ms)};
    BW_TRY(bw_sql_run(s,
                      "INSERT INTO mcp_pins(org_id, server, tool, state, pinned_sha256, pinned_def,"
                      " pending_sha256, pending_def, first_seen_ms, last_seen_ms)"
                      " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)"
                      " ON CONFLICT (org_id, server, tool) DO NOTHING",
                      ins, 9, NULL, NULL, &n));
    if (n == 1) {
        w->recorded = 1;
        return BW_OK;
    }
    /* The row exists: a hash that is neither the pinned nor the pending one is a change. A
     * pending (never approved) tool stays pending, now with this definition. */
    struct bw_sql_arg up[6] = {BW_SQL_T(org_id), BW_SQL_T(server), BW_SQL_T(w->tool), hash,
                               BW_SQL_T(w->def), BW_SQL_I(now_ms)};
    BW_TRY(bw_sql_run(s,
                      "UPDATE mcp_pins SET state = CASE WHEN state = 'pending' THEN 'pending'"
                      " ELSE 'changed' END, pending_sha256 = $4, pending_def = $5,"
                      " changed_ms = $6, last_seen_ms = $6"
                      " WHERE org_id = $1 AND server = $2 AND tool = $3"
                      " AND (pinned_sha256 IS NULL OR pinned_sha256 <> $4)"
                      " AND (pending_sha256 IS NULL OR pending_sha256 <> $4)",
                      up, 6, NULL, NULL, &n));
    w->recorded = n == 1 ? 2 : 0;
    return BW_OK;
}

bw_err bw_store_mcp_pins_record(struct bw_store *s, const char *org_id, const char *server,
                                int approve, struct bw_mcp_pin_seen *seen, size_t n,
                                int64_t now_ms) {
    BW_ENSURE(bw_sql_id_ok(org_id), BW_E_NOT_FOUND);
    if (n == 0)
        return BW_OK;
    BW_TRY(bw_sql_begin(s, org_id, 1));
    bw_err e = BW_OK;
    for (size_t i = 0; i < n && e == BW_OK; i++) {
        seen[i].recorded = 0;
        e = record_one(s, org_id, server, approve, &seen[i], now_ms);
    }
    if (e != BW_OK) {
        bw_sql_rollback(s);
        for (size_t i = 0; i < n; i++)
            seen[i].recorded = 0;
        return e;
    }
    return bw_sql_commit(s);
}

bw_err bw_store_mcp_pin_approve(struct bw_store *s, const char *org_id, const char *server,
                                const char *tool, const uint8_t sha256[32], const char *by,
                                int64_t now_ms) {
    BW_ENSURE(bw_sql_id_ok(org_id), BW_E_NOT_FOUND);
    struct bw_sql_arg a[6] = {BW_SQL_T(org_id),     BW_SQL_T(server), BW_SQL_T(tool),
                              BW_SQL_B(sha256, 32), BW_SQL_I(now_ms), BW_SQL_T(by)};
    int64_t n = 0;
    /* Conditional on the exact pending hash: a definition that arrived after the admin looked
     * is never the one approved. */
    BW_TRY(bw_sql_once(s, org_id, 1,
                       "UPDATE mcp_pins SET state = 'pinned', pinned_sha256 = pending_sha256,"
                       " pinned_def = pending_def, pending_sha256 = NULL, pending_def = '',"
                       " approved_ms = $5, approved_by = $6"
                       " WHERE org_id = $1 AND server = $2 AND tool = $3"
                       " AND state IN ('changed', 'pending') AND pending_sha256 = $4",
                       a, 6, NULL, NULL, &n));
    if (n == 1)
        return BW_OK;
    struct bw_mcp_pin p;
    BW_TRY(bw_store_mcp_pin_get(s, org_id, server, tool, &p));
    return BW_E_EXISTS;
}
