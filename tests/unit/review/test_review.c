/* test_review.c: the review state machine (review.h): expiry, four eyes, roles, quorum, and
 * the binding of an approval to one exact request. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ledger/receipt.h"
#include "reason/reasons.h"
#include "review/review.h"

#define NOW 1767225600000LL

static void make_item(struct bw_review_item *it) {
    memset(it, 0, sizeof *it);
    snprintf(it->id, sizeof it->id, "rev_0123456789abcdef");
    snprintf(it->org_id, sizeof it->org_id, "org_aaaaaaaaaaaaaaaa");
    snprintf(it->agent, sizeof it->agent, "billing");
    snprintf(it->requester_key, sizeof it->requester_key, "key_requester00000");
    snprintf(it->requester_member, sizeof it->requester_member, "mem_alice0000000000");
    snprintf(it->route, sizeof it->route, "chat");
    snprintf(it->model, sizeof it->model, "gpt-4o-mini");
    snprintf(it->rule, sizeof it->rule, "transfer");
    snprintf(it->reviewer_role, sizeof it->reviewer_role, "reviewer");
    memset(it->request_sha256, 0xab, 32);
    it->quorum = 1;
    it->status = BW_REVIEW_PENDING;
    it->created_ms = NOW - 1000;
    it->expires_ms = NOW + 60000;
}

static void make_use(const struct bw_review_item *it, struct bw_review_use *u) {
    u->org_id = it->org_id;
    u->agent = it->agent;
    u->key_id = it->requester_key;
    u->route = it->route;
    u->model = it->model;
    u->rule = it->rule;
    u->request_sha256 = it->request_sha256;
}

static void test_names(void **state) {
    (void)state;
    enum bw_review_status s;
    for (int i = BW_REVIEW_PENDING; i <= BW_REVIEW_USED; i++) {
        const char *n = bw_review_status_name((enum bw_review_status)i);
        assert_non_null(n);
        assert_int_equal(bw_review_status_parse(n, &s), 0);
        assert_int_equal(s, i);
    }
    assert_null(bw_review_status_name((enum bw_review_status)99));
    assert_int_equal(bw_review_status_parse("Pending", &s), -1);
    assert_int_equal(bw_review_status_parse("", &s), -1);
    assert_int_equal(bw_review_status_parse(NULL, &s), -1);
}

static void test_expiry_is_lazy_and_closed(void **state) {
    (void)state;
    struct bw_review_item it;
    make_item(&it);
    assert_int_equal(bw_review_status_at(&it, NOW), BW_REVIEW_PENDING);
    assert_int_equal(bw_review_status_at(&it, it.expires_ms - 1), BW_REVIEW_PENDING);
    assert_int_equal(bw_review_status_at(&it, it.expires_ms), BW_REVIEW_EXPIRED); /* at: gone */
    it.status = BW_REVIEW_APPROVED;
    assert_int_equal(bw_review_status_at(&it, it.expires_ms + 1), BW_REVIEW_EXPIRED);
    /* Final states stay what they are. */
    it.status = BW_REVIEW_DENIED;
    assert_int_equal(bw_review_status_at(&it, it.expires_ms + 1), BW_REVIEW_DENIED);
    it.status = BW_REVIEW_USED;
    assert_int_equal(bw_review_status_at(&it, it.expires_ms + 1), BW_REVIEW_USED);
}

