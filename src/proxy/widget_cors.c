/* widget_cors.c: which browser origins may call an agent's widget (widget.h).
 *
 * The Fetch standard's CORS protocol: the browser sends Origin; the response may be read by the
 * page only if Access-Control-Allow-Origin equals that origin. We answer it only for an origin
 * the org listed, compared byte for byte (an origin is scheme://host[:port] as the browser
 * serializes it, so an exact list is exact). Never `*`, never a pattern: a pattern such as
 * "*.shop.example" would let any subdomain takeover talk to the agent in the org's name. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

#include "proxy/widget.h"

int bw_widget_origin_allowed(const char *allowed, const char *origin) {
    if (!allowed || !origin)
        return 0;
    size_t n = strnlen(origin, BW_WIDGET_MAX_ORIGIN + 1);
    /* "null" is what sandboxed iframes and file: pages send: any page can produce it. */
    if (n == 0 || n > BW_WIDGET_MAX_ORIGIN || strcmp(origin, "null") == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (origin[i] <= 0x20 || origin[i] >= 0x7f)
            return 0;
    const char *p = allowed;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *end = strchr(p, ' ');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && memcmp(p, origin, n) == 0)
            return 1;
        p += len;
    }
    return 0;
}

/* ---- listing origins ---- */

static int lower_ldh(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

static int all_digits(const char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return 0;
    return n > 0;
}

/* A decimal number without leading zeros, at most max. */
static int number_ok(const char *p, size_t n, long max) {
    if (!all_digits(p, n) || n > 5 || (n > 1 && p[0] == '0'))
        return 0;
    long v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (p[i] - '0');
    return v <= max;
}

/* The WHATWG host parser reads a name whose last label is numeric as an IPv4 address, so such
 * a name must be one in its serialized form. */
static int ipv4_ok(const char *h, size_t n) {
    int parts = 0;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++)
        if (i == n || h[i] == '.') {
            if (!number_ok(h + start, i - start, 255))
                return 0;
            parts++;
            start = i + 1;
        }
    return parts == 4;
}

static int name_ok(const char *h, size_t n) {
    if (n == 0 || n > 253)
        return 0;
    size_t start = 0, last = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && h[i] != '.') {
            if (!lower_ldh(h[i]))
                return 0; /* uppercase, "*", "_", non-ASCII (use the A-label) ... */
            continue;
        }
        size_t len = i - start;
        if (len == 0 || len > 63 || h[start] == '-' || h[i - 1] == '-')
            return 0; /* empty label (".."), trailing dot, hyphen at an edge */
        last = start;
        start = i + 1;
    }
    if (all_digits(h + last, n - last) || (n - last > 2 && h[last] == '0' && h[last + 1] == 'x'))
        return ipv4_ok(h, n);
    return 1;
}

static int ipv6_ok(const char *h, size_t n) {
    char text[INET6_ADDRSTRLEN], canon[INET6_ADDRSTRLEN];
    struct in6_addr a;
    if (n < 3 || n - 2 >= sizeof text || h[0] != '[' || h[n - 1] != ']')
        return 0;
    memcpy(text, h + 1, n - 2);
    text[n - 2] = 0;
    return inet_pton(AF_INET6, text, &a) == 1 &&
           inet_ntop(AF_INET6, &a, canon, sizeof canon) != NULL && strcmp(canon, text) == 0;
}

int bw_widget_origin_valid(const char *origin) {
    if (!origin)
        return 0;
    size_t n = strnlen(origin, BW_WIDGET_MAX_ORIGIN + 1), skip;
    const char *default_port;
    if (n > BW_WIDGET_MAX_ORIGIN)
        return 0;
    if (strncmp(origin, "https://", 8) == 0) {
        skip = 8;
        default_port = "443";
    } else if (strncmp(origin, "http://", 7) == 0) {
        skip = 7;
        default_port = "80";
    } else {
        return 0;
    }
    const char *host = origin + skip;
    size_t hn = n - skip;
    const char *colon = NULL;
    if (hn > 0 && host[0] == '[') {
        const char *close = memchr(host, ']', hn);
        if (!close)
            return 0;
        colon = (size_t)(close - host) + 1 < hn ? close + 1 : NULL;
        if (colon && *colon != ':')
            return 0;
    } else {
        colon = memchr(host, ':', hn);
    }
    size_t host_len = colon ? (size_t)(colon - host) : hn;
    int host_ok =
        host_len > 0 && host[0] == '[' ? ipv6_ok(host, host_len) : name_ok(host, host_len);
    if (!host_ok)
        return 0;
    if (!colon)
        return 1;
    const char *port = colon + 1;
    size_t pn = hn - host_len - 1;
    return number_ok(port, pn, 65535) && !(pn == 1 && port[0] == '0') &&
           !(pn == strlen(default_port) && memcmp(port, default_port, pn) == 0);
}

static int is_space(char c) {
    return c == ' ' || c == '\t';
}

int bw_widget_preflight_ok(const char *method, const char *headers) {
    if (!method || strcmp(method, "POST") != 0) /* methods are case-sensitive (RFC 9110 9.1) */
        return 0;
    if (!headers)
        return 1;
    const char *p = headers;
    for (;;) {
        while (is_space(*p))
            p++;
        const char *start = p;
        while (*p && *p != ',')
            p++;
        const char *end = p;
        while (end > start && is_space(end[-1]))
            end--;
        size_t len = (size_t)(end - start);
        /* empty items are tolerated (browsers never send them, a lone "" header is "none") */
        if (len != 0 && !(len == 12 && strncasecmp(start, "content-type", 12) == 0))
            return 0;
        if (!*p)
            return 1;
        p++; /* the comma */
    }
}
