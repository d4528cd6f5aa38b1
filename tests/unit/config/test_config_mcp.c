/* Unit tests: the `mcp:` config section (config_mcp.c), and the OAuth metadata built from it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "config/config.h"
#include "oauth/oauth.h"

static bw_err parse(const char *text, struct bw_config *c, char *err) {
    return bw_config_parse(text, strlen(text), "test.yaml", c, err, 300);
}

static const char oauth_ok[] = "mcp:\n"
                               "  servers:\n"
                               "    - name: everything\n"
                               "      url: http://127.0.0.1:3001/mcp\n"
                               "    - name: remote_1\n"
                               "      url: https://mcp.example.com/mcp\n"
                               "      credential: env:MCP_REMOTE_TOKEN\n"
                               "  pin: approve\n"
                               "  calls_per_minute: 30\n"
                               "  oauth:\n"
                               "    issuer: https://idp.example.com\n"
                               "    public_url: https://gw.example.com/\n"
                               "    jwks_url: https://idp.example.com/jwks\n"
                               "    scopes: [mcp, tools]\n"
                               "egress:\n"
                               "  allow: [127.0.0.1/32]\n";

static void defaults(void **state) {
    (void)state;
    struct bw_config c;
    char err[300] = "";
    assert_int_equal(parse("listen: 127.0.0.1:80\n", &c, err), BW_OK);
    assert_int_equal(c.n_mcp_servers, 0);
    assert_int_equal(c.mcp_oauth, 0);
    assert_int_equal(c.mcp_pin_approve, 0);
    assert_int_equal(c.mcp_calls_per_minute, 60);
    assert_int_equal(c.mcp_result_max_bytes, 1 << 20);
    assert_int_equal(c.mcp_call_timeout_ms, 60000);
    assert_int_equal(c.mcp_max_sessions_per_key, 16);
    assert_string_equal(c.mcp_oauth_org_claim, "org");
    assert_string_equal(c.mcp_oauth_principal_claim, "sub");
    assert_int_equal(c.mcp_oauth_leeway_s, 60);
    bw_config_cleanup(&c);
}

static void full_section(void **state) {
    (void)state;
    struct bw_config c;
    char err[300] = "";
    assert_int_equal(parse(oauth_ok, &c, err), BW_OK);
    assert_int_equal(c.n_mcp_servers, 2);
    assert_string_equal(c.mcp_servers[0].name, "everything");
    assert_string_equal(c.mcp_servers[1].credential, "env:MCP_REMOTE_TOKEN");
    assert_non_null(bw_config_mcp_server(&c, "remote_1"));
    assert_null(bw_config_mcp_server(&c, "remote"));
    assert_true(bw_config_mcp_name_ok("a") && bw_config_mcp_name_ok("0-x_y"));
    char longest[64];
    memset(longest, 'a', 63);
    longest[63] = 0;
    assert_true(bw_config_mcp_name_ok(longest));
    longest[62] = 'A';
    assert_false(bw_config_mcp_name_ok(longest) || bw_config_mcp_name_ok("") ||
                 bw_config_mcp_name_ok("_a") || bw_config_mcp_name_ok("a.b") ||
                 bw_config_mcp_name_ok("a b") || bw_config_mcp_name_ok("a/.."));
    assert_int_equal(c.mcp_pin_approve, 1);
    assert_int_equal(c.mcp_calls_per_minute, 30);
    assert_int_equal(c.mcp_oauth, 1);
    assert_string_equal(c.mcp_oauth_public_url, "https://gw.example.com"); /* slash dropped */
    assert_string_equal(c.mcp_oauth_scopes, "mcp tools");

    char *prm = NULL;
    size_t n = 0;
    assert_int_equal(bw_oauth_prm_json(&c, "everything", &prm, &n), BW_OK);
    assert_string_equal(prm, "{\"authorization_servers\":[\"https://idp.example.com\"],"
                             "\"bearer_methods_supported\":[\"header\"],"
                             "\"resource\":\"https://gw.example.com/mcp/everything\","
                             "\"scopes_supported\":[\"mcp\",\"tools\"]}");
    free(prm);
    char h[512];
    assert_int_equal(bw_oauth_www_authenticate(&c, "everything", BW_OAUTH_OK, h, sizeof h), BW_OK);
    assert_string_equal(h, "Bearer resource_metadata=\"https://gw.example.com/.well-known/"
                           "oauth-protected-resource/mcp/everything\", scope=\"mcp tools\"");
    assert_int_equal(
        bw_oauth_www_authenticate(&c, "everything", BW_OAUTH_INSUFFICIENT_SCOPE, h, sizeof h),
        BW_OK);
    assert_non_null(strstr(h, "Bearer error=\"insufficient_scope\", resource_metadata="));
    assert_int_equal(bw_oauth_www_authenticate(&c, "everything", BW_OAUTH_EXPIRED, h, sizeof h),
                     BW_OK);
    assert_non_null(strstr(h, "Bearer error=\"invalid_token\", resource_metadata="));
    assert_int_equal(bw_oauth_www_authenticate(&c, "everything", BW_OAUTH_EXPIRED, h, 20),
                     BW_E_TOO_LARGE);
    bw_config_cleanup(&c);
}

