/* test_receipt.c: canonical receipt bytes (golden files) and the string/integer profile. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ledger/receipt.h"

#define GOLDEN_DIR "tests/unit/ledger/golden/"
#define ORIGIN "bulwark.example/gw-1/0a1b2c3d"

/* BW_UPDATE_GOLDEN=1 rewrites the golden files instead of comparing (review the diff!). */
static void check_golden(const char *name, const struct bw_buf *got) {
    char path[256];
    snprintf(path, sizeof path, GOLDEN_DIR "%s", name);
    if (getenv("BW_UPDATE_GOLDEN")) {
        FILE *w = fopen(path, "wb");
        assert_non_null(w);
        assert_int_equal(fwrite(got->ptr, 1, got->len, w), got->len);
        fputc('\n', w);
        fclose(w);
        return;
    }
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char want[8192];
    size_t n = fread(want, 1, sizeof want, f);
    fclose(f);
    /* The file is the canonical bytes plus one newline so it stays a well-formed text file. */
    assert_true(n > 0 && want[n - 1] == '\n');
    n--;
    if (n != got->len || memcmp(want, got->ptr, n) != 0)
        fail_msg("golden mismatch for %s:\n got: %s\nwant: %.*s", name, (const char *)got->ptr,
                 (int)n, want);
}

static void fill(uint8_t *h, uint8_t start) {
    for (int i = 0; i < 32; i++)
        h[i] = (uint8_t)(start + i);
}

static void make_decision(struct bw_receipt *r) {
    bw_receipt_init(r, BW_RECEIPT_DECISION);
    r->time_ms = 1767225600123;
    snprintf(r->org_id, sizeof r->org_id, "org_42");
    snprintf(r->principal, sizeof r->principal, "key_7f3a");
    snprintf(r->agent, sizeof r->agent, "billing-bot \"v2\" \\ beta");
    snprintf(r->route, sizeof r->route, "chat");
    snprintf(r->model, sizeof r->model, "gpt-4o-mini");
    snprintf(r->decision, sizeof r->decision, "deny");
    snprintf(r->reason, sizeof r->reason, "policy.model_not_allowed");
    snprintf(r->rule, sizeof r->rule, "models/deny-large");
    fill(r->request_sha256, 0x00);
    r->has_policy = 1;
    fill(r->policy_sha256, 0x40);
}

static void make_outcome(struct bw_receipt *r) {
    bw_receipt_init(r, BW_RECEIPT_OUTCOME);
    r->time_ms = 1767225601999;
    snprintf(r->org_id, sizeof r->org_id, "org_42");
    snprintf(r->principal, sizeof r->principal, "key_7f3a");
    snprintf(r->route, sizeof r->route, "chat");
    snprintf(r->model, sizeof r->model, "gpt-4o-mini");
    snprintf(r->status, sizeof r->status, "ok");
    r->http_status = 200;
    fill(r->request_sha256, 0x00);
    r->has_response = 1;
    fill(r->response_sha256, 0x80);
    r->has_parent = 1;
    fill(r->parent_leaf_hash, 0xc0);
    r->has_usage = 1;
    r->prompt_tokens = 1200;
    r->completion_tokens = 345;
    r->total_tokens = 1545;
    r->duration_ms = 0;
}

static void test_golden_decision(void **state) {
    (void)state;
    struct bw_receipt r;
    make_decision(&r);
    struct bw_buf b;
    bw_buf_init(&b, BW_RECEIPT_MAX_BYTES);
    assert_int_equal(bw_receipt_encode(&r, ORIGIN, 0, &b), BW_OK);
    check_golden("decision.json", &b);
    bw_buf_cleanup(&b);
}

static void test_golden_outcome(void **state) {
    (void)state;
    struct bw_receipt r;
    make_outcome(&r);
    struct bw_buf b;
    bw_buf_init(&b, BW_RECEIPT_MAX_BYTES);
    assert_int_equal(bw_receipt_encode(&r, ORIGIN, 9007199254740991ULL, &b), BW_OK);
    check_golden("outcome.json", &b);
    bw_buf_cleanup(&b);
}

