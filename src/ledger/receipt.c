/* receipt.c: canonical receipt encoding (docs/EVIDENCE.md "Receipts").
 *
 * Canonical by construction rather than by sorting: every object is written with its members
 * in byte order of their keys (RFC 8785 3.2.3; all keys are ASCII so byte order equals UTF-16
 * code unit order), strings are restricted to printable ASCII so the only escapes RFC 8785
 * 3.2.2.2 can produce are \" and \\, and integers stay within +-(2^53-1) so every number is an
 * exact IEEE 754 double whose RFC 8785 3.2.2.3 serialisation is its plain decimal form. */
#include "ledger/receipt.h"

#include <string.h>

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

/* Copies s if it is 1..size-1 bytes of [A-Za-z0-9_.:-] (OpenAI's function-name alphabet plus
 * '.' and ':'): nothing to escape, so the listed calls' size is known in advance (test_cap). */
static void copy_plain(char *out, size_t size, const char *s) {
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n >= size)
        return;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == ':' || c == '-'))
            return;
    }
    memcpy(out, s, n + 1);
}

void bw_receipt_add_tool_call(struct bw_receipt_tool_calls *tc, const char *name,
                              const char *decision, const char *reason,
                              const uint8_t *args_sha256) {
    tc->total++;
    if (tc->n >= BW_RECEIPT_MAX_TOOL_CALLS)
        return;
    struct bw_receipt_tool_call *t = &tc->list[tc->n++];
    memset(t, 0, sizeof *t);
    /* A name outside the plain charset is left out rather than cleaned: a cleaned name could
     * equal another tool's. The argument hash still binds the call. */
    copy_plain(t->name, sizeof t->name, name);
    copy_plain(t->decision, sizeof t->decision, decision);
    copy_plain(t->reason, sizeof t->reason, reason);
    if (args_sha256) {
        t->has_args = 1;
        memcpy(t->args_sha256, args_sha256, 32);
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

/* The encoder runs on the ledger thread for every receipt (two per gateway call), so it writes
 * through a local cursor into room reserved once, rather than appending token by token: one
 * bounds check per member, keys as literals, one pass over each string. Checks and writes keep
 * the order of a token-by-token writer, so the same receipt and cap give the same error
 * (tests/unit/ledger/test_receipt.c keeps that writer as a reference and compares the two). */

/* Writable room [p, end) reserved at the tail of the output. `sep`: the next member needs a
 * leading comma (0 right after an object opens). */
struct enc {
    uint8_t *p;
    uint8_t *end;
    int sep;
};

static inline int room(const struct enc *e, size_t n) {
    return n <= (size_t)(e->end - e->p);
}

/* The only unchecked copy: every caller has checked room() for at least n first. */
static inline void emit(struct enc *e, const void *s, size_t n) {
    memcpy(e->p, s, n);
    e->p += n;
}

static bw_err put(struct enc *e, const void *s, size_t n) {
    BW_ENSURE(room(e, n), BW_E_TOO_LARGE);
    emit(e, s, n);
    return BW_OK;
}

#define PUT_LIT(e, lit) put((e), (lit), sizeof(lit) - 1)

/* A compile-time literal and its length. */
struct lit {
    const char *s;
    size_t len;
};

/* A member key with its comma, quotes and colon: KEY("agent") is `,"agent":`. An object's
 * first member is written without the comma. */
#define KEY(name) ((struct lit){",\"" name "\":", sizeof(",\"" name "\":") - 1})

static inline size_t key_len(const struct enc *e, struct lit k) {
    return k.len - !e->sep;
}

static inline void emit_key(struct enc *e, struct lit k) {
    size_t skip = !e->sep;
    emit(e, k.s + skip, k.len - skip);
    e->sep = 1;
}

static bw_err put_key(struct enc *e, struct lit k) {
    BW_ENSURE(room(e, key_len(e, k)), BW_E_TOO_LARGE);
    emit_key(e, k);
    return BW_OK;
}

static bw_err open_obj(struct enc *e) {
    e->sep = 0;
    return PUT_LIT(e, "{");
}

static bw_err close_obj(struct enc *e) {
    e->sep = 1; /* the object itself was a member of its parent */
    return PUT_LIT(e, "}");
}

/* A profile string, checked and measured: len bytes before the NUL, esc of them '"' or '\\'. */
struct str {
    const char *s;
    size_t len;
    size_t esc;
};

/* The one pass over a string: NUL-terminated within size bytes (SIZE_MAX: a C string of any
 * length), every byte printable ASCII (the receipt profile, as bw_receipt_str_ok), and how many
 * bytes need escaping. Nothing is written before the whole string has passed, so a bad string
 * is BW_E_INVALID however little room is left, as with the reference writer. */
static bw_err scan_str(const char *s, size_t size, struct str *out) {
    size_t n = 0, esc = 0;
    for (; n < size; n++) {
        unsigned char c = (unsigned char)s[n];
        if (c < 0x20 || c > 0x7E) {
            if (c == 0)
                break;
            return BW_E_INVALID;
        }
        esc += c == '"' || c == '\\';
    }
    BW_ENSURE(n < size, BW_E_INVALID);
    out->s = s;
    out->len = n;
    out->esc = esc;
    return BW_OK;
}

static inline size_t quoted_len(const struct str *v) {
    return v->len + v->esc + 2;
}

/* RFC 8785 3.2.2.2 for the printable-ASCII profile: only '"' and '\\' need escaping. Writes
 * quoted_len(v) bytes; the caller checked room. The escape budget keeps the writes within what
 * scan_str counted even if the bytes had changed since (they cannot for a correct caller). */
static void emit_string(struct enc *e, const struct str *v) {
    uint8_t *p = e->p;
    *p++ = '"';
    if (v->esc == 0) {
        memcpy(p, v->s, v->len);
        p += v->len;
    } else {
        size_t budget = v->esc;
        for (size_t i = 0; i < v->len; i++) {
            char c = v->s[i];
            if ((c == '"' || c == '\\') && budget) {
                budget--;
                *p++ = '\\';
            }
            *p++ = (uint8_t)c;
        }
    }
    *p++ = '"';
    e->p = p;
}

/* A fixed-size char field: must be NUL-terminated inside its array and in the profile. Empty
 * means absent (the member is omitted). One bounds check for key and value. */
static bw_err member_str(struct enc *e, struct lit k, const char *field, size_t size) {
    struct str v;
    BW_TRY(scan_str(field, size, &v));
    if (v.len == 0)
        return BW_OK;
    BW_ENSURE(room(e, key_len(e, k) + quoted_len(&v)), BW_E_TOO_LARGE);
    emit_key(e, k);
    emit_string(e, &v);
    return BW_OK;
}

#define MEMBER_STR(e, name, r, field) member_str((e), KEY(name), (r)->field, sizeof((r)->field))

/* RFC 8785 3.2.2.3 for an integer: its shortest decimal form; the range check keeps it exact. */
static bw_err member_int(struct enc *e, struct lit k, int64_t v) {
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
    size_t n = sizeof digits - pos;
    BW_ENSURE(room(e, key_len(e, k) + n), BW_E_TOO_LARGE);
    emit_key(e, k);
    emit(e, digits + pos, n);
    return BW_OK;
}

#define HEX_QUOTED_LEN 66 /* a SHA-256 in lowercase hex, in quotes */

/* Lowercase hex by table lookup. Only public digests pass through here (request, policy,
 * response, parent leaf and tool-argument hashes, all printed in the receipt itself), so the
 * constant-time sodium_bin2hex behind bw_hex_encode buys nothing and costs several times more.
 * Do not reuse this for secrets. Writes HEX_QUOTED_LEN bytes; the caller checked room. */
static void emit_hex(struct enc *e, const uint8_t h[32]) {
    static const char digits[] = "0123456789abcdef";
    uint8_t *p = e->p;
    *p++ = '"';
    for (size_t i = 0; i < 32; i++) {
        *p++ = (uint8_t)digits[h[i] >> 4];
        *p++ = (uint8_t)digits[h[i] & 0x0F];
    }
    *p++ = '"';
    e->p = p;
}

static bw_err member_hex(struct enc *e, struct lit k, const uint8_t h[32]) {
    BW_ENSURE(room(e, key_len(e, k) + HEX_QUOTED_LEN), BW_E_TOO_LARGE);
    emit_key(e, k);
    emit_hex(e, h);
    return BW_OK;
}

static bw_err encode_usage(struct enc *e, const struct bw_receipt *r) {
    BW_TRY(put_key(e, KEY("usage")));
    BW_TRY(open_obj(e));
    BW_TRY(member_int(e, KEY("completion_tokens"), r->completion_tokens));
    if (r->has_cost)
        BW_TRY(member_int(e, KEY("cost_micros"), r->cost_micros));
    BW_TRY(member_int(e, KEY("prompt_tokens"), r->prompt_tokens));
    if (r->usage_estimated) {
        BW_TRY(put_key(e, KEY("source")));
        BW_TRY(PUT_LIT(e, "\"estimated\""));
    }
    BW_TRY(member_int(e, KEY("total_tokens"), r->total_tokens));
    return close_obj(e);
}

/* "tool_calls":[{"args_sha256":..,"decision":..,"name":..,"reason":..},..] in decision order
 * (an array keeps its order; only members are sorted). */
static bw_err encode_tool_calls(struct enc *e, const struct bw_receipt_tool_calls *tc) {
    BW_ENSURE(tc->n >= 1 && tc->n <= BW_RECEIPT_MAX_TOOL_CALLS && (int64_t)tc->n <= tc->total,
              BW_E_INVALID);
    BW_TRY(put_key(e, KEY("tool_calls")));
    BW_TRY(PUT_LIT(e, "["));
    for (size_t i = 0; i < tc->n; i++) {
        const struct bw_receipt_tool_call *t = &tc->list[i];
        if (i)
            BW_TRY(PUT_LIT(e, ","));
        BW_TRY(open_obj(e));
        if (t->has_args)
            BW_TRY(member_hex(e, KEY("args_sha256"), t->args_sha256));
        BW_TRY(MEMBER_STR(e, "decision", t, decision));
        BW_TRY(MEMBER_STR(e, "name", t, name));
        BW_TRY(MEMBER_STR(e, "reason", t, reason));
        BW_TRY(close_obj(e));
    }
    BW_TRY(PUT_LIT(e, "]"));
    return member_int(e, KEY("tool_calls_total"), tc->total);
}

static bw_err encode_log(struct enc *e, const struct str *origin, uint64_t index) {
    BW_ENSURE(index <= (uint64_t)SAFE_INT_MAX, BW_E_INVALID);
    BW_TRY(put_key(e, KEY("log")));
    BW_TRY(open_obj(e));
    BW_TRY(member_int(e, KEY("index"), (int64_t)index));
    struct lit k = KEY("origin");
    BW_ENSURE(room(e, key_len(e, k) + quoted_len(origin)), BW_E_TOO_LARGE);
    emit_key(e, k);
    emit_string(e, origin);
    return close_obj(e);
}

/* kind_names as JSON strings, in enum order. */
static const struct lit kind_json[] = {
    {"\"decision\"", sizeof "\"decision\"" - 1},
    {"\"outcome\"", sizeof "\"outcome\"" - 1},
    {"\"review\"", sizeof "\"review\"" - 1},
    {"\"admin\"", sizeof "\"admin\"" - 1},
};
_Static_assert(sizeof kind_json / sizeof kind_json[0] == sizeof kind_names / sizeof kind_names[0],
               "one JSON string per kind");

/* The predicate members, written in byte order of their keys. Keep this list sorted: the golden
 * tests fail on any reordering. */
static bw_err encode_predicate(struct enc *e, const struct bw_receipt *r, const struct str *origin,
                               uint64_t index) {
    const char *kind = bw_receipt_kind_name(r->kind);
    BW_ENSURE(kind, BW_E_INVALID);
    BW_TRY(open_obj(e));
    BW_TRY(MEMBER_STR(e, "agent", r, agent));
    BW_TRY(MEMBER_STR(e, "decision", r, decision));
    if (r->duration_ms != -1)
        BW_TRY(member_int(e, KEY("duration_ms"), r->duration_ms));
    if (r->http_status != 0)
        BW_TRY(member_int(e, KEY("http_status"), r->http_status));
    BW_TRY(put_key(e, KEY("kind")));
    BW_TRY(put(e, kind_json[r->kind].s, kind_json[r->kind].len));
    BW_TRY(MEMBER_STR(e, "layer", r, layer));
    BW_TRY(encode_log(e, origin, index));
    BW_TRY(MEMBER_STR(e, "model", r, model));
    BW_TRY(MEMBER_STR(e, "org_id", r, org_id));
    if (r->has_org_policy)
        BW_TRY(member_hex(e, KEY("org_policy_sha256"), r->org_policy_sha256));
    if (r->has_parent)
        BW_TRY(member_hex(e, KEY("parent_leaf_hash"), r->parent_leaf_hash));
    if (r->has_policy)
        BW_TRY(member_hex(e, KEY("policy_sha256"), r->policy_sha256));
    BW_TRY(MEMBER_STR(e, "principal", r, principal));
    BW_TRY(MEMBER_STR(e, "reason", r, reason));
    if (r->has_response)
        BW_TRY(member_hex(e, KEY("response_sha256"), r->response_sha256));
    BW_TRY(MEMBER_STR(e, "route", r, route));
    BW_TRY(MEMBER_STR(e, "rule", r, rule));
    BW_TRY(MEMBER_STR(e, "status", r, status));
    BW_TRY(member_int(e, KEY("time_ms"), r->time_ms));
    if (r->tool_calls.total > 0)
        BW_TRY(encode_tool_calls(e, &r->tool_calls));
    if (r->has_usage)
        BW_TRY(encode_usage(e, r));
    return close_obj(e);
}

/* in-toto Statement v1: "_type" < "predicate" < "predicateType" < "subject". */
static bw_err encode_statement(struct enc *e, const struct bw_receipt *r, const struct str *origin,
                               uint64_t index) {
    BW_TRY(PUT_LIT(e, "{\"_type\":\"https://in-toto.io/Statement/v1\",\"predicate\":"));
    BW_TRY(encode_predicate(e, r, origin, index));
    BW_TRY(PUT_LIT(e, ",\"predicateType\":\"" BW_RECEIPT_PREDICATE_TYPE "\",\"subject\":"
                      "[{\"digest\":{\"sha256\":"));
    BW_ENSURE(room(e, HEX_QUOTED_LEN), BW_E_TOO_LARGE);
    emit_hex(e, r->request_sha256);
    return PUT_LIT(e, "},\"name\":\"request\"}]}");
}

/* Room reserved up front, origin aside. Values take under twice the struct: a char[N] field at
 * most 2(N-1) bytes escaped, a hash 64 hex digits, an integer at most 17 characters. Keys,
 * punctuation and fixed strings take about 900 bytes. The largest receipt the struct allows is
 * 4,337 bytes with a one-byte origin; test_differential_largest checks it still encodes. */
#define ENC_BOUND (2 * sizeof(struct bw_receipt) + 2048)

bw_err bw_receipt_encode(const struct bw_receipt *r, const char *origin, uint64_t index,
                         struct bw_buf *out) {
    struct str o;
    BW_ENSURE(r && out && origin, BW_E_INVALID);
    BW_TRY(scan_str(origin, SIZE_MAX, &o));
    BW_ENSURE(o.len > 0, BW_E_INVALID);
    /* Reserve the worst case once, or what the cap leaves: a receipt that does not fit then
     * fails with BW_E_TOO_LARGE at the member that crosses the cap, as when appending. */
    size_t left = out->len <= out->max ? out->max - out->len : 0;
    size_t n = left;
    if (quoted_len(&o) <= left && ENC_BOUND <= left - quoted_len(&o))
        n = ENC_BOUND + quoted_len(&o);
    uint8_t *tail;
    BW_TRY(bw_buf_reserve(out, n, &tail));
    struct enc e = {tail, tail + n, 0};
    bw_err err = encode_statement(&e, r, &o, index);
    /* On error nothing is counted, so out keeps its length (the header promises less). */
    bw_buf_commit(out, err == BW_OK ? (size_t)(e.p - tail) : 0);
    return err;
}
