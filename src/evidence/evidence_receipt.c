/* evidence_receipt.c: strict single-pass parser for receipts in the canonical profile
 * (receipt_check.h).
 *
 * Canonical form is unique, so instead of parsing leniently and re-encoding, the parser accepts
 * only the bytes the encoder could produce, which is equivalent to "re-encode and compare" and
 * an order of magnitude faster (packs hold millions of receipts):
 *   - no whitespace anywhere (RFC 8785 3.2.1);
 *   - object members in strictly increasing order of their (unescaped) keys: RFC 8785 3.2.3
 *     sorts by UTF-16 code units, equal to byte order for ASCII; strict order also rules out
 *     duplicate keys;
 *   - strings of printable ASCII 0x20..0x7E where only '"' and '\' are escaped, as \" and \\
 *     (RFC 8785 3.2.2.2 for that alphabet);
 *   - numbers: integers -?(0|[1-9][0-9]*) within +-(2^53-1), no "-0", no fraction or exponent
 *     (RFC 8785 3.2.2.3 serialises such doubles exactly so);
 *   - true, false, null; nesting at most 8 deep; one object and nothing after it.
 * The Node integration test cross-checks accepted receipts with an independent RFC 8785
 * implementation (canonicalize(JSON.parse(bytes)) === bytes). */
#include "evidence/receipt_check.h"

#include <string.h>

#define SAFE_INT_MAX INT64_C(9007199254740991)
#define MAX_DEPTH 8

/* Where a value sits, for the members the verifier extracts. */
enum place { P_OTHER, P_TOP, P_PREDICATE, P_LOG };

struct slice {
    const char *p;
    size_t n;   /* raw bytes between the quotes, escapes included */
    int plain;  /* 1: no escapes (raw bytes are the string) */
};

struct cur {
    const char *p;
    size_t n, i;
    const char *why;
    struct bw_evidence_receipt *r;
    struct slice type, ptype, kind, origin, org, parent, policy, org_policy;
    int has_index, has_time, seen_pred;
    int64_t index, time_ms;
};

static int fail(struct cur *c, const char *why) {
    if (!c->why)
        c->why = why;
    return 0;
}

static int eat(struct cur *c, char ch) {
    if (c->i < c->n && c->p[c->i] == ch) {
        c->i++;
        return 1;
    }
    return 0;
}

/* A string: returns its raw contents. */
static int parse_string(struct cur *c, struct slice *out) {
    if (!eat(c, '"'))
        return fail(c, "expected a string");
    size_t start = c->i;
    /* Fast path for the usual string without escapes: find the quote, then check the span in
     * one branch-free pass (vectorizable); anything unusual takes the byte loop below. */
    const char *q = memchr(c->p + start, '"', c->n - start);
    if (q) {
        size_t end = (size_t)(q - c->p);
        unsigned bad = 0;
        for (size_t k = start; k < end; k++) {
            unsigned char ch = (unsigned char)c->p[k];
            bad |= (unsigned)(ch < 0x20) | (unsigned)(ch > 0x7E) | (unsigned)(ch == '\\');
        }
        if (!bad) {
            out->p = c->p + start;
            out->n = end - start;
            out->plain = 1;
            c->i = end + 1;
            return 1;
        }
    }
    while (c->i < c->n) {
        unsigned char ch = (unsigned char)c->p[c->i];
        if (ch == '"') {
            out->p = c->p + start;
            out->n = c->i - start;
            out->plain = 0;
            c->i++;
            return 1;
        }
        if (ch < 0x20 || ch > 0x7E)
            return fail(c, "string outside printable ASCII");
        if (ch == '\\') {
            if (c->i + 1 >= c->n || (c->p[c->i + 1] != '"' && c->p[c->i + 1] != '\\'))
                return fail(c, "escape other than \\\" or \\\\ (not canonical)");
            c->i++;
        }
        c->i++;
    }
    return fail(c, "unterminated string");
}

/* Next unescaped byte of a raw string slice at *i, or -1 at its end. */
static int next_char(const struct slice *s, size_t *i) {
    if (*i >= s->n)
        return -1;
    if (s->p[*i] == '\\')
        (*i)++;
    return (unsigned char)s->p[(*i)++];
}

/* Compares two keys by their unescaped bytes. */
static int key_cmp(const struct slice *a, const struct slice *b) {
    if (a->plain && b->plain) {
        int r = memcmp(a->p, b->p, a->n < b->n ? a->n : b->n);
        return r ? r : a->n < b->n ? -1 : a->n > b->n;
    }
    size_t i = 0, j = 0;
    for (;;) {
        int x = next_char(a, &i), y = next_char(b, &j);
        if (x != y)
            return x < y ? -1 : 1;
        if (x < 0)
            return 0;
    }
}

