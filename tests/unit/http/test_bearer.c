/* test_bearer.c: the credentials the gateway sends (http/bearer.h): "Bearer <secret>" only for
 * a secret that cannot break or add a header line, from bytes, the environment or a file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http/bearer.h"

static void build_ok_and_refusals(void **state) {
    (void)state;
    char *a = NULL;
    assert_int_equal(bw_http_bearer_build((const unsigned char *)"sk-abc", 6, 16, &a), BW_OK);
    assert_string_equal(a, "Bearer sk-abc");
    sodium_free(a);
    const char *bad[] = {"", "a b", "a\r\nX-Injected: 1", "tab\there", "\x7f"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(
            bw_http_bearer_build((const unsigned char *)bad[i], strlen(bad[i]), 64, &a),
            BW_E_INVALID);
        assert_null(a);
    }
    assert_int_equal(bw_http_bearer_build((const unsigned char *)"abcdef", 6, 5, &a),
                     BW_E_INVALID); /* over max */
}

static void from_env(void **state) {
    (void)state;
    char *a = NULL;
    const char *why = NULL;
    unsetenv("BW_TEST_BEARER");
    assert_int_equal(bw_http_bearer_from_env("BW_TEST_BEARER", 64, &a, &why), BW_E_NOT_FOUND);
    assert_non_null(why);
    setenv("BW_TEST_BEARER", "tok-1", 1);
    assert_int_equal(bw_http_bearer_from_env("BW_TEST_BEARER", 64, &a, &why), BW_OK);
    assert_string_equal(a, "Bearer tok-1");
    sodium_free(a);
    setenv("BW_TEST_BEARER", "two words", 1);
    assert_int_equal(bw_http_bearer_from_env("BW_TEST_BEARER", 64, &a, &why), BW_E_INVALID);
    assert_null(strstr(why, "two")); /* the reason never carries the secret */
    unsetenv("BW_TEST_BEARER");
}

static void write_file(const char *path, const char *text, mode_t mode) {
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    assert_int_equal(chmod(path, mode), 0);
}

static void from_file(void **state) {
    (void)state;
    char dir[] = "/tmp/bw-bearer-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64], link_path[64];
    snprintf(path, sizeof path, "%s/key", dir);
    snprintf(link_path, sizeof link_path, "%s/link", dir);
    char *a = NULL;
    const char *why = NULL;
    write_file(path, "file-key\r\n", 0600);
    assert_int_equal(bw_http_bearer_from_file(path, 64, &a, &why), BW_OK);
    assert_string_equal(a, "Bearer file-key");
    sodium_free(a);
    write_file(path, "file-key\n\n", 0600); /* a second line is not one secret */
    assert_int_equal(bw_http_bearer_from_file(path, 64, &a, &why), BW_E_INVALID);
    write_file(path, "file-key\n", 0640); /* readable by the group */
    assert_int_equal(bw_http_bearer_from_file(path, 64, &a, &why), BW_E_INVALID);
    write_file(path, "file-key\n", 0600);
    assert_int_equal(symlink(path, link_path), 0); /* a symlink is not followed */
    assert_int_equal(bw_http_bearer_from_file(link_path, 64, &a, &why), BW_E_INVALID);
    write_file(path, "0123456789", 0600); /* over max */
    assert_int_equal(bw_http_bearer_from_file(path, 9, &a, &why), BW_E_INVALID);
    assert_int_equal(bw_http_bearer_from_file(dir, 64, &a, &why), BW_E_INVALID); /* a dir */
    assert_null(a);
    unlink(link_path);
    unlink(path);
    rmdir(dir);
}

int main(void) {
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(build_ok_and_refusals),
        cmocka_unit_test(from_env),
        cmocka_unit_test(from_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
