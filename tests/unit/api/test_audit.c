/* Unit tests: the audit export's pure parts (src/api/audit.h): time bounds, cursors, and which
 * receipts become which lines. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "api/audit.h"

static void time_accepts_ms_and_rfc3339(void **state) {
    (void)state;
    int64_t t = -1;
    assert_int_equal(bw_audit_parse_time("0", &t), BW_OK);
    assert_int_equal(t, 0);
    assert_int_equal(bw_audit_parse_time("1767225600123", &t), BW_OK);
    assert_int_equal(t, INT64_C(1767225600123));
    assert_int_equal(bw_audit_parse_time("9007199254740991", &t), BW_OK);
    assert_int_equal(bw_audit_parse_time("2026-01-01T00:00:00Z", &t), BW_OK);
    assert_int_equal(t, INT64_C(1767225600000));
    assert_int_equal(bw_audit_parse_time("2026-01-01T00:00:00.123456789Z", &t), BW_OK);
    assert_int_equal(t, INT64_C(1767225600123));
    assert_int_equal(bw_audit_parse_time("2026-01-01T01:00:00.5+01:00", &t), BW_OK);
    assert_int_equal(t, INT64_C(1767225600500));
    assert_int_equal(bw_audit_parse_time("2025-12-31T19:00:00-05:00", &t), BW_OK);
    assert_int_equal(t, INT64_C(1767225600000));
    assert_int_equal(bw_audit_parse_time("2024-02-29T12:00:00Z", &t), BW_OK); /* leap year */
    assert_int_equal(bw_audit_parse_time("2000-02-29T00:00:00Z", &t), BW_OK);
    assert_int_equal(t, INT64_C(951782400000));
    char out[32];
    assert_int_equal(bw_audit_format_time(INT64_C(1767225600123), out), BW_OK);
    assert_string_equal(out, "2026-01-01T00:00:00.123Z");
    assert_int_equal(bw_audit_parse_time(out, &t), BW_OK);
    assert_int_equal(t, INT64_C(1767225600123));
    assert_int_equal(bw_audit_format_time(-1, out), BW_E_INVALID);
}

static void time_refuses_garbage(void **state) {
    (void)state;
    static const char *const bad[] = {
        "",
        "-5",
        "+5",
        "1e3",
        " 1",
        "1 ",
        "9007199254740992",
        "12345678901234567",
        "yesterday",
        "2026-02-30T00:00:00Z",
        "2025-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z",
        "2026-01-01T00:00:00",
        "2026-01-01t00:00:00Z",
        "2026-01-01T00:00:00z",
        "2026-01-01 00:00:00Z",
        "2026-1-01T00:00:00Z",
        "2026-01-01T24:00:00Z",
        "2026-01-01T00:60:00Z",
        "2026-12-31T23:59:60Z",
        "2026-13-01T00:00:00Z",
        "2026-00-01T00:00:00Z",
        "2026-01-00T00:00:00Z",
        "1969-12-31T23:59:59Z",
        "1970-01-01T00:00:00+00:01", /* before the epoch once the offset is applied */
        "2026-01-01T00:00:00.Z",
        "2026-01-01T00:00:00.1234567890Z",
        "2026-01-01T00:00:00+1:00",
        "2026-01-01T00:00:00+01:60",
        "2026-01-01T00:00:00+24:00",
        "2026-01-01T00:00:00+0100",
        "2026-01-01T00:00:00Z ",
        "2026-01-01T00:00:00ZZ",
        "2026-01-01T00:00:00+01:00Z",
        "99999-01-01T00:00:00Z",
        "2026-01-01T00:00:00 01:00",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t t = 42;
        if (bw_audit_parse_time(bad[i], &t) != BW_E_INVALID)
            fail_msg("accepted %s", bad[i]);
        assert_int_equal(t, 42); /* out untouched */
    }
}

static void cursor_round_trips_and_names_its_log(void **state) {
    (void)state;
    char c[BW_AUDIT_CURSOR_SIZE];
    uint64_t next = 0;
    bw_audit_cursor_encode("0a1b2c3d", 17, c);
    assert_string_equal(c, "c1.0a1b2c3d.17");
    assert_int_equal(bw_audit_cursor_parse(c, "0a1b2c3d", &next), BW_OK);
    assert_int_equal(next, 17);
    bw_audit_cursor_encode("0a1b2c3d", 0, c);
    assert_int_equal(bw_audit_cursor_parse(c, "0a1b2c3d", &next), BW_OK);
    assert_int_equal(next, 0);
    static const char *const bad[] = {
        "c1.ffffffff.17", /* another log */
        "",
        "c1",
        "c1.0a1b2c3d.",
        "c1.0a1b2c3d.017",
        "c1.0a1b2c3d.-1",
        "c1.0a1b2c3d.1x",
        "c2.0a1b2c3d.1",
        "c1.0a1b2c3d.12345678901234567",
        "c1.0a1b2c3.12",
        "c1.0a1b2c3d:1",
        "c1.0a1b2c3d.1 ",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        next = 99;
        if (bw_audit_cursor_parse(bad[i], "0a1b2c3d", &next) != BW_E_INVALID)
            fail_msg("accepted %s", bad[i]);
        assert_int_equal(next, 99);
    }
}

