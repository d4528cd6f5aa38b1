/* framing.c: strict HTTP/1.1 request framing (framing.h). */
#include "http/framing.h"

#include <string.h>
#include <strings.h>

#include "reason/reasons.h"

static const struct {
    int status;
    const char *code;
    const char *message;
} rejects[BW_HTTP_REJECT_COUNT_] = {
    [BW_HTTP_OK] = {200, "", ""},
    [BW_HTTP_BAD_LINE_END] = {400, BW_R_INVALID_REQUEST,
                              "every line of a request head must end with CRLF"},
    [BW_HTTP_BAD_REQUEST_LINE] = {400, BW_R_INVALID_REQUEST,
                                  "the request line must be: method SP target SP version"},
    [BW_HTTP_BAD_METHOD] = {405, BW_R_METHOD_NOT_ALLOWED, "this method is not served"},
    [BW_HTTP_BAD_TARGET] = {400, BW_R_INVALID_REQUEST,
                            "the request target must be an absolute path (origin-form)"},
    [BW_HTTP_BAD_VERSION] = {505, BW_R_HTTP_VERSION_NOT_SUPPORTED,
                             "only HTTP/1.1 and HTTP/1.0 are served"},
    [BW_HTTP_BAD_FIELD_NAME] = {400, BW_R_INVALID_REQUEST, "a header field name is not a token"},
    [BW_HTTP_SPACE_BEFORE_COLON] = {400, BW_R_INVALID_REQUEST,
                                    "whitespace between a header field name and the colon"},
    [BW_HTTP_OBS_FOLD] = {400, BW_R_INVALID_REQUEST,
                          "folded header lines (obs-fold) are not accepted"},
    [BW_HTTP_BAD_FIELD_VALUE] = {400, BW_R_INVALID_REQUEST,
                                 "a header field value holds a control character"},
    [BW_HTTP_DUPLICATE_FIELD] = {400, BW_R_INVALID_REQUEST,
                                 "a header field that takes one value is repeated"},
    [BW_HTTP_BAD_CONTENT_LENGTH] = {400, BW_R_INVALID_REQUEST, "Content-Length is not valid"},
    [BW_HTTP_BAD_TRANSFER_ENCODING] = {400, BW_R_INVALID_REQUEST,
                                       "the only Transfer-Encoding accepted is chunked "
                                       "(HTTP/1.1)"},
    [BW_HTTP_LENGTH_AND_CHUNKED] = {400, BW_R_INVALID_REQUEST,
                                    "Content-Length and Transfer-Encoding together"},
    [BW_HTTP_BAD_HOST] = {400, BW_R_INVALID_REQUEST,
                          "an HTTP/1.1 request needs exactly one valid Host header"},
    [BW_HTTP_HEAD_TOO_LARGE] = {431, BW_R_HEADERS_TOO_LARGE,
                                "the request head is larger than limits.max_header_bytes"},
    [BW_HTTP_BODY_TOO_LARGE] = {413, BW_R_BODY_TOO_LARGE,
                                "the request body is larger than limits.max_body_bytes"},
    [BW_HTTP_BAD_CHUNK] = {400, BW_R_INVALID_REQUEST, "the chunked body is malformed"},
    [BW_HTTP_TRAILER] = {400, BW_R_INVALID_REQUEST, "trailer fields are not accepted"},
    [BW_HTTP_BAD_CONNECTION] = {400, BW_R_INVALID_REQUEST,
                                "Connection: close must be the only connection option"},
};

static int reject_known(enum bw_http_reject r) {
    return (int)r > 0 && (int)r < BW_HTTP_REJECT_COUNT_;
}

int bw_http_reject_status(enum bw_http_reject r) {
    return reject_known(r) ? rejects[r].status : 400;
}

const char *bw_http_reject_code(enum bw_http_reject r) {
    return reject_known(r) ? rejects[r].code : BW_R_INVALID_REQUEST;
}

const char *bw_http_reject_message(enum bw_http_reject r) {
    return reject_known(r) ? rejects[r].message : "the request is malformed";
}

/* Framing (content-length, transfer-encoding, host, connection, expect, te, upgrade) and
 * every field the gateway reads with evhttp_find_header, which returns the first of several
 * while a proxy may use the last. */
const char *const bw_http_single_fields[] = {
    "content-length",
    "transfer-encoding",
    "host",
    "connection",
    "expect",
    "te",
    "upgrade",
    "authorization",
    "content-type",
    "origin",
    "bulwark-approval",
    "access-control-request-method",
    "access-control-request-headers",
    "stripe-signature",
    "webhook-id",
    "webhook-signature",
    "webhook-timestamp",
    NULL,
};
#define SINGLE_MAX 24

