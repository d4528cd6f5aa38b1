/* mcp_pin_canon.c: the canonical form of an MCP tool definition (mcp_pin.h, docs/MCP.md "Tool
 * pinning"): RFC 8785 (JSON Canonicalization Scheme), so an auditor recomputes a pin's hash with
 * any JCS library from the definition the API shows. Pure: no I/O, no state. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/mcp_pin.h"
#include "util/codec.h"

#define CANON_MAX_DEPTH 128

/* RFC 8785 3.2.2.2: strings as ECMAScript's JSON.stringify writes them: the two-character
 * escapes for \b \t \n \f \r " \, \u00xx (lowercase hex) for every other control character,
 * and everything else (DEL, non-ASCII) as its UTF-8 bytes. */
static bw_err put_string(struct bw_buf *out, const char *s, size_t n) {
    BW_TRY(bw_buf_append(out, "\"", 1));
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        const char *esc = NULL;
        switch (ch) {
        case '\b':
            esc = "\\b";
            break;
        case '\t':
            esc = "\\t";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\f':
            esc = "\\f";
            break;
        case '\r':
            esc = "\\r";
            break;
        case '"':
            esc = "\\\"";
            break;
        case '\\':
            esc = "\\\\";
            break;
        default:
            break;
        }
        if (esc)
            BW_TRY(bw_buf_append_str(out, esc));
        else if (ch < 0x20)
            BW_TRY(bw_buf_appendf(out, "\\u%04x", ch));
        else
            BW_TRY(bw_buf_append(out, &s[i], 1));
    }
    return bw_buf_append(out, "\"", 1);
}

/* The shortest decimal digits that read back as x (x > 0, finite): *digits (no dot, no
 * leading or trailing zero), and n such that x = 0.DIGITS * 10^n. %.*e is correctly rounded
 * (glibc), so the first precision that round-trips gives ECMAScript's k and s (ES 6.1.6.1.20
 * step 5: the fewest digits, and among those the closest). */
static void shortest_digits(double x, char digits[32], int *n) {
    char tmp[40];
    for (int p = 1; p <= 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p - 1, x);
        if (strtod(tmp, NULL) == x || p == 17)
            break;
    }
    /* tmp is "d.ddde[+-]XX" or "de[+-]XX" */
    size_t k = 0;
    const char *p = tmp;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            digits[k++] = *p;
    while (k > 1 && digits[k - 1] == '0')
        k--;
    digits[k] = 0;
    *n = (*p == 'e' ? (int)strtol(p + 1, NULL, 10) : 0) + 1; /* "e+21", "e-07" */
}

/* RFC 8785 3.2.2.3: a number as ECMAScript's Number.prototype.toString writes the IEEE 754
 * double it denotes (ES 6.1.6.1.20): integers up to 1e21 in full, fractions down to 1e-6 in
 * fixed notation, the rest as d.ddde+N / d.ddde-N; -0 is 0. */
static bw_err put_double(struct bw_buf *out, double x) {
    if (!isfinite(x))
        return BW_E_INVALID;
    if (x == 0)
        return bw_buf_append(out, "0", 1);
    if (x < 0) {
        BW_TRY(bw_buf_append(out, "-", 1));
        x = -x;
    }
    char d[32];
    int n;
    shortest_digits(x, d, &n);
    int k = (int)strlen(d);
    if (k <= n && n <= 21) {
        BW_TRY(bw_buf_append(out, d, (size_t)k));
        for (int i = k; i < n; i++)
            BW_TRY(bw_buf_append(out, "0", 1));
        return BW_OK;
    }
    if (0 < n && n <= 21) {
        BW_TRY(bw_buf_append(out, d, (size_t)n));
        BW_TRY(bw_buf_append(out, ".", 1));
        return bw_buf_append(out, d + n, (size_t)(k - n));
    }
    if (-6 < n && n <= 0) {
        BW_TRY(bw_buf_append(out, "0.", 2));
        for (int i = n; i < 0; i++)
            BW_TRY(bw_buf_append(out, "0", 1));
        return bw_buf_append(out, d, (size_t)k);
    }
    BW_TRY(bw_buf_append(out, d, 1));
    if (k > 1) {
        BW_TRY(bw_buf_append(out, ".", 1));
        BW_TRY(bw_buf_append(out, d + 1, (size_t)(k - 1)));
    }
    return bw_buf_appendf(out, "e%c%d", n - 1 < 0 ? '-' : '+', abs(n - 1));
}

/* Integers are JSON numbers too: JCS writes the double they denote (beyond 2^53 that is not
 * the integer itself, exactly as a JavaScript verifier would see it). */
static bw_err put_integer(struct bw_buf *out, json_int_t v) {
    if (v >= -(1LL << 53) && v <= (1LL << 53))
        return bw_buf_appendf(out, "%lld", (long long)v);
    return put_double(out, (double)v);
}

