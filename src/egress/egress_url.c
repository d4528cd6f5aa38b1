/* egress_url.c: URL rules. A URL is parsed twice, by a strict reader of the raw text here and by
 * libcurl's URL API (the parser the client will use), and both must agree on scheme, host and
 * port. The raw reader exists because libcurl normalises before anyone can look: it turns
 * "0x7f.1", "127.1", "2130706433" and "0177.0.0.1" into 127.0.0.1, decodes "%2e" in hosts and
 * drops IPv6 zone ids. Rules cite RFC 3986 (URI syntax), RFC 4291 and RFC 6874 (IPv6 literals). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "egress/egress_internal.h"
#include "metrics/metrics.h"
#include "util/codec.h"

/* The raw text's view of the URL: pointers into the caller's string. */
struct raw_url {
    const char *scheme;
    size_t scheme_len;
    const char *host; /* without brackets */
    size_t host_len;
    int bracketed;
    uint16_t port;
};

static int is_ctl_or_space(unsigned char c) {
    return c <= 0x20 || c == 0x7f;
}

static bw_err raw_scheme(const char *url, struct raw_url *r, const char **rest, char *why,
                         size_t ws) {
    const char *sep = strstr(url, "://");
    if (!sep) {
        bw_egress_why(why, ws, "URL must be absolute: scheme://host[:port]/path");
        return BW_E_INVALID;
    }
    r->scheme = url;
    r->scheme_len = (size_t)(sep - url);
    int http = r->scheme_len == 4 && strncasecmp(url, "http", 4) == 0;
    int https = r->scheme_len == 5 && strncasecmp(url, "https", 5) == 0;
    if (!http && !https) {
        bw_egress_why(why, ws, "only http and https URLs are allowed");
        return BW_E_DENIED;
    }
    r->port = https ? 443 : 80;
    *rest = sep + 3;
    return BW_OK;
}

/* RFC 3986 3.2.3: port = *DIGIT; Bulwark also requires 1..65535 and at least one digit. */
static bw_err raw_port(const char *p, size_t n, uint16_t *port, char *why, size_t ws) {
    unsigned long v = 0;
    if (n == 0 || n > 5) {
        bw_egress_why(why, ws, "port must be 1..65535");
        return BW_E_INVALID;
    }
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') {
            bw_egress_why(why, ws, "port must be decimal digits");
            return BW_E_INVALID;
        }
        v = v * 10 + (unsigned long)(p[i] - '0');
    }
    if (v == 0 || v > 65535) {
        bw_egress_why(why, ws, "port must be 1..65535");
        return BW_E_INVALID;
    }
    *port = (uint16_t)v;
    return BW_OK;
}

/* Rejects what a second parser could read differently: userinfo (RFC 3986 3.2.1, the classic
 * "http://allowed@evil" confusion), backslashes (WHATWG treats them as '/'), percent-encoding
 * (libcurl decodes it in hosts; RFC 6874 zone ids use it). */
static bw_err raw_authority_chars(const char *a, size_t n, char *why, size_t ws) {
    const char *bad = NULL;
    if (memchr(a, '@', n))
        bad = "userinfo (user@host) is not allowed";
    else if (memchr(a, '\\', n))
        bad = "backslash in the authority";
    else if (memchr(a, '%', n))
        bad = memchr(a, '[', n) ? "IPv6 zone ids are not allowed"
                                : "percent-encoding in the host is not allowed";
    if (bad) {
        bw_egress_why(why, ws, "%s", bad);
        return BW_E_INVALID;
    }
    if (n == 0) {
        bw_egress_why(why, ws, "URL has no host");
        return BW_E_INVALID;
    }
    return BW_OK;
}