/* ---- character classes ---- */

static int is_alpha(uint8_t c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(uint8_t c) {
    return c >= '0' && c <= '9';
}

static int is_hex(uint8_t c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* RFC 9110 5.6.2 tchar */
static int is_tchar(uint8_t c) {
    return is_alpha(c) || is_digit(c) || (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* RFC 3986 2.3 unreserved and 2.2 sub-delims */
static int is_unreserved_or_sub(uint8_t c) {
    return is_alpha(c) || is_digit(c) || (c && strchr("-._~!$&'()*+,;=", c) != NULL);
}

/* ---- one line at a time ---- */

struct slice {
    const uint8_t *p;
    size_t n;
};

static int ieq(struct slice s, const char *lit) {
    size_t n = strlen(lit);
    return s.n == n && strncasecmp((const char *)s.p, lit, n) == 0;
}

static int eq(struct slice s, const char *lit) {
    size_t n = strlen(lit);
    return s.n == n && memcmp(s.p, lit, n) == 0;
}

/* Splits head[*off..len) at the next CRLF into *line. A CR or LF not in a CRLF pair fails. */
static enum bw_http_reject next_line(const uint8_t *head, size_t len, size_t *off,
                                     struct slice *line) {
    size_t i = *off;
    for (; i < len; i++) {
        if (head[i] == '\n')
            return BW_HTTP_BAD_LINE_END;
        if (head[i] == '\r') {
            if (i + 1 >= len || head[i + 1] != '\n')
                return BW_HTTP_BAD_LINE_END;
            break;
        }
    }
    if (i >= len)
        return BW_HTTP_BAD_LINE_END; /* the caller passes a head that ends with CRLF CRLF */
    line->p = head + *off;
    line->n = i - *off;
    *off = i + 2;
    return BW_HTTP_OK;
}

/* origin-form = absolute-path [ "?" query ] (RFC 9112 3.2.1), and not "//" (which a URI
 * parser reads as an authority). */
static int target_ok(struct slice t) {
    if (t.n == 0 || t.p[0] != '/' || (t.n > 1 && t.p[1] == '/'))
        return 0;
    for (size_t i = 0; i < t.n; i++) {
        uint8_t c = t.p[i];
        if (c == '%') {
            if (i + 2 >= t.n || !is_hex(t.p[i + 1]) || !is_hex(t.p[i + 2]))
                return 0;
            i += 2;
        } else if (!is_unreserved_or_sub(c) && c != ':' && c != '@' && c != '/' && c != '?') {
            return 0;
        }
    }
    return 1;
}

static const char *const methods[] = {"GET",  "POST",  "PUT",     "DELETE",
                                      "HEAD", "PATCH", "OPTIONS", NULL};

static enum bw_http_reject request_line(struct slice l, int *http10, int *is_head) {
    size_t i = 0;
    while (i < l.n && l.p[i] != ' ')
        i++;
    struct slice m = {l.p, i};
    if (m.n == 0 || i >= l.n)
        return BW_HTTP_BAD_REQUEST_LINE;
    for (size_t k = 0; k < m.n; k++)
        if (!is_tchar(m.p[k]))
            return BW_HTTP_BAD_REQUEST_LINE;
    size_t t0 = ++i;
    while (i < l.n && l.p[i] != ' ')
        i++;
    if (i >= l.n)
        return BW_HTTP_BAD_REQUEST_LINE;
    struct slice t = {l.p + t0, i - t0};
    struct slice v = {l.p + i + 1, l.n - i - 1};
    int known = 0;
    for (int k = 0; methods[k]; k++)
        known |= eq(m, methods[k]); /* RFC 9110 9.1: method names are case-sensitive */
    if (eq(v, "HTTP/1.0"))
        *http10 = 1;
    else if (!eq(v, "HTTP/1.1"))
        return v.n == 8 && memcmp(v.p, "HTTP/", 5) == 0 && is_digit(v.p[5]) && v.p[6] == '.' &&
                       is_digit(v.p[7])
                   ? BW_HTTP_BAD_VERSION
                   : BW_HTTP_BAD_REQUEST_LINE;
    if (!known)
        return BW_HTTP_BAD_METHOD;
    if (!target_ok(t))
        return BW_HTTP_BAD_TARGET;
    *is_head = eq(m, "HEAD");
    return BW_HTTP_OK;
}

/* uri-host [ ":" port ] (RFC 9110 7.2), or empty. No userinfo, no path. */
static int host_ok(struct slice h) {
    size_t i = 0;
    if (h.n == 0)
        return 1;
    if (h.p[0] == '[') {
        for (i = 1; i < h.n && h.p[i] != ']'; i++)
            if (!is_hex(h.p[i]) && h.p[i] != ':' && h.p[i] != '.')
                return 0;
        if (i >= h.n || i == 1)
            return 0;
        i++;
    } else {
        for (; i < h.n && h.p[i] != ':'; i++)
            if (!is_unreserved_or_sub(h.p[i]) && h.p[i] != '%')
                return 0;
        if (i == 0)
            return 0;
    }
    if (i == h.n)
        return 1;
    if (h.p[i] != ':' || h.n - i - 1 > 5)
        return 0;
    for (i++; i < h.n; i++)
        if (!is_digit(h.p[i]))
            return 0;
    return 1;
}

struct fields {
    int counts[SINGLE_MAX];
    int has_length;
    int chunked;
    int has_host;
    uint64_t length;
};

static enum bw_http_reject content_length(struct slice v, uint64_t max_body, struct fields *f) {
    if (v.n == 0 || v.n > 19)
        return BW_HTTP_BAD_CONTENT_LENGTH;
    uint64_t n = 0;
    for (size_t i = 0; i < v.n; i++) {
        if (!is_digit(v.p[i]))
            return BW_HTTP_BAD_CONTENT_LENGTH;
        n = n * 10 + (uint64_t)(v.p[i] - '0');
    }
    if (n > max_body)
        return BW_HTTP_BODY_TOO_LARGE;
    f->has_length = 1;
    f->length = n;
    return BW_HTTP_OK;
}

/* RFC 9112 9.6: after a request with the "close" option the server reads nothing more. evhttp
 * honours only a value that is exactly "close", so "keep-alive, close" would let it read the
 * bytes behind the request as a second one: "close" is accepted only as the whole value. */
static int connection_ok(struct slice v) {
    size_t i = 0;
    int close = 0;
    while (i <= v.n) {
        size_t a = i;
        while (i < v.n && v.p[i] != ',')
            i++;
        size_t b = i;
        while (a < b && (v.p[a] == ' ' || v.p[a] == '\t'))
            a++;
        while (b > a && (v.p[b - 1] == ' ' || v.p[b - 1] == '\t'))
            b--;
        close |= ieq((struct slice){v.p + a, b - a}, "close");
        i++; /* past the comma (or the end) */
    }
    return !close || ieq(v, "close"); /* "close," or "close, close" too */
}

static enum bw_http_reject field_semantics(struct slice name, struct slice v, uint64_t max_body,
                                           struct fields *f) {
    for (int k = 0; bw_http_single_fields[k]; k++)
        if (ieq(name, bw_http_single_fields[k]) && ++f->counts[k] > 1)
            return BW_HTTP_DUPLICATE_FIELD;
    if (ieq(name, "content-length"))
        return content_length(v, max_body, f);
    if (ieq(name, "transfer-encoding")) {
        if (!ieq(v, "chunked"))
            return BW_HTTP_BAD_TRANSFER_ENCODING;
        f->chunked = 1;
    } else if (ieq(name, "connection")) {
        if (!connection_ok(v))
            return BW_HTTP_BAD_CONNECTION;
    } else if (ieq(name, "host")) {
        if (!host_ok(v))
            return BW_HTTP_BAD_HOST;
        f->has_host = 1;
    }
    return BW_HTTP_OK;
}

static enum bw_http_reject field_line(struct slice l, uint64_t max_body, struct fields *f) {
    if (l.p[0] == ' ' || l.p[0] == '\t')
        return BW_HTTP_OBS_FOLD;
    size_t i = 0;
    while (i < l.n && l.p[i] != ':') {
        if (l.p[i] == ' ' || l.p[i] == '\t')
            return BW_HTTP_SPACE_BEFORE_COLON;
        if (!is_tchar(l.p[i]))
            return BW_HTTP_BAD_FIELD_NAME;
        i++;
    }
    if (i == 0 || i >= l.n)
        return BW_HTTP_BAD_FIELD_NAME;
    struct slice name = {l.p, i};
    size_t a = i + 1, b = l.n;
    while (a < b && l.p[a] == ' ')
        a++;
    while (b > a && l.p[b - 1] == ' ')
        b--;
    /* evhttp strips leading spaces but not a leading HTAB: "Transfer-Encoding:\tchunked" would
     * not be chunked to it. HTAB is refused around the value so both read the same value. */
    if (a < b && (l.p[a] == '\t' || l.p[b - 1] == '\t'))
        return BW_HTTP_BAD_FIELD_VALUE;
    for (size_t k = a; k < b; k++)
        if ((l.p[k] < 0x20 && l.p[k] != '\t') || l.p[k] == 0x7f)
            return BW_HTTP_BAD_FIELD_VALUE;
    return field_semantics(name, (struct slice){l.p + a, b - a}, max_body, f);
}

enum bw_http_reject bw_http_head_check(const uint8_t *head, size_t len, uint64_t max_body,
                                       struct bw_http_head_info *info) {
    size_t off = 0;
    struct slice l;
    int http10 = 0, is_head = 0;
    enum bw_http_reject r = next_line(head, len, &off, &l);
    if (r == BW_HTTP_OK)
        r = request_line(l, &http10, &is_head);
    struct fields f;
    memset(&f, 0, sizeof f);
    while (r == BW_HTTP_OK) {
        r = next_line(head, len, &off, &l);
        if (r != BW_HTTP_OK || l.n == 0)
            break;
        r = field_line(l, max_body, &f);
    }
    if (r != BW_HTTP_OK)
        return r;
    if (off != len)
        return BW_HTTP_BAD_LINE_END; /* bytes after the empty line: not one head */
    if (!http10 && !f.has_host)
        return BW_HTTP_BAD_HOST;
    if (f.chunked && f.has_length)
        return BW_HTTP_LENGTH_AND_CHUNKED;
    if (f.chunked && http10)
        return BW_HTTP_BAD_TRANSFER_ENCODING; /* RFC 9112 6.1: faulty framing in HTTP/1.0 */
    if (is_head && (f.chunked || f.length > 0))
        return BW_HTTP_BAD_CONTENT_LENGTH; /* evhttp never reads a HEAD request's content */
    info->chunked = f.chunked;
    info->content_length = f.length;
    info->head_method = is_head;
    return BW_HTTP_OK;
}

/* ---- chunked bodies ---- */

enum { CH_SIZE, CH_SIZE_LF, CH_DATA, CH_DATA_CR, CH_DATA_LF, CH_END_CR, CH_END_LF };

void bw_http_chunks_init(struct bw_http_chunks *c) {
    memset(c, 0, sizeof *c);
    c->state = CH_SIZE;
}

static int hex_value(uint8_t c) {
    if (is_digit(c))
        return c - '0';
    return (c | 0x20) - 'a' + 10;
}

/* One byte of framing (not data). Returns BW_HTTP_OK, or an error. */
static enum bw_http_reject chunk_byte(struct bw_http_chunks *c, uint8_t b) {
    switch (c->state) {
    case CH_SIZE:
        if (is_hex(b) && c->digits < 16) {
            c->size = (c->size << 4) | (uint64_t)hex_value(b);
            c->digits++;
        } else if (b == '\r' && c->digits > 0) {
            c->state = CH_SIZE_LF;
        } else {
            return BW_HTTP_BAD_CHUNK; /* no extension, no whitespace, no "0x", at most 16 */
        }
        return BW_HTTP_OK;
    case CH_SIZE_LF:
        if (b != '\n')
            return BW_HTTP_BAD_CHUNK;
        c->is_last = c->size == 0;
        c->state = c->is_last ? CH_END_CR : CH_DATA;
        return BW_HTTP_OK;
    case CH_DATA_CR:
        if (b != '\r')
            return BW_HTTP_BAD_CHUNK;
        c->state = CH_DATA_LF;
        return BW_HTTP_OK;
    case CH_DATA_LF:
        if (b != '\n')
            return BW_HTTP_BAD_CHUNK;
        c->state = CH_SIZE;
        c->digits = 0;
        c->size = 0;
        return BW_HTTP_OK;
    case CH_END_CR:
        if (b != '\r')
            return BW_HTTP_TRAILER;
        c->state = CH_END_LF;
        return BW_HTTP_OK;
    case CH_END_LF:
        return b == '\n' ? BW_HTTP_OK : BW_HTTP_TRAILER;
    default:
        return BW_HTTP_BAD_CHUNK;
    }
}

enum bw_http_reject bw_http_chunks_feed(struct bw_http_chunks *c, const uint8_t *p, size_t n,
                                        size_t *used, int *done) {
    size_t i = 0;
    *done = 0;
    while (i < n) {
        if (c->state == CH_DATA) {
            uint64_t take = n - i < c->size ? n - i : c->size;
            i += (size_t)take;
            c->size -= take;
            if (c->size == 0)
                c->state = CH_DATA_CR;
            continue;
        }
        int ending = c->state == CH_END_LF;
        enum bw_http_reject r = chunk_byte(c, p[i]);
        if (r != BW_HTTP_OK)
            return r;
        i++;
        if (ending) {
            *done = 1;
            break;
        }
    }
    *used = i;
    return BW_HTTP_OK;
}
