/* Unit tests: util/ (buffers with caps, JSON bounds, encodings). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "util/buf.h"
#include "util/codec.h"
#include "util/file.h"
#include "util/json.h"

static void buf_respects_cap(void **state) {
    (void)state;
    struct bw_buf b;
    bw_buf_init(&b, 8);
    assert_int_equal(bw_buf_append(&b, "12345678", 8), BW_OK);
    assert_int_equal(bw_buf_append(&b, "9", 1), BW_E_TOO_LARGE);
    assert_int_equal(b.len, 8);
    assert_string_equal((char *)b.ptr, "12345678");
    bw_buf_consume(&b, 3);
    assert_string_equal((char *)b.ptr, "45678");
    assert_int_equal(bw_buf_appendf(&b, "%d", 123), BW_OK);
    assert_int_equal(bw_buf_appendf(&b, "%d", 1), BW_E_TOO_LARGE);
    bw_buf_cleanup(&b);
}

static void json_rejects_duplicates_and_depth(void **state) {
    (void)state;
    json_t *j = NULL;
    char why[200];
    const char dup[] = "{\"model\":\"a\",\"model\":\"b\"}";
    assert_int_equal(bw_json_parse(dup, strlen(dup), 32, &j, why, sizeof why), BW_E_INVALID);
    assert_non_null(strstr(why, "duplicate"));
    const char secret[] = "{\"k\":\"pw-Hunter2x\",\"pw-Hunter2x\":1,\"pw-Hunter2x\":2}";
    assert_int_equal(bw_json_parse(secret, strlen(secret), 32, &j, why, sizeof why), BW_E_INVALID);
    assert_null(strstr(why, "Hunter2")); /* never echo request bytes */
    const char arr[] = "[1,2]";
    assert_int_equal(bw_json_parse(arr, strlen(arr), 32, &j, why, sizeof why), BW_E_INVALID);
    const char bad_utf8[] = "{\"a\":\"\xff\"}";
    assert_int_equal(bw_json_parse(bad_utf8, strlen(bad_utf8), 32, &j, why, sizeof why),
                     BW_E_INVALID);
    char deep[200];
    size_t n = 0;
    deep[n++] = '{';
    memcpy(deep + n, "\"a\":", 4);
    n += 4;
    for (int i = 0; i < 40; i++)
        deep[n++] = '[';
    for (int i = 0; i < 40; i++)
        deep[n++] = ']';
    deep[n++] = '}';
    assert_int_equal(bw_json_parse(deep, n, 32, &j, why, sizeof why), BW_E_TOO_LARGE);
    assert_int_equal(bw_json_parse(deep, n, 64, &j, why, sizeof why), BW_OK);
    json_decref(j);
    const char ok[] = "{\"model\":\"m\"}";
    assert_int_equal(bw_json_parse(ok, strlen(ok), 2, &j, why, sizeof why), BW_OK);
    assert_string_equal(bw_json_str(j, "model"), "m");
    assert_null(bw_json_str(j, "missing"));
    json_decref(j);
}

static void json_depth_counts_levels(void **state) {
    (void)state;
    json_t *j = json_loads("{\"a\":{\"b\":[1]}}", 0, NULL);
    assert_int_equal(bw_json_depth(j, 10), 3);
    assert_true(bw_json_depth(j, 1) > 1); /* reports past the limit */
    json_decref(j);
}

static void codec_known_answers(void **state) {
    (void)state;
    uint8_t h[32];
    char hex[65];
    bw_sha256("abc", 3, h);
    assert_int_equal(bw_hex_encode(h, 32, hex, sizeof hex), BW_OK);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(bw_hex_encode(h, 32, hex, 64), BW_E_TOO_LARGE);
    struct bw_sha256_stream s;
    assert_int_equal(bw_sha256_stream_init(&s), BW_OK);
    bw_sha256_stream_update(&s, "a", 1);
    bw_sha256_stream_update(&s, "bc", 2);
    uint8_t h2[32];
    bw_sha256_stream_final(&s, h2);
    assert_memory_equal(h, h2, 32);
    char b64[16];
    assert_int_equal(bw_b64_encode((const uint8_t *)"hi", 2, b64, sizeof b64), BW_OK);
    assert_string_equal(b64, "aGk=");
    uint8_t raw[8];
    size_t len = 0;
    assert_int_equal(bw_b64_decode("aGk=", 4, raw, sizeof raw, &len), BW_OK);
    assert_int_equal(len, 2);
    assert_int_equal(bw_b64_decode("a G", 3, raw, sizeof raw, &len), BW_E_INVALID);
}

static void file_read_is_bounded(void **state) {
    (void)state;
    char *text = NULL;
    size_t len = 0;
    char err[200] = "";
    assert_int_equal(bw_file_read_bounded("/nonexistent/x", 16, &text, &len, err, sizeof err),
                     BW_E_IO);
    assert_non_null(strstr(err, "cannot open"));
    char path[] = "/tmp/bw-file-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "0123456789", 10), 10);
    close(fd);
    assert_int_equal(bw_file_read_bounded(path, 16, &text, &len, err, sizeof err), BW_OK);
    assert_int_equal(len, 10);
    assert_string_equal(text, "0123456789");
    free(text);
    /* Over the bound: max + 1 bytes come back so the caller can refuse in its own words. */
    assert_int_equal(bw_file_read_bounded(path, 4, &text, &len, err, sizeof err), BW_OK);
    assert_int_equal(len, 5);
    free(text);
    unlink(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buf_respects_cap),
        cmocka_unit_test(json_rejects_duplicates_and_depth),
        cmocka_unit_test(json_depth_counts_levels),
        cmocka_unit_test(codec_known_answers),
        cmocka_unit_test(file_read_is_bounded),
    };
    return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
