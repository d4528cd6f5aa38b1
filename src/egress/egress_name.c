/* egress_name.c: host name normalisation (IDNA) and the name rules.
 *
 * Names are normalised here with libidn2 (UTS #46 non-transitional processing, IDNA2008) rather
 * than by libcurl, because libcurl 7.88 converts with idn2_lookup_ul, which depends on the
 * process locale: the gateway runs in the C locale, where that conversion fails. Handing libcurl
 * the A-label form means it never converts anything itself. */
#include <idn2.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "egress/egress_internal.h"

void bw_egress_why(char *why, size_t why_size, const char *fmt, ...) {
    if (!why || why_size == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_size, fmt, ap);
    va_end(ap);
}

void bw_egress_printable(const char *s, size_t n, char *out, size_t out_size) {
    if (out_size == 0)
        return;
    size_t j = 0;
    for (size_t i = 0; i < n && j + 1 < out_size; i++)
        out[j++] = (s[i] > 0x20 && s[i] < 0x7f) ? s[i] : '?';
    out[j] = 0;
}

static int is_digit(char c) {
    return c >= '0' && c <= '9';
}

static int is_hex(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int bw_egress_parse_v4(const char *s, size_t n, uint32_t *v4) {
    uint32_t acc = 0;
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        if (part > 0) {
            if (i >= n || s[i] != '.')
                return -1;
            i++;
        }
        size_t start = i;
        unsigned v = 0;
        while (i < n && is_digit(s[i]) && i - start < 3)
            v = v * 10 + (unsigned)(s[i++] - '0');
        size_t len = i - start;
        /* Strict form: 1..3 digits, no leading zero (0177 is octal to inet_aton), <= 255. */
        if (len == 0 || v > 255 || (len > 1 && s[start] == '0'))
            return -1;
        acc = acc << 8 | v;
    }
    if (i != n)
        return -1;
    *v4 = acc;
    return 0;
}

int bw_egress_looks_numeric(const char *s, size_t n) {
    if (n > 0 && s[n - 1] == '.')
        n--;
    size_t start = n;
    while (start > 0 && s[start - 1] != '.')
        start--;
    const char *l = s + start;
    size_t len = n - start;
    if (len == 0)
        return 0;
    if (len >= 2 && l[0] == '0' && (l[1] == 'x' || l[1] == 'X')) {
        for (size_t i = 2; i < len; i++)
            if (!is_hex(l[i]))
                return 0;
        return 1;
    }
    for (size_t i = 0; i < len; i++)
        if (!is_digit(l[i]))
            return 0;
    return 1;
}

/* RFC 1035 2.3.1 / RFC 1123 2.1: letters, digits and hyphens; labels 1..63, not starting or
 * ending with a hyphen; at most 253 octets. Underscores are refused (fail closed). */
static int ldh_ok(const char *h) {
    size_t n = strlen(h), label = 0;
    if (n == 0 || n > 253)
        return 0;
    for (size_t i = 0; i <= n; i++) {
        char c = h[i];
        if (c == '.' || c == 0) {
            if (label == 0 || label > 63 || h[i - 1] == '-')
                return 0;
            label = 0;
            continue;
        }
        int ok = (c >= 'a' && c <= 'z') || is_digit(c) || c == '-';
        if (!ok || (label == 0 && c == '-'))
            return 0;
        label++;
    }
    return 1;
}

bw_err bw_egress_name_normalize(const char *raw, size_t n, char *out, size_t out_size, char *why,
                                size_t why_size) {
    char in[1024];
    if (n > 0 && raw[n - 1] == '.')
        n--; /* an absolute name "example.com." names the same host: drop the root label */
    if (n == 0 || n >= sizeof in || memchr(raw, 0, n)) {
        bw_egress_why(why, why_size, "host name is empty or too long");
        return BW_E_DENIED;
    }
    memcpy(in, raw, n);
    in[n] = 0;
    char *lookup = NULL;
    int rc = idn2_lookup_u8((const uint8_t *)in, (uint8_t **)&lookup,
                            IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
    if (rc == IDN2_MALLOC)
        return BW_E_NOMEM;
    if (rc != IDN2_OK) {
        bw_egress_why(why, why_size, "host name is not a valid IDNA name (%s)", idn2_strerror(rc));
        return BW_E_DENIED;
    }
    bw_err result = BW_OK;
    size_t len = strlen(lookup);
    if (len > 0 && lookup[len - 1] == '.')
        lookup[--len] = 0; /* a mapped full stop (U+3002) may have become a trailing dot */
    if (!ldh_ok(lookup) || len >= out_size) {
        bw_egress_why(why, why_size, "host name is not a valid DNS name after IDNA mapping");
        result = BW_E_DENIED;
    } else {
        memcpy(out, lookup, len + 1);
    }
    idn2_free(lookup);
    return result;
}

/* Names that must never be dialled whatever they resolve to: they denote the local machine, a
 * local network or a cloud platform's metadata service, or resolve through search domains. */
static const char *const denied_exact[] = {
    "localhost",                    /* RFC 6761 6.3 */
    "metadata.goog",                /* GCP metadata server alias (defensive; docs/EGRESS.md) */
    "metadata.tencentyun.com",      /* Tencent Cloud metadata (169.254.0.23) */
    "metadata.platformequinix.com", /* Equinix Metal metadata */
};

static const char *const denied_suffix[] = {
    "localhost",   /* RFC 6761 6.3 */
    "local",       /* multicast DNS, RFC 6762 */
    "internal",    /* ICANN private-use TLD (2024); metadata.google.internal, *.ec2.internal */
    "arpa",        /* infrastructure (RFC 3172), includes home.arpa (RFC 8375) */
    "localdomain", /* conventional alias of loopback in /etc/hosts */
    "onion",       /* RFC 7686 */
    "invalid",     /* RFC 6761 6.4 */
    "intranet",    "private", "corp", "home", "lan", /* RFC 6762 Appendix G */
};

static int has_suffix(const char *h, const char *tld) {
    size_t n = strlen(h), t = strlen(tld);
    return n > t && h[n - t - 1] == '.' && strcmp(h + n - t, tld) == 0;
}

const char *bw_egress_name_denied(const char *host) {
    if (!strchr(host, '.'))
        return "single-label names resolve through search domains (local network)";
    for (size_t i = 0; i < sizeof denied_exact / sizeof denied_exact[0]; i++)
        if (strcmp(host, denied_exact[i]) == 0)
            return "known local or cloud metadata host name";
    for (size_t i = 0; i < sizeof denied_suffix / sizeof denied_suffix[0]; i++)
        if (has_suffix(host, denied_suffix[i]))
            return "reserved or local-only domain (RFC 6761, RFC 6762, RFC 8375)";
    return NULL;
}
