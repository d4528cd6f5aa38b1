/* widget_cors.c: which browser origins may call an agent's widget (widget.h).
 *
 * The Fetch standard's CORS protocol: the browser sends Origin; the response may be read by the
 * page only if Access-Control-Allow-Origin equals that origin. We answer it only for an origin
 * the org listed, compared byte for byte (an origin is scheme://host[:port] as the browser
 * serializes it, so an exact list is exact). Never `*`, never a pattern: a pattern such as
 * "*.shop.example" would let any subdomain takeover talk to the agent in the org's name. */
#include <string.h>
#include <strings.h>

#include "proxy/widget.h"
#include "util/text.h"

int bw_widget_origin_allowed(const char *allowed, const char *origin) {
    if (!allowed || !origin)
        return 0;
    size_t n = strnlen(origin, BW_WIDGET_MAX_ORIGIN + 1);
    /* "null" is what sandboxed iframes and file: pages send: any page can produce it. */
    if (n == 0 || n > BW_WIDGET_MAX_ORIGIN || strcmp(origin, "null") == 0)
        return 0;
    if (!bw_text_visible(origin, n))
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
