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
 * The values land in a flat tree (receipt_internal.h) that the reader below and the profile
 * check (evidence_verify_profile.c: types, member sets, enums) both walk.
 * The Node integration test cross-checks accepted receipts with an independent RFC 8785
 * implementation (canonicalize(JSON.parse(bytes)) === bytes). */
#include "evidence/receipt_check.h"

#include <stdio.h>
#include <string.h>

#include "evidence/receipt_internal.h"

#define SAFE_INT_MAX INT64_C(9007199254740991)
#define MAX_DEPTH 8

struct slice {
    const char *p;
    size_t n;  /* raw bytes between the quotes, escapes included */
    int plain; /* 1: no escapes (raw bytes are the string) */
};

struct cur {
    const char *p;
    size_t n, i;
    const char *why;
    struct bw_jdoc *d;
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

/* Appends a node for the value starting at c->i; key is its member key (NULL in an array or at
 * the top). Its index goes to *self; 0 when the tree is full. */
static int add_node(struct cur *c, enum bw_jtype type, const struct slice *key, size_t *self) {
    struct bw_jdoc *d = c->d;
    if (d->n >= BW_JSON_MAX_NODES)
        return fail(c, "more JSON values than any receipt holds");
    struct bw_jnode *x = &d->node[d->n];
    memset(x, 0, sizeof *x);
    x->type = (uint8_t)type;
    if (key) {
        x->member = 1;
        x->key = (uint16_t)(key->p - c->p);
        x->klen = (uint16_t)key->n;
        x->kplain = (uint8_t)key->plain;
    }
    *self = d->n++;
    return 1;
}

static int parse_value(struct cur *c, const struct slice *key, int depth);

static int parse_object(struct cur *c, size_t self, int depth) {
    c->i++; /* '{' */
    struct bw_jnode *x = &c->d->node[self];
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
        if (!parse_value(c, &key, depth))
            return 0;
        x->num++;
        if (eat(c, '}'))
            return 1;
        if (!eat(c, ','))
            return fail(c, "expected ',' or '}'");
    }
}

