/* audit_format.c: the audit export's query values, cursor and lines (audit.h; docs/EVIDENCE.md
 * "Audit export").
 *
 * A line is built from the receipt's exact bytes as the log holds them: the bytes themselves
 * ("receipt"), their leaf hash, and a few predicate members copied by name from a fixed list.
 * Receipts never hold a secret, a key, a prompt or a sealed value (EVIDENCE.md section 1), and
 * copying by an allow-list keeps it so if a member is ever added there. */
#include "api/audit.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/codec.h"

/* n decimal digits at s into *out (n <= 18, so no overflow). */
static int digits(const char *s, size_t n, int64_t *out) {
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H. Hinnant's
 * days_from_civil), so no TZ or locale state is involved. */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
    y -= m <= 2;
    int64_t era = y / 400; /* y >= 1969 here: no negative division */
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int64_t y, int64_t m) {
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return days[m - 1] + (m == 2 && leap);
}

/* "YYYY-MM-DDTHH:MM:SS" at s (19 bytes) into unix seconds. */
static int parse_datetime(const char *s, int64_t *secs) {
    int64_t y, mo, d, h, mi, se;
    if (s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' ||
        !digits(s, 4, &y) || !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d) ||
        !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi) || !digits(s + 17, 2, &se))
        return 0;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
        se > 59)
        return 0;
    *secs = ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60 + se;
    return 1;
}

bw_err bw_audit_parse_time(const char *s, int64_t *out) {
    size_t n = strlen(s);
    int64_t v = 0;
    if (n >= 1 && n <= 16 && digits(s, n, &v)) {
        BW_ENSURE(v <= BW_AUDIT_MAX_TIME_MS, BW_E_INVALID);
        *out = v;
        return BW_OK;
    }
    int64_t secs = 0, ms = 0;
    BW_ENSURE(n >= 20 && parse_datetime(s, &secs), BW_E_INVALID);
    size_t i = 19;
    if (s[i] == '.') {
        size_t f = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        BW_ENSURE(i - f >= 1 && i - f <= 9, BW_E_INVALID);
        for (size_t k = 0; k < 3; k++)
            ms = ms * 10 + (f + k < i ? s[f + k] - '0' : 0);
    }
    int64_t offset = 0;
    if (s[i] == 'Z') {
        i++;
    } else {
        int64_t oh, om;
        BW_ENSURE(n - i == 6 && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':' &&
                      digits(s + i + 1, 2, &oh) && digits(s + i + 4, 2, &om) && oh <= 23 &&
                      om <= 59,
                  BW_E_INVALID);
        offset = (oh * 60 + om) * 60 * (s[i] == '+' ? 1 : -1);
        i += 6;
    }
    BW_ENSURE(i == n, BW_E_INVALID);
    int64_t t = (secs - offset) * 1000 + ms; /* local time minus its offset is UTC */
    BW_ENSURE(t >= 0 && t <= BW_AUDIT_MAX_TIME_MS, BW_E_INVALID);
    *out = t;
    return BW_OK;
}

bw_err bw_audit_format_time(int64_t ms, char out[32]) {
    BW_ENSURE(ms >= 0 && ms <= INT64_C(253402300799999), BW_E_INVALID);
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    BW_ENSURE(gmtime_r(&s, &tm), BW_E_INVALID);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    BW_ENSURE(n == 19, BW_E_INVALID);
    snprintf(out + n, 32 - n, ".%03dZ", (int)(ms % 1000));
    return BW_OK;
}

void bw_audit_cursor_encode(const char key_hex[9], uint64_t next, char out[BW_AUDIT_CURSOR_SIZE]) {
    snprintf(out, BW_AUDIT_CURSOR_SIZE, "c1.%.8s.%llu", key_hex, (unsigned long long)next);
}

bw_err bw_audit_cursor_parse(const char *s, const char key_hex[9], uint64_t *next) {
    size_t n = strlen(s);
    BW_ENSURE(n > 12 && n < BW_AUDIT_CURSOR_SIZE && memcmp(s, "c1.", 3) == 0 && s[11] == '.',
              BW_E_INVALID);
    BW_ENSURE(memcmp(s + 3, key_hex, 8) == 0, BW_E_INVALID);
    const char *d = s + 12;
    size_t dn = n - 12;
    /* shortest decimal only: one cursor per position */
    BW_ENSURE(dn <= 16 && (dn == 1 || d[0] != '0'), BW_E_INVALID);
    int64_t v = 0;
    BW_ENSURE(digits(d, dn, &v), BW_E_INVALID);
    *next = (uint64_t)v;
    return BW_OK;
}

/* 1 if the receipt is selected by f: kind, scope and time. */
static int selected(const json_t *pred, const struct bw_audit_filter *f) {
    const char *kind = json_string_value(json_object_get(pred, "kind"));
    if (!kind || (strcmp(kind, "admin") != 0 && strcmp(kind, "review") != 0))
        return 0;
    const char *org = json_string_value(json_object_get(pred, "org_id"));
    if (f->org_id[0] && (!org || strcmp(org, f->org_id) != 0))
        return 0;
    json_int_t t = json_integer_value(json_object_get(pred, "time_ms"));
    return t >= f->from_ms && t < f->to_ms;
}