static bw_err raw_authority(const char *a, struct raw_url *r, char *why, size_t ws) {
    size_t n = strcspn(a, "/?#");
    BW_TRY(raw_authority_chars(a, n, why, ws));
    const char *port = NULL;
    if (a[0] == '[') {
        const char *close = memchr(a, ']', n);
        if (!close) {
            bw_egress_why(why, ws, "unterminated IPv6 literal");
            return BW_E_INVALID;
        }
        r->host = a + 1;
        r->host_len = (size_t)(close - a - 1);
        r->bracketed = 1;
        if (close + 1 != a + n && close[1] != ':') {
            bw_egress_why(why, ws, "junk after IPv6 literal");
            return BW_E_INVALID;
        }
        port = close + 1 != a + n ? close + 1 : NULL;
    } else {
        port = memchr(a, ':', n);
        r->host = a;
        r->host_len = port ? (size_t)(port - a) : n;
        if (port && memchr(port + 1, ':', (size_t)(a + n - port - 1))) {
            bw_egress_why(why, ws, "IPv6 literals must be in brackets");
            return BW_E_INVALID;
        }
    }
    if (r->host_len == 0) {
        bw_egress_why(why, ws, "URL has no host");
        return BW_E_INVALID;
    }
    if (port)
        return raw_port(port + 1, (size_t)(a + n - port - 1), &r->port, why, ws);
    return BW_OK;
}

/* Decides what the host is and writes its normalised text into t. */
static bw_err raw_host(const struct raw_url *r, struct bw_egress_target *t, char *why, size_t ws) {
    char tmp[BW_EGRESS_HOST_MAX];
    if (r->bracketed) {
        if (r->host_len >= 64) {
            bw_egress_why(why, ws, "invalid IPv6 literal");
            return BW_E_INVALID;
        }
        memcpy(tmp, r->host, r->host_len);
        tmp[r->host_len] = 0;
        /* RFC 4291 2.2 text forms only (inet_pton); IPvFuture (RFC 3986 3.2.2) is refused. */
        if (inet_pton(AF_INET6, tmp, t->addr) != 1) {
            bw_egress_why(why, ws, "invalid IPv6 literal");
            return BW_E_INVALID;
        }
        t->literal = 6;
        inet_ntop(AF_INET6, t->addr, t->host, sizeof t->host); /* RFC 5952 form */
        return BW_OK;
    }
    uint32_t v4;
    if (bw_egress_looks_numeric(r->host, r->host_len)) {
        if (bw_egress_parse_v4(r->host, r->host_len, &v4) != 0) {
            bw_egress_why(why, ws, "IPv4 literals must be canonical dotted decimal (a.b.c.d)");
            return BW_E_INVALID;
        }
        t->literal = 4;
        uint32_t be = htonl(v4);
        memcpy(t->addr, &be, 4);
        inet_ntop(AF_INET, t->addr, t->host, sizeof t->host);
        return BW_OK;
    }
    BW_TRY(bw_egress_name_normalize(r->host, r->host_len, tmp, sizeof tmp, why, ws));
    /* IDNA maps fullwidth digits and ideographic full stops, so a name can become a number. */
    if (bw_egress_looks_numeric(tmp, strlen(tmp))) {
        bw_egress_why(why, ws, "IPv4 literals must be canonical dotted decimal (a.b.c.d)");
        return BW_E_INVALID;
    }
    memcpy(t->host, tmp, strlen(tmp) + 1);
    return BW_OK;
}

/* libcurl's host text agrees with the raw reader's (ASCII case aside). */
static int same_host(const char *curl_host, const struct raw_url *r,
                     const struct bw_egress_target *t) {
    if (t->literal == 6) {
        size_t n = strlen(curl_host);
        char tmp[64];
        uint8_t a[16];
        if (n < 2 || n - 2 >= sizeof tmp || curl_host[0] != '[' || curl_host[n - 1] != ']')
            return 0;
        memcpy(tmp, curl_host + 1, n - 2);
        tmp[n - 2] = 0;
        return inet_pton(AF_INET6, tmp, a) == 1 && memcmp(a, t->addr, 16) == 0;
    }
    return strlen(curl_host) == r->host_len && strncasecmp(curl_host, r->host, r->host_len) == 0;
}