static int parse_array(struct cur *c, size_t self, int depth) {
    c->i++; /* '[' */
    struct bw_jnode *x = &c->d->node[self];
    if (eat(c, ']'))
        return 1;
    for (;;) {
        if (!parse_value(c, NULL, depth))
            return 0;
        x->num++;
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

static enum bw_jtype type_at(const struct cur *c) {
    switch (c->p[c->i]) {
    case '{':
        return BW_J_OBJ;
    case '[':
        return BW_J_ARR;
    case '"':
        return BW_J_STR;
    case 't':
        return BW_J_TRUE;
    case 'f':
        return BW_J_FALSE;
    case 'n':
        return BW_J_NULL;
    default:
        return BW_J_INT;
    }
}

static int parse_value(struct cur *c, const struct slice *key, int depth) {
    if (c->i >= c->n)
        return fail(c, "truncated");
    enum bw_jtype t = type_at(c);
    if (depth >= MAX_DEPTH && (t == BW_J_OBJ || t == BW_J_ARR))
        return fail(c, "nested too deeply");
    size_t self;
    if (!add_node(c, t, key, &self))
        return 0;
    struct bw_jnode *x = &c->d->node[self];
    int ok;
    switch (t) {
    case BW_J_OBJ:
        ok = parse_object(c, self, depth + 1);
        break;
    case BW_J_ARR:
        ok = parse_array(c, self, depth + 1);
        break;
    case BW_J_STR: {
        struct slice s;
        ok = parse_string(c, &s);
        if (ok) {
            x->off = (uint16_t)(s.p - c->p);
            x->len = (uint16_t)s.n;
            x->plain = (uint8_t)s.plain;
        }
        break;
    }
    case BW_J_TRUE:
        ok = literal(c, "true");
        break;
    case BW_J_FALSE:
        ok = literal(c, "false");
        break;
    case BW_J_NULL:
        ok = literal(c, "null");
        break;
    case BW_J_INT:
    default:
        ok = parse_number(c, &x->num);
        break;
    }
    x->end = (uint16_t)c->d->n;
    return ok;
}

/* ---- reading the tree ---- */

static struct slice node_str(const struct bw_jdoc *d, size_t i) {
    const struct bw_jnode *x = &d->node[i];
    return (struct slice){d->text + x->off, x->len, x->plain};
}

size_t bw_jdoc_member(const struct bw_jdoc *d, size_t obj, const char *key) {
    size_t n = strlen(key);
    for (size_t i = obj + 1; i < d->node[obj].end; i = d->node[i].end) {
        const struct bw_jnode *x = &d->node[i];
        if (x->kplain && x->klen == n && memcmp(d->text + x->key, key, n) == 0)
            return i;
    }
    return 0;
}

int bw_jdoc_str_is(const struct bw_jdoc *d, size_t i, const char *s) {
    const struct bw_jnode *x = &d->node[i];
    return x->type == BW_J_STR && x->plain && x->len == strlen(s) &&
           memcmp(d->text + x->off, s, x->len) == 0;
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
    ['0'] = 1, ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,  ['6'] = 7,  ['7'] = 8,
    ['8'] = 9, ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
};

static int hex_val(char ch) {
    return (int)hex_table[(unsigned char)ch] - 1;
}

/* 1 present and valid, 0 absent (i == 0), -1 malformed (a string of 64 lowercase hex only). */
static int get_hash(const struct bw_jdoc *d, size_t i, uint8_t out[32]) {
    if (!i)
        return 0;
    const struct bw_jnode *x = &d->node[i];
    if (x->type != BW_J_STR || x->len != 64)
        return -1;
    const char *p = d->text + x->off;
    for (size_t k = 0; k < 32; k++) {
        int hi = hex_val(p[2 * k]), lo = hex_val(p[2 * k + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[k] = (uint8_t)(hi << 4 | lo);
    }
    return 1;
}

/* A member that must be an integer if present: 1 present, 0 absent, -1 of another type. */
static int get_int(const struct bw_jdoc *d, size_t i, int64_t *out) {
    if (!i)
        return 0;
    if (d->node[i].type != BW_J_INT)
        return -1;
    *out = d->node[i].num;
    return 1;
}

/* The members the exporter and the verifier read, typed (the rest of the profile is
 * bw_evidence_profile_check's). */
static const char *extract(const struct bw_jdoc *d, struct bw_evidence_receipt *r) {
    memset(r, 0, sizeof *r);
    size_t pred = bw_jdoc_member(d, 0, "predicate");
    if (!bw_jdoc_str_is(d, bw_jdoc_member(d, 0, "_type"), "https://in-toto.io/Statement/v1") ||
        !bw_jdoc_str_is(d, bw_jdoc_member(d, 0, "predicateType"), BW_RECEIPT_PREDICATE_TYPE) ||
        !pred || d->node[pred].type != BW_J_OBJ)
        return "not an in-toto Statement v1 with the Bulwark receipt predicate";
    size_t kind = bw_jdoc_member(d, pred, "kind");
    int k = -1;
    for (int i = BW_RECEIPT_DECISION; i <= BW_RECEIPT_ADMIN && kind; i++)
        if (bw_jdoc_str_is(d, kind, bw_receipt_kind_name((enum bw_receipt_kind)i)))
            k = i;
    if (k < 0)
        return "predicate.kind missing or unknown";
    r->kind = (enum bw_receipt_kind)k;
    size_t log = bw_jdoc_member(d, pred, "log");
    size_t index = log && d->node[log].type == BW_J_OBJ ? bw_jdoc_member(d, log, "index") : 0;
    size_t origin = log && d->node[log].type == BW_J_OBJ ? bw_jdoc_member(d, log, "origin") : 0;
    int64_t idx = -1;
    struct slice o = origin ? node_str(d, origin) : (struct slice){NULL, 0, 0};
    if (get_int(d, index, &idx) != 1 || idx < 0 || !origin || d->node[origin].type != BW_J_STR ||
        !copy_slice(&o, r->origin, sizeof r->origin))
        return "predicate.log missing or malformed";
    if (get_int(d, bw_jdoc_member(d, pred, "time_ms"), &r->time_ms) != 1)
        return "predicate.time_ms missing or not an integer";
    size_t org = bw_jdoc_member(d, pred, "org_id");
    struct slice os = org ? node_str(d, org) : (struct slice){NULL, 0, 0};
    if (org && (d->node[org].type != BW_J_STR || !copy_slice(&os, r->org_id, sizeof r->org_id)))
        return "predicate.org_id malformed";
    r->index = (uint64_t)idx;
    r->has_parent = get_hash(d, bw_jdoc_member(d, pred, "parent_leaf_hash"), r->parent_leaf_hash);
    r->has_policy = get_hash(d, bw_jdoc_member(d, pred, "policy_sha256"), r->policy_sha256);
    r->has_org_policy =
        get_hash(d, bw_jdoc_member(d, pred, "org_policy_sha256"), r->org_policy_sha256);
    if (r->has_parent < 0 || r->has_policy < 0 || r->has_org_policy < 0)
        return "predicate hash member malformed";
    /* the first subject's digest, when it is well formed (the profile requires exactly one) */
    size_t subj = bw_jdoc_member(d, 0, "subject");
    size_t first = subj && d->node[subj].type == BW_J_ARR && d->node[subj].num > 0 ? subj + 1 : 0;
    size_t digest =
        first && d->node[first].type == BW_J_OBJ ? bw_jdoc_member(d, first, "digest") : 0;
    size_t sha =
        digest && d->node[digest].type == BW_J_OBJ ? bw_jdoc_member(d, digest, "sha256") : 0;
    r->has_request = get_hash(d, sha, r->request_sha256) == 1;
    size_t dec = bw_jdoc_member(d, pred, "decision");
    struct slice ds = dec ? node_str(d, dec) : (struct slice){NULL, 0, 0};
    if (dec && d->node[dec].type == BW_J_STR && !copy_slice(&ds, r->decision, sizeof r->decision))
        r->decision[0] = 0;
    return NULL;
}

/* The canonical parse and the typed read; with `profile`, also the whole documented profile. */
static bw_err parse(const uint8_t *bytes, size_t len, struct bw_evidence_receipt *out,
                    const char **why, int profile) {
    const char *dummy;
    if (!why)
        why = &dummy;
    *why = "receipt too large";
    BW_ENSURE(len <= BW_RECEIPT_MAX_BYTES, BW_E_TOO_LARGE);
    struct bw_jdoc doc; /* about 12 KiB of stack, no allocation */
    struct cur c = {(const char *)bytes, len, 0, NULL, &doc};
    doc.text = (const char *)bytes;
    doc.n = 0;
    if (len == 0 || bytes[0] != '{') {
        *why = "not a JSON object";
        return BW_E_INVALID;
    }
    if (!parse_value(&c, NULL, 0) || c.i != len) {
        *why = c.why ? c.why : "bytes after the object";
        return BW_E_INVALID;
    }
    *why = extract(&doc, out);
    if (!*why && profile)
        *why = bw_evidence_profile_check(&doc, out->detail, sizeof out->detail);
    return *why ? BW_E_INVALID : BW_OK;
}

bw_err bw_evidence_receipt_parse(const uint8_t *bytes, size_t len, struct bw_evidence_receipt *out,
                                 const char **why) {
    return parse(bytes, len, out, why, 0);
}

bw_err bw_evidence_receipt_check(const uint8_t *bytes, size_t len, struct bw_evidence_receipt *out,
                                 const char **why) {
    return parse(bytes, len, out, why, 1);
}
