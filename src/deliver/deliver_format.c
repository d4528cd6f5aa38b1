/* deliver_format.c: request bodies per connection kind (deliver.h). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deliver/deliver.h"

const char *bw_deliver_kind_name(enum bw_deliver_kind kind) {
    switch (kind) {
    case BW_DELIVER_WEBHOOK:
        return "webhook";
    case BW_DELIVER_SLACK:
        return "slack";
    case BW_DELIVER_DISCORD:
        return "discord";
    default:
        return "unknown";
    }
}

static int type_ok(const char *t) {
    size_t n = t ? strnlen(t, BW_DELIVER_TYPE_MAX + 1) : 0;
    if (n == 0 || n > BW_DELIVER_TYPE_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* RFC 3339 UTC with milliseconds, as the Standard Webhooks payload example uses. */
static bw_err iso_time(int64_t ms, char out[32]) {
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    BW_ENSURE(gmtime_r(&s, &tm), BW_E_INVALID);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    BW_ENSURE(n > 0 && n + 6 <= 32, BW_E_INVALID); /* years past 9999 do not fit: refused */
    snprintf(out + n, 32 - n, ".%03dZ", (int)(ms % 1000));
    return BW_OK;
}

/* Slack mrkdwn: &, < and > are control characters ("Formatting text for app surfaces",
 * "Escaping text"); everything else is sent as is. */
static bw_err slack_escape(const char *text, size_t len, struct bw_buf *out) {
    for (size_t i = 0; i < len; i++) {
        const char *rep = text[i] == '&'   ? "&amp;"
                          : text[i] == '<' ? "&lt;"
                          : text[i] == '>' ? "&gt;"
                                           : NULL;
        BW_TRY(rep ? bw_buf_append_str(out, rep) : bw_buf_append(out, text + i, 1));
    }
    return BW_OK;
}

/* Byte length of the first `max` code points of valid UTF-8 text (continuation bytes are
 * 10xxxxxx), and whether the text has more. */
static size_t utf8_prefix(const char *text, size_t len, size_t max, int *cut) {
    size_t cps = 0;
    for (size_t i = 0; i < len; i++) {
        if (((unsigned char)text[i] & 0xC0) != 0x80) {
            if (cps == max) {
                *cut = 1;
                return i;
            }
            cps++;
        }
    }
    *cut = 0;
    return len;
}

static bw_err dump_into(json_t *obj, struct bw_buf *out) {
    BW_ENSURE(obj, BW_E_NOMEM);
    char *s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(obj);
    BW_ENSURE(s, BW_E_NOMEM);
    bw_err e = bw_buf_append(out, s, strlen(s));
    free(s);
    return e;
}

static bw_err format_webhook(const struct bw_deliver_event *ev, struct bw_buf *out) {
    BW_ENSURE(!ev->data || json_is_object(ev->data), BW_E_INVALID);
    char ts[32];
    BW_TRY(iso_time(ev->timestamp_ms, ts));
    json_t *data = ev->data ? json_deep_copy(ev->data) : json_object();
    BW_ENSURE(data, BW_E_NOMEM);
    return dump_into(json_pack("{s:s, s:s, s:o}", "type", ev->type, "timestamp", ts, "data", data),
                     out);
}

static bw_err format_text(enum bw_deliver_kind kind, const char *text, struct bw_buf *out) {
    size_t len = strnlen(text, BW_DELIVER_TEXT_MAX + 1);
    BW_ENSURE(len <= BW_DELIVER_TEXT_MAX, BW_E_TOO_LARGE);
    json_t *check = json_stringn(text, len); /* jansson refuses invalid UTF-8 */
    BW_ENSURE(check, BW_E_INVALID);
    json_decref(check);
    bw_err result = BW_OK;
    struct bw_buf tmp;
    bw_buf_init(&tmp, 5 * BW_DELIVER_TEXT_MAX + 8); /* worst case: every byte becomes "&amp;" */
    if (kind == BW_DELIVER_SLACK) {
        BW_GOTO(slack_escape(text, len, &tmp));
        json_t *s = json_stringn(tmp.ptr ? (const char *)tmp.ptr : "", tmp.len);
        BW_GOTO_IF(!s, BW_E_NOMEM);
        BW_GOTO(dump_into(json_pack("{s:o}", "text", s), out));
    } else {
        int cut = 0;
        size_t keep = utf8_prefix(text, len, BW_DELIVER_DISCORD_CONTENT_MAX, &cut);
        if (cut) /* room for the ellipsis: 1999 characters and "…" */
            keep = utf8_prefix(text, len, BW_DELIVER_DISCORD_CONTENT_MAX - 1, &cut);
        BW_GOTO(bw_buf_append(&tmp, text, keep));
        if (cut)
            BW_GOTO(bw_buf_append_str(&tmp, "\xe2\x80\xa6"));
        json_t *s = json_stringn(tmp.ptr ? (const char *)tmp.ptr : "", tmp.len);
        BW_GOTO_IF(!s, BW_E_NOMEM);
        /* Discord "Allowed Mentions Object": an empty parse list suppresses @everyone, @here,
         * user and role pings that event text (written by agents) might contain. */
        BW_GOTO(dump_into(json_pack("{s:o, s:{s:[]}}", "content", s, "allowed_mentions", "parse"),
                          out));
    }
out:
    bw_buf_cleanup(&tmp);
    return result;
}

bw_err bw_deliver_format(enum bw_deliver_kind kind, const struct bw_deliver_event *ev,
                         struct bw_buf *out) {
    BW_ENSURE(ev && out && type_ok(ev->type) && ev->timestamp_ms >= 0, BW_E_INVALID);
    switch (kind) {
    case BW_DELIVER_WEBHOOK:
        return format_webhook(ev, out);
    case BW_DELIVER_SLACK:
    case BW_DELIVER_DISCORD:
        BW_ENSURE(ev->text && ev->text[0], BW_E_INVALID);
        return format_text(kind, ev->text, out);
    default:
        return BW_E_INVALID;
    }
}