/* Predicate members copied onto the line, by name: (receipt name, line name). Only these:
 * identifiers, codes, hashes and times, never free text from a request. */
static const char *const copied[][2] = {
    {"kind", "kind"},
    {"route", "route"},
    {"principal", "actor"},
    {"decision", "decision"},
    {"reason", "reason_code"},
    {"rule", "target"},
    {"status", "status"},
    {"org_id", "org_id"},
    {"agent", "agent"},
    {"model", "model"},
    {"policy_sha256", "policy_sha256"},
    {"org_policy_sha256", "org_policy_sha256"},
    {"parent_leaf_hash", "parent_leaf_hash"},
};

static json_t *line_of(const json_t *doc, const json_t *pred, const uint8_t *bytes, size_t len,
                       uint64_t index, const uint8_t leaf[32],
                       const struct bw_audit_proof_ref *ref) {
    char id[48], when[32], leaf_hex[65];
    json_int_t t = json_integer_value(json_object_get(pred, "time_ms"));
    snprintf(id, sizeof id, "%.8s.%llu", ref->key_hex, (unsigned long long)index);
    if (bw_audit_format_time(t, when) != BW_OK || bw_hex_encode(leaf, 32, leaf_hex, 65) != BW_OK)
        return NULL;
    json_t *o = json_pack("{s:s, s:I, s:s, s:I}", "receipt_id", id, "seq", (json_int_t)index,
                          "time", when, "time_ms", t);
    for (size_t i = 0; o && i < sizeof copied / sizeof copied[0]; i++) {
        json_t *v = json_object_get(pred, copied[i][0]);
        if (v && json_object_set(o, copied[i][1], v) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    /* the request (or plan) the receipt is about, by hash: subject[0].digest.sha256 */
    json_t *digest = json_object_get(
        json_object_get(json_array_get(json_object_get(doc, "subject"), 0), "digest"), "sha256");
    if (o && ((digest && json_object_set(o, "request_sha256", digest) != 0) ||
              json_object_set_new(o, "leaf_hash", json_string(leaf_hex)) != 0 ||
              json_object_set_new(o, "receipt", json_stringn((const char *)bytes, len)) != 0)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int bw_audit_select(const uint8_t *bytes, size_t len, uint64_t index, const uint8_t leaf[32],
                    const struct bw_audit_filter *f, const struct bw_audit_proof_ref *ref,
                    void **line) {
    /* A cheap necessary condition before the parse: canonical receipts spell their kind exactly
     * so, and a '"' inside a string value is always escaped, so ":"admin" cannot occur in one.
     * The parse below still decides. */
    if (!memmem(bytes, len, "\"kind\":\"admin\"", 14) &&
        !memmem(bytes, len, "\"kind\":\"review\"", 15))
        return 0;
    json_t *doc = json_loadb((const char *)bytes, len, JSON_REJECT_DUPLICATES, NULL);
    json_t *pred = json_object_get(doc, "predicate");
    if (!json_is_object(pred) || !json_is_integer(json_object_get(pred, "time_ms"))) {
        json_decref(doc);
        return -1;
    }
    int r = selected(pred, f);
    if (r == 1) {
        json_t *o = line_of(doc, pred, bytes, len, index, leaf, ref);
        r = o ? 1 : -1;
        *line = o;
    }
    json_decref(doc);
    return r;
}

bw_err bw_audit_line_finish(void *line, uint64_t index, const struct bw_audit_proof_ref *ref,
                            const uint8_t (*path)[32], size_t n, struct bw_buf *out) {
    json_t *o = line;
    bw_err result = BW_E_NOMEM;
    char cursor[BW_AUDIT_CURSOR_SIZE], b64[48];
    char *text = NULL;
    json_t *hashes = json_array();
    for (size_t i = 0; hashes && i < n; i++) {
        BW_GOTO_IF(bw_b64_encode(path[i], 32, b64, sizeof b64) != BW_OK, BW_E_INVALID);
        BW_GOTO_IF(json_array_append_new(hashes, json_string(b64)) != 0, BW_E_NOMEM);
    }
    json_t *proof =
        hashes ? json_pack("{s:I, s:I, s:s, s:O}", "log_index", (json_int_t)index, "tree_size",
                           (json_int_t)ref->tree_size, "root_hash", ref->root_b64, "hashes", hashes)
               : NULL;
    BW_GOTO_IF(!proof || json_object_set_new(o, "proof", proof) != 0, BW_E_NOMEM);
    bw_audit_cursor_encode(ref->key_hex, index + 1, cursor);
    BW_GOTO_IF(json_object_set_new(o, "cursor", json_string(cursor)) != 0, BW_E_NOMEM);
    text = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    BW_GOTO_IF(!text, BW_E_NOMEM);
    BW_GOTO(bw_buf_append_str(out, text));
    BW_GOTO(bw_buf_append(out, "\n", 1));
    result = BW_OK;
out:
    free(text);
    json_decref(hashes);
    json_decref(o);
    return result;
}