static int key_is(const struct slice *k, const char *s) {
    return k->n == strlen(s) && memcmp(k->p, s, k->n) == 0;
}

static int parse_number(struct cur *c, int64_t *out) {
    int neg = eat(c, '-');
    size_t start = c->i;
    while (c->i < c->n && c->p[c->i] >= '0' && c->p[c->i] <= '9')
        c->i++;
    size_t len = c->i - start;
    if (len == 0 || (len > 1 && c->p[start] == '0') || len > 16)
        return fail(c, "number not an integer in canonical form");
    if (c->i < c->n && (c->p[c->i] == '.' || c->p[c->i] == 'e' || c->p[c->i] == 'E'))
        return fail(c, "number with a fraction or exponent (the profile has integers only)");
    int64_t v = 0;
    for (size_t k = start; k < c->i; k++)
        v = v * 10 + (c->p[k] - '0');
    if (v > SAFE_INT_MAX)
        return fail(c, "integer outside +-(2^53-1)");
    if (neg && v == 0)
        return fail(c, "-0 is not canonical");
    *out = neg ? -v : v;
    return 1;
}

static int parse_value(struct cur *c, enum place where, int depth);

/* Records the members the verifier reads (their values are checked after the parse). */
static int parse_member_value(struct cur *c, enum place where, const struct slice *key,
                              int depth) {
    struct slice *target = NULL;
    int64_t *num = NULL;
    int *has = NULL;
    enum place child = P_OTHER;
    if (where == P_TOP) {
        target = key_is(key, "_type") ? &c->type : key_is(key, "predicateType") ? &c->ptype : NULL;
        child = key_is(key, "predicate") ? P_PREDICATE : P_OTHER;
        c->seen_pred |= child == P_PREDICATE;
    } else if (where == P_PREDICATE) {
        target = key_is(key, "kind")               ? &c->kind
                 : key_is(key, "org_id")           ? &c->org
                 : key_is(key, "parent_leaf_hash") ? &c->parent
                 : key_is(key, "policy_sha256")    ? &c->policy
                 : key_is(key, "org_policy_sha256") ? &c->org_policy
                                                   : NULL;
        child = key_is(key, "log") ? P_LOG : P_OTHER;
        if (key_is(key, "time_ms")) {
            num = &c->time_ms;
            has = &c->has_time;
        }
    } else if (where == P_LOG) {
        target = key_is(key, "origin") ? &c->origin : NULL;
        if (key_is(key, "index")) {
            num = &c->index;
            has = &c->has_index;
        }
    }
    if (target && c->i < c->n && c->p[c->i] == '"')
        return parse_string(c, target);
    if (num && c->i < c->n && (c->p[c->i] == '-' || (c->p[c->i] >= '0' && c->p[c->i] <= '9'))) {
        *has = 1;
        return parse_number(c, num);
    }
    if (target || num)
        return fail(c, "predicate member of the wrong type");
    return parse_value(c, child, depth);
}

static int parse_object(struct cur *c, enum place where, int depth) {
    c->i++; /* '{' */
    if (eat(c, '}'))
        return 1;
    struct slice prev = {NULL, 0, 0};
    for (int first = 1;; first = 0) {
        struct slice key;
        if (!parse_string(c, &key))
            return 0;
        if (!first && key_cmp(&prev, &key) >= 0)
            return fail(c, "members not in strictly increasing key order (not canonical)");
        prev = key;
        if (!eat(c, ':'))
            return fail(c, "expected ':' (whitespace is not canonical)");
        if (!parse_member_value(c, where, &key, depth))
            return 0;
        if (eat(c, '}'))
            return 1;
        if (!eat(c, ','))
            return fail(c, "expected ',' or '}'");
    }
}

static int parse_array(struct cur *c, int depth) {
    c->i++; /* '[' */
    if (eat(c, ']'))
        return 1;
    for (;;) {
        if (!parse_value(c, P_OTHER, depth))
            return 0;
        if (eat(c, ']'))
            return 1;
        if (!eat(c, ','))
            return fail(c, "expected ',' or ']'");
    }
}

static int literal(struct cur *c, const char *lit) {
    size_t n = strlen(lit);
    if (c->n - c->i < n || memcmp(c->p + c->i, lit, n) != 0)
        return fail(c, "not JSON");
    c->i += n;
    return 1;
}