static void test_minimal(void **state) {
    (void)state;
    struct bw_receipt r;
    bw_receipt_init(&r, BW_RECEIPT_ADMIN);
    r.time_ms = -5;
    struct bw_buf b;
    bw_buf_init(&b, BW_RECEIPT_MAX_BYTES);
    assert_int_equal(bw_receipt_encode(&r, "o", 3, &b), BW_OK);
    assert_string_equal(
        (const char *)b.ptr,
        "{\"_type\":\"https://in-toto.io/Statement/v1\",\"predicate\":{\"kind\":\"admin\","
        "\"log\":{\"index\":3,\"origin\":\"o\"},\"time_ms\":-5},\"predicateType\":"
        "\"https://bulwark.dev/receipt/v1\",\"subject\":[{\"digest\":{\"sha256\":"
        "\"0000000000000000000000000000000000000000000000000000000000000000\"},"
        "\"name\":\"request\"}]}");
    bw_buf_cleanup(&b);
}

static bw_err encode_once(const struct bw_receipt *r, const char *origin, uint64_t index) {
    struct bw_buf b;
    bw_buf_init(&b, BW_RECEIPT_MAX_BYTES);
    bw_err e = bw_receipt_encode(r, origin, index, &b);
    bw_buf_cleanup(&b);
    return e;
}

static void test_rejects_bad_strings(void **state) {
    (void)state;
    static const char *bad[] = {"tab\there", "nl\n", "del\x7f", "caf\xc3\xa9", "\x01", "\xff"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_false(bw_receipt_str_ok(bad[i]));
        struct bw_receipt r;
        make_decision(&r);
        snprintf(r.model, sizeof r.model, "%s", bad[i]);
        assert_int_equal(encode_once(&r, ORIGIN, 1), BW_E_INVALID);
        make_decision(&r);
        snprintf(r.status, sizeof r.status, "%s", bad[i]);
        assert_int_equal(encode_once(&r, ORIGIN, 1), BW_E_INVALID);
        make_decision(&r);
        assert_int_equal(encode_once(&r, bad[i], 1), BW_E_INVALID);
    }
    assert_true(bw_receipt_str_ok(""));
    assert_true(bw_receipt_str_ok(" ~"));
    assert_false(bw_receipt_str_ok(NULL));
    struct bw_receipt r;
    make_decision(&r);
    assert_int_equal(encode_once(&r, "", 1), BW_E_INVALID);
    assert_int_equal(encode_once(&r, NULL, 1), BW_E_INVALID);
    /* A field that fills its array without a terminator is rejected, not over-read. */
    memset(r.route, 'a', sizeof r.route);
    assert_int_equal(encode_once(&r, ORIGIN, 1), BW_E_INVALID);
    make_decision(&r);
    r.kind = (enum bw_receipt_kind)9;
    assert_int_equal(encode_once(&r, ORIGIN, 1), BW_E_INVALID);
    assert_null(bw_receipt_kind_name((enum bw_receipt_kind)9));
}

static void test_rejects_out_of_range_ints(void **state) {
    (void)state;
    const int64_t max = INT64_C(9007199254740991);
    struct bw_receipt r;
    make_outcome(&r);
    r.time_ms = max;
    assert_int_equal(encode_once(&r, ORIGIN, 1), BW_OK);
    r.time_ms = -max;
    assert_int_equal(encode_once(&r, ORIGIN, 1), BW_OK);
    r.time_ms = max + 1;
    assert_int_equal(encode_once(&r, ORIGIN, 1), BW_E_INVALID);
    r.time_ms = INT64_MIN;
    assert_int_equal(encode_once(&r, ORIGIN, 1), BW_E_INVALID);
    make_outcome(&r);
    r.total_tokens = -max - 1;
    assert_int_equal(encode_once(&r, ORIGIN, 1), BW_E_INVALID);
    make_outcome(&r);
    r.duration_ms = INT64_MAX;
    assert_int_equal(encode_once(&r, ORIGIN, 1), BW_E_INVALID);
    make_outcome(&r);
    assert_int_equal(encode_once(&r, ORIGIN, (uint64_t)max + 1), BW_E_INVALID);
    assert_int_equal(encode_once(&r, ORIGIN, UINT64_MAX), BW_E_INVALID);
}

