/* Unit tests: config/config_tls.c (listen_tls, allow_plain_http, listen: off) and the transport
 * summary http/tls.h gives the readiness check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "config/config.h"
#include "http/tls.h"

static bw_err parse_as(const char *name, const char *text, struct bw_config *c, char *err) {
    return bw_config_parse(text, strlen(text), name, c, err, 300);
}

static void listen_tls_paths_are_relative_to_the_config(void **state) {
    (void)state;
    struct bw_config c;
    char err[300] = "";
    assert_int_equal(parse_as("/etc/bulwark/bulwark.yaml",
                              "listen_tls:\n  address: 0.0.0.0:8443\n  cert_file: tls/cert.pem\n"
                              "  key_file: /srv/key.pem\n",
                              &c, err),
                     BW_OK);
    assert_string_equal(c.tls_host, "0.0.0.0");
    assert_int_equal(c.tls_port, 8443);
    assert_string_equal(c.tls_cert_file, "/etc/bulwark/tls/cert.pem");
    assert_string_equal(c.tls_key_file, "/srv/key.pem");
    assert_int_equal(c.allow_plain_http, 0);
    struct bw_transport t;
    bw_transport_of(&c, &t);
    assert_true(t.tls_on);
    assert_true(t.plain_on); /* the default loopback listener stays beside it */
    assert_true(t.plain_loopback_only);
    bw_config_cleanup(&c);
}

static void listen_tls_shape_errors(void **state) {
    (void)state;
    struct bw_config c;
    char err[300] = "";
    const char *bad[] = {
        "listen_tls:\n  address: 0.0.0.0:8443\n  cert_file: c.pem\n", /* no key_file */
        "listen_tls:\n  cert_file: c.pem\n  key_file: k.pem\n",       /* no address */
        "listen_tls:\n  address: 0.0.0.0\n  cert_file: c.pem\n  key_file: k.pem\n",
        "listen_tls:\n  address: 0.0.0.0:70000\n  cert_file: c.pem\n  key_file: k.pem\n",
        "listen_tls:\n  address: 0.0.0.0:1\n  cert_file: ''\n  key_file: k.pem\n",
        "listen_tls:\n  address: 0.0.0.0:1\n  cert_file: c.pem\n  key_file: k.pem\n  ciphers: x\n",
        "listen_tls: 0.0.0.0:8443\n",
        "allow_plain_http: yes\n",
        "listen: off\n", /* no listener at all */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        assert_int_equal(parse_as("t.yaml", bad[i], &c, err), BW_E_INVALID);
        assert_non_null(strstr(err, "t.yaml:"));
    }
}

static void plain_listener_posture(void **state) {
    (void)state;
    struct bw_config c;
    char err[300] = "";
    struct bw_transport t;
    assert_int_equal(parse_as("t.yaml", "listen: 0.0.0.0:8080\n", &c, err), BW_OK);
    bw_transport_of(&c, &t);
    assert_false(t.tls_on);
    assert_true(t.plain_on);
    assert_false(t.plain_loopback_only);
    assert_false(t.plain_allowed);
    bw_config_cleanup(&c);
    assert_int_equal(parse_as("t.yaml", "listen: 10.0.0.1:80\nallow_plain_http: true\n", &c, err),
                     BW_OK);
    bw_transport_of(&c, &t);
    assert_false(t.plain_loopback_only);
    assert_true(t.plain_allowed);
    bw_config_cleanup(&c);
    assert_int_equal(parse_as("t.yaml",
                              "listen: off\nlisten_tls:\n  address: 0.0.0.0:443\n"
                              "  cert_file: c\n  key_file: k\n",
                              &c, err),
                     BW_OK);
    bw_transport_of(&c, &t);
    assert_true(t.tls_on);
    assert_false(t.plain_on);
    assert_true(t.plain_loopback_only);
    assert_string_equal(c.tls_cert_file, "c"); /* no folder in the name: as written */
    bw_config_cleanup(&c);
}

static void loopback_literals(void **state) {
    (void)state;
    assert_true(bw_tls_host_is_loopback("127.0.0.1"));
    assert_true(bw_tls_host_is_loopback("127.255.0.9"));
    assert_false(bw_tls_host_is_loopback("0.0.0.0"));
    assert_false(bw_tls_host_is_loopback("128.0.0.1"));
    assert_false(bw_tls_host_is_loopback("localhost")); /* not a literal: not trusted */
    assert_false(bw_tls_host_is_loopback("127.0.0.1 "));
    assert_false(bw_tls_host_is_loopback(""));
    assert_false(bw_tls_host_is_loopback(NULL));
}

static void missing_files_are_refused_naming_them(void **state) {
    (void)state;
    struct bw_tls *t = NULL;
    char err[600] = "";
    assert_int_equal(
        bw_tls_new("/nonexistent/cert.pem", "/nonexistent/key.pem", 30, &t, err, sizeof err),
        BW_E_INVALID);
    assert_null(t);
    assert_non_null(strstr(err, "listen_tls.cert_file /nonexistent/cert.pem"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(listen_tls_paths_are_relative_to_the_config),
        cmocka_unit_test(listen_tls_shape_errors),
        cmocka_unit_test(plain_listener_posture),
        cmocka_unit_test(loopback_literals),
        cmocka_unit_test(missing_files_are_refused_naming_them),
    };
    return cmocka_run_group_tests_name("config_tls", tests, NULL, NULL);
}
