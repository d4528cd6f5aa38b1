/* review_store.h: review items and votes in the store (migration 4; src/review/review.h is the
 * state machine). Written once for both backends on top of sql.h.
 *
 * Every function is tenant-scoped exactly like identity.h: org_id is bound in the SQL and, on
 * PostgreSQL, is the transaction's tenant, so another org's item answers BW_E_NOT_FOUND like an
 * unknown one; a malformed id is BW_E_NOT_FOUND too. Status changes are conditional UPDATEs
 * (WHERE status = ... AND the counters the caller saw): when a concurrent vote or use won, the
 * change is not applied and the function answers BW_E_EXISTS, so nothing is applied twice.
 * Other errors: BW_E_INVALID (a CHECK), BW_E_UNAVAILABLE (store failure: the caller denies).
 * Callers validate lengths and UTF-8 first. One handle per thread, as every store call. */
#ifndef BW_STORE_REVIEW_STORE_H
#define BW_STORE_REVIEW_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "review/review.h"
#include "store/store.h"

/* Inserts a new item (status and counters as given: a new item is pending, 0 approvals). */
bw_err bw_store_review_insert(struct bw_store *s, const struct bw_review_item *it) BW_MUST_CHECK;

/* The same, with what a reviewer needs to decide (`detail`: a JSON object of at most
 * BW_REVIEW_DETAIL_MAX bytes, review.h; "" for none). BW_E_TOO_LARGE over the cap. */
bw_err bw_store_review_insert_detail(struct bw_store *s, const struct bw_review_item *it,
                                     const char *detail) BW_MUST_CHECK;

/* The item's detail (malloc'd, the caller frees; "" when none was stored). Tenant-scoped like
 * every read here. Shown only by GET /api/v1/reviews/{id}, never put in a receipt. */
bw_err bw_store_review_detail(struct bw_store *s, const char *org_id, const char *id,
                              char **out) BW_MUST_CHECK;

/* The item as stored (the caller applies bw_review_status_at for expiry). */
bw_err bw_store_review_get(struct bw_store *s, const char *org_id, const char *id,
                           struct bw_review_item *out) BW_MUST_CHECK;

/* The org's items, newest first, at most limit (<= BW_STORE_LIST_MAX). With a status filter
 * (has_status), the filter is on the status at now_ms: "pending" omits items past expiry and
 * "expired" includes them. fn returning non-zero stops (BW_E_INTERNAL). */
typedef int (*bw_store_review_fn)(void *arg, const struct bw_review_item *it);
bw_err bw_store_review_list(struct bw_store *s, const char *org_id, int has_status,
                            enum bw_review_status status, int64_t now_ms, size_t limit,
                            bw_store_review_fn fn, void *arg) BW_MUST_CHECK;

struct bw_review_vote {
    char org_id[BW_ID_SIZE];
    char review_id[BW_ID_SIZE];
    char key_id[BW_ID_SIZE];
    char member_id[BW_ID_SIZE]; /* "" when none */
    int approve;
    const char *comment; /* borrowed (insert) or valid during the callback (list) */
    char receipt_id[32];
    int64_t created_ms;
};

/* Records a vote and moves the item, in one transaction: the vote row (BW_E_EXISTS if this key
 * or member already voted), then the item from the state `seen` was read in (pending, with
 * seen->approvals approvals, unexpired at v->created_ms) to `next` with approvals + approve.
 * BW_E_EXISTS when the item changed meanwhile (nothing is written: the caller re-reads). */
bw_err bw_store_review_vote(struct bw_store *s, const struct bw_review_vote *v,
                            const struct bw_review_item *seen,
                            enum bw_review_status next) BW_MUST_CHECK;

/* The item's votes, oldest first. */
typedef int (*bw_store_vote_fn)(void *arg, const struct bw_review_vote *v);
bw_err bw_store_review_votes(struct bw_store *s, const char *org_id, const char *review_id,
                             bw_store_vote_fn fn, void *arg) BW_MUST_CHECK;

/* Spends an approval: approved -> used, only if unexpired at now_ms and bound to this request
 * hash. BW_E_EXISTS if it was not (already used, or changed meanwhile). At most once, also
 * under concurrent uses on several replicas. */
bw_err bw_store_review_use(struct bw_store *s, const char *org_id, const char *id,
                           const uint8_t request_sha256[32], int64_t now_ms) BW_MUST_CHECK;

/* Persists a lazily noticed expiry: pending|approved -> expired if expires_ms <= now_ms.
 * BW_E_EXISTS if it was not (already changed). */
bw_err bw_store_review_expire(struct bw_store *s, const char *org_id, const char *id,
                              int64_t now_ms) BW_MUST_CHECK;

/* Items pending at now_ms and the creation time of the oldest (0 if none). */
bw_err bw_store_review_pending_stats(struct bw_store *s, const char *org_id, int64_t now_ms,
                                     int64_t *count, int64_t *oldest_created_ms) BW_MUST_CHECK;

/* Active (unrevoked, unexpired at now_ms) keys of the org that may review for `role`
 * (bw_review_role_may_review: that role, owner or admin). */
bw_err bw_store_review_reviewers(struct bw_store *s, const char *org_id, const char *role,
                                 int64_t now_ms, int64_t *count) BW_MUST_CHECK;

#endif
