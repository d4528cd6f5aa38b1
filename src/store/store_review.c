/* store_review.c: review items and votes (review_store.h), one code path for both backends
 * through sql.h. Every status change is a conditional UPDATE whose WHERE clause restates the
 * state the caller decided on, so a concurrent vote or use on another worker or replica makes
 * it change nothing (BW_E_EXISTS) instead of applying twice. */
#include <stdlib.h>
#include <string.h>

#include "store/identity.h"
#include "store/review_store.h"
#include "store/sql.h"

#define ITEM_COLUMNS                                                                               \
    "id, org_id, agent, requester_key, requester_member, route, model, rule, reviewer_role,"       \
    " request_sha256, quorum, approvals, status, created_ms, expires_ms, decided_ms, used_ms,"     \
    " decision_receipt"

/* The status a row has at $now, as SQL: the filter of bw_store_review_list. */
#define STATUS_AT(now)                                                                             \
    "(CASE WHEN status IN ('pending', 'approved') AND expires_ms <= " now " THEN 'expired'"        \
    " ELSE status END)"

static const char insert_sql[] =
    "INSERT INTO review_items(id, org_id, agent, requester_key, requester_member, route, model,"
    " rule, reviewer_role, request_sha256, quorum, approvals, status, created_ms, expires_ms,"
    " decision_receipt) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,"
    " $15, $16)";

/* The item, and its detail in the same transaction (sql.h binds at most 16 arguments a
 * statement, so the detail is its own UPDATE): an item never exists without what the
 * reviewer is meant to see. */
static bw_err insert_item(struct bw_store *s, const struct bw_review_item *it, const char *detail) {
    BW_ENSURE(bw_sql_id_ok(it->org_id) && bw_sql_id_ok(it->id), BW_E_INVALID);
    BW_ENSURE(strlen(detail) <= BW_REVIEW_DETAIL_MAX, BW_E_TOO_LARGE);
    const char *status = bw_review_status_name(it->status);
    BW_ENSURE(status, BW_E_INVALID);
    struct bw_sql_arg a[16] = {
        BW_SQL_T(it->id),
        BW_SQL_T(it->org_id),
        BW_SQL_T(it->agent),
        BW_SQL_T(it->requester_key),
        BW_SQL_T(it->requester_member),
        BW_SQL_T(it->route),
        BW_SQL_T(it->model),
        BW_SQL_T(it->rule),
        BW_SQL_T(it->reviewer_role),
        BW_SQL_B(it->request_sha256, 32),
        BW_SQL_I(it->quorum),
        BW_SQL_I(it->approvals),
        BW_SQL_T(status),
        BW_SQL_I(it->created_ms),
        BW_SQL_I(it->expires_ms),
        BW_SQL_T(it->decision_receipt),
    };
    if (!detail[0])
        return bw_sql_once(s, it->org_id, 1, insert_sql, a, 16, NULL, NULL, NULL);
    struct bw_sql_arg d[3] = {BW_SQL_T(it->org_id), BW_SQL_T(it->id), BW_SQL_T(detail)};
    BW_TRY(bw_sql_begin(s, it->org_id, 1));
    bw_err e = bw_sql_run(s, insert_sql, a, 16, NULL, NULL, NULL);
    if (e == BW_OK)
        e = bw_sql_run(s, "UPDATE review_items SET detail = $3 WHERE org_id = $1 AND id = $2", d, 3,
                       NULL, NULL, NULL);
    if (e == BW_OK)
        e = bw_sql_commit(s);
    else
        bw_sql_rollback(s);
    return e;
}

bw_err bw_store_review_insert(struct bw_store *s, const struct bw_review_item *it) {
    return insert_item(s, it, "");
}

bw_err bw_store_review_insert_detail(struct bw_store *s, const struct bw_review_item *it,
                                     const char *detail) {
    return insert_item(s, it, detail ? detail : "");
}

static int detail_row(void *arg, const struct bw_sql_row *r) {
    char **out = arg;
    free(*out);
    *out = strdup(bw_sql_text(r, 0));
    return *out == NULL;
}

