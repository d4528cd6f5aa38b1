/* test_cursor.c: the bounded reader (util/cursor.h): reads fit or fail without consuming, a
 * failed cursor stays failed, nothing reads past the end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "util/cursor.h"

static void reads_in_order(void **state) {
    (void)state;
    static const uint8_t in[] = {7, 0, 0, 1, 2, 'a', 'b', 'c', 'x'};
    struct bw_cursor c = bw_cursor_of(in, sizeof in);
    uint8_t t = 0;
    uint32_t n = 0;
    struct bw_slice s;
    assert_true(bw_cursor_u8(&c, &t));
    assert_int_equal(t, 7);
    assert_true(bw_cursor_be32(&c, &n));
    assert_int_equal(n, 258);
    assert_true(bw_cursor_literal(&c, "ab", 2));
    assert_true(bw_cursor_take(&c, 2, &s));
    assert_memory_equal(s.ptr, "cx", 2);
    assert_int_equal(c.left, 0);
    assert_true(bw_cursor_ok(&c));
}

static void short_reads_fail_and_stick(void **state) {
    (void)state;
    static const uint8_t in[] = {1, 2, 3};
    struct bw_cursor c = bw_cursor_of(in, sizeof in);
    uint32_t n = 0xdeadbeef;
    assert_false(bw_cursor_be32(&c, &n)); /* 3 bytes left: does not fit */
    assert_int_equal(n, 0xdeadbeef);
    assert_int_equal(c.left, 3); /* nothing consumed */
    assert_false(bw_cursor_ok(&c));
    uint8_t b;
    assert_false(bw_cursor_u8(&c, &b)); /* failed stays failed */
    struct bw_slice s;
    assert_false(bw_cursor_take(&c, 1, &s));
    assert_int_equal(bw_cursor_span(&c, NULL).len, 0); /* in_set is never called */
}

static void take_huge_length(void **state) {
    (void)state;
    static const uint8_t in[] = {1, 2, 3, 4};
    struct bw_cursor c = bw_cursor_of(in, sizeof in);
    struct bw_slice s;
    assert_false(bw_cursor_take(&c, SIZE_MAX, &s)); /* a lying length never wraps */
    assert_int_equal(c.left, 4);
}

static void literal_mismatch(void **state) {
    (void)state;
    struct bw_cursor c = bw_cursor_of("Basic x", 7);
    assert_false(bw_cursor_literal(&c, "Bearer ", 7));
    assert_int_equal(c.left, 7);
    assert_false(bw_cursor_ok(&c));
}

static int is_digit(uint8_t b) {
    return b >= '0' && b <= '9';
}

static void span(void **state) {
    (void)state;
    struct bw_cursor c = bw_cursor_of("123ab", 5);
    struct bw_slice d = bw_cursor_span(&c, is_digit);
    assert_int_equal(d.len, 3);
    assert_int_equal(bw_cursor_span(&c, is_digit).len, 0); /* empty run: not a failure */
    assert_true(bw_cursor_ok(&c));
    assert_int_equal(c.left, 2);
    struct bw_cursor all = bw_cursor_of("999", 3);
    assert_int_equal(bw_cursor_span(&all, is_digit).len, 3); /* stops at the end */
    assert_int_equal(all.left, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_in_order),
        cmocka_unit_test(short_reads_fail_and_stick),
        cmocka_unit_test(take_huge_length),
        cmocka_unit_test(literal_mismatch),
        cmocka_unit_test(span),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