static bw_err curl_cross_check(CURLU *u, const struct raw_url *r, const struct bw_egress_target *t,
                               char *why, size_t ws) {
    char *scheme = NULL, *host = NULL, *port = NULL;
    bw_err result = BW_OK;
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT)) {
        result = BW_E_INVALID;
    } else {
        int ok = strlen(scheme) == r->scheme_len &&
                 strncasecmp(scheme, r->scheme, r->scheme_len) == 0 && same_host(host, r, t) &&
                 strtoul(port, NULL, 10) == r->port;
        result = ok ? BW_OK : BW_E_INVALID;
    }
    if (result != BW_OK)
        bw_egress_why(why, ws, "URL parsers disagree on scheme, host or port");
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    return result;
}

/* libcurl's serialisation with the normalised host put in, so libcurl never maps names itself. */
static bw_err curl_normalise(CURLU *u, struct bw_egress_target *t, char *why, size_t ws) {
    char host[BW_EGRESS_HOST_MAX + 2];
    snprintf(host, sizeof host, t->literal == 6 ? "[%s]" : "%s", t->host);
    char *url = NULL;
    if (curl_url_set(u, CURLUPART_HOST, host, 0) || curl_url_get(u, CURLUPART_URL, &url, 0)) {
        bw_egress_why(why, ws, "libcurl cannot rebuild the URL");
        return BW_E_INVALID;
    }
    size_t n = strlen(url);
    bw_err result = n < sizeof t->url ? BW_OK : BW_E_TOO_LARGE;
    if (result == BW_OK)
        memcpy(t->url, url, n + 1);
    else
        bw_egress_why(why, ws, "URL is longer than %d bytes", BW_EGRESS_URL_MAX - 1);
    curl_free(url);
    return result;
}

static bw_err parse_into(const char *url, struct raw_url *r, struct bw_egress_target *t, char *why,
                         size_t ws) {
    size_t n = strnlen(url, BW_EGRESS_URL_MAX);
    if (n >= BW_EGRESS_URL_MAX) {
        bw_egress_why(why, ws, "URL is longer than %d bytes", BW_EGRESS_URL_MAX - 1);
        return BW_E_TOO_LARGE;
    }
    for (size_t i = 0; i < n; i++) {
        if (is_ctl_or_space((unsigned char)url[i])) {
            bw_egress_why(why, ws, "URL contains whitespace or control characters");
            return BW_E_INVALID;
        }
    }
    const char *rest = NULL;
    BW_TRY(raw_scheme(url, r, &rest, why, ws));
    BW_TRY(raw_authority(rest, r, why, ws));
    BW_TRY(raw_host(r, t, why, ws));
    t->port = r->port;
    snprintf(t->scheme, sizeof t->scheme, "%s", r->scheme_len == 5 ? "https" : "http");
    return BW_OK;
}

bw_err bw_egress_parse_url(const char *url, struct bw_egress_target *out, char *why, size_t ws) {
    struct raw_url r;
    static const struct bw_egress_target zero; /* an all-zero initialiser, never written */
    struct bw_egress_target t = zero;
    memset(&r, 0, sizeof r);
    BW_TRY(parse_into(url, &r, &t, why, ws));
    bw_err result = BW_OK;
    CURLU *u = curl_url();
    BW_GOTO_IF(!u, BW_E_NOMEM);
    CURLUcode rc = curl_url_set(u, CURLUPART_URL, url, CURLU_DISALLOW_USER);
    if (rc != CURLUE_OK) {
        bw_egress_why(why, ws, "libcurl rejects the URL (%s)", curl_url_strerror(rc));
        BW_GOTO(BW_E_INVALID);
    }
    BW_GOTO(curl_cross_check(u, &r, &t, why, ws));
    BW_GOTO(curl_normalise(u, &t, why, ws));
    *out = t;
out:
    curl_url_cleanup(u);
    return result;
}

