/* origin.c: is a string an origin exactly as a browser serializes it (origin.h). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

#include "http/origin.h"

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

int bw_http_origin_valid(const char *origin) {
    if (!origin)
        return 0;
    size_t n = strnlen(origin, BW_HTTP_MAX_ORIGIN + 1), skip;
    const char *default_port;
    if (n > BW_HTTP_MAX_ORIGIN)
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
