/* review.h: the review queue's state machine (issue 3, "Review queue and signoff";
 * docs/POLICY.md "require_approval").
 *
 * A `require_approval` decision creates one review item bound to the exact request: the SHA-256
 * of the request bytes, the org, the agent, the requester's key id (and member), the route, the
 * model and the deciding rule, with the reviewer role, quorum and expiry the rule names.
 *
 *   pending --quorum approving votes--> approved --one use--> used
 *   pending --one denying vote-------> denied
 *   pending | approved --expires_ms--> expired     (lazily, on read and on use: fail closed)
 *
 * Four eyes: an approving vote by the requester's key, or by any key of the requester's
 * principal (store.h: the person a key belongs to; for an agent key, the member who made it), is
 * refused; so is a vote by a key with no principal, or on an item with none (fail closed), except
 * a widget's call, whose requester is the public. Quorum N means N approving votes of N distinct
 * keys and N distinct principals (the store enforces both). One denying vote denies. An approval
 * lets through exactly one call: same org, agent, requester key, route, model, rule and request
 * hash, before expires_ms.
 *
 * These functions are pure (no I/O, no clock): the store applies the transitions with
 * conditional UPDATEs (review_store.h) so concurrent votes and uses cannot double-apply.
 * Thread-safe. Reason codes are the static strings of reason/reasons.h. */
#ifndef BW_REVIEW_REVIEW_H
#define BW_REVIEW_REVIEW_H

#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

#include "store/store.h"

#define BW_REVIEW_COMMENT_MAX 1000 /* bytes of a vote's comment (UTF-8) */
#define BW_REVIEW_ROLE_SIZE 65
#define BW_REVIEW_MAX_QUORUM 16
#define BW_REVIEW_DETAIL_MAX 65536 /* bytes of an item's detail JSON (review_store.h) */

enum bw_review_status {
    BW_REVIEW_PENDING = 0,
    BW_REVIEW_APPROVED,
    BW_REVIEW_DENIED,
    BW_REVIEW_EXPIRED,
    BW_REVIEW_USED,
};

struct bw_review_item {
    char id[BW_ID_SIZE]; /* "rev_<16 hex>" */
    char org_id[BW_ID_SIZE];
    char agent[64];
    char requester_key[BW_ID_SIZE];
    char requester_member[BW_ID_SIZE]; /* the requesting key's principal ("" for a widget) */
    char route[32];
    char model[128];
    char rule[65];
    char reviewer_role[BW_REVIEW_ROLE_SIZE];
    uint8_t request_sha256[32];
    uint32_t quorum;                                     /* 1..BW_REVIEW_MAX_QUORUM */
    uint32_t approvals;                                  /* approving votes so far */
    enum bw_review_status status;                        /* as stored; see bw_review_status_at */
    int64_t created_ms, expires_ms, decided_ms, used_ms; /* 0 = not yet */
    char decision_receipt[32]; /* the APPROVAL_REQUIRED decision receipt's id */
};

/* Static lowercase name ("pending", ...); NULL for an unknown value. */
const char *bw_review_status_name(enum bw_review_status s);
/* Parses a name: 0 and *out set, or -1. */
int bw_review_status_parse(const char *name, enum bw_review_status *out) BW_MUST_CHECK;

/* The status at now_ms: a pending or approved item whose expires_ms <= now_ms is expired. */
enum bw_review_status bw_review_status_at(const struct bw_review_item *it,
                                          int64_t now_ms) BW_MUST_CHECK;

/* Whether a key of this role may act on items needing reviewer_role: its own role, or owner or
 * admin (who hold every reviewer right of their org). */
int bw_review_role_may_review(const char *key_role, const char *reviewer_role) BW_MUST_CHECK;

/* The key casting a vote (borrowed strings). */
struct bw_review_voter {
    const char *key_id;
    const char *member_id; /* the voting key's principal ("" or NULL: unknown, never approves) */
    const char *role;
};

/* Checks a vote before it is recorded. Returns NULL if allowed, else a reason code and sets
 * *http_status: REVIEW_ROLE_MISMATCH (403), REVIEW_SELF_APPROVAL (403, approving only),
 * REVIEW_EXPIRED (409), REVIEW_NOT_PENDING (409). A second vote by the same key or member is
 * refused by the store (REVIEW_ALREADY_VOTED). */
const char *bw_review_check_vote(const struct bw_review_item *it, const struct bw_review_voter *v,
                                 int approve, int64_t now_ms, int *http_status);

/* The stored status after one more approving vote (approved once approvals reach quorum). */
enum bw_review_status bw_review_after_approval(const struct bw_review_item *it) BW_MUST_CHECK;

/* What a re-sent request presents (borrowed strings). */
struct bw_review_use {
    const char *org_id, *agent, *key_id, *route, *model, *rule;
    const uint8_t *request_sha256; /* 32 bytes */
};

/* Whether the item lets this call through now. NULL if so (the caller then spends it with the
 * store's conditional update), else a 403 reason code: APPROVAL_MISMATCH (any bound field
 * differs: also another org's item), APPROVAL_EXPIRED, APPROVAL_PENDING, APPROVAL_DENIED,
 * APPROVAL_USED. A mismatch is reported before the status, so an item of another request
 * reveals nothing about its state. Request hashes are compared in constant time. */
const char *bw_review_check_use(const struct bw_review_item *it, const struct bw_review_use *u,
                                int64_t now_ms);

/* Fills a `review` receipt (ledger/receipt.h) about it at time_ms: principal (a key id, or ""
 * for an expiry nobody caused) did `action` ("create", "approve", "deny", "use", "expire") for
 * `reason` (REVIEW_*), leaving the item in `after`. The subject is the reviewed request's hash
 * and `rule` holds the review id, so an item's history is every review receipt with its id. */
struct bw_receipt;
void bw_review_receipt(struct bw_receipt *r, const struct bw_review_item *it, int64_t time_ms,
                       const char *principal, const char *action, const char *reason,
                       enum bw_review_status after);

#endif