bw_err bw_store_review_detail(struct bw_store *s, const char *org_id, const char *id, char **out) {
    BW_ENSURE(bw_sql_id_ok(org_id) && bw_sql_id_ok(id), BW_E_NOT_FOUND);
    char *d = NULL;
    struct bw_sql_arg a[2] = {BW_SQL_T(org_id), BW_SQL_T(id)};
    bw_err e =
        bw_sql_once(s, org_id, 0, "SELECT detail FROM review_items WHERE org_id = $1 AND id = $2",
                    a, 2, detail_row, &d, NULL);
    if (e == BW_E_INTERNAL)
        e = BW_E_NOMEM;
    if (e == BW_OK && !d)
        e = BW_E_NOT_FOUND;
    if (e != BW_OK) {
        free(d);
        return e;
    }
    *out = d;
    return BW_OK;
}

struct item_each {
    bw_store_review_fn fn;
    void *arg;
    int bad;
};

static int item_row(void *arg, const struct bw_sql_row *r) {
    struct item_each *e = arg;
    struct bw_review_item it;
    memset(&it, 0, sizeof it);
    bw_sql_copy(r, 0, it.id, sizeof it.id);
    bw_sql_copy(r, 1, it.org_id, sizeof it.org_id);
    bw_sql_copy(r, 2, it.agent, sizeof it.agent);
    bw_sql_copy(r, 3, it.requester_key, sizeof it.requester_key);
    bw_sql_copy(r, 4, it.requester_member, sizeof it.requester_member);
    bw_sql_copy(r, 5, it.route, sizeof it.route);
    bw_sql_copy(r, 6, it.model, sizeof it.model);
    bw_sql_copy(r, 7, it.rule, sizeof it.rule);
    bw_sql_copy(r, 8, it.reviewer_role, sizeof it.reviewer_role);
    int64_t quorum = bw_sql_int(r, 10), approvals = bw_sql_int(r, 11);
    /* A row that does not read back whole is a store failure, never a usable approval. */
    if (bw_sql_blob(r, 9, it.request_sha256, 32) != 0 ||
        bw_review_status_parse(bw_sql_text(r, 12), &it.status) != 0 || quorum < 1 ||
        quorum > BW_REVIEW_MAX_QUORUM || approvals < 0 || approvals > BW_REVIEW_MAX_QUORUM) {
        e->bad = 1;
        return 1;
    }
    it.quorum = (uint32_t)quorum;
    it.approvals = (uint32_t)approvals;
    it.created_ms = bw_sql_int(r, 13);
    it.expires_ms = bw_sql_int(r, 14);
    it.decided_ms = bw_sql_int(r, 15);
    it.used_ms = bw_sql_int(r, 16);
    bw_sql_copy(r, 17, it.decision_receipt, sizeof it.decision_receipt);
    return e->fn(e->arg, &it);
}

static int item_one(void *arg, const struct bw_review_item *it) {
    *(struct bw_review_item *)arg = *it;
    return 0;
}

bw_err bw_store_review_get(struct bw_store *s, const char *org_id, const char *id,
                           struct bw_review_item *out) {
    BW_ENSURE(bw_sql_id_ok(org_id) && bw_sql_id_ok(id), BW_E_NOT_FOUND);
    struct bw_review_item it;
    memset(&it, 0, sizeof it);
    struct item_each e = {item_one, &it, 0};
    struct bw_sql_arg a[2] = {BW_SQL_T(org_id), BW_SQL_T(id)};
    bw_err err = bw_sql_once(s, org_id, 0,
                             "SELECT " ITEM_COLUMNS " FROM review_items"
                             " WHERE org_id = $1 AND id = $2",
                             a, 2, item_row, &e, NULL);
    BW_ENSURE(!e.bad, BW_E_UNAVAILABLE);
    BW_TRY(err);
    BW_ENSURE(it.id[0], BW_E_NOT_FOUND);
    *out = it;
    return BW_OK;
}

bw_err bw_store_review_list(struct bw_store *s, const char *org_id, int has_status,
                            enum bw_review_status status, int64_t now_ms, size_t limit,
                            bw_store_review_fn fn, void *arg) {
    BW_ENSURE(bw_sql_id_ok(org_id), BW_E_NOT_FOUND);
    const char *name = bw_review_status_name(status);
    BW_ENSURE(!has_status || name, BW_E_INVALID);
    if (limit > BW_STORE_LIST_MAX)
        limit = BW_STORE_LIST_MAX;
    struct item_each e = {fn, arg, 0};
    struct bw_sql_arg a[5] = {BW_SQL_T(org_id), BW_SQL_I(has_status ? 1 : 0), BW_SQL_I(now_ms),
                              BW_SQL_T(name ? name : ""), BW_SQL_I(limit)};
    bw_err err = bw_sql_once(s, org_id, 0,
                             "SELECT " ITEM_COLUMNS " FROM review_items"
                             " WHERE org_id = $1 AND ($2 = 0 OR " STATUS_AT(
                                 "$3") " = $4)"
                                       " ORDER BY created_ms DESC, id LIMIT $5",
                             a, 5, item_row, &e, NULL);
    BW_ENSURE(!e.bad, BW_E_UNAVAILABLE);
    return err;
}

