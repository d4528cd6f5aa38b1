#include "proxy/sse.h"

#include <string.h>

void bw_sse_init(struct bw_sse *s, size_t max_event) {
    bw_buf_init(&s->pending, max_event);
    s->scanned = 0;
}

void bw_sse_cleanup(struct bw_sse *s) {
    bw_buf_cleanup(&s->pending);
}

size_t bw_sse_pending(const struct bw_sse *s) {
    return s->pending.len;
}

/* Finds the end of the first event (just past its blank line) in p[0..n), starting the search
 * at `from`. Lines may end in \n or \r\n. Returns 0 if none. */
static size_t event_end(const char *p, size_t n, size_t from) {
    size_t i = from >= 2 ? from - 2 : 0; /* a terminator may straddle the last feed */
    for (; i + 1 < n; i++) {
        if (p[i] != '\n')
            continue;
        if (p[i + 1] == '\n')
            return i + 2;
        if (p[i + 1] == '\r' && i + 2 < n && p[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

/* Collects the data-line payloads of one event into out (joined by \n, per the spec). */
static bw_err collect_data(const char *ev, size_t len, struct bw_buf *out) {
    size_t pos = 0;
    int first = 1;
    while (pos < len) {
        const char *nl = memchr(ev + pos, '\n', len - pos);
        size_t line_end = nl ? (size_t)(nl - ev) : len;
        size_t l = line_end - pos;
        const char *line = ev + pos;
        if (l > 0 && line[l - 1] == '\r')
            l--;
        if (l >= 5 && memcmp(line, "data:", 5) == 0) {
            size_t skip = (l > 5 && line[5] == ' ') ? 6 : 5;
            if (!first)
                BW_TRY(bw_buf_append(out, "\n", 1));
            BW_TRY(bw_buf_append(out, line + skip, l - skip));
            first = 0;
        }
        pos = line_end + 1;
    }
    return BW_OK;
}

bw_err bw_sse_feed(struct bw_sse *s, const char *p, size_t n, bw_sse_event_fn fn, void *arg) {
    BW_TRY(bw_buf_append(&s->pending, p, n));
    size_t start = 0;
    bw_err result = BW_OK;
    struct bw_buf data;
    bw_buf_init(&data, s->pending.max);
    for (;;) {
        const char *base = (const char *)s->pending.ptr + start;
        size_t avail = s->pending.len - start;
        size_t from = s->scanned > start ? s->scanned - start : 0;
        size_t end = event_end(base, avail, from);
        if (end == 0) {
            s->scanned = s->pending.len;
            break;
        }
        bw_buf_reset(&data);
        BW_GOTO(collect_data(base, end, &data));
        BW_GOTO(fn(arg, base, end, data.ptr ? (const char *)data.ptr : "", data.len));
        start += end;
        s->scanned = start;
    }
out:
    bw_buf_cleanup(&data);
    bw_buf_consume(&s->pending, start);
    s->scanned = s->scanned >= start ? s->scanned - start : 0;
    return result;
}
