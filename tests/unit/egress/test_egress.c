/* Unit tests: egress/ (address classifier range edges, URL rules, IDNA, allowlist, redirects,
 * the connect-time address check). No network: only bw_egress_check_url_static and friends. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h> /* after setjmp.h and stdarg.h, which it needs */

#include "egress/egress.h"

static uint32_t v4(const char *s) {
    struct in_addr a;
    assert_int_equal(inet_pton(AF_INET, s, &a), 1);
    return ntohl(a.s_addr);
}

static const char *cls6(const char *s) {
    uint8_t a[16];
    assert_int_equal(inet_pton(AF_INET6, s, a), 1);
    return bw_egress_classify_v6(a);
}

#define ALLOWED4(s) assert_null(bw_egress_classify_v4(v4(s)))
#define BLOCKED4(s) assert_non_null(bw_egress_classify_v4(v4(s)))
#define ALLOWED6(s) assert_null(cls6(s))
#define BLOCKED6(s) assert_non_null(cls6(s))

/* Both edges of every blocked IPv4 block, and the first address outside each side. */
static void v4_range_edges(void **state) {
    (void)state;
    static const char *const edges[][4] = {
        /* below, first, last, above */
        {NULL, "0.0.0.0", "0.255.255.255", "1.0.0.0"},
        {"9.255.255.255", "10.0.0.0", "10.255.255.255", "11.0.0.0"},
        {"100.63.255.255", "100.64.0.0", "100.127.255.255", "100.128.0.0"},
        {"126.255.255.255", "127.0.0.0", "127.255.255.255", "128.0.0.0"},
        {"169.253.255.255", "169.254.0.0", "169.254.255.255", "169.255.0.0"},
        {"172.15.255.255", "172.16.0.0", "172.31.255.255", "172.32.0.0"},
        {"191.255.255.255", "192.0.0.0", "192.0.0.255", "192.0.1.0"},
        {"192.0.1.255", "192.0.2.0", "192.0.2.255", "192.0.3.0"},
        {"192.88.98.255", "192.88.99.0", "192.88.99.255", "192.88.100.0"},
        {"192.167.255.255", "192.168.0.0", "192.168.255.255", "192.169.0.0"},
        {"198.17.255.255", "198.18.0.0", "198.19.255.255", "198.20.0.0"},
        {"198.51.99.255", "198.51.100.0", "198.51.100.255", "198.51.101.0"},
        {"203.0.112.255", "203.0.113.0", "203.0.113.255", "203.0.114.0"},
        {"223.255.255.255", "224.0.0.0", "239.255.255.255", NULL},
        {NULL, "240.0.0.0", "255.255.255.255", NULL},
        {"168.63.129.15", "168.63.129.16", "168.63.129.16", "168.63.129.17"},
    };
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        if (edges[i][0])
            ALLOWED4(edges[i][0]);
        BLOCKED4(edges[i][1]);
        BLOCKED4(edges[i][2]);
        if (edges[i][3])
            ALLOWED4(edges[i][3]);
    }
    ALLOWED4("8.8.8.8");
    ALLOWED4("1.1.1.1");
    assert_non_null(strstr(bw_egress_classify_v4(v4("169.254.169.254")), "metadata"));
    assert_non_null(strstr(bw_egress_classify_v4(v4("100.100.100.200")), "Alibaba"));
    assert_non_null(strstr(bw_egress_classify_v4(v4("192.0.0.192")), "Oracle"));
    assert_non_null(strstr(bw_egress_classify_v4(v4("10.1.2.3")), "RFC 1918"));
}

