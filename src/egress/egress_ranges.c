/* egress_ranges.c: the built-in blocked address space.
 *
 * IPv4: every block of the IANA IPv4 Special-Purpose Address Registry (RFC 6890, updated by
 * RFC 8190) that is not globally reachable, plus multicast and the reserved 240/4, plus known
 * cloud platform endpoints that sit in public space. IPv6: only global unicast 2000::/3
 * (RFC 4291 2.4) is reachable, minus the blocks of the IANA IPv6 Special-Purpose Address Registry
 * inside it; IPv4-mapped (RFC 4291 2.5.5.2) and NAT64 well-known-prefix (RFC 6052 2.1) addresses
 * are judged by the IPv4 address they carry, because that is the host they reach.
 * docs/EGRESS.md lists every block with its source. */
#include <string.h>

#include "egress/egress_internal.h"
#include "util/codec.h"

struct range {
    uint8_t base[16];
    unsigned bits;
    const char *why;
};

#define V4(a, b, c, d)                                                                             \
    { a, b, c, d }

/* Order matters only for the reason reported: the first match wins. */
static const struct range v4_blocked[] = {
    {V4(0, 0, 0, 0), 8, "'this network' (RFC 791, RFC 6890)"},
    {V4(10, 0, 0, 0), 8, "private-use (RFC 1918)"},
    {V4(100, 100, 100, 200), 32, "Alibaba Cloud metadata service (in RFC 6598 space)"},
    {V4(100, 64, 0, 0), 10, "shared address space (RFC 6598)"},
    {V4(127, 0, 0, 0), 8, "loopback (RFC 1122 3.2.1.3)"},
    {V4(169, 254, 169, 254), 32, "cloud metadata service (AWS, GCP, Azure, OCI; link-local)"},
    {V4(169, 254, 0, 0), 16, "link-local (RFC 3927)"},
    {V4(172, 16, 0, 0), 12, "private-use (RFC 1918)"},
    {V4(192, 0, 0, 192), 32, "Oracle Cloud metadata service (in RFC 6890 192.0.0/24)"},
    {V4(192, 0, 0, 0), 24, "IETF protocol assignments (RFC 6890 2.2.2)"},
    {V4(192, 0, 2, 0), 24, "documentation TEST-NET-1 (RFC 5737)"},
    {V4(192, 88, 99, 0), 24, "6to4 relay anycast, deprecated (RFC 7526)"},
    {V4(192, 168, 0, 0), 16, "private-use (RFC 1918)"},
    {V4(198, 18, 0, 0), 15, "benchmarking (RFC 2544)"},
    {V4(198, 51, 100, 0), 24, "documentation TEST-NET-2 (RFC 5737)"},
    {V4(203, 0, 113, 0), 24, "documentation TEST-NET-3 (RFC 5737)"},
    {V4(224, 0, 0, 0), 4, "multicast (RFC 5771)"},
    {V4(240, 0, 0, 0), 4, "reserved, includes limited broadcast (RFC 1112, RFC 919)"},
    /* Public space, but a platform endpoint no tenant traffic should reach: Azure's WireServer
     * (DHCP, DNS, health probes, VM agent). Microsoft Learn, "What is IP address
     * 168.63.129.16?". */
    {V4(168, 63, 129, 16), 32, "Azure platform endpoint (WireServer)"},
};

#define V6(...)                                                                                    \
    { __VA_ARGS__ }

/* Blocks inside 2000::/3 (IANA IPv6 Special-Purpose Address Registry). */
static const struct range v6_blocked_global[] = {
    {V6(0x20, 0x01, 0, 0), 32, "Teredo (RFC 4380)"},
    {V6(0x20, 0x01, 0, 0x02, 0, 0), 48, "benchmarking (RFC 5180)"},
    {V6(0x20, 0x01, 0, 0x20), 28, "ORCHIDv2 (RFC 7343)"},
    {V6(0x20, 0x01, 0, 0), 23, "IETF protocol assignments (RFC 2928)"},
    {V6(0x20, 0x01, 0x0d, 0xb8), 32, "documentation (RFC 3849)"},
    {V6(0x20, 0x02), 16, "6to4 (RFC 3056)"},
    {V6(0x3f, 0xff, 0x00), 20, "documentation (RFC 9637)"},
};

/* Well-known blocks outside 2000::/3, only for a precise reason (all of it is blocked). */
static const struct range v6_blocked_other[] = {
    {V6(0), 128, "unspecified address (RFC 4291 2.5.2)"},
    {V6(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1), 128, "loopback (RFC 4291 2.5.3)"},
    {V6(0), 96, "IPv4-compatible, deprecated (RFC 4291 2.5.5.1)"},
    {V6(0, 0x64, 0xff, 0x9b, 0, 0x01), 48, "NAT64 local-use prefix (RFC 8215)"},
    {V6(0x01, 0x00, 0, 0, 0, 0, 0, 0), 64, "discard-only (RFC 6666)"},
    {V6(0xfc), 7, "unique-local (RFC 4193), includes AWS IMDS fd00:ec2::254"},
    {V6(0xfe, 0x80), 10, "link-local unicast (RFC 4291 2.5.6)"},
    {V6(0xfe, 0xc0), 10, "site-local, deprecated (RFC 3879)"},
    {V6(0xff), 8, "multicast (RFC 4291 2.7)"},
};

int bw_egress_in_prefix(const uint8_t *a, const uint8_t *base, unsigned bits) {
    unsigned full = bits / 8, rest = bits % 8;
    if (memcmp(a, base, full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[full] & mask) == (base[full] & mask);
}

static const char *first_match(const struct range *t, size_t n, const uint8_t *a) {
    for (size_t i = 0; i < n; i++)
        if (bw_egress_in_prefix(a, t[i].base, t[i].bits))
            return t[i].why;
    return NULL;
}

const char *bw_egress_classify_v4(uint32_t v4) {
    uint8_t a[4] = {(uint8_t)(v4 >> 24), (uint8_t)(v4 >> 16), (uint8_t)(v4 >> 8), (uint8_t)v4};
    return first_match(v4_blocked, sizeof v4_blocked / sizeof v4_blocked[0], a);
}

static uint32_t low32(const uint8_t v6[16]) {
    return bw_load_be32(v6 + 12);
}

const char *bw_egress_classify_v6(const uint8_t v6[16]) {
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    /* RFC 6052 2.1: 64:ff9b::/96 carries the IPv4 address in its last 32 bits. */
    static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    if (memcmp(v6, mapped, 12) == 0 || memcmp(v6, nat64, 12) == 0)
        return bw_egress_classify_v4(low32(v6));
    if ((v6[0] & 0xe0) != 0x20) {
        const char *why =
            first_match(v6_blocked_other, sizeof v6_blocked_other / sizeof v6_blocked_other[0], v6);
        return why ? why : "outside global unicast 2000::/3 (RFC 4291 2.4)";
    }
    return first_match(v6_blocked_global, sizeof v6_blocked_global / sizeof v6_blocked_global[0],
                       v6);
}
