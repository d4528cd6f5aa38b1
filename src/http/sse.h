/* sse.h: splits a text/event-stream byte stream into whole events (WHATWG HTML, "server-sent
 * events": lines end at CRLF, LF or CR; events end at a blank line; "data" lines carry the
 * payload; comment lines (":"), "event", "id", "retry" and unknown fields are allowed and
 * ignored). Only framing: the payloads are JSON parsed by the caller with jansson. Bounded: one
 * event may not exceed max_event bytes. Not thread-safe. */
#ifndef BW_HTTP_SSE_H
#define BW_HTTP_SSE_H

#include <stddef.h>

#include "util/buf.h"
#include "util/err.h"

struct bw_sse {
    struct bw_buf pending; /* bytes of the event being assembled */
    size_t scanned;        /* start of the first unfinished line of the pending event */
    int bom_checked;       /* the stream's first bytes were checked for a UTF-8 BOM */
};

/* Called per complete event: raw is the exact event bytes including its terminating blank
 * line; data is the concatenated data-line payload (NUL-terminated, may be empty), or NULL
 * when the event had no data line (a keep-alive comment, say: the spec dispatches nothing for
 * it). Return BW_OK to continue; any error stops feeding and is returned by bw_sse_feed. */
typedef bw_err (*bw_sse_event_fn)(void *arg, const char *raw, size_t raw_len, const char *data,
                                  size_t data_len);

void bw_sse_init(struct bw_sse *s, size_t max_event);
void bw_sse_cleanup(struct bw_sse *s);

/* Feeds bytes; calls fn for each event completed. BW_E_TOO_LARGE if an event exceeds the
 * bound. */
bw_err bw_sse_feed(struct bw_sse *s, const char *p, size_t n, bw_sse_event_fn fn,
                   void *arg) BW_MUST_CHECK;

/* The stream's end: a CR that was the last byte received is taken as the line end it is (it
 * could not be, while a LF could still follow), which may complete an event. Then
 * bw_sse_pending says whether an unfinished event is left (per the spec it is discarded).
 * Errors: as bw_sse_feed. */
bw_err bw_sse_end(struct bw_sse *s, bw_sse_event_fn fn, void *arg) BW_MUST_CHECK;

/* Bytes of an unfinished event still held (0 at a clean end of stream). */
size_t bw_sse_pending(const struct bw_sse *s);

#endif