static void test_four_eyes(void **state) {
    (void)state;
    struct bw_review_item it;
    make_item(&it);
    int st = 0;
    struct bw_review_voter self = {"key_requester00000", "", "admin"};
    assert_string_equal(bw_review_check_vote(&it, &self, 1, NOW, &st), BW_R_REVIEW_SELF_APPROVAL);
    assert_int_equal(st, 403);
    /* Another key of the same member is the same person. */
    struct bw_review_voter same_person = {"key_other000000000", "mem_alice0000000000", "reviewer"};
    assert_string_equal(bw_review_check_vote(&it, &same_person, 1, NOW, &st),
                        BW_R_REVIEW_SELF_APPROVAL);
    /* Withdrawing (denying) one's own request is allowed. */
    assert_null(bw_review_check_vote(&it, &same_person, 0, NOW, &st));
    /* Another person approves. */
    struct bw_review_voter other = {"key_other000000000", "mem_bob000000000000", "reviewer"};
    assert_null(bw_review_check_vote(&it, &other, 1, NOW, &st));
    /* An unknown principal on either side is never a second person (fail closed). */
    struct bw_review_voter nobody = {"key_other000000000", "", "reviewer"};
    assert_string_equal(bw_review_check_vote(&it, &nobody, 1, NOW, &st), BW_R_REVIEW_SELF_APPROVAL);
    it.requester_member[0] = 0;
    assert_string_equal(bw_review_check_vote(&it, &other, 1, NOW, &st), BW_R_REVIEW_SELF_APPROVAL);
    /* ... except a widget's call: its requester is the public, no member */
    snprintf(it.requester_key, sizeof it.requester_key, "widget:agt_0123456789abcdef");
    assert_null(bw_review_check_vote(&it, &other, 1, NOW, &st));
}

static void test_roles(void **state) {
    (void)state;
    struct bw_review_item it;
    make_item(&it);
    int st = 0;
    const char *ok_roles[] = {"reviewer", "admin", "owner"};
    for (size_t i = 0; i < 3; i++) {
        struct bw_review_voter v = {"key_x", "mem_bob000000000000", ok_roles[i]};
        assert_null(bw_review_check_vote(&it, &v, 1, NOW, &st));
    }
    const char *bad_roles[] = {"member", "agent", "operator", "", "reviewerx"};
    for (size_t i = 0; i < 5; i++) {
        struct bw_review_voter v = {"key_x", "", bad_roles[i]};
        assert_string_equal(bw_review_check_vote(&it, &v, 0, NOW, &st), BW_R_REVIEW_ROLE_MISMATCH);
        assert_int_equal(st, 403);
    }
    snprintf(it.reviewer_role, sizeof it.reviewer_role, "finance");
    struct bw_review_voter rv = {"key_x", "", "reviewer"};
    assert_string_equal(bw_review_check_vote(&it, &rv, 1, NOW, &st), BW_R_REVIEW_ROLE_MISMATCH);
    assert_false(bw_review_role_may_review("admin", ""));
    assert_false(bw_review_role_may_review(NULL, "reviewer"));
}

static void test_vote_states(void **state) {
    (void)state;
    struct bw_review_item it;
    make_item(&it);
    struct bw_review_voter v = {"key_x", "mem_bob000000000000", "reviewer"};
    int st = 0;
    assert_string_equal(bw_review_check_vote(&it, &v, 1, it.expires_ms, &st), BW_R_REVIEW_EXPIRED);
    assert_int_equal(st, 409);
    const enum bw_review_status done[] = {BW_REVIEW_APPROVED, BW_REVIEW_DENIED, BW_REVIEW_USED};
    for (size_t i = 0; i < 3; i++) {
        it.status = done[i];
        assert_string_equal(bw_review_check_vote(&it, &v, 1, NOW, &st), BW_R_REVIEW_NOT_PENDING);
        assert_int_equal(st, 409);
    }
    it.status = BW_REVIEW_EXPIRED;
    assert_string_equal(bw_review_check_vote(&it, &v, 0, NOW, &st), BW_R_REVIEW_EXPIRED);
}

static void test_quorum(void **state) {
    (void)state;
    struct bw_review_item it;
    make_item(&it);
    assert_int_equal(bw_review_after_approval(&it), BW_REVIEW_APPROVED);
    it.quorum = 3;
    assert_int_equal(bw_review_after_approval(&it), BW_REVIEW_PENDING);
    it.approvals = 1;
    assert_int_equal(bw_review_after_approval(&it), BW_REVIEW_PENDING);
    it.approvals = 2;
    assert_int_equal(bw_review_after_approval(&it), BW_REVIEW_APPROVED);
}