static void v6_ranges(void **state) {
    (void)state;
    /* Only 2000::/3 is reachable. */
    BLOCKED6("1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
    ALLOWED6("2400:cb00::1");
    ALLOWED6("3ffe:ffff::1");
    BLOCKED6("4000::");
    BLOCKED6("::");
    BLOCKED6("::1");
    BLOCKED6("::2");
    BLOCKED6("fc00::1");
    BLOCKED6("fd00:ec2::254");
    BLOCKED6("fe80::1");
    BLOCKED6("febf:ffff::1");
    BLOCKED6("fec0::1");
    BLOCKED6("ff02::1");
    BLOCKED6("100::1");
    /* 2001::/23 and its sub-blocks, both edges. */
    BLOCKED6("2001::");
    BLOCKED6("2001:0:ffff::1");        /* Teredo */
    BLOCKED6("2001:2::1");             /* benchmarking */
    BLOCKED6("2001:20::1");            /* ORCHIDv2 */
    BLOCKED6("2001:1ff:ffff:ffff::1"); /* last of 2001::/23 */
    ALLOWED6("2001:200::1");           /* first after it */
    ALLOWED6("2001:db7:ffff:ffff::1");
    BLOCKED6("2001:db8::");
    BLOCKED6("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff");
    ALLOWED6("2001:db9::");
    ALLOWED6("2001:4860:4860::8888");
    ALLOWED6("2001:ffff:ffff:ffff::1");
    BLOCKED6("2002::");
    BLOCKED6("2002:ffff:ffff::1");
    ALLOWED6("2003::");
    ALLOWED6("3ffe:ffff:ffff:ffff::1");
    BLOCKED6("3fff::");
    BLOCKED6("3fff:fff:ffff::1");
    ALLOWED6("3fff:1000::");
    /* IPv4-mapped and NAT64: judged by the embedded IPv4. */
    BLOCKED6("::ffff:127.0.0.1");
    BLOCKED6("::ffff:10.0.0.1");
    BLOCKED6("::ffff:169.254.169.254");
    ALLOWED6("::ffff:8.8.8.8");
    BLOCKED6("64:ff9b::10.0.0.1");
    BLOCKED6("64:ff9b::127.0.0.1");
    ALLOWED6("64:ff9b::8.8.8.8");
    BLOCKED6("64:ff9b:1::8.8.8.8"); /* local-use NAT64 prefix */
    BLOCKED6("::8.8.8.8");          /* IPv4-compatible (deprecated) */
}

static bw_err chk(const struct bw_egress_policy *p, const char *url, char *why, size_t n) {
    struct bw_egress_target t;
    return bw_egress_check_url_static(p, url, &t, why, n);
}

#define OK(url)                                                                                    \
    do {                                                                                           \
        char w_[BW_EGRESS_WHY_SIZE] = "";                                                          \
        bw_err e_ = chk(NULL, url, w_, sizeof w_);                                                 \
        if (e_ != BW_OK)                                                                           \
            fail_msg("%s: %s", url, w_);                                                           \
    } while (0)

#define NO(url, err, needle)                                                                       \
    do {                                                                                           \
        char w_[BW_EGRESS_WHY_SIZE] = "";                                                          \
        bw_err e_ = chk(NULL, url, w_, sizeof w_);                                                 \
        if (e_ != (err) || !strstr(w_, needle))                                                    \
            fail_msg("%s: got %d '%s', want %d '%s'", url, e_, w_, err, needle);                   \
    } while (0)

static void url_rules(void **state) {
    (void)state;
    OK("https://api.openai.com/v1/chat/completions");
    OK("HTTP://Example.COM:8080/a?b=c#d");
    OK("http://8.8.8.8/");
    OK("http://[2001:4860:4860::8888]:443/");
    OK("http://example.com./"); /* absolute name */
    NO("ftp://example.com/", BW_E_DENIED, "only http and https");
    NO("file:///etc/passwd", BW_E_DENIED, "only http and https");
    NO("gopher://example.com/", BW_E_DENIED, "only http");
    NO("example.com/path", BW_E_INVALID, "absolute");
    NO("http:/example.com/", BW_E_INVALID, "absolute");
    NO("http:///example.com/", BW_E_INVALID, "no host");
    NO("http://user@example.com/", BW_E_INVALID, "userinfo");
    NO("http://user:pw@example.com/", BW_E_INVALID, "userinfo");
    NO("http://8.8.8.8@127.0.0.1/", BW_E_INVALID, "userinfo");
    NO("http://exa\\mple.com/", BW_E_INVALID, "backslash");
    NO("http://example.com\\@evil.com/", BW_E_INVALID, "userinfo");
    NO("http://exa mple.com/", BW_E_INVALID, "whitespace");
    NO("http://example.com/a b", BW_E_INVALID, "whitespace");
    NO("http://example.com\t/", BW_E_INVALID, "whitespace");
    NO("http://example.com/\x01", BW_E_INVALID, "control");
    NO("http://ex%61mple.com/", BW_E_INVALID, "percent");
    NO("http://127.0.0.1%2f/", BW_E_INVALID, "percent");
    NO("http://[fe80::1%25eth0]/", BW_E_INVALID, "zone");
    NO("http://example.com:0/", BW_E_INVALID, "1..65535");
    NO("http://example.com:65536/", BW_E_INVALID, "1..65535");
    NO("http://example.com:/", BW_E_INVALID, "1..65535");
    NO("http://example.com:8o/", BW_E_INVALID, "digits");
    NO("http://example.com:123456/", BW_E_INVALID, "1..65535");
    OK("http://example.com:65535/");
    OK("http://example.com:1/");
    NO("http://::1/", BW_E_INVALID, "brackets");
    NO("http://[::1/", BW_E_INVALID, "unterminated");
    NO("http://[::1]x/", BW_E_INVALID, "junk");
    NO("http://[v1.abc]/", BW_E_INVALID, "IPv6");
    NO("http://[::g]/", BW_E_INVALID, "IPv6");
    /* Non-canonical IPv4: each is 127.0.0.1 (or 10.x) to some parser. */
    NO("http://0x7f.1/", BW_E_INVALID, "canonical");
    NO("http://127.1/", BW_E_INVALID, "canonical");
    NO("http://2130706433/", BW_E_INVALID, "canonical");
    NO("http://0177.0.0.1/", BW_E_INVALID, "canonical");
    NO("http://0x7f000001/", BW_E_INVALID, "canonical");
    NO("http://127.0.0.01/", BW_E_INVALID, "canonical");
    NO("http://127.0.0.1./", BW_E_INVALID, "canonical");
    NO("http://1.2.3.256/", BW_E_INVALID, "canonical");
    NO("http://1.2.3.4.5/", BW_E_INVALID, "canonical");
    NO("http://example.0x10/", BW_E_INVALID, "canonical");
    NO("http://\xef\xbc\x91\xef\xbc\x92\xef\xbc\x97.0.0.1/", BW_E_INVALID, "canonical"); /* 127 */
    NO("http://127\xe3\x80\x82"
       "0\xe3\x80\x82"
       "0\xe3\x80\x82"
       "1/",
       BW_E_INVALID, "canonical");
    /* Canonical literals are classified. */
    NO("http://127.0.0.1/", BW_E_DENIED, "loopback");
    NO("http://10.0.0.1:8080/", BW_E_DENIED, "RFC 1918");
    NO("http://169.254.169.254/latest/meta-data/", BW_E_DENIED, "metadata");
    NO("http://0.0.0.0/", BW_E_DENIED, "this network");
    NO("http://[::1]/", BW_E_DENIED, "loopback");
    NO("http://[::ffff:127.0.0.1]/", BW_E_DENIED, "loopback");
    NO("http://[::ffff:7f00:1]/", BW_E_DENIED, "loopback");
    NO("http://[fd00:ec2::254]/", BW_E_DENIED, "unique-local");
    /* Length cap. */
    char long_url[BW_EGRESS_URL_MAX + 16];
    memset(long_url, 'a', sizeof long_url - 1);
    long_url[sizeof long_url - 1] = 0;
    memcpy(long_url, "http://x.com/", 13);
    NO(long_url, BW_E_TOO_LARGE, "longer");
}

static void name_rules(void **state) {
    (void)state;
    NO("http://localhost/", BW_E_DENIED, "single-label");
    NO("http://LOCALHOST./", BW_E_DENIED, "single-label");
    NO("http://foo.localhost/", BW_E_DENIED, "reserved");
    NO("http://printer.local/", BW_E_DENIED, "reserved");
    NO("http://metadata.google.internal/", BW_E_DENIED, "reserved");
    NO("http://instance-data.ec2.internal/", BW_E_DENIED, "reserved");
    NO("http://router.home.arpa/", BW_E_DENIED, "reserved");
    NO("http://1.0.0.127.in-addr.arpa/", BW_E_DENIED, "reserved");
    NO("http://localhost.localdomain/", BW_E_DENIED, "reserved");
    NO("http://x.onion/", BW_E_DENIED, "reserved");
    NO("http://metadata/", BW_E_DENIED, "single-label");
    NO("http://instance-data/", BW_E_DENIED, "single-label");
    NO("http://intranet/", BW_E_DENIED, "single-label");
    NO("http://metadata.goog/", BW_E_DENIED, "metadata");
    NO("http://metadata.tencentyun.com/", BW_E_DENIED, "metadata");
    OK("http://notlocalhost.com/");
    OK("http://local.example.com/");
    OK("http://internal.example.com/");
    /* LDH syntax after normalisation. */
    NO("http://a_b.example.com/", BW_E_DENIED, "valid DNS name");
    NO("http://-a.example.com/", BW_E_DENIED, "name");
    NO("http://a-.example.com/", BW_E_DENIED, "name");
    NO("http://a..example.com/", BW_E_DENIED, "name");
    char label[128] = "http://";
    memset(label + 7, 'a', 64);
    memcpy(label + 71, ".com/", 6);
    NO(label, BW_E_DENIED, "name");
}

static void idna(void **state) {
    (void)state;
    struct bw_egress_target t;
    char why[BW_EGRESS_WHY_SIZE];
    assert_int_equal(bw_egress_check_url_static(NULL,
                                                "http://b\xc3\xbc"
                                                "cher.de/x",
                                                &t, why, sizeof why),
                     BW_OK);
    assert_string_equal(t.host, "xn--bcher-kva.de");
    assert_string_equal(t.url, "http://xn--bcher-kva.de/x");
    assert_int_equal(t.literal, 0);
    /* Fullwidth letters map (UTS #46) to ASCII, and case folds. */
    assert_int_equal(bw_egress_check_url_static(NULL, "https://\xef\xbc\xa5\xef\xbc\xb8.COM:8443/",
                                                &t, why, sizeof why),
                     BW_OK);
    assert_string_equal(t.host, "ex.com");
    assert_string_equal(t.url, "https://ex.com:8443/");
    assert_int_equal(t.port, 8443);
    /* Fullwidth "localhost" is still localhost. */
    NO("http://\xef\xbd\x8c\xef\xbd\x8f\xef\xbd\x83\xef\xbd\x81\xef\xbd\x8c"
       "host.\xef\xbd\x8c\xef\xbd\x8f\xef\xbd\x83\xef\xbd\x81\xef\xbd\x8c/",
       BW_E_DENIED, "reserved");
    /* Invalid UTF-8 and disallowed code points. */
    NO("http://\xff\xfe.com/", BW_E_DENIED, "IDNA");
    NO("http://a\xe2\x80\xae"
       "b.com/",
       BW_E_DENIED, "IDNA"); /* U+202E RTL override */
    NO("http://\xe2\x98\x83"
       ".\xe2\x98\x83/",
       BW_E_DENIED, "IDNA"); /* snowman: not IDNA2008 */
    /* An ASCII name comes back lowercased, with the trailing dot gone. */
    assert_int_equal(
        bw_egress_check_url_static(NULL, "http://WWW.Example.com./", &t, why, sizeof why), BW_OK);
    assert_string_equal(t.host, "www.example.com");
    assert_int_equal(t.port, 80);
    assert_string_equal(t.scheme, "http");
}

static void allowlist(void **state) {
    (void)state;
    const char *entries[] = {"127.0.0.1:8080", "10.1.0.0/16", "fd00::/8",
                             "localhost:9000", "[::1]:7000",  "B\303\274cher.de:81"};
    struct bw_egress_policy *p = NULL;
    char why[BW_EGRESS_WHY_SIZE];
    struct bw_egress_target t;
    assert_int_equal(bw_egress_policy_new(entries, 6, &p, why, sizeof why), BW_OK);
    assert_int_equal(bw_egress_check_url_static(p, "http://127.0.0.1:8080/", &t, why, sizeof why),
                     BW_OK);
    assert_int_equal(bw_egress_check_url_static(p, "http://127.0.0.1:8081/", &t, why, sizeof why),
                     BW_E_DENIED);
    assert_int_equal(bw_egress_check_url_static(p, "http://10.1.255.255/", &t, why, sizeof why),
                     BW_OK);
    assert_int_equal(bw_egress_check_url_static(p, "http://10.2.0.0/", &t, why, sizeof why),
                     BW_E_DENIED);
    assert_int_equal(bw_egress_check_url_static(p, "http://[fd12::1]/", &t, why, sizeof why),
                     BW_OK);
    assert_int_equal(bw_egress_check_url_static(p, "http://[fe80::1]/", &t, why, sizeof why),
                     BW_E_DENIED);
    assert_int_equal(bw_egress_check_url_static(p, "http://LocalHost:9000/", &t, why, sizeof why),
                     BW_OK);
    assert_int_equal(t.allowlisted, 1);
    assert_int_equal(bw_egress_check_url_static(p, "http://localhost:9001/", &t, why, sizeof why),
                     BW_E_DENIED);
    assert_int_equal(bw_egress_check_url_static(p, "http://[::1]:7000/", &t, why, sizeof why),
                     BW_OK);
    assert_int_equal(
        bw_egress_check_url_static(p, "http://xn--bcher-kva.de:81/", &t, why, sizeof why), BW_OK);
    /* Connect time: mapped addresses judged as their IPv4; ports matter for HOST:PORT. */
    struct sockaddr_in6 s6;
    memset(&s6, 0, sizeof s6);
    s6.sin6_family = AF_INET6;
    s6.sin6_port = htons(8080);
    assert_int_equal(inet_pton(AF_INET6, "::ffff:127.0.0.1", &s6.sin6_addr), 1);
    assert_int_equal(bw_egress_check_addr(p, (struct sockaddr *)&s6, sizeof s6, why, sizeof why),
                     BW_OK);
    s6.sin6_port = htons(8081);
    assert_int_equal(bw_egress_check_addr(p, (struct sockaddr *)&s6, sizeof s6, why, sizeof why),
                     BW_E_DENIED);
    assert_int_equal(bw_egress_check_addr(NULL, (struct sockaddr *)&s6, sizeof s6, why, sizeof why),
                     BW_E_DENIED);
    assert_non_null(strstr(why, "::ffff:127.0.0.1 is loopback"));
    bw_egress_policy_free(p);
    bw_egress_policy_free(NULL);
}

static void allowlist_rejects(void **state) {
    (void)state;
    static const char *const bad[] = {
        "10.0.0.1/8", /* host bits */
        "10.0.0.0/33", "fd00::1/8",  "::/129",        "10.0.0.0/",
        "/8",          "10.0.0.0/x", "127.0.0.1", /* neither CIDR nor HOST:PORT */
        "::1",         "localhost",  "localhost:0",   "localhost:65536",
        "host:",       "127.1:80",   "0x7f.0.0.1:80", "user@host:80",
        "a_b.com:80",  "[::1]",      "[::1]:",        "[fe80::1%25eth0]:80",
        "h ost:80",    "",
    };
    struct bw_egress_policy *p = NULL;
    char why[BW_EGRESS_WHY_SIZE];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *one[1] = {bad[i]};
        if (bw_egress_policy_new(one, 1, &p, why, sizeof why) != BW_E_INVALID)
            fail_msg("accepted allowlist entry '%s'", bad[i]);
        assert_non_null(strstr(why, "entry 1"));
    }
    const char *one[1] = {NULL};
    assert_int_equal(bw_egress_policy_new(one, 1, &p, why, sizeof why), BW_E_INVALID);
    static const char *many[BW_EGRESS_ALLOW_MAX + 1];
    for (size_t i = 0; i < BW_EGRESS_ALLOW_MAX + 1; i++)
        many[i] = "10.0.0.0/8";
    assert_int_equal(bw_egress_policy_new(many, BW_EGRESS_ALLOW_MAX + 1, &p, why, sizeof why),
                     BW_E_TOO_LARGE);
    assert_int_equal(bw_egress_policy_new(many, BW_EGRESS_ALLOW_MAX, &p, why, sizeof why), BW_OK);
    bw_egress_policy_free(p);
    assert_int_equal(bw_egress_policy_new(NULL, 0, &p, why, sizeof why), BW_OK);
    bw_egress_policy_free(p);
}

