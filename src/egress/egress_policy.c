/* egress_policy.c: the operator allowlist. Empty by default; entries open exactly what they
 * name. HOST:PORT entries are normalised with the same URL reader as checked URLs, so an entry
 * and a URL naming the same host compare equal however either was spelled. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "egress/egress_internal.h"

#define ENTRY_MAX_LEN 300

enum entry_kind { ENTRY_CIDR = 1, ENTRY_HOSTPORT };

struct entry {
    enum entry_kind kind;
    int family; /* 4 or 6; 0 for a HOST:PORT entry naming a DNS name */
    uint8_t addr[16];
    unsigned bits; /* CIDR prefix length */
    uint16_t port; /* HOST:PORT */
    char host[BW_EGRESS_HOST_MAX];
};

struct bw_egress_policy {
    size_t n;
    struct entry *e;
};

/* "ADDR/BITS" with no host bits set (a set host bit is almost always a typo for a wider or
 * narrower block than meant, so it is refused rather than silently masked). */
static int parse_cidr(const char *s, struct entry *e) {
    const char *slash = strchr(s, '/');
    size_t alen = (size_t)(slash - s), blen = strlen(slash + 1);
    char a[64];
    if (alen == 0 || alen >= sizeof a || blen == 0 || blen > 3)
        return -1;
    unsigned bits = 0;
    for (size_t i = 0; i < blen; i++) {
        if (slash[1 + i] < '0' || slash[1 + i] > '9')
            return -1;
        bits = bits * 10 + (unsigned)(slash[1 + i] - '0');
    }
    memcpy(a, s, alen);
    a[alen] = 0;
    uint32_t v4;
    if (strchr(a, ':')) {
        if (inet_pton(AF_INET6, a, e->addr) != 1 || bits > 128)
            return -1;
        e->family = 6;
    } else {
        if (bw_egress_parse_v4(a, alen, &v4) != 0 || bits > 32)
            return -1;
        uint32_t be = htonl(v4);
        memcpy(e->addr, &be, 4);
        e->family = 4;
    }
    size_t bytes = e->family == 4 ? 4 : 16;
    for (unsigned i = bits; i < bytes * 8; i++)
        if (e->addr[i / 8] & (0x80 >> (i % 8)))
            return -1;
    e->kind = ENTRY_CIDR;
    e->bits = bits;
    return 0;
}

static int parse_hostport(const char *s, struct entry *e) {
    char url[ENTRY_MAX_LEN + 16];
    struct bw_egress_target t;
    snprintf(url, sizeof url, "http://%s/", s);
    /* An entry must say its port: "http://host/" would default to 80 silently. */
    const char *last = strrchr(s, ':');
    if (!last || (s[0] == '[' && last < strchr(s, ']')))
        return -1;
    if (bw_egress_parse_url(url, &t, NULL, 0) != BW_OK)
        return -1;
    e->kind = ENTRY_HOSTPORT;
    e->family = t.literal;
    memcpy(e->addr, t.addr, sizeof e->addr);
    e->port = t.port;
    memcpy(e->host, t.host, sizeof e->host);
    return 0;
}

static int parse_entry(const char *s, struct entry *e) {
    if (!s || strnlen(s, ENTRY_MAX_LEN + 1) > ENTRY_MAX_LEN)
        return -1;
    memset(e, 0, sizeof *e);
    return strchr(s, '/') ? parse_cidr(s, e) : parse_hostport(s, e);
}

bw_err bw_egress_policy_new(const char *const *entries, size_t n, struct bw_egress_policy **out,
                            char *why, size_t why_size) {
    BW_ENSURE(out && (entries || n == 0), BW_E_INVALID);
    if (n > BW_EGRESS_ALLOW_MAX) {
        bw_egress_why(why, why_size, "more than %d allowlist entries", BW_EGRESS_ALLOW_MAX);
        return BW_E_TOO_LARGE;
    }
    struct bw_egress_policy *p = calloc(1, sizeof *p);
    if (!p)
        return BW_E_NOMEM;
    p->e = n ? calloc(n, sizeof *p->e) : NULL;
    if (n && !p->e) {
        free(p);
        return BW_E_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        if (parse_entry(entries[i], &p->e[i]) != 0) {
            bw_egress_why(why, why_size,
                          "allowlist entry %zu: expected A.B.C.D/N, IPV6/N, HOST:PORT or "
                          "[IPV6]:PORT (CIDR without host bits, port 1..65535)",
                          i + 1);
            bw_egress_policy_free(p);
            return BW_E_INVALID;
        }
    }
    p->n = n;
    *out = p;
    return BW_OK;
}

void bw_egress_policy_free(struct bw_egress_policy *p) {
    if (!p)
        return;
    free(p->e);
    free(p);
}

static int matches(const struct entry *e, int family, const uint8_t *addr, uint16_t port) {
    if (e->family != family)
        return 0;
    if (e->kind == ENTRY_CIDR)
        return bw_egress_in_prefix(addr, e->addr, e->bits);
    return port != 0 && e->port == port && memcmp(addr, e->addr, family == 4 ? 4 : 16) == 0;
}

int bw_egress_policy_has_addr(const struct bw_egress_policy *p, int family, const uint8_t *addr,
                              uint16_t port) {
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (!p)
        return 0;
    for (size_t i = 0; i < p->n; i++)
        if (matches(&p->e[i], family, addr, port))
            return 1;
    /* An IPv4-mapped address (RFC 4291 2.5.5.2) reaches its IPv4 address: judge it as that. */
    if (family == 6 && memcmp(addr, mapped, 12) == 0)
        return bw_egress_policy_has_addr(p, 4, addr + 12, port);
    return 0;
}

int bw_egress_policy_has_hostport(const struct bw_egress_policy *p, const char *host,
                                  uint16_t port) {
    if (!p)
        return 0;
    for (size_t i = 0; i < p->n; i++)
        if (p->e[i].kind == ENTRY_HOSTPORT && p->e[i].port == port &&
            strcmp(p->e[i].host, host) == 0)
            return 1;
    return 0;
}
