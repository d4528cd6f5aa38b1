/* sse.c: server-sent events framing, per the WHATWG HTML "Server-sent events" parsing rules
 * (html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation):
 *   - one U+FEFF BOM at the start of the stream is skipped;
 *   - a line ends at CRLF, LF or CR;
 *   - a blank line dispatches the event;
 *   - a line starting with ':' is a comment; "field:value" (one space after the colon is
 *     dropped) or a bare "field" (empty value); only "data" matters here: each data line's
 *     value is appended, joined by LF; "event", "id", "retry" and unknown fields are ignored.
 * A CR that is the last byte received is not taken as a line end yet: the next byte may be its
 * LF, and reading CR then LF as two line ends would dispatch an event too early. */
#include "http/sse.h"

#include <string.h>

void bw_sse_init(struct bw_sse *s, size_t max_event) {
    bw_buf_init(&s->pending, max_event);
    s->scanned = 0;
    s->bom_checked = 0;
}

void bw_sse_cleanup(struct bw_sse *s) {
    bw_buf_cleanup(&s->pending);
}

size_t bw_sse_pending(const struct bw_sse *s) {
    return s->pending.len;
}

/* The line terminator at p[i] ('\r' or '\n'): its length, or 0 if p[i] is a CR that ends the
 * bytes received so far (its LF may still come). */
static size_t terminator(const char *p, size_t n, size_t i) {
    if (p[i] == '\n')
        return 1;
    if (i + 1 >= n)
        return 0;
    return p[i + 1] == '\n' ? 2 : 1;
}

/* Finds the end of the first event (just past its blank line) in p[0..n), resuming at the
 * start of the line that was unfinished at the last call (*line). Returns 0 if none yet. */
static size_t event_end(const char *p, size_t n, size_t *line) {
    size_t i = *line;
    while (i < n) {
        if (p[i] != '\n' && p[i] != '\r') {
            i++;
            continue;
        }
        size_t t = terminator(p, n, i);
        if (t == 0)
            return 0; /* a trailing CR: wait for the next byte */
        if (i == *line)
            return i + t; /* a blank line */
        i += t;
        *line = i;
    }
    return 0;
}

/* Collects the data-line values of one event into out (joined by \n, per the spec). Returns
 * 1 if the event had a data field at all. */
static int collect_data(const char *ev, size_t len, struct bw_buf *out, bw_err *err) {
    size_t pos = 0;
    int any = 0;
    *err = BW_OK;
    while (pos < len) {
        size_t end = pos;
        while (end < len && ev[end] != '\n' && ev[end] != '\r')
            end++;
        const char *line = ev + pos;
        size_t l = end - pos;
        size_t name = 0;
        while (name < l && line[name] != ':')
            name++;
        if (name == 4 && memcmp(line, "data", 4) == 0) {
            size_t skip = name < l ? name + 1 : l;
            if (skip < l && line[skip] == ' ')
                skip++;
            if (any && (*err = bw_buf_append(out, "\n", 1)) != BW_OK)
                return any;
            if ((*err = bw_buf_append(out, line + skip, l - skip)) != BW_OK)
                return any;
            any = 1;
        }
        pos = end < len ? end + (ev[end] == '\r' && end + 1 < len && ev[end + 1] == '\n' ? 2 : 1)
                        : len;
    }
    return any;
}

/* 1 while the stream's first bytes may still be (or are being skipped as) a BOM: read as a
 * line, "\xEF\xBB\xBFdata: ..." has no data field, and its event would be lost. */
static int skip_bom(struct bw_sse *s) {
    static const char bom[3] = {'\xEF', '\xBB', '\xBF'};
    if (s->bom_checked)
        return 0;
    size_t have = s->pending.len < 3 ? s->pending.len : 3;
    if (have && memcmp(s->pending.ptr, bom, have) != 0) {
        s->bom_checked = 1;
        return 0;
    }
    if (have < 3)
        return 1; /* a prefix of it so far (or nothing): wait for more */
    bw_buf_consume(&s->pending, 3);
    s->bom_checked = 1;
    return 0;
}

bw_err bw_sse_feed(struct bw_sse *s, const char *p, size_t n, bw_sse_event_fn fn, void *arg) {
    BW_TRY(bw_buf_append(&s->pending, p, n));
    if (skip_bom(s))
        return BW_OK;
    size_t start = 0;
    bw_err result = BW_OK;
    struct bw_buf data;
    bw_buf_init(&data, s->pending.max);
    for (;;) {
        const char *base = (const char *)s->pending.ptr + start;
        size_t avail = s->pending.len - start;
        size_t line = s->scanned;
        size_t end = event_end(base, avail, &line);
        s->scanned = line;
        if (end == 0)
            break;
        bw_buf_reset(&data);
        bw_err e;
        int has_data = collect_data(base, end, &data, &e);
        BW_GOTO(e);
        /* an event without data (comments, id or event lines only) dispatches nothing */
        BW_GOTO(fn(arg, base, end, has_data ? (data.ptr ? (const char *)data.ptr : "") : NULL,
                   data.len));
        start += end;
        s->scanned = 0;
    }
out:
    bw_buf_cleanup(&data);
    bw_buf_consume(&s->pending, start);
    return result;
}

bw_err bw_sse_end(struct bw_sse *s, bw_sse_event_fn fn, void *arg) {
    if (s->pending.len == 0 || s->pending.ptr[s->pending.len - 1] != '\r')
        return BW_OK;
    /* the last CR is a line end: completing it as CRLF reads the same lines */
    return bw_sse_feed(s, "\n", 1, fn, arg);
}