/* Literal addresses and name rules, with the allowlist's exemptions. */
static bw_err judge_host(const struct bw_egress_policy *p, struct bw_egress_target *t, char *why,
                         size_t ws) {
    t->allowlisted = bw_egress_policy_has_hostport(p, t->host, t->port);
    if (t->allowlisted)
        return BW_OK;
    const char *no = NULL;
    if (t->literal) {
        if (bw_egress_policy_has_addr(p, t->literal, t->addr, t->port))
            return BW_OK;
        uint32_t v4 = bw_load_be32(t->addr);
        no = t->literal == 4 ? bw_egress_classify_v4(v4) : bw_egress_classify_v6(t->addr);
    } else {
        no = bw_egress_name_denied(t->host);
    }
    if (!no)
        return BW_OK;
    bw_egress_why(why, ws, "%s: %s", t->host, no);
    return BW_E_DENIED;
}

bw_err bw_egress_probe_url_static(const struct bw_egress_policy *p, const char *url,
                                  struct bw_egress_target *out, char *why, size_t ws) {
    static const struct bw_egress_target zero; /* an all-zero initialiser, never written */
    struct bw_egress_target t = zero;
    BW_ENSURE(url && out, BW_E_INVALID);
    bw_err e = bw_egress_parse_url(url, &t, why, ws);
    if (e == BW_OK)
        e = judge_host(p, &t, why, ws);
    BW_TRY(e);
    *out = t;
    return BW_OK;
}

bw_err bw_egress_check_url_static(const struct bw_egress_policy *p, const char *url,
                                  struct bw_egress_target *out, char *why, size_t ws) {
    bw_err e = bw_egress_probe_url_static(p, url, out, why, ws);
    if (e == BW_E_DENIED)
        bw_metrics_egress_block(BW_METRICS_EGRESS_URL);
    return e;
}

/* RFC 3986 3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then ':'. */
static int has_scheme(const char *s) {
    size_t i = 0;
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
        return 0;
    while (s[i] && strchr("/?#:", s[i]) == NULL)
        i++;
    return s[i] == ':';
}

bw_err bw_egress_redirect(const struct bw_egress_policy *p, const char *base_url,
                          const char *location, struct bw_egress_target *out, char *why,
                          size_t ws) {
    BW_ENSURE(base_url && location && out, BW_E_INVALID);
    /* A reference that names a host is checked as written (raw rules included); only
     * references that keep the base's host are resolved by libcurl first. */
    if (has_scheme(location))
        return bw_egress_check_url_static(p, location, out, why, ws);
    bw_err result = BW_OK;
    char *url = NULL;
    CURLU *u = curl_url();
    BW_GOTO_IF(!u, BW_E_NOMEM);
    if (curl_url_set(u, CURLUPART_URL, base_url, 0) ||
        curl_url_set(u, CURLUPART_URL, location, 0) || curl_url_get(u, CURLUPART_URL, &url, 0)) {
        bw_egress_why(why, ws, "cannot resolve the redirect target");
        BW_GOTO(BW_E_INVALID);
    }
    if (strncmp(location, "//", 2) == 0) {
        /* Network-path reference (RFC 3986 4.2): check "scheme:" + location as written. */
        char abs[BW_EGRESS_URL_MAX];
        int n = snprintf(abs, sizeof abs, "%.*s:%s", (int)strcspn(url, ":"), url, location);
        if (n < 0 || (size_t)n >= sizeof abs) {
            bw_egress_why(why, ws, "URL is longer than %d bytes", BW_EGRESS_URL_MAX - 1);
            BW_GOTO(BW_E_TOO_LARGE);
        }
        BW_GOTO(bw_egress_check_url_static(p, abs, out, why, ws));
    } else {
        BW_GOTO(bw_egress_check_url_static(p, url, out, why, ws));
    }
out:
    curl_free(url);
    curl_url_cleanup(u);
    return result;
}
