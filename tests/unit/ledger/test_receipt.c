/* test_receipt.c: canonical receipt bytes (golden files), the string/integer profile, and the
 * encoder against its pre-optimisation reference on random receipts (test_differential). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ledger/receipt.h"
#include "util/codec.h"

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
    snprintf(r->layer, sizeof r->layer, "rules");
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
    memset(r.layer, '"', sizeof r.layer - 1);
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

/* ---- Pre-optimisation reference encoder ----
 *
 * The encoder as it was before it wrote through a cursor (commit f536c97, src/ledger/receipt.c:
 * one bw_buf_append per token, strlen of every key, bw_hex_encode for hashes), kept verbatim
 * but renamed as the oracle for test_differential: the two must return the same error for
 * every receipt and cap, and the same bytes on success. Do not "fix" or speed this copy up. */

#define REF_SAFE_INT_MAX INT64_C(9007199254740991)

/* Encoding cursor: `sep` says whether the next member needs a leading comma. */
struct ref_enc {
    struct bw_buf *out;
    int sep;
};

static bw_err ref_put(struct ref_enc *e, const char *s, size_t n) {
    return bw_buf_append(e->out, s, n);
}

#define REF_PUT_LIT(e, lit) ref_put((e), (lit), sizeof(lit) - 1)

/* RFC 8785 3.2.2.2 for the printable-ASCII profile: only '"' and '\\' need escaping. */
static bw_err ref_put_string(struct ref_enc *e, const char *s, size_t n) {
    BW_TRY(REF_PUT_LIT(e, "\""));
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '"' && s[i] != '\\')
            continue;
        BW_TRY(ref_put(e, s + start, i - start));
        BW_TRY(REF_PUT_LIT(e, "\\"));
        start = i;
    }
    BW_TRY(ref_put(e, s + start, n - start));
    return REF_PUT_LIT(e, "\"");
}

/* Writes `,"key":` (comma only after the first member of the current object). */
static bw_err ref_put_key(struct ref_enc *e, const char *key) {
    if (e->sep)
        BW_TRY(REF_PUT_LIT(e, ","));
    e->sep = 1;
    BW_TRY(ref_put_string(e, key, strlen(key)));
    return REF_PUT_LIT(e, ":");
}

static bw_err ref_open_obj(struct ref_enc *e) {
    e->sep = 0;
    return REF_PUT_LIT(e, "{");
}

static bw_err ref_close_obj(struct ref_enc *e) {
    e->sep = 1; /* the object itself was a member of its parent */
    return REF_PUT_LIT(e, "}");
}

/* A fixed-size char field: must be NUL-terminated inside its array and in the profile. Empty
 * means absent (the member is omitted). */
static bw_err ref_member_str(struct ref_enc *e, const char *key, const char *field, size_t size) {
    size_t n = strnlen(field, size);
    BW_ENSURE(n < size && bw_receipt_str_ok(field), BW_E_INVALID);
    if (n == 0)
        return BW_OK;
    BW_TRY(ref_put_key(e, key));
    return ref_put_string(e, field, n);
}

#define REF_MEMBER_STR(e, key, r, field) ref_member_str((e), (key), (r)->field, sizeof((r)->field))