static void refused(void **state) {
    (void)state;
    struct bw_config c;
    char err[300] = "";
    static const struct {
        const char *text;
        const char *msg;
    } bad[] = {
        {"mcp:\n  server: []\n", "test.yaml:2: mcp: unknown key 'server'"},
        {"mcp:\n  servers:\n    - name: Bad\n      url: https://a.example.com/\n",
         "test.yaml:3: mcp.servers.name"},
        {"mcp:\n  servers:\n    - name: -x\n      url: https://a.example.com/\n", "name"},
        {"mcp:\n  servers:\n    - name: a/b\n      url: https://a.example.com/\n", "name"},
        {"mcp:\n  servers:\n    - name: a\n      url: https://a.example.com/\n"
         "    - name: a\n      url: https://b.example.com/\n",
         "test.yaml:5: mcp.servers: name 'a' given twice"},
        {"mcp:\n  servers:\n    - name: a\n", "needs name and url"},
        {"mcp:\n  servers:\n    - name: a\n      url: https://a.example.com/\n      x: 1\n",
         "test.yaml:5: mcp.servers: unknown key 'x'"},
        {"mcp:\n  servers:\n    - name: a\n      url: https://a.example.com/\n"
         "      url: https://b.example.com/\n",
         "duplicate"},
        {"mcp:\n  servers:\n    - name: a\n      url: ftp://a.example.com/\n",
         "test.yaml:4: mcp.servers.url"},
        {"mcp:\n  servers:\n    - name: a\n      url: http://a.example.com/\n", "https required"},
        {"mcp:\n  servers:\n    - name: a\n      url: https://u:p@a.example.com/\n", "credentials"},
        /* loopback without egress.allow: the guard refuses it at load */
        {"mcp:\n  servers:\n    - name: a\n      url: http://127.0.0.1:3001/mcp\n",
         "test.yaml:4: mcp.servers.url: refused by the egress guard"},
        {"mcp:\n  servers:\n    - name: a\n      url: https://169.254.169.254/\n", "egress"},
        {"mcp:\n  servers:\n    - name: a\n      url: https://a.example.com/\n"
         "      credential: \"a b\"\n",
         "credential"},
        /* mcp-orgsrv: a reference, never the secret itself */
        {"mcp:\n  servers:\n    - name: a\n      url: https://a.example.com/\n"
         "      credential: sk-live-abcdef\n",
         "env:NAME or file:/PATH"},
        {"mcp:\n  servers:\n    - name: a\n      url: https://a.example.com/\n"
         "      credential: vault:x\n",
         "env:NAME or file:/PATH"},
        {"mcp:\n  servers:\n    - name: a\n      url: https://a.example.com/\n"
         "      credential: env:1BAD\n",
         "env:NAME or file:/PATH"},
        {"mcp:\n  servers:\n    - name: a\n      url: https://a.example.com/\n"
         "      credential: file:relative/path\n",
         "env:NAME or file:/PATH"},
        {"mcp:\n  pin: maybe\n", "mcp.pin"},
        {"mcp:\n  calls_per_minute: 0\n", "calls_per_minute"},
        {"mcp:\n  result_max_bytes: 10\n", "result_max_bytes"},
        {"mcp:\n  oauth:\n    issuer: https://i.example.com\n    public_url: "
         "https://g.example.com\n",
         "exactly one of jwks_url and jwks_file"},
        {"mcp:\n  oauth:\n    issuer: http://idp.example.com\n    public_url: "
         "https://g.example.com\n"
         "    jwks_url: https://idp.example.com/j\n",
         "test.yaml:3: mcp.oauth.issuer: https required"},
        {"mcp:\n  oauth:\n    issuer: https://i.example.com/?x=1\n    public_url: "
         "https://g.example.com\n"
         "    jwks_url: https://i.example.com/j\n",
         "mcp.oauth.issuer: no userinfo"},
        {"mcp:\n  oauth:\n    issuer: https://i.example.com\n"
         "    jwks_url: https://i.example.com/j\n",
         "issuer and public_url are required"},
        {"mcp:\n  oauth:\n    issuer: https://i.example.com\n    public_url: "
         "https://g.example.com\n"
         "    jwks_url: https://10.0.0.5/jwks\n",
         "test.yaml:5: mcp.oauth.jwks_url: refused by the egress guard"},
        {"mcp:\n  oauth:\n    issuer: https://i.example.com\n    public_url: "
         "https://g.example.com\n"
         "    jwks_url: https://i.example.com/j\n    jwks_file: k.json\n",
         "exactly one"},
        {"mcp:\n  oauth:\n    issuer: https://i.example.com\n    scopes: mcp\n", "scopes"},
        {"mcp:\n  oauth:\n    issuer: https://i.example.com\n    scopes: [\"a\\\"b\"]\n",
         "scope token"},
        {"mcp:\n  oauth:\n    org_claim: \"a b\"\n", "org_claim"},
        {"mcp:\n  oauth:\n    leeway_s: 0\n", "leeway_s"},
        {"mcp:\n  oauth:\n    audiences: x\n", "mcp.oauth: unknown key 'audiences'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        if (parse(bad[i].text, &c, err) != BW_E_INVALID || !strstr(err, bad[i].msg))
            fail_msg("case %zu: '%s' does not contain '%s'", i, err, bad[i].msg);
    }
}

/* mcp.allowed_origins (mcp-oauth2): exact browser origins; anything else refused at load. */
static void allowed_origins(void **state) {
    (void)state;
    struct bw_config c;
    char err[300] = "";
    assert_int_equal(parse("mcp:\n  allowed_origins: [https://app.example.com, "
                           "\"http://localhost:8080\"]\n",
                           &c, err),
                     BW_OK);
    assert_int_equal(c.n_mcp_allowed_origins, 2);
    assert_string_equal(c.mcp_allowed_origins[0], "https://app.example.com");
    assert_string_equal(c.mcp_allowed_origins[1], "http://localhost:8080");
    bw_config_cleanup(&c);
    assert_int_equal(parse("listen: 127.0.0.1:80\n", &c, err), BW_OK);
    assert_int_equal(c.n_mcp_allowed_origins, 0); /* default: none (any Origin is 403) */
    bw_config_cleanup(&c);
    static const char *const bad[] = {
        "mcp:\n  allowed_origins: https://app.example.com\n",
        "mcp:\n  allowed_origins: [https://app.example.com/]\n",
        "mcp:\n  allowed_origins: [https://app.example.com/x]\n",
        "mcp:\n  allowed_origins: [https://App.example.com]\n",
        "mcp:\n  allowed_origins: [\"https://app.example.com:443\"]\n",
        "mcp:\n  allowed_origins: [\"*\"]\n",
        "mcp:\n  allowed_origins: [\"null\"]\n",
        "mcp:\n  allowed_origins: [[a]]\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        if (parse(bad[i], &c, err) != BW_E_INVALID || !strstr(err, "mcp.allowed_origins"))
            fail_msg("case %zu: '%s'", i, err);
    }
    char many[4096] = "mcp:\n  allowed_origins:\n";
    for (int i = 0; i <= BW_MCP_ORIGINS_MAX; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "    - https://a%d.example.com\n",
                 i);
    assert_int_equal(parse(many, &c, err), BW_E_INVALID);
    assert_non_null(strstr(err, "more than"));
}

static void http_allowed_for_loopback_and_allowlist(void **state) {
    (void)state;
    struct bw_config c;
    char err[300] = "";
    assert_int_equal(parse("mcp:\n  servers:\n    - name: a\n      url: http://10.1.2.3:8000/mcp\n"
                           "egress:\n  allow: [10.0.0.0/8]\n",
                           &c, err),
                     BW_OK);
    bw_config_cleanup(&c);
    assert_int_equal(parse("mcp:\n  servers:\n    - name: a\n      url: http://mcp.internal:8000/\n"
                           "egress:\n  allow: [\"mcp.internal:8000\"]\n",
                           &c, err),
                     BW_OK);
    bw_config_cleanup(&c);
    assert_int_equal(parse("mcp:\n  oauth:\n    issuer: http://127.0.0.1:9000\n"
                           "    public_url: http://127.0.0.1:8080\n"
                           "    jwks_url: http://127.0.0.1:9000/jwks\n"
                           "egress:\n  allow: [127.0.0.1/32]\n",
                           &c, err),
                     BW_OK);
    assert_string_equal(c.mcp_oauth_issuer, "http://127.0.0.1:9000");
    bw_config_cleanup(&c);
}

/* mcp-orgsrv: credential references resolved at serve start; failures name the server, never
 * the value. */
static void credentials_load(void **state) {
    (void)state;
    struct bw_config c;
    char err[300] = "";
    char path[] = "/tmp/bw-mcp-cred-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "file-secret-1\n", 14), 14);
    close(fd);
    char yaml[600];
    snprintf(yaml, sizeof yaml,
             "mcp:\n  servers:\n    - name: a\n      url: https://a.example.com/\n"
             "      credential: env:BW_TEST_MCP_CRED\n"
             "    - name: b\n      url: https://b.example.com/\n      credential: file:%s\n"
             "    - name: c\n      url: https://c.example.com/\n",
             path);
    setenv("BW_TEST_MCP_CRED", "env-secret-1", 1);
    assert_int_equal(parse(yaml, &c, err), BW_OK);
    assert_int_equal(bw_config_mcp_load_credentials(&c, err, sizeof err), BW_OK);
    assert_string_equal(c.mcp_servers[0].credential_auth, "Bearer env-secret-1");
    assert_string_equal(c.mcp_servers[1].credential_auth, "Bearer file-secret-1");
    assert_null(c.mcp_servers[2].credential_auth);
    /* a file others may read is refused */
    chmod(path, 0644);
    assert_int_equal(bw_config_mcp_load_credentials(&c, err, sizeof err), BW_E_INVALID);
    assert_non_null(strstr(err, "mcp.servers[b]"));
    chmod(path, 0600);
    /* unset, empty, with a space (header injection): refused, the value never in the error */
    unsetenv("BW_TEST_MCP_CRED");
    assert_int_equal(bw_config_mcp_load_credentials(&c, err, sizeof err), BW_E_INVALID);
    assert_non_null(strstr(err, "mcp.servers[a]"));
    setenv("BW_TEST_MCP_CRED", "abc\r\nX-Evil: 1", 1);
    assert_int_equal(bw_config_mcp_load_credentials(&c, err, sizeof err), BW_E_INVALID);
    assert_null(strstr(err, "abc"));
    unsetenv("BW_TEST_MCP_CRED");
    unlink(path);
    bw_config_cleanup(&c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults),
        cmocka_unit_test(full_section),
        cmocka_unit_test(refused),
        cmocka_unit_test(http_allowed_for_loopback_and_allowlist),
        cmocka_unit_test(allowed_origins),
        cmocka_unit_test(credentials_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