bw_err bw_store_review_vote(struct bw_store *s, const struct bw_review_vote *v,
                            const struct bw_review_item *seen, enum bw_review_status next) {
    BW_ENSURE(bw_sql_id_ok(v->org_id) && bw_sql_id_ok(v->review_id), BW_E_NOT_FOUND);
    BW_ENSURE(strcmp(v->org_id, seen->org_id) == 0 && strcmp(v->review_id, seen->id) == 0,
              BW_E_INTERNAL);
    const char *next_name = bw_review_status_name(next);
    BW_ENSURE(next_name, BW_E_INVALID);
    struct bw_sql_arg vote[8] = {
        BW_SQL_T(v->org_id),
        BW_SQL_T(v->review_id),
        BW_SQL_T(v->key_id),
        BW_SQL_T(v->member_id),
        BW_SQL_T(v->approve ? "approve" : "deny"),
        BW_SQL_T(v->comment ? v->comment : ""),
        BW_SQL_I(v->created_ms),
        BW_SQL_T(v->receipt_id),
    };
    struct bw_sql_arg upd[6] = {
        BW_SQL_T(v->org_id),       BW_SQL_T(v->review_id),
        BW_SQL_I(seen->approvals), BW_SQL_I(seen->approvals + (v->approve ? 1 : 0)),
        BW_SQL_T(next_name),       BW_SQL_I(v->created_ms),
    };
    int64_t n = 0;
    BW_TRY(bw_sql_begin(s, v->org_id, 1));
    bw_err e = bw_sql_run(s,
                          "INSERT INTO review_votes(org_id, review_id, key_id, member_id, vote,"
                          " comment, created_ms, receipt_id)"
                          " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                          vote, 8, NULL, NULL, NULL);
    /* The state the caller decided on must still hold: pending, the same number of approvals,
     * not expired. decided_ms is set when the item leaves pending. */
    if (e == BW_OK)
        e = bw_sql_run(s,
                       "UPDATE review_items SET approvals = $4, status = $5,"
                       " decided_ms = CASE WHEN $5 = 'pending' THEN decided_ms ELSE $6 END"
                       " WHERE org_id = $1 AND id = $2 AND status = 'pending'"
                       " AND approvals = $3 AND expires_ms > $6",
                       upd, 6, NULL, NULL, &n);
    if (e == BW_OK && n != 1)
        e = BW_E_EXISTS;
    if (e != BW_OK) {
        bw_sql_rollback(s);
        return e;
    }
    return bw_sql_commit(s);
}

struct vote_each {
    bw_store_vote_fn fn;
    void *arg;
};

static int vote_row(void *arg, const struct bw_sql_row *r) {
    struct vote_each *e = arg;
    struct bw_review_vote v;
    memset(&v, 0, sizeof v);
    bw_sql_copy(r, 0, v.org_id, sizeof v.org_id);
    bw_sql_copy(r, 1, v.review_id, sizeof v.review_id);
    bw_sql_copy(r, 2, v.key_id, sizeof v.key_id);
    bw_sql_copy(r, 3, v.member_id, sizeof v.member_id);
    v.approve = strcmp(bw_sql_text(r, 4), "approve") == 0;
    v.comment = bw_sql_text(r, 5);
    bw_sql_copy(r, 6, v.receipt_id, sizeof v.receipt_id);
    v.created_ms = bw_sql_int(r, 7);
    return e->fn(e->arg, &v);
}

bw_err bw_store_review_votes(struct bw_store *s, const char *org_id, const char *review_id,
                             bw_store_vote_fn fn, void *arg) {
    BW_ENSURE(bw_sql_id_ok(org_id) && bw_sql_id_ok(review_id), BW_E_NOT_FOUND);
    struct vote_each e = {fn, arg};
    struct bw_sql_arg a[3] = {BW_SQL_T(org_id), BW_SQL_T(review_id),
                              BW_SQL_I(BW_REVIEW_MAX_QUORUM * 4)};
    return bw_sql_once(s, org_id, 0,
                       "SELECT org_id, review_id, key_id, member_id, vote, comment, receipt_id,"
                       " created_ms FROM review_votes WHERE org_id = $1 AND review_id = $2"
                       " ORDER BY created_ms, key_id LIMIT $3",
                       a, 3, vote_row, &e, NULL);
}

bw_err bw_store_review_use(struct bw_store *s, const char *org_id, const char *id,
                           const uint8_t request_sha256[32], int64_t now_ms) {
    BW_ENSURE(bw_sql_id_ok(org_id) && bw_sql_id_ok(id), BW_E_NOT_FOUND);
    struct bw_sql_arg a[4] = {BW_SQL_T(org_id), BW_SQL_T(id), BW_SQL_B(request_sha256, 32),
                              BW_SQL_I(now_ms)};
    int64_t n = 0;
    BW_TRY(bw_sql_once(s, org_id, 1,
                       "UPDATE review_items SET status = 'used', used_ms = $4"
                       " WHERE org_id = $1 AND id = $2 AND status = 'approved'"
                       " AND request_sha256 = $3 AND expires_ms > $4",
                       a, 4, NULL, NULL, &n));
    return n == 1 ? BW_OK : BW_E_EXISTS;
}

bw_err bw_store_review_expire(struct bw_store *s, const char *org_id, const char *id,
                              int64_t now_ms) {
    BW_ENSURE(bw_sql_id_ok(org_id) && bw_sql_id_ok(id), BW_E_NOT_FOUND);
    struct bw_sql_arg a[3] = {BW_SQL_T(org_id), BW_SQL_T(id), BW_SQL_I(now_ms)};
    int64_t n = 0;
    BW_TRY(bw_sql_once(s, org_id, 1,
                       "UPDATE review_items SET status = 'expired', decided_ms = $3"
                       " WHERE org_id = $1 AND id = $2 AND status IN ('pending', 'approved')"
                       " AND expires_ms <= $3",
                       a, 3, NULL, NULL, &n));
    return n == 1 ? BW_OK : BW_E_EXISTS;
}

static int stats_row(void *arg, const struct bw_sql_row *r) {
    int64_t *v = arg;
    v[0] = bw_sql_int(r, 0);
    v[1] = bw_sql_int(r, 1);
    return 0;
}

bw_err bw_store_review_pending_stats(struct bw_store *s, const char *org_id, int64_t now_ms,
                                     int64_t *count, int64_t *oldest_created_ms) {
    BW_ENSURE(bw_sql_id_ok(org_id), BW_E_NOT_FOUND);
    int64_t v[2] = {0, 0};
    struct bw_sql_arg a[2] = {BW_SQL_T(org_id), BW_SQL_I(now_ms)};
    BW_TRY(bw_sql_once(s, org_id, 0,
                       "SELECT count(*), coalesce(min(created_ms), 0) FROM review_items"
                       " WHERE org_id = $1 AND status = 'pending' AND expires_ms > $2",
                       a, 2, stats_row, v, NULL));
    *count = v[0];
    *oldest_created_ms = v[1];
    return BW_OK;
}

bw_err bw_store_review_reviewers(struct bw_store *s, const char *org_id, const char *role,
                                 int64_t now_ms, int64_t *count) {
    BW_ENSURE(bw_sql_id_ok(org_id), BW_E_NOT_FOUND);
    int64_t v[2] = {0, 0};
    struct bw_sql_arg a[3] = {BW_SQL_T(org_id), BW_SQL_T(role), BW_SQL_I(now_ms)};
    /* The same rule as bw_review_role_may_review: the role itself, owner or admin. */
    BW_TRY(bw_sql_once(s, org_id, 0,
                       "SELECT count(DISTINCT member_id), 0 FROM api_keys WHERE org_id = $1"
                       " AND role IN ($2, 'owner', 'admin') AND revoked_ms = 0"
                       " AND (expires_ms = 0 OR expires_ms > $3)",
                       a, 3, stats_row, v, NULL));
    *count = v[0];
    return BW_OK;
}