static void test_cap(void **state) {
    (void)state;
    struct bw_receipt r;
    make_outcome(&r);
    struct bw_buf b;
    bw_buf_init(&b, 100);
    assert_int_equal(bw_receipt_encode(&r, ORIGIN, 1, &b), BW_E_TOO_LARGE);
    bw_buf_cleanup(&b);
    /* Every field at its maximum, all escapes: still within BW_RECEIPT_MAX_BYTES. */
    memset(r.org_id, '"', sizeof r.org_id - 1);
    memset(r.principal, '\\', sizeof r.principal - 1);
    memset(r.agent, '"', sizeof r.agent - 1);
    memset(r.route, '"', sizeof r.route - 1);
    memset(r.model, '"', sizeof r.model - 1);
    memset(r.decision, '"', sizeof r.decision - 1);
    memset(r.reason, '"', sizeof r.reason - 1);
    memset(r.rule, '"', sizeof r.rule - 1);
    memset(r.status, '"', sizeof r.status - 1);
    r.has_policy = 1;
    char origin[256];
    memset(origin, '"', 255);
    origin[255] = 0;
    bw_buf_init(&b, BW_RECEIPT_MAX_BYTES);
    assert_int_equal(bw_receipt_encode(&r, origin, 9007199254740991ULL, &b), BW_OK);
    bw_buf_reset(&b);
    /* ... and with every optional member present and every tool-call slot full at its longest. */
    r.has_response = r.has_parent = r.has_usage = r.has_cost = r.usage_estimated = 1;
    r.prompt_tokens = r.completion_tokens = r.total_tokens = -9007199254740991LL;
    r.cost_micros = r.duration_ms = -9007199254740991LL;
    r.http_status = -9007199;
    char name[65], reason[49];
    memset(name, 'n', 64);
    name[64] = 0;
    memset(reason, 'R', 48);
    reason[48] = 0;
    uint8_t h[32];
    fill(h, 0x11);
    for (int i = 0; i < BW_RECEIPT_MAX_TOOL_CALLS + 3; i++)
        bw_receipt_add_tool_call(&r.tool_calls, name, "require_approval", reason, h);
    r.tool_calls.total = 9007199254740991LL;
    assert_int_equal(bw_receipt_encode(&r, origin, 9007199254740991ULL, &b), BW_OK);
    assert_true(b.len <= BW_RECEIPT_MAX_BYTES);
    bw_buf_cleanup(&b);
}

/* Outcome receipts list decided tool calls in order; names outside the plain charset are
 * absent, never cleaned. Golden bytes pin the encoding. */
static void test_tool_calls(void **state) {
    (void)state;
    struct bw_receipt r;
    make_outcome(&r);
    uint8_t h[32];
    fill(h, 0x20);
    bw_receipt_add_tool_call(&r.tool_calls, "read_file", "allow", "ALLOWED", h);
    bw_receipt_add_tool_call(&r.tool_calls, "run \"shell\"", "deny", "TOOL_DENIED", h);
    bw_receipt_add_tool_call(&r.tool_calls, NULL, "deny", "TOOL_CALL_INCOMPLETE", NULL);
    assert_int_equal(r.tool_calls.total, 3);
    assert_string_equal(r.tool_calls.list[1].name, "");
    struct bw_buf b;
    bw_buf_init(&b, BW_RECEIPT_MAX_BYTES);
    assert_int_equal(bw_receipt_encode(&r, ORIGIN, 7, &b), BW_OK);
    check_golden("outcome_tools.json", &b);
    /* More calls than slots: all counted, the first ones listed. */
    for (int i = 0; i < 20; i++)
        bw_receipt_add_tool_call(&r.tool_calls, "t", "allow", "ALLOWED", h);
    assert_int_equal(r.tool_calls.total, 23);
    assert_int_equal(r.tool_calls.n, BW_RECEIPT_MAX_TOOL_CALLS);
    bw_buf_reset(&b);
    assert_int_equal(bw_receipt_encode(&r, ORIGIN, 7, &b), BW_OK);
    /* A count below the listed calls is not a receipt the encoder writes. */
    r.tool_calls.total = 1;
    bw_buf_reset(&b);
    assert_int_equal(bw_receipt_encode(&r, ORIGIN, 7, &b), BW_E_INVALID);
    bw_buf_cleanup(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_decision),
        cmocka_unit_test(test_golden_outcome),
        cmocka_unit_test(test_minimal),
        cmocka_unit_test(test_rejects_bad_strings),
        cmocka_unit_test(test_rejects_out_of_range_ints),
        cmocka_unit_test(test_cap),
        cmocka_unit_test(test_tool_calls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
