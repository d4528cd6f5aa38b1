/* review.c: the review state machine (review.h). Pure: the store applies what these allow. */
#include "review/review.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "ledger/receipt.h"
#include "reason/reasons.h"

static const char *const status_names[] = {"pending", "approved", "denied", "expired", "used"};

const char *bw_review_status_name(enum bw_review_status s) {
    switch (s) {
    case BW_REVIEW_PENDING:
    case BW_REVIEW_APPROVED:
    case BW_REVIEW_DENIED:
    case BW_REVIEW_EXPIRED:
    case BW_REVIEW_USED:
        return status_names[s];
    default:
        return NULL;
    }
}

int bw_review_status_parse(const char *name, enum bw_review_status *out) {
    for (size_t i = 0; name && i < sizeof status_names / sizeof status_names[0]; i++) {
        if (strcmp(name, status_names[i]) == 0) {
            *out = (enum bw_review_status)i;
            return 0;
        }
    }
    return -1;
}

enum bw_review_status bw_review_status_at(const struct bw_review_item *it, int64_t now_ms) {
    /* Expiry is evaluated on every read instead of by a timer, so a stale "pending" or
     * "approved" row can never let a call through after its deadline (fail closed). */
    if ((it->status == BW_REVIEW_PENDING || it->status == BW_REVIEW_APPROVED) &&
        it->expires_ms <= now_ms)
        return BW_REVIEW_EXPIRED;
    return it->status;
}

int bw_review_role_may_review(const char *key_role, const char *reviewer_role) {
    if (!key_role || !reviewer_role || !reviewer_role[0])
        return 0;
    return strcmp(key_role, reviewer_role) == 0 || strcmp(key_role, "owner") == 0 ||
           strcmp(key_role, "admin") == 0;
}

static int same_id(const char *a, const char *b) {
    return a && b && a[0] && strcmp(a, b) == 0;
}

/* The voter's principal is the requester's, or unknown on either side (fail closed: an empty
 * principal can never count as a second person). */
static int same_person(const struct bw_review_item *it, const struct bw_review_voter *v) {
    if (!v->member_id || !v->member_id[0])
        return 1;
    /* A widget call's requester is the public (principal "widget:<agent id>", proxy/widget.h),
     * never a member of the org, so any member may review it. */
    if (!it->requester_member[0])
        return strncmp(it->requester_key, "widget:", 7) != 0;
    return strcmp(v->member_id, it->requester_member) == 0;
}

const char *bw_review_check_vote(const struct bw_review_item *it, const struct bw_review_voter *v,
                                 int approve, int64_t now_ms, int *http_status) {
    if (!bw_review_role_may_review(v->role, it->reviewer_role)) {
        *http_status = 403;
        return BW_R_REVIEW_ROLE_MISMATCH;
    }
    /* Four eyes: the requester never approves its own call, neither with the requesting key
     * nor with any other key of the same principal (a second key, a rotated successor, or the
     * member who made the requesting agent key). Denying (withdrawing) is harmless. */
    if (approve && (same_id(v->key_id, it->requester_key) || same_person(it, v))) {
        *http_status = 403;
        return BW_R_REVIEW_SELF_APPROVAL;
    }
    enum bw_review_status st = bw_review_status_at(it, now_ms);
    if (st == BW_REVIEW_EXPIRED) {
        *http_status = 409;
        return BW_R_REVIEW_EXPIRED;
    }
    if (st != BW_REVIEW_PENDING) {
        *http_status = 409;
        return BW_R_REVIEW_NOT_PENDING;
    }
    return NULL;
}

enum bw_review_status bw_review_after_approval(const struct bw_review_item *it) {
    return it->approvals + 1 >= it->quorum ? BW_REVIEW_APPROVED : BW_REVIEW_PENDING;
}

static int str_eq(const char *field, const char *given) {
    return strcmp(field, given ? given : "") == 0;
}

const char *bw_review_check_use(const struct bw_review_item *it, const struct bw_review_use *u,
                                int64_t now_ms) {
    int same = str_eq(it->org_id, u->org_id) && str_eq(it->agent, u->agent) &&
               str_eq(it->requester_key, u->key_id) && str_eq(it->route, u->route) &&
               str_eq(it->model, u->model) && str_eq(it->rule, u->rule);
    same &= u->request_sha256 && sodium_memcmp(it->request_sha256, u->request_sha256, 32) == 0;
    if (!same)
        return BW_R_APPROVAL_MISMATCH;
    switch (bw_review_status_at(it, now_ms)) {
    case BW_REVIEW_APPROVED:
        return NULL;
    case BW_REVIEW_PENDING:
        return BW_R_APPROVAL_PENDING;
    case BW_REVIEW_DENIED:
        return BW_R_APPROVAL_DENIED;
    case BW_REVIEW_EXPIRED:
        return BW_R_APPROVAL_EXPIRED;
    case BW_REVIEW_USED:
        return BW_R_APPROVAL_USED;
    default:
        return BW_R_APPROVAL_MISMATCH;
    }
}

void bw_review_receipt(struct bw_receipt *r, const struct bw_review_item *it, int64_t time_ms,
                       const char *principal, const char *action, const char *reason,
                       enum bw_review_status after) {
    bw_receipt_init(r, BW_RECEIPT_REVIEW);
    r->time_ms = time_ms;
    snprintf(r->org_id, sizeof r->org_id, "%s", it->org_id);
    snprintf(r->principal, sizeof r->principal, "%s", principal ? principal : "");
    snprintf(r->agent, sizeof r->agent, "%s", it->agent);
    snprintf(r->route, sizeof r->route, "%s", it->route);
    snprintf(r->model, sizeof r->model, "%s", it->model);
    snprintf(r->decision, sizeof r->decision, "%s", action);
    snprintf(r->reason, sizeof r->reason, "%s", reason);
    snprintf(r->rule, sizeof r->rule, "%s", it->id);
    const char *st = bw_review_status_name(after);
    snprintf(r->status, sizeof r->status, "%s", st ? st : "");
    memcpy(r->request_sha256, it->request_sha256, 32);
}