/* RFC 8785 3.2.2.3 for an integer: its shortest decimal form; the range check keeps it exact. */
static bw_err ref_member_int(struct ref_enc *e, const char *key, int64_t v) {
    BW_ENSURE(v >= -REF_SAFE_INT_MAX && v <= REF_SAFE_INT_MAX, BW_E_INVALID);
    char digits[24];
    size_t pos = sizeof digits;
    uint64_t u = v < 0 ? (uint64_t)(-v) : (uint64_t)v;
    do {
        digits[--pos] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        digits[--pos] = '-';
    BW_TRY(ref_put_key(e, key));
    return ref_put(e, digits + pos, sizeof digits - pos);
}

static bw_err ref_member_hex(struct ref_enc *e, const char *key, const uint8_t h[32]) {
    char hex[65];
    BW_TRY(bw_hex_encode(h, 32, hex, sizeof hex));
    BW_TRY(ref_put_key(e, key));
    BW_TRY(REF_PUT_LIT(e, "\""));
    BW_TRY(ref_put(e, hex, 64));
    return REF_PUT_LIT(e, "\"");
}

static bw_err ref_encode_usage(struct ref_enc *e, const struct bw_receipt *r) {
    BW_TRY(ref_put_key(e, "usage"));
    BW_TRY(ref_open_obj(e));
    BW_TRY(ref_member_int(e, "completion_tokens", r->completion_tokens));
    if (r->has_cost)
        BW_TRY(ref_member_int(e, "cost_micros", r->cost_micros));
    BW_TRY(ref_member_int(e, "prompt_tokens", r->prompt_tokens));
    if (r->usage_estimated) {
        BW_TRY(ref_put_key(e, "source"));
        BW_TRY(REF_PUT_LIT(e, "\"estimated\""));
    }
    BW_TRY(ref_member_int(e, "total_tokens", r->total_tokens));
    return ref_close_obj(e);
}

/* "tool_calls":[{"args_sha256":..,"decision":..,"name":..,"reason":..},..] in decision order
 * (an array keeps its order; only members are sorted). */
static bw_err ref_encode_tool_calls(struct ref_enc *e, const struct bw_receipt_tool_calls *tc) {
    BW_ENSURE(tc->n >= 1 && tc->n <= BW_RECEIPT_MAX_TOOL_CALLS && (int64_t)tc->n <= tc->total,
              BW_E_INVALID);
    BW_TRY(ref_put_key(e, "tool_calls"));
    BW_TRY(REF_PUT_LIT(e, "["));
    for (size_t i = 0; i < tc->n; i++) {
        const struct bw_receipt_tool_call *t = &tc->list[i];
        if (i)
            BW_TRY(REF_PUT_LIT(e, ","));
        BW_TRY(ref_open_obj(e));
        if (t->has_args)
            BW_TRY(ref_member_hex(e, "args_sha256", t->args_sha256));
        BW_TRY(REF_MEMBER_STR(e, "decision", t, decision));
        BW_TRY(REF_MEMBER_STR(e, "name", t, name));
        BW_TRY(REF_MEMBER_STR(e, "reason", t, reason));
        BW_TRY(ref_close_obj(e));
    }
    BW_TRY(REF_PUT_LIT(e, "]"));
    return ref_member_int(e, "tool_calls_total", tc->total);
}

static bw_err ref_encode_log(struct ref_enc *e, const char *origin, uint64_t index) {
    BW_ENSURE(index <= (uint64_t)REF_SAFE_INT_MAX, BW_E_INVALID);
    BW_TRY(ref_put_key(e, "log"));
    BW_TRY(ref_open_obj(e));
    BW_TRY(ref_member_int(e, "index", (int64_t)index));
    BW_TRY(ref_put_key(e, "origin"));
    BW_TRY(ref_put_string(e, origin, strlen(origin)));
    return ref_close_obj(e);
}

/* The predicate members, written in byte order of their keys. Keep this list sorted: the golden
 * tests fail on any reordering. */
static bw_err ref_encode_predicate(struct ref_enc *e, const struct bw_receipt *r,
                                   const char *origin, uint64_t index) {
    const char *kind = bw_receipt_kind_name(r->kind);
    BW_ENSURE(kind, BW_E_INVALID);
    BW_TRY(ref_open_obj(e));
    BW_TRY(REF_MEMBER_STR(e, "agent", r, agent));
    BW_TRY(REF_MEMBER_STR(e, "decision", r, decision));
    if (r->duration_ms != -1)
        BW_TRY(ref_member_int(e, "duration_ms", r->duration_ms));
    if (r->http_status != 0)
        BW_TRY(ref_member_int(e, "http_status", r->http_status));
    BW_TRY(ref_put_key(e, "kind"));
    BW_TRY(ref_put_string(e, kind, strlen(kind)));
    BW_TRY(REF_MEMBER_STR(e, "layer", r, layer));
    BW_TRY(ref_encode_log(e, origin, index));
    BW_TRY(REF_MEMBER_STR(e, "model", r, model));
    BW_TRY(REF_MEMBER_STR(e, "org_id", r, org_id));
    if (r->has_org_policy)
        BW_TRY(ref_member_hex(e, "org_policy_sha256", r->org_policy_sha256));
    if (r->has_parent)
        BW_TRY(ref_member_hex(e, "parent_leaf_hash", r->parent_leaf_hash));
    if (r->has_policy)
        BW_TRY(ref_member_hex(e, "policy_sha256", r->policy_sha256));
    BW_TRY(REF_MEMBER_STR(e, "principal", r, principal));
    BW_TRY(REF_MEMBER_STR(e, "reason", r, reason));
    if (r->has_response)
        BW_TRY(ref_member_hex(e, "response_sha256", r->response_sha256));
    BW_TRY(REF_MEMBER_STR(e, "route", r, route));
    BW_TRY(REF_MEMBER_STR(e, "rule", r, rule));
    BW_TRY(REF_MEMBER_STR(e, "status", r, status));
    BW_TRY(ref_member_int(e, "time_ms", r->time_ms));
    if (r->tool_calls.total > 0)
        BW_TRY(ref_encode_tool_calls(e, &r->tool_calls));
    if (r->has_usage)
        BW_TRY(ref_encode_usage(e, r));
    return ref_close_obj(e);
}

static bw_err ref_receipt_encode(const struct bw_receipt *r, const char *origin, uint64_t index,
                                 struct bw_buf *out) {
    BW_ENSURE(r && out && bw_receipt_str_ok(origin) && origin[0], BW_E_INVALID);
    struct ref_enc e = {out, 0};
    /* in-toto Statement v1: "_type" < "predicate" < "predicateType" < "subject". */
    BW_TRY(ref_open_obj(&e));
    BW_TRY(ref_put_key(&e, "_type"));
    BW_TRY(REF_PUT_LIT(&e, "\"https://in-toto.io/Statement/v1\""));
    BW_TRY(ref_put_key(&e, "predicate"));
    BW_TRY(ref_encode_predicate(&e, r, origin, index));
    BW_TRY(ref_put_key(&e, "predicateType"));
    BW_TRY(REF_PUT_LIT(&e, "\"" BW_RECEIPT_PREDICATE_TYPE "\""));
    BW_TRY(ref_put_key(&e, "subject"));
    BW_TRY(REF_PUT_LIT(&e, "[{\"digest\":"));
    BW_TRY(ref_open_obj(&e));
    BW_TRY(ref_member_hex(&e, "sha256", r->request_sha256));
    BW_TRY(ref_close_obj(&e));
    BW_TRY(REF_PUT_LIT(&e, ",\"name\":\"request\"}]"));
    return ref_close_obj(&e);
}

/* ---- Differential test: bw_receipt_encode against the reference ---- */

/* xorshift64*: repeatable (BW_TEST_SEED overrides the seed to explore). */
static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static uint64_t rnd(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

static size_t rnd_below(size_t n) {
    return n ? (size_t)(rnd() % n) : 0;
}

static int one_in(unsigned n) {
    return rnd_below(n) == 0;
}

/* A byte that is not in the string profile (and not NUL). */
static char bad_byte(void) {
    static const unsigned char bad[] = {0x01, 0x09, 0x0a, 0x1f, 0x7f, 0x80, 0xc3, 0xff};
    return (char)bad[rnd_below(sizeof bad)];
}

/* A printable byte, often one that needs escaping. */
static char printable(void) {
    switch (rnd_below(8)) {
    case 0:
        return '"';
    case 1:
        return '\\';
    default:
        return (char)(0x20 + rnd_below(0x7F - 0x20));
    }
}

/* Fills a char[size] field: absent, short, at its maximum, all escapes, with a byte outside the
 * profile, or (rarely) with no terminator inside the array. */
static void rnd_field(char *f, size_t size) {
    memset(f, 0, size);
    size_t n;
    switch (rnd_below(10)) {
    case 0:
    case 1:
        return; /* absent */
    case 2:
        n = size - 1;
        break;
    case 3:
        memset(f, one_in(2) ? '"' : '\\', size - 1);
        return;
    case 4:
        if (one_in(12)) {
            memset(f, 'x', size); /* unterminated */
            return;
        }
        n = 1 + rnd_below(size - 1);
        break;
    default:
        n = 1 + rnd_below(size - 1);
        break;
    }
    for (size_t i = 0; i < n; i++)
        f[i] = printable();
    if (one_in(80))
        f[rnd_below(n)] = bad_byte();
}

/* Integers around every edge of the +-(2^53-1) profile, and ordinary ones. */
static int64_t rnd_int(void) {
    static const int64_t edges[] = {0,
                                    1,
                                    -1,
                                    9,
                                    10,
                                    -10,
                                    REF_SAFE_INT_MAX,
                                    -REF_SAFE_INT_MAX,
                                    REF_SAFE_INT_MAX + 1,
                                    -REF_SAFE_INT_MAX - 1,
                                    REF_SAFE_INT_MAX - 1,
                                    INT64_MAX,
                                    INT64_MIN,
                                    INT64_MIN + 1,
                                    INT32_MAX,
                                    INT32_MIN};
    switch (rnd_below(4)) {
    case 0:
        return edges[rnd_below(sizeof edges / sizeof edges[0])];
    case 1:
        return (int64_t)(rnd() % (2 * (uint64_t)REF_SAFE_INT_MAX + 1)) - REF_SAFE_INT_MAX;
    default:
        return (int64_t)rnd_below(100000) - (one_in(5) ? 50000 : 0);
    }
}

/* Mostly valid ints; an out-of-profile one in about 1 receipt in 10 keeps most receipts
 * encodable while still reaching every range check. */
static int64_t rnd_int_mostly_ok(void) {
    int64_t v = rnd_int();
    if (!one_in(30))
        while (v > REF_SAFE_INT_MAX || v < -REF_SAFE_INT_MAX)
            v = rnd_int();
    return v;
}

static void rnd_hash(int *has, uint8_t h[32]) {
    *has = (int)rnd_below(2);
    for (int i = 0; i < 32; i++)
        h[i] = (uint8_t)rnd();
}

static void rnd_tool_calls(struct bw_receipt_tool_calls *tc) {
    memset(tc, 0, sizeof *tc);
    if (one_in(3))
        return;
    /* 0..7 listed; 0 and 7 (past the array) are not encodable. */
    size_t n = one_in(10) ? (one_in(2) ? 0 : BW_RECEIPT_MAX_TOOL_CALLS + 1)
                          : 1 + rnd_below(BW_RECEIPT_MAX_TOOL_CALLS);
    tc->n = n;
    for (size_t i = 0; i < n && i < BW_RECEIPT_MAX_TOOL_CALLS; i++) {
        struct bw_receipt_tool_call *t = &tc->list[i];
        rnd_field(t->name, sizeof t->name);
        rnd_field(t->decision, sizeof t->decision);
        rnd_field(t->reason, sizeof t->reason);
        rnd_hash(&t->has_args, t->args_sha256);
    }
    switch (rnd_below(6)) {
    case 0:
        tc->total = (int64_t)n - 1; /* fewer than listed: invalid */
        break;
    case 1:
        tc->total = rnd_int();
        break;
    case 2:
        tc->total = (int64_t)n + (int64_t)rnd_below(1000);
        break;
    default:
        tc->total = (int64_t)n;
        break;
    }
}

static void rnd_receipt(struct bw_receipt *r) {
    bw_receipt_init(r, (enum bw_receipt_kind)rnd_below(4));
    if (one_in(40))
        r->kind = (enum bw_receipt_kind)(one_in(2) ? 4 : -1);
    r->time_ms = rnd_int_mostly_ok();
    rnd_field(r->org_id, sizeof r->org_id);
    rnd_field(r->principal, sizeof r->principal);
    rnd_field(r->agent, sizeof r->agent);
    rnd_field(r->route, sizeof r->route);
    rnd_field(r->model, sizeof r->model);
    rnd_field(r->decision, sizeof r->decision);
    rnd_field(r->reason, sizeof r->reason);
    rnd_field(r->rule, sizeof r->rule);
    rnd_field(r->layer, sizeof r->layer);
    rnd_field(r->status, sizeof r->status);
    r->http_status = one_in(2) ? 0 : (int)rnd_int();
    int ignored;
    rnd_hash(&ignored, r->request_sha256);
    rnd_hash(&r->has_policy, r->policy_sha256);
    rnd_hash(&r->has_org_policy, r->org_policy_sha256);
    rnd_hash(&r->has_response, r->response_sha256);
    rnd_hash(&r->has_parent, r->parent_leaf_hash);
    r->has_usage = (int)rnd_below(2);
    r->prompt_tokens = rnd_int_mostly_ok();
    r->completion_tokens = rnd_int_mostly_ok();
    r->total_tokens = rnd_int_mostly_ok();
    r->usage_estimated = (int)rnd_below(2);
    r->has_cost = (int)rnd_below(2);
    r->cost_micros = rnd_int_mostly_ok();
    r->duration_ms = one_in(2) ? -1 : rnd_int_mostly_ok();
    rnd_tool_calls(&r->tool_calls);
}

/* An origin: usually a log name, sometimes long, escaped, empty or outside the profile. */
static const char *rnd_origin(char *buf, size_t size) {
    switch (rnd_below(20)) {
    case 0:
        return NULL;
    case 1:
        return "";
    case 2:
        return ORIGIN;
    default:
        break;
    }
    size_t n = 1 + rnd_below(one_in(10) ? size - 1 : 64);
    for (size_t i = 0; i < n; i++)
        buf[i] = printable();
    buf[n] = 0;
    if (one_in(30))
        buf[rnd_below(n)] = bad_byte();
    return buf;
}

static uint64_t rnd_index(void) {
    static const uint64_t edges[] = {0, 1, (uint64_t)REF_SAFE_INT_MAX,
                                     (uint64_t)REF_SAFE_INT_MAX + 1, UINT64_MAX};
    if (one_in(4))
        return edges[rnd_below(sizeof edges / sizeof edges[0])];
    return rnd_below(1u << 30);
}

/* Encodes with both after the same prefix under the same cap; the same error, and on success
 * the same bytes (prefix included) and a NUL after them. On error the prefix must survive. */
static void check_same(const struct bw_receipt *r, const char *origin, uint64_t index, size_t max,
                       size_t prefix) {
    struct bw_buf a, b;
    bw_buf_init(&a, max);
    bw_buf_init(&b, max);
    for (size_t i = 0; i < prefix; i++) {
        char c = (char)('a' + i % 26);
        assert_int_equal(bw_buf_append(&a, &c, 1), BW_OK);
        assert_int_equal(bw_buf_append(&b, &c, 1), BW_OK);
    }
    bw_err want = ref_receipt_encode(r, origin, index, &a);
    bw_err got = bw_receipt_encode(r, origin, index, &b);
    if (got != want)
        fail_msg("error %d, reference %d (max %zu, prefix %zu, origin %.40s)", (int)got, (int)want,
                 max, prefix, origin ? origin : "(null)");
    if (want == BW_OK) {
        if (a.len != b.len || memcmp(a.ptr, b.ptr, a.len) != 0)
            fail_msg("bytes differ:\n got: %s\nwant: %s", (const char *)b.ptr, (const char *)a.ptr);
        assert_int_equal(b.ptr[b.len], 0);
    } else if (prefix) {
        assert_true(b.len >= prefix && b.len <= max);
        assert_memory_equal(b.ptr, a.ptr, prefix);
        assert_int_equal(b.ptr[b.len], 0);
    }
    bw_buf_cleanup(&a);
    bw_buf_cleanup(&b);
}

#define DIFF_ROUNDS 100000

static void test_differential(void **state) {
    (void)state;
    const char *seed = getenv("BW_TEST_SEED");
    if (seed)
        rng_state = strtoull(seed, NULL, 0) | 1;
    static char origin_buf[6000];
    size_t ok = 0;
    for (int i = 0; i < DIFF_ROUNDS; i++) {
        struct bw_receipt r;
        rnd_receipt(&r);
        const char *origin = rnd_origin(origin_buf, sizeof origin_buf);
        uint64_t index = rnd_index();
        size_t max = BW_RECEIPT_MAX_BYTES;
        if (one_in(4))
            max = rnd_below(BW_RECEIPT_MAX_BYTES); /* a cap somewhere inside the receipt */
        else if (one_in(4))
            max = 1 << 16; /* room for receipts past BW_RECEIPT_MAX_BYTES */
        size_t prefix = one_in(4) ? rnd_below(max < 40 ? max + 1 : 40) : 0;
        struct bw_buf probe;
        bw_buf_init(&probe, max);
        if (ref_receipt_encode(&r, origin, index, &probe) == BW_OK)
            ok++;
        bw_buf_cleanup(&probe);
        check_same(&r, origin, index, max, prefix);
    }
    /* The generator must mostly produce encodable receipts, or it tests only the error paths. */
    assert_true(ok > DIFF_ROUNDS / 5);
}

/* The largest receipt the struct allows (every string at its maximum and all escapes, tool-call
 * strings included, every optional member, 6 tool calls, integers at -(2^53-1)) with a long
 * origin: identical under a cap with room to spare, and at every cap around its length. */
static void make_largest(struct bw_receipt *r) {
    bw_receipt_init(r, BW_RECEIPT_OUTCOME);
    memset(r->org_id, '"', sizeof r->org_id - 1);
    memset(r->principal, '\\', sizeof r->principal - 1);
    memset(r->agent, '"', sizeof r->agent - 1);
    memset(r->route, '"', sizeof r->route - 1);
    memset(r->model, '"', sizeof r->model - 1);
    memset(r->decision, '"', sizeof r->decision - 1);
    memset(r->reason, '"', sizeof r->reason - 1);
    memset(r->rule, '"', sizeof r->rule - 1);
    memset(r->layer, '"', sizeof r->layer - 1);
    memset(r->status, '"', sizeof r->status - 1);
    r->has_policy = r->has_org_policy = r->has_response = r->has_parent = 1;
    r->has_usage = r->has_cost = r->usage_estimated = 1;
    r->time_ms = r->prompt_tokens = r->completion_tokens = r->total_tokens = -REF_SAFE_INT_MAX;
    r->cost_micros = r->duration_ms = -REF_SAFE_INT_MAX;
    r->http_status = INT32_MIN;
    r->tool_calls.n = BW_RECEIPT_MAX_TOOL_CALLS;
    r->tool_calls.total = REF_SAFE_INT_MAX;
    for (size_t i = 0; i < BW_RECEIPT_MAX_TOOL_CALLS; i++) {
        struct bw_receipt_tool_call *t = &r->tool_calls.list[i];
        memset(t->name, '"', sizeof t->name - 1);
        memset(t->decision, '\\', sizeof t->decision - 1);
        memset(t->reason, '"', sizeof t->reason - 1);
        t->has_args = 1;
    }
}

static void test_differential_largest(void **state) {
    (void)state;
    struct bw_receipt r;
    make_largest(&r);
    static char origin[5001];
    memset(origin, '"', sizeof origin - 1);
    struct bw_buf b;
    bw_buf_init(&b, 1 << 20);
    assert_int_equal(bw_receipt_encode(&r, origin, REF_SAFE_INT_MAX, &b), BW_OK);
    size_t len = b.len;
    assert_true(len > BW_RECEIPT_MAX_BYTES); /* only a cap past the receipt maximum takes it */
    bw_buf_cleanup(&b);
    check_same(&r, origin, REF_SAFE_INT_MAX, 1 << 20, 0);
    check_same(&r, "o", REF_SAFE_INT_MAX, 1 << 20, 0);
    for (size_t max = len - 70; max <= len + 2; max++)
        check_same(&r, origin, REF_SAFE_INT_MAX, max, 0);
}

/* A receipt with every member present, for the cap sweep. */
static void make_full(struct bw_receipt *r) {
    make_outcome(r);
    snprintf(r->agent, sizeof r->agent, "a\"b\\c");
    snprintf(r->decision, sizeof r->decision, "allow");
    snprintf(r->reason, sizeof r->reason, "ALLOWED");
    snprintf(r->rule, sizeof r->rule, "r1");
    r->has_policy = r->has_org_policy = r->has_cost = r->usage_estimated = 1;
    r->cost_micros = 17;
    uint8_t h[32];
    fill(h, 0x33);
    bw_receipt_add_tool_call(&r->tool_calls, "read_file", "allow", "ALLOWED", h);
    bw_receipt_add_tool_call(&r->tool_calls, "x", "deny", "TOOL_DENIED", NULL);
}

/* Makes one value of r invalid (which = 1..BREAKS-1; 0 leaves r valid) and returns the log index
 * to encode it at. */
#define BREAKS 23
static uint64_t break_one(struct bw_receipt *r, int which) {
    const int64_t past = REF_SAFE_INT_MAX + 1;
    switch (which) {
    case 1:
        r->time_ms = past;
        break;
    case 2:
        r->duration_ms = -past;
        break;
    /* after "usage":{ is written */
    case 3:
        r->completion_tokens = past;
        break;
    case 4:
        r->prompt_tokens = INT64_MIN;
        break;
    case 5:
        r->total_tokens = past;
        break;
    case 6:
        r->cost_micros = INT64_MAX;
        break;
    /* after the array is written */
    case 7:
        r->tool_calls.total = past;
        break;
    /* fewer than listed */
    case 8:
        r->tool_calls.total = 1;
        break;
    /* after the statement's head */
    case 9:
        r->kind = (enum bw_receipt_kind)7;
        break;
    case 10:
        r->agent[1] = '\n';
        break;
    case 11:
        r->decision[0] = '\x80';
        break;
    case 12:
        r->model[3] = '\x7f';
        break;
    /* unterminated */
    case 13:
        memset(r->org_id, 'o', sizeof r->org_id);
        break;
    case 14:
        r->principal[0] = '\x01';
        break;
    case 15:
        r->reason[2] = '\t';
        break;
    case 16:
        r->route[0] = '\xff';
        break;
    case 17:
        r->rule[1] = '\x1f';
        break;
    case 18:
        r->status[0] = '\t';
        break;
    case 19:
        r->tool_calls.list[0].decision[0] = '\n';
        break;
    case 20:
        memset(r->tool_calls.list[1].name, 'n', sizeof r->tool_calls.list[1].name);
        break;
    case 21:
        r->tool_calls.list[1].reason[0] = '\x7f';
        break;
    case 22:
        return (uint64_t)past; /* the log index */
    default:
        break;
    }
    return 12345;
}

/* Every cap from 0 to past the full length, on a valid receipt and on each with one bad value:
 * BW_E_TOO_LARGE and BW_E_INVALID must win at exactly the same caps as in the reference. */
static void test_differential_caps(void **state) {
    (void)state;
    struct bw_receipt full;
    make_full(&full);
    struct bw_buf b;
    bw_buf_init(&b, BW_RECEIPT_MAX_BYTES);
    assert_int_equal(ref_receipt_encode(&full, ORIGIN, 12345, &b), BW_OK);
    size_t len = b.len;
    bw_buf_cleanup(&b);
    for (int which = 0; which < BREAKS; which++) {
        struct bw_receipt r = full;
        uint64_t index = break_one(&r, which);
        for (size_t max = 0; max <= len + 1; max++) {
            check_same(&r, ORIGIN, index, max, 0);
            if (max % 97 == 0)
                check_same(&r, ORIGIN, index, max, max / 3);
        }
    }
}

static void test_null_args(void **state) {
    (void)state;
    struct bw_receipt r;
    make_decision(&r);
    struct bw_buf b;
    bw_buf_init(&b, BW_RECEIPT_MAX_BYTES);
    assert_int_equal(bw_receipt_encode(NULL, ORIGIN, 1, &b), BW_E_INVALID);
    assert_int_equal(bw_receipt_encode(&r, ORIGIN, 1, NULL), BW_E_INVALID);
    assert_int_equal(bw_receipt_encode(&r, NULL, 1, &b), BW_E_INVALID);
    assert_int_equal(b.len, 0);
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
        cmocka_unit_test(test_differential),
        cmocka_unit_test(test_differential_largest),
        cmocka_unit_test(test_differential_caps),
        cmocka_unit_test(test_null_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