#define ADMIN_A                                                                                    \
    "{\"_type\":\"https://in-toto.io/Statement/v1\",\"predicate\":{\"decision\":\"apply\","        \
    "\"kind\":\"admin\",\"log\":{\"index\":5,\"origin\":\"o/1\"},\"org_id\":\"org_a\","            \
    "\"policy_sha256\":\"" HEX64 "\",\"principal\":\"key_1\",\"reason\":\"ADMIN_CHANGE\","         \
    "\"route\":\"key.create\",\"rule\":\"key_2\",\"time_ms\":1000},\"predicateType\":"             \
    "\"https://bulwark.dev/receipt/v1\",\"subject\":[{\"digest\":{\"sha256\":\"" HEX64 "\"},"      \
    "\"name\":\"request\"}]}"
#define HEX64 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

static int select_one(const char *receipt, const char *org, int64_t from, int64_t to,
                      json_t **line) {
    static const uint8_t leaf[32] = {1, 2, 3};
    struct bw_audit_filter f = {org, from, to};
    struct bw_audit_proof_ref ref = {"0a1b2c3d", 9, "AAAA"};
    void *l = NULL;
    int r = bw_audit_select((const uint8_t *)receipt, strlen(receipt), 5, leaf, &f, &ref, &l);
    *line = l;
    return r;
}

static void select_applies_kind_scope_and_time(void **state) {
    (void)state;
    json_t *line = NULL;
    assert_int_equal(select_one(ADMIN_A, "org_a", 0, INT64_MAX, &line), 1);
    assert_string_equal(json_string_value(json_object_get(line, "receipt_id")), "0a1b2c3d.5");
    assert_string_equal(json_string_value(json_object_get(line, "actor")), "key_1");
    assert_string_equal(json_string_value(json_object_get(line, "reason_code")), "ADMIN_CHANGE");
    assert_string_equal(json_string_value(json_object_get(line, "target")), "key_2");
    assert_string_equal(json_string_value(json_object_get(line, "time")),
                        "1970-01-01T00:00:01.000Z");
    assert_string_equal(json_string_value(json_object_get(line, "receipt")), ADMIN_A);
    assert_string_equal(json_string_value(json_object_get(line, "request_sha256")), HEX64);
    /* finish: proof and cursor, one line with its newline */
    static const uint8_t path[2][32] = {{0}, {0xff}};
    struct bw_audit_proof_ref ref = {"0a1b2c3d", 9, "AAAA"};
    struct bw_buf out;
    bw_buf_init(&out, 1 << 16);
    assert_int_equal(bw_audit_line_finish(line, 5, &ref, path, 2, &out), BW_OK);
    assert_int_equal(out.ptr[out.len - 1], '\n');
    json_t *back = json_loadb((const char *)out.ptr, out.len - 1, 0, NULL);
    assert_non_null(back);
    assert_string_equal(json_string_value(json_object_get(back, "cursor")), "c1.0a1b2c3d.6");
    json_t *proof = json_object_get(back, "proof");
    assert_int_equal(json_integer_value(json_object_get(proof, "tree_size")), 9);
    assert_int_equal(json_array_size(json_object_get(proof, "hashes")), 2);
    json_decref(back);
    bw_buf_cleanup(&out);

    assert_int_equal(select_one(ADMIN_A, "", 0, INT64_MAX, &line), 1); /* operator: every org */
    json_decref(line);
    assert_int_equal(select_one(ADMIN_A, "org_b", 0, INT64_MAX, &line), 0);
    assert_int_equal(select_one(ADMIN_A, "org_", 0, INT64_MAX, &line), 0);
    assert_int_equal(select_one(ADMIN_A, "org_a", 1001, INT64_MAX, &line), 0);
    assert_int_equal(select_one(ADMIN_A, "org_a", 0, 1000, &line), 0); /* to is exclusive */
    assert_int_equal(select_one(ADMIN_A, "org_a", 1000, 1001, &line), 1);
    json_decref(line);
}

static void select_skips_traffic_and_refuses_unreadable(void **state) {
    (void)state;
    json_t *line = NULL;
    const char *decision = "{\"predicate\":{\"kind\":\"decision\",\"org_id\":\"org_a\","
                           "\"time_ms\":1}}";
    assert_int_equal(select_one(decision, "", 0, INT64_MAX, &line), 0);
    /* "kind":"admin" only inside a string value: not an admin receipt */
    const char *inside = "{\"predicate\":{\"agent\":\"x\\\"kind\\\":\\\"admin\\\"\","
                         "\"kind\":\"outcome\",\"time_ms\":1}}";
    assert_int_equal(select_one(inside, "", 0, INT64_MAX, &line), 0);
    /* A receipt that looks like an admin one but does not parse: the stream must stop. */
    const char *broken = "{\"predicate\":{\"kind\":\"admin\",";
    assert_int_equal(select_one(broken, "", 0, INT64_MAX, &line), -1);
    const char *no_time = "{\"predicate\":{\"kind\":\"admin\"}}";
    assert_int_equal(select_one(no_time, "", 0, INT64_MAX, &line), -1);
    /* A member outside the allow-list never reaches the line. */
    const char *extra = "{\"predicate\":{\"kind\":\"admin\",\"secret\":\"s3cr3t\",\"time_ms\":1},"
                        "\"subject\":[]}";
    assert_int_equal(select_one(extra, "", 0, INT64_MAX, &line), 1);
    assert_null(json_object_get(line, "secret"));
    json_decref(line);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(time_accepts_ms_and_rfc3339),
        cmocka_unit_test(time_refuses_garbage),
        cmocka_unit_test(cursor_round_trips_and_names_its_log),
        cmocka_unit_test(select_applies_kind_scope_and_time),
        cmocka_unit_test(select_skips_traffic_and_refuses_unreadable),
    };
    return cmocka_run_group_tests_name("audit", tests, NULL, NULL);
}