/* The next UTF-16 code unit of the UTF-8 string at *p (valid UTF-8: jansson checked it); a
 * supplementary character yields its high surrogate, then its low one (*pending). */
static unsigned next_unit(const unsigned char **p, unsigned *pending) {
    if (*pending) {
        unsigned u = *pending;
        *pending = 0;
        return u;
    }
    const unsigned char *s = *p;
    unsigned cp;
    if (s[0] < 0x80) {
        cp = s[0];
        *p += 1;
    } else if ((s[0] & 0xe0) == 0xc0) {
        cp = ((s[0] & 0x1fu) << 6) | (s[1] & 0x3fu);
        *p += 2;
    } else if ((s[0] & 0xf0) == 0xe0) {
        cp = ((s[0] & 0x0fu) << 12) | ((s[1] & 0x3fu) << 6) | (s[2] & 0x3fu);
        *p += 3;
    } else {
        cp = ((s[0] & 0x07u) << 18) | ((s[1] & 0x3fu) << 12) | ((s[2] & 0x3fu) << 6) |
             (s[3] & 0x3fu);
        *p += 4;
    }
    if (cp < 0x10000)
        return cp;
    cp -= 0x10000;
    *pending = 0xdc00 + (cp & 0x3ff);
    return 0xd800 + (cp >> 10);
}

/* RFC 8785 3.2.3: object members sorted by their names as arrays of UTF-16 code units (which
 * differs from UTF-8 byte order for characters above U+FFFF against U+E000..U+FFFF). */
int bw_mcp_pin_key_cmp(const char *a, size_t alen, const char *b, size_t blen) {
    const unsigned char *pa = (const unsigned char *)a, *ea = pa + alen;
    const unsigned char *pb = (const unsigned char *)b, *eb = pb + blen;
    unsigned qa = 0, qb = 0;
    while ((pa < ea || qa) && (pb < eb || qb)) {
        unsigned ua = next_unit(&pa, &qa), ub = next_unit(&pb, &qb);
        if (ua != ub)
            return ua < ub ? -1 : 1;
    }
    int more_a = pa < ea || qa, more_b = pb < eb || qb;
    return more_a - more_b;
}

static int cmp_keys(const void *x, const void *y) {
    const char *a = *(const char *const *)x, *b = *(const char *const *)y;
    return bw_mcp_pin_key_cmp(a, strlen(a), b, strlen(b));
}

static bw_err put_value(struct bw_buf *out, const json_t *v, int depth);

static bw_err put_object(struct bw_buf *out, const json_t *v, int depth) {
    size_t n = json_object_size(v);
    const char **keys = n ? malloc(n * sizeof *keys) : NULL;
    if (n && !keys)
        return BW_E_NOMEM;
    size_t i = 0;
    const char *k;
    json_t *e;
    json_object_foreach((json_t *)v, k, e) if (i < n) keys[i++] = k; /* never past n */
    if (n > 1)                                                       /* keys is NULL for {} */
        qsort(keys, n, sizeof *keys, cmp_keys);
    bw_err err = bw_buf_append(out, "{", 1);
    for (i = 0; i < n && err == BW_OK; i++) {
        if (i)
            err = bw_buf_append(out, ",", 1);
        if (err == BW_OK)
            err = put_string(out, keys[i], strlen(keys[i]));
        if (err == BW_OK)
            err = bw_buf_append(out, ":", 1);
        if (err == BW_OK)
            err = put_value(out, json_object_get(v, keys[i]), depth + 1);
    }
    free(keys);
    return err == BW_OK ? bw_buf_append(out, "}", 1) : err;
}

static bw_err put_value(struct bw_buf *out, const json_t *v, int depth) {
    if (depth > CANON_MAX_DEPTH)
        return BW_E_INVALID;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return put_object(out, v, depth);
    case JSON_ARRAY: {
        BW_TRY(bw_buf_append(out, "[", 1));
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i)
                BW_TRY(bw_buf_append(out, ",", 1));
            BW_TRY(put_value(out, json_array_get(v, i), depth + 1));
        }
        return bw_buf_append(out, "]", 1);
    }
    case JSON_STRING:
        return put_string(out, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        return put_integer(out, json_integer_value(v));
    case JSON_REAL:
        return put_double(out, json_real_value(v));
    case JSON_TRUE:
        return bw_buf_append(out, "true", 4);
    case JSON_FALSE:
        return bw_buf_append(out, "false", 5);
    case JSON_NULL:
        return bw_buf_append(out, "null", 4);
    default:
        return BW_E_INVALID;
    }
}

bw_err bw_mcp_pin_canon(const json_t *v, struct bw_buf *out) {
    if (!v)
        return BW_E_INVALID;
    return put_value(out, v, 0);
}
