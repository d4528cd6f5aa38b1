/* framing.h: the strict reading of HTTP/1.1 message framing (RFC 9110, RFC 9112) that every
 * request passes before evhttp parses it (server_guard.c runs it on the raw bytes).
 *
 * evhttp (libevent 2.1) is lenient: it accepts bare LF line endings, obs-fold (joining the
 * folded line to the previous value), "Name : value" (the name keeps the space, so a
 * "Transfer-Encoding : chunked" is not framing to it), NUL in a line (the value is cut there),
 * repeated Content-Length / Host / Authorization (the first wins), chunk sizes such as "0x5",
 * "5 junk" or empty lines between chunks, and trailer fields that it adds to the request's
 * headers. A front proxy that reads any of these differently frames the stream differently:
 * request smuggling. So a request head is accepted only in one unambiguous form, and anything
 * else is refused before evhttp sees a byte of it:
 *
 *   request-line = method SP origin-form SP ("HTTP/1.1" / "HTTP/1.0") CRLF
 *   field-line   = token ":" *SP field-value *SP CRLF   (no space before the colon, no obs-fold,
 *                  no HTAB around the value, no CTL or DEL in it; obs-text is allowed)
 *   Host: exactly one in HTTP/1.1 (RFC 9112 3.2), a valid uri-host [":" port];
 *   Content-Length: at most one, 1*DIGIT (no list, no sign); Transfer-Encoding: at most one,
 *   exactly "chunked" (any case), never with Content-Length, never in HTTP/1.0;
 *   a field Bulwark or evhttp reads as a single value (bw_http_single_fields) at most once;
 *   the whole head (request line + fields + the empty line) at most max_head bytes.
 * A chunked body is read as RFC 9112 7.1 without extensions or trailers:
 *   chunk = 1*16HEXDIG CRLF data CRLF; last-chunk = 1*16"0" CRLF CRLF.
 *
 * Pure functions over caller-supplied bytes: thread-safe, no allocation. */
#ifndef BW_HTTP_FRAMING_H
#define BW_HTTP_FRAMING_H

#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

/* Why a request was refused. 0 = accepted. The status and message are fixed (bw_http_reject_*). */
enum bw_http_reject {
    BW_HTTP_OK = 0,
    BW_HTTP_BAD_LINE_END,          /* a bare LF or a bare CR */
    BW_HTTP_BAD_REQUEST_LINE,      /* not method SP target SP version */
    BW_HTTP_BAD_METHOD,            /* not one of the methods the gateway serves (405) */
    BW_HTTP_BAD_TARGET,            /* not origin-form, or a character outside RFC 3986 */
    BW_HTTP_BAD_VERSION,           /* not HTTP/1.1 or HTTP/1.0 (505) */
    BW_HTTP_BAD_FIELD_NAME,        /* empty, or a character that is not a tchar */
    BW_HTTP_SPACE_BEFORE_COLON,    /* "Name : value" */
    BW_HTTP_OBS_FOLD,              /* a line that starts with SP or HTAB */
    BW_HTTP_BAD_FIELD_VALUE,       /* NUL, another CTL, DEL, or HTAB around the value */
    BW_HTTP_DUPLICATE_FIELD,       /* a single-valued field more than once */
    BW_HTTP_BAD_CONTENT_LENGTH,    /* not 1*DIGIT, or too many digits */
    BW_HTTP_BAD_TRANSFER_ENCODING, /* not exactly "chunked", or in HTTP/1.0 */
    BW_HTTP_LENGTH_AND_CHUNKED,    /* Content-Length and Transfer-Encoding together */
    BW_HTTP_BAD_HOST,              /* missing in HTTP/1.1, or not uri-host [":" port] */
    BW_HTTP_HEAD_TOO_LARGE,        /* over max_head bytes (431) */
    BW_HTTP_BODY_TOO_LARGE,        /* Content-Length over the body limit (413) */
    BW_HTTP_BAD_CHUNK,             /* chunk framing outside the form above */
    BW_HTTP_TRAILER,               /* a trailer section that is not empty */
    BW_HTTP_BAD_CONNECTION,        /* "close" in a Connection list with other options */
    BW_HTTP_REJECT_COUNT_,
};

/* The HTTP status for a refusal (400, 405, 413, 431 or 505). */
int bw_http_reject_status(enum bw_http_reject r) BW_MUST_CHECK;
/* The reason code (docs/REASON_CODES.md) and a fixed message for a refusal; never request text. */
const char *bw_http_reject_code(enum bw_http_reject r);
const char *bw_http_reject_message(enum bw_http_reject r);

/* What a valid head says about the body that follows. */
struct bw_http_head_info {
    int chunked;             /* Transfer-Encoding: chunked */
    uint64_t content_length; /* 0 when absent */
    int head_method;         /* HEAD: evhttp reads no body whatever the fields say */
};

/* Checks one complete request head: head[0..len) runs from the first byte of the request line
 * through the CRLF CRLF that ends the field section (inclusive). max_body bounds Content-Length.
 * Writes *info only when the head is accepted. */
enum bw_http_reject bw_http_head_check(const uint8_t *head, size_t len, uint64_t max_body,
                                       struct bw_http_head_info *info) BW_MUST_CHECK;

/* The fields read as one value, by Bulwark (routes, auth, CORS, webhooks) or by evhttp
 * (framing, connection handling): a repeat of any of them is refused. NULL-terminated. */
extern const char *const bw_http_single_fields[];

/* A chunked body, fed as it arrives. */
struct bw_http_chunks {
    uint64_t size;   /* the current chunk's size, then the data left to pass */
    uint8_t state;   /* internal */
    uint8_t digits;  /* hex digits read in the current size line */
    uint8_t is_last; /* the size line read was a last-chunk */
};

void bw_http_chunks_init(struct bw_http_chunks *c);

/* Reads p[0..n). Returns BW_HTTP_OK with *used = n when more is needed, or BW_HTTP_OK with
 * *done = 1 and *used = the bytes up to and including the body's final CRLF (what follows is
 * the next request), or BW_HTTP_BAD_CHUNK / BW_HTTP_TRAILER. After an error or the end, the
 * state must be re-initialised before reuse. */
enum bw_http_reject bw_http_chunks_feed(struct bw_http_chunks *c, const uint8_t *p, size_t n,
                                        size_t *used, int *done) BW_MUST_CHECK;

#endif