static void test_use_binding(void **state) {
    (void)state;
    struct bw_review_item it;
    make_item(&it);
    it.status = BW_REVIEW_APPROVED;
    struct bw_review_use u;
    make_use(&it, &u);
    assert_null(bw_review_check_use(&it, &u, NOW));
    /* Every bound field, changed alone, is a mismatch. */
    uint8_t other_hash[32];
    memset(other_hash, 0xab, 32);
    other_hash[31] ^= 1;
    struct bw_review_use w = u;
    w.request_sha256 = other_hash;
    assert_string_equal(bw_review_check_use(&it, &w, NOW), BW_R_APPROVAL_MISMATCH);
    const char **fields[] = {&w.org_id, &w.agent, &w.key_id, &w.route, &w.model, &w.rule};
    for (size_t i = 0; i < 6; i++) {
        w = u;
        *fields[i] = "something-else";
        assert_string_equal(bw_review_check_use(&it, &w, NOW), BW_R_APPROVAL_MISMATCH);
    }
    w = u;
    w.request_sha256 = NULL;
    assert_string_equal(bw_review_check_use(&it, &w, NOW), BW_R_APPROVAL_MISMATCH);
    /* A mismatch is reported before the state, so another request learns nothing about it. */
    it.status = BW_REVIEW_USED;
    w = u;
    w.model = "gpt-4o";
    assert_string_equal(bw_review_check_use(&it, &w, NOW), BW_R_APPROVAL_MISMATCH);
}

static void test_use_states(void **state) {
    (void)state;
    struct bw_review_item it;
    make_item(&it);
    struct bw_review_use u;
    make_use(&it, &u);
    assert_string_equal(bw_review_check_use(&it, &u, NOW), BW_R_APPROVAL_PENDING);
    it.status = BW_REVIEW_DENIED;
    assert_string_equal(bw_review_check_use(&it, &u, NOW), BW_R_APPROVAL_DENIED);
    it.status = BW_REVIEW_USED;
    assert_string_equal(bw_review_check_use(&it, &u, NOW), BW_R_APPROVAL_USED);
    it.status = BW_REVIEW_APPROVED;
    assert_string_equal(bw_review_check_use(&it, &u, it.expires_ms), BW_R_APPROVAL_EXPIRED);
    it.status = BW_REVIEW_EXPIRED;
    assert_string_equal(bw_review_check_use(&it, &u, NOW), BW_R_APPROVAL_EXPIRED);
}

static void test_receipt(void **state) {
    (void)state;
    struct bw_review_item it;
    make_item(&it);
    struct bw_receipt r;
    bw_review_receipt(&r, &it, NOW, "key_reviewer", "approve", BW_R_REVIEW_APPROVED,
                      BW_REVIEW_APPROVED);
    assert_int_equal(r.kind, BW_RECEIPT_REVIEW);
    assert_string_equal(r.rule, it.id);
    assert_string_equal(r.status, "approved");
    assert_string_equal(r.decision, "approve");
    assert_memory_equal(r.request_sha256, it.request_sha256, 32);
    struct bw_buf b;
    bw_buf_init(&b, BW_RECEIPT_MAX_BYTES);
    assert_int_equal(bw_receipt_encode(&r, "bulwark/0a1b2c3d", 3, &b), BW_OK);
    bw_buf_cleanup(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),       cmocka_unit_test(test_expiry_is_lazy_and_closed),
        cmocka_unit_test(test_four_eyes),   cmocka_unit_test(test_roles),
        cmocka_unit_test(test_vote_states), cmocka_unit_test(test_quorum),
        cmocka_unit_test(test_use_binding), cmocka_unit_test(test_use_states),
        cmocka_unit_test(test_receipt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