static void redirects(void **state) {
    (void)state;
    struct bw_egress_target t;
    char why[BW_EGRESS_WHY_SIZE];
    const char *base = "http://example.com/a/b?q=1";
    assert_int_equal(bw_egress_redirect(NULL, base, "c", &t, why, sizeof why), BW_OK);
    assert_string_equal(t.url, "http://example.com/a/c");
    assert_int_equal(bw_egress_redirect(NULL, base, "/x?y", &t, why, sizeof why), BW_OK);
    assert_string_equal(t.url, "http://example.com/x?y");
    assert_int_equal(bw_egress_redirect(NULL, base, "https://example.org/", &t, why, sizeof why),
                     BW_OK);
    assert_string_equal(t.host, "example.org");
    assert_int_equal(bw_egress_redirect(NULL, base, "http://10.0.0.1/", &t, why, sizeof why),
                     BW_E_DENIED);
    assert_int_equal(bw_egress_redirect(NULL, base, "//127.0.0.1/", &t, why, sizeof why),
                     BW_E_DENIED);
    assert_int_equal(bw_egress_redirect(NULL, base, "//0x7f.1/", &t, why, sizeof why),
                     BW_E_INVALID);
    assert_int_equal(bw_egress_redirect(NULL, base, "http://0x7f.1/", &t, why, sizeof why),
                     BW_E_INVALID);
    assert_int_equal(bw_egress_redirect(NULL, base, "file:///etc/passwd", &t, why, sizeof why),
                     BW_E_DENIED);
    assert_int_equal(bw_egress_redirect(NULL, base, "gopher://example.com/", &t, why, sizeof why),
                     BW_E_DENIED);
    assert_int_equal(bw_egress_redirect(NULL, base, "http://localhost/", &t, why, sizeof why),
                     BW_E_DENIED);
    assert_int_equal(bw_egress_redirect(NULL, base, "http://u@example.com/", &t, why, sizeof why),
                     BW_E_INVALID);
    /* A path with a backslash stays on the base's host. */
    assert_int_equal(bw_egress_redirect(NULL, base, "/\\evil.com/", &t, why, sizeof why), BW_OK);
    assert_string_equal(t.host, "example.com");
}

