/* receipt.c: canonical receipt encoding (docs/EVIDENCE.md "Receipts").
 *
 * Canonical by construction rather than by sorting: every object is written with its members
 * in byte order of their keys (RFC 8785 3.2.3; all keys are ASCII so byte order equals UTF-16
 * code unit order), strings are restricted to printable ASCII so the only escapes RFC 8785
 * 3.2.2.2 can produce are \" and \\, and integers stay within +-(2^53-1) so every number is an
 * exact IEEE 754 double whose RFC 8785 3.2.2.3 serialisation is its plain decimal form. */
#include "ledger/receipt.h"

#include <string.h>

#include "util/codec.h"

/* I-JSON (RFC 7493 2.2) safe integer bound. */
#define SAFE_INT_MAX INT64_C(9007199254740991)

static const char *const kind_names[] = {"decision", "outcome", "review", "admin"};

void bw_receipt_init(struct bw_receipt *r, enum bw_receipt_kind kind) {
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->duration_ms = -1;
}

const char *bw_receipt_kind_name(enum bw_receipt_kind kind) {
    switch (kind) {
    case BW_RECEIPT_DECISION:
    case BW_RECEIPT_OUTCOME:
    case BW_RECEIPT_REVIEW:
    case BW_RECEIPT_ADMIN:
        return kind_names[kind];
    default:
        return NULL;
    }
}

int bw_receipt_str_ok(const char *s) {
    if (!s)
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7E)
            return 0;
    return 1;
}

/* Encoding cursor: `sep` says whether the next member needs a leading comma. */
struct enc {
    struct bw_buf *out;
    int sep;
};

static bw_err put(struct enc *e, const char *s, size_t n) {
    return bw_buf_append(e->out, s, n);
}

#define PUT_LIT(e, lit) put((e), (lit), sizeof(lit) - 1)

/* RFC 8785 3.2.2.2 for the printable-ASCII profile: only '"' and '\\' need escaping. */
static bw_err put_string(struct enc *e, const char *s, size_t n) {
    BW_TRY(PUT_LIT(e, "\""));
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '"' && s[i] != '\\')
            continue;
        BW_TRY(put(e, s + start, i - start));
        BW_TRY(PUT_LIT(e, "\\"));
        start = i;
    }
    BW_TRY(put(e, s + start, n - start));
    return PUT_LIT(e, "\"");
}

/* Writes `,"key":` (comma only after the first member of the current object). */
static bw_err put_key(struct enc *e, const char *key) {
    if (e->sep)
        BW_TRY(PUT_LIT(e, ","));
    e->sep = 1;
    BW_TRY(put_string(e, key, strlen(key)));
    return PUT_LIT(e, ":");
}

static bw_err open_obj(struct enc *e) {
    e->sep = 0;
    return PUT_LIT(e, "{");
}

static bw_err close_obj(struct enc *e) {
    e->sep = 1; /* the object itself was a member of its parent */
    return PUT_LIT(e, "}");
}

/* A fixed-size char field: must be NUL-terminated inside its array and in the profile. Empty
 * means absent (the member is omitted). */
static bw_err member_str(struct enc *e, const char *key, const char *field, size_t size) {
    size_t n = strnlen(field, size);
    BW_ENSURE(n < size && bw_receipt_str_ok(field), BW_E_INVALID);
    if (n == 0)
        return BW_OK;
    BW_TRY(put_key(e, key));
    return put_string(e, field, n);
}

#define MEMBER_STR(e, key, r, field) member_str((e), (key), (r)->field, sizeof((r)->field))