static int parse_value(struct cur *c, enum place where, int depth) {
    if (c->i >= c->n)
        return fail(c, "truncated");
    if (depth >= MAX_DEPTH && (c->p[c->i] == '{' || c->p[c->i] == '['))
        return fail(c, "nested too deeply");
    int64_t ignored;
    switch (c->p[c->i]) {
    case '{':
        return parse_object(c, where, depth + 1);
    case '[':
        return parse_array(c, depth + 1);
    case '"': {
        struct slice s;
        return parse_string(c, &s);
    }
    case 't':
        return literal(c, "true");
    case 'f':
        return literal(c, "false");
    case 'n':
        return literal(c, "null");
    default:
        return parse_number(c, &ignored);
    }
}

static int slice_is(const struct slice *s, const char *want) {
    return s->p && key_is(s, want);
}

/* Unescapes into out (size bytes with the NUL). */
static int copy_slice(const struct slice *s, char *out, size_t size) {
    size_t i = 0, o = 0;
    int ch;
    while ((ch = next_char(s, &i)) >= 0) {
        if (o + 1 >= size)
            return 0;
        out[o++] = (char)ch;
    }
    out[o] = 0;
    return 1;
}

/* Lowercase hex digit value + 1; 0 for anything else. */
static const uint8_t hex_table[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,
    ['6'] = 7,  ['7'] = 8,  ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12,
    ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
};

static int hex_val(char ch) {
    return (int)hex_table[(unsigned char)ch] - 1;
}

/* 1 present and valid, 0 absent, -1 malformed (64 lowercase hex only). */
static int get_hash(const struct slice *s, uint8_t out[32]) {
    if (!s->p)
        return 0;
    if (s->n != 64)
        return -1;
    for (size_t i = 0; i < 32; i++) {
        int hi = hex_val(s->p[2 * i]), lo = hex_val(s->p[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 1;
}

static const char *extract(struct cur *c, struct bw_evidence_receipt *r) {
    memset(r, 0, sizeof *r);
    if (!slice_is(&c->type, "https://in-toto.io/Statement/v1") ||
        !slice_is(&c->ptype, BW_RECEIPT_PREDICATE_TYPE) || !c->seen_pred)
        return "not an in-toto Statement v1 with the Bulwark receipt predicate";
    int k = -1;
    for (int i = BW_RECEIPT_DECISION; i <= BW_RECEIPT_ADMIN && c->kind.p; i++)
        if (slice_is(&c->kind, bw_receipt_kind_name((enum bw_receipt_kind)i)))
            k = i;
    if (k < 0)
        return "predicate.kind missing or unknown";
    r->kind = (enum bw_receipt_kind)k;
    if (!c->has_index || c->index < 0 || !c->origin.p ||
        !copy_slice(&c->origin, r->origin, sizeof r->origin))
        return "predicate.log missing or malformed";
    if (!c->has_time)
        return "predicate.time_ms missing";
    if (c->org.p && !copy_slice(&c->org, r->org_id, sizeof r->org_id))
        return "predicate.org_id malformed";
    r->index = (uint64_t)c->index;
    r->time_ms = c->time_ms;
    r->has_parent = get_hash(&c->parent, r->parent_leaf_hash);
    r->has_policy = get_hash(&c->policy, r->policy_sha256);
    r->has_org_policy = get_hash(&c->org_policy, r->org_policy_sha256);
    if (r->has_parent < 0 || r->has_policy < 0 || r->has_org_policy < 0)
        return "predicate hash member malformed";
    return NULL;
}

bw_err bw_evidence_receipt_parse(const uint8_t *bytes, size_t len, struct bw_evidence_receipt *out,
                                 const char **why) {
    const char *dummy;
    if (!why)
        why = &dummy;
    *why = "receipt too large";
    BW_ENSURE(len <= BW_RECEIPT_MAX_BYTES, BW_E_TOO_LARGE);
    struct cur c;
    memset(&c, 0, sizeof c);
    c.p = (const char *)bytes;
    c.n = len;
    if (len == 0 || bytes[0] != '{') {
        *why = "not a JSON object";
        return BW_E_INVALID;
    }
    if (!parse_value(&c, P_TOP, 0) || c.i != len) {
        *why = c.why ? c.why : "bytes after the object";
        return BW_E_INVALID;
    }
    *why = extract(&c, out);
    return *why ? BW_E_INVALID : BW_OK;
}
