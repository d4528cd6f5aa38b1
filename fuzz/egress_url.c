/* egress_url.c: libFuzzer target for the egress guard's URL checker without the network: parse,
 * name rules and literal classification (bw_egress_check_url_static), the redirect helper, and
 * the allowlist entry parser. Invariants checked: an accepted URL's normalised form is accepted
 * again with the same host and port (the guard is idempotent on what it hands libcurl), the
 * reason is one NUL-terminated line, and nothing is accepted whose host is blocked.
 * Build: make fuzz; run: build/fuzz/egress_url fuzz/corpus/egress_url */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "egress/egress.h"

static void check_reason(const char *why, size_t n) {
    if (!memchr(why, 0, n) || strchr(why, '\n'))
        abort();
}

static void round_trip(const struct bw_egress_target *t) {
    struct bw_egress_target again;
    char why[BW_EGRESS_WHY_SIZE];
    if (bw_egress_check_url_static(NULL, t->url, &again, why, sizeof why) != BW_OK)
        abort();
    if (strcmp(again.host, t->host) != 0 || again.port != t->port ||
        strcmp(again.url, t->url) != 0 || again.literal != t->literal)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > BW_EGRESS_URL_MAX + 16)
        return 0;
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = 0;
    struct bw_egress_target t;
    char why[BW_EGRESS_WHY_SIZE];
    memset(why, 'x', sizeof why);
    why[sizeof why - 1] = 0;
    if (bw_egress_check_url_static(NULL, s, &t, why, sizeof why) == BW_OK)
        round_trip(&t);
    else
        check_reason(why, sizeof why);
    if (bw_egress_redirect(NULL, "http://example.com/a/b", s, &t, why, sizeof why) == BW_OK)
        round_trip(&t);
    const char *one[1] = {s};
    struct bw_egress_policy *p = NULL;
    if (bw_egress_policy_new(one, 1, &p, why, sizeof why) == BW_OK)
        bw_egress_policy_free(p);
    free(s);
    return 0;
}