static void addr_families(void **state) {
    (void)state;
    char why[BW_EGRESS_WHY_SIZE];
    struct sockaddr_in s4;
    memset(&s4, 0, sizeof s4);
    s4.sin_family = AF_INET;
    s4.sin_addr.s_addr = htonl(v4("8.8.8.8"));
    assert_int_equal(bw_egress_check_addr(NULL, (struct sockaddr *)&s4, sizeof s4, why, sizeof why),
                     BW_OK);
    assert_int_equal(
        bw_egress_check_addr(NULL, (struct sockaddr *)&s4, sizeof s4 - 1, why, sizeof why),
        BW_E_DENIED); /* truncated */
    s4.sin_addr.s_addr = htonl(v4("172.16.0.1"));
    assert_int_equal(bw_egress_check_addr(NULL, (struct sockaddr *)&s4, sizeof s4, why, sizeof why),
                     BW_E_DENIED);
    assert_string_equal(why, "172.16.0.1 is private-use (RFC 1918)");
    struct sockaddr un = {.sa_family = AF_UNIX};
    assert_int_equal(bw_egress_check_addr(NULL, &un, sizeof un, why, sizeof why), BW_E_DENIED);
    assert_int_equal(bw_egress_check_addr(NULL, NULL, 0, why, sizeof why), BW_E_DENIED);
    /* A tiny why buffer truncates, never overflows. */
    char small[4];
    assert_int_equal(
        bw_egress_check_addr(NULL, (struct sockaddr *)&s4, sizeof s4, small, sizeof small),
        BW_E_DENIED);
    assert_string_equal(small, "172");
}

/* Reasons never echo a URL's path, query or userinfo. */
static void reasons_stay_clean(void **state) {
    (void)state;
    char why[BW_EGRESS_WHY_SIZE];
    struct bw_egress_target t;
    assert_int_equal(
        bw_egress_check_url_static(NULL, "http://10.0.0.1/?key=sk-SECRET", &t, why, sizeof why),
        BW_E_DENIED);
    assert_null(strstr(why, "SECRET"));
    assert_int_equal(
        bw_egress_check_url_static(NULL, "http://sk-SECRET@example.com/", &t, why, sizeof why),
        BW_E_INVALID);
    assert_null(strstr(why, "SECRET"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(v4_range_edges),
        cmocka_unit_test(v6_ranges),
        cmocka_unit_test(url_rules),
        cmocka_unit_test(name_rules),
        cmocka_unit_test(idna),
        cmocka_unit_test(allowlist),
        cmocka_unit_test(allowlist_rejects),
        cmocka_unit_test(redirects),
        cmocka_unit_test(addr_families),
        cmocka_unit_test(reasons_stay_clean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