/* RFC 8785 3.2.2.3 for an integer: its shortest decimal form; the range check keeps it exact. */
static bw_err member_int(struct enc *e, const char *key, int64_t v) {
    BW_ENSURE(v >= -SAFE_INT_MAX && v <= SAFE_INT_MAX, BW_E_INVALID);
    char digits[24];
    size_t pos = sizeof digits;
    uint64_t u = v < 0 ? (uint64_t)(-v) : (uint64_t)v;
    do {
        digits[--pos] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        digits[--pos] = '-';
    BW_TRY(put_key(e, key));
    return put(e, digits + pos, sizeof digits - pos);
}

static bw_err member_hex(struct enc *e, const char *key, const uint8_t h[32]) {
    char hex[65];
    BW_TRY(bw_hex_encode(h, 32, hex, sizeof hex));
    BW_TRY(put_key(e, key));
    BW_TRY(PUT_LIT(e, "\""));
    BW_TRY(put(e, hex, 64));
    return PUT_LIT(e, "\"");
}

static bw_err encode_usage(struct enc *e, const struct bw_receipt *r) {
    BW_TRY(put_key(e, "usage"));
    BW_TRY(open_obj(e));
    BW_TRY(member_int(e, "completion_tokens", r->completion_tokens));
    if (r->has_cost)
        BW_TRY(member_int(e, "cost_micros", r->cost_micros));
    BW_TRY(member_int(e, "prompt_tokens", r->prompt_tokens));
    if (r->usage_estimated) {
        BW_TRY(put_key(e, "source"));
        BW_TRY(PUT_LIT(e, "\"estimated\""));
    }
    BW_TRY(member_int(e, "total_tokens", r->total_tokens));
    return close_obj(e);
}

static bw_err encode_log(struct enc *e, const char *origin, uint64_t index) {
    BW_ENSURE(index <= (uint64_t)SAFE_INT_MAX, BW_E_INVALID);
    BW_TRY(put_key(e, "log"));
    BW_TRY(open_obj(e));
    BW_TRY(member_int(e, "index", (int64_t)index));
    BW_TRY(put_key(e, "origin"));
    BW_TRY(put_string(e, origin, strlen(origin)));
    return close_obj(e);
}

/* The predicate members, written in byte order of their keys. Keep this list sorted: the golden
 * tests fail on any reordering. */
static bw_err encode_predicate(struct enc *e, const struct bw_receipt *r, const char *origin,
                               uint64_t index) {
    const char *kind = bw_receipt_kind_name(r->kind);
    BW_ENSURE(kind, BW_E_INVALID);
    BW_TRY(open_obj(e));
    BW_TRY(MEMBER_STR(e, "agent", r, agent));
    BW_TRY(MEMBER_STR(e, "decision", r, decision));
    if (r->duration_ms != -1)
        BW_TRY(member_int(e, "duration_ms", r->duration_ms));
    if (r->http_status != 0)
        BW_TRY(member_int(e, "http_status", r->http_status));
    BW_TRY(put_key(e, "kind"));
    BW_TRY(put_string(e, kind, strlen(kind)));
    BW_TRY(encode_log(e, origin, index));
    BW_TRY(MEMBER_STR(e, "model", r, model));
    BW_TRY(MEMBER_STR(e, "org_id", r, org_id));
    if (r->has_org_policy)
        BW_TRY(member_hex(e, "org_policy_sha256", r->org_policy_sha256));
    if (r->has_parent)
        BW_TRY(member_hex(e, "parent_leaf_hash", r->parent_leaf_hash));
    if (r->has_policy)
        BW_TRY(member_hex(e, "policy_sha256", r->policy_sha256));
    BW_TRY(MEMBER_STR(e, "principal", r, principal));
    BW_TRY(MEMBER_STR(e, "reason", r, reason));
    if (r->has_response)
        BW_TRY(member_hex(e, "response_sha256", r->response_sha256));
    BW_TRY(MEMBER_STR(e, "route", r, route));
    BW_TRY(MEMBER_STR(e, "rule", r, rule));
    BW_TRY(MEMBER_STR(e, "status", r, status));
    BW_TRY(member_int(e, "time_ms", r->time_ms));
    if (r->has_usage)
        BW_TRY(encode_usage(e, r));
    return close_obj(e);
}

bw_err bw_receipt_encode(const struct bw_receipt *r, const char *origin, uint64_t index,
                         struct bw_buf *out) {
    BW_ENSURE(r && out && bw_receipt_str_ok(origin) && origin[0], BW_E_INVALID);
    struct enc e = {out, 0};
    /* in-toto Statement v1: "_type" < "predicate" < "predicateType" < "subject". */
    BW_TRY(open_obj(&e));
    BW_TRY(put_key(&e, "_type"));
    BW_TRY(PUT_LIT(&e, "\"https://in-toto.io/Statement/v1\""));
    BW_TRY(put_key(&e, "predicate"));
    BW_TRY(encode_predicate(&e, r, origin, index));
    BW_TRY(put_key(&e, "predicateType"));
    BW_TRY(PUT_LIT(&e, "\"" BW_RECEIPT_PREDICATE_TYPE "\""));
    BW_TRY(put_key(&e, "subject"));
    BW_TRY(PUT_LIT(&e, "[{\"digest\":"));
    BW_TRY(open_obj(&e));
    BW_TRY(member_hex(&e, "sha256", r->request_sha256));
    BW_TRY(close_obj(&e));
    BW_TRY(PUT_LIT(&e, ",\"name\":\"request\"}]"));
    return close_obj(&e);
}
