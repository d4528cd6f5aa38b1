/* yaml_strict.c: see yaml_strict.h. Two passes over the text: libyaml's event parser refuses
 * aliases, anchors, tags, extra documents, depth and node count before a tree exists (so an
 * alias bomb or a deep nest costs one linear scan, never a tree), then libyaml's loader builds
 * the document and one linear pass over its nodes checks keys (scalar, not <<, distinct). */
#include "util/yaml_strict.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bw_err fail_at(const struct bw_yaml *y, yaml_mark_t m, bw_err code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* "NAME:LINE:COLUMN: why": the reader's own refusals point at the exact place. */
static bw_err fail_at(const struct bw_yaml *y, yaml_mark_t m, bw_err code, const char *fmt, ...) {
    int off = snprintf(y->err, y->err_size, "%s:%zu:%zu: ", y->name, (size_t)m.line + 1,
                       (size_t)m.column + 1);
    if (off < 0 || (size_t)off >= y->err_size)
        return code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(y->err + off, y->err_size - (size_t)off, fmt, ap);
    va_end(ap);
    return code;
}

bw_err bw_yaml_vfail(const struct bw_yaml *y, const yaml_node_t *n, const char *fmt, va_list ap) {
    int off = snprintf(y->err, y->err_size, "%s:%zu: ", y->name,
                       n ? (size_t)n->start_mark.line + 1 : (size_t)1);
    if (off < 0 || (size_t)off >= y->err_size)
        return BW_E_INVALID;
    vsnprintf(y->err + off, y->err_size - (size_t)off, fmt, ap);
    return BW_E_INVALID;
}

bw_err bw_yaml_fail(const struct bw_yaml *y, const yaml_node_t *n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    bw_err e = bw_yaml_vfail(y, n, fmt, ap);
    va_end(ap);
    return e;
}

#define ALIASES "YAML aliases and anchors (*name, &name) are not allowed"

/* A tag or an anchor on a node: both refused, so every node means exactly what it spells and
 * is reached once. */
static bw_err node_props(const struct bw_yaml *y, const yaml_event_t *e, const yaml_char_t *anchor,
                         const yaml_char_t *tag) {
    if (anchor)
        return fail_at(y, e->start_mark, BW_E_INVALID, ALIASES);
    if (tag)
        return fail_at(y, e->start_mark, BW_E_INVALID, "YAML tags (%.64s) are not allowed",
                       (const char *)tag);
    return BW_OK;
}

static bw_err scan_event(const struct bw_yaml *y, const yaml_event_t *e,
                         const struct bw_yaml_limits *lim, unsigned *depth, size_t *nodes,
                         int *docs) {
    switch (e->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++*docs > 1)
            return fail_at(y, e->start_mark, BW_E_INVALID, "more than one YAML document");
        if (e->data.document_start.tag_directives.start !=
            e->data.document_start.tag_directives.end)
            return fail_at(y, e->start_mark, BW_E_INVALID, "%%TAG directives are not allowed");
        return BW_OK;
    case YAML_ALIAS_EVENT:
        return fail_at(y, e->start_mark, BW_E_INVALID, ALIASES);
    case YAML_SCALAR_EVENT:
        ++*nodes;
        BW_TRY(node_props(y, e, e->data.scalar.anchor, e->data.scalar.tag));
        if (memchr(e->data.scalar.value, 0, e->data.scalar.length))
            return fail_at(y, e->start_mark, BW_E_INVALID, "a NUL byte in a YAML scalar");
        break;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        ++*nodes;
        if (e->type == YAML_SEQUENCE_START_EVENT)
            BW_TRY(node_props(y, e, e->data.sequence_start.anchor, e->data.sequence_start.tag));
        else
            BW_TRY(node_props(y, e, e->data.mapping_start.anchor, e->data.mapping_start.tag));
        if (++*depth > lim->max_depth)
            return fail_at(y, e->start_mark, BW_E_TOO_LARGE, "nested deeper than %u levels",
                           lim->max_depth);
        break;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        --*depth;
        break;
    default: /* stream start/end, document end, no-event */
        break;
    }
    if (*nodes > lim->max_nodes)
        return fail_at(y, e->start_mark, BW_E_TOO_LARGE, "more than %zu YAML nodes",
                       lim->max_nodes);
    return BW_OK;
}

/* Pass 1: libyaml's event parser, linear in the text, no tree. */
static bw_err scan(const struct bw_yaml *y, const char *text, size_t len,
                   const struct bw_yaml_limits *lim) {
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return BW_E_NOMEM;
    /* UTF-8 only: without this libyaml also decodes UTF-16 behind a byte-order mark. */
    yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    bw_err result = BW_OK;
    unsigned depth = 0;
    size_t nodes = 0;
    int docs = 0;
    for (int done = 0; !done && result == BW_OK;) {
        yaml_event_t e;
        if (!yaml_parser_parse(&parser, &e)) {
            result = parser.error == YAML_MEMORY_ERROR
                         ? BW_E_NOMEM
                         : fail_at(y, parser.problem_mark, BW_E_INVALID, "%s",
                                   parser.problem ? parser.problem : "YAML syntax error");
            break;
        }
        done = e.type == YAML_STREAM_END_EVENT;
        result = scan_event(y, &e, lim, &depth, &nodes, &docs);
        yaml_event_delete(&e);
    }
    yaml_parser_delete(&parser);
    return result;
}

struct key_ref {
    const yaml_node_t *k;
};

static int key_cmp(const void *a, const void *b) {
    const yaml_node_t *x = ((const struct key_ref *)a)->k, *z = ((const struct key_ref *)b)->k;
    size_t n = x->data.scalar.length < z->data.scalar.length ? x->data.scalar.length
                                                             : z->data.scalar.length;
    int c = memcmp(x->data.scalar.value, z->data.scalar.value, n);
    if (c)
        return c;
    if (x->data.scalar.length != z->data.scalar.length)
        return x->data.scalar.length < z->data.scalar.length ? -1 : 1;
    /* equal keys: document order, so the later one is reported */
    return x->start_mark.index < z->start_mark.index ? -1
                                                     : x->start_mark.index > z->start_mark.index;
}

/* Keys of one mapping: scalars, never <<, all distinct (sorted, so n log n, not n squared). */
static bw_err check_keys(struct bw_yaml *y, const yaml_node_t *map, struct key_ref *scratch) {
    size_t n = 0;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        const yaml_node_t *k = yaml_document_get_node(&y->doc, p->key);
        if (!k || k->type != YAML_SCALAR_NODE)
            return fail_at(y, k ? k->start_mark : map->start_mark, BW_E_INVALID,
                           "keys must be strings");
        if (strcmp((const char *)k->data.scalar.value, "<<") == 0)
            return fail_at(y, k->start_mark, BW_E_INVALID, "YAML merge keys (<<) are not allowed");
        scratch[n++].k = k;
    }
    qsort(scratch, n, sizeof *scratch, key_cmp);
    for (size_t i = 1; i < n; i++) {
        const yaml_node_t *a = scratch[i - 1].k, *b = scratch[i].k;
        if (a->data.scalar.length == b->data.scalar.length &&
            memcmp(a->data.scalar.value, b->data.scalar.value, b->data.scalar.length) == 0)
            return fail_at(y, b->start_mark, BW_E_INVALID, "duplicate key '%.64s'",
                           (const char *)b->data.scalar.value);
    }
    return BW_OK;
}

/* Pass 2 check: every mapping of the loaded tree, in one linear pass over the node array. */
static bw_err check_mappings(struct bw_yaml *y) {
    size_t most = 0;
    for (yaml_node_t *n = y->doc.nodes.start; n < y->doc.nodes.top; n++)
        if (n->type == YAML_MAPPING_NODE) {
            size_t c = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
            most = c > most ? c : most;
        }
    struct key_ref *scratch = calloc(most ? most : 1, sizeof *scratch);
    if (!scratch)
        return BW_E_NOMEM;
    bw_err result = BW_OK;
    for (yaml_node_t *n = y->doc.nodes.start; n < y->doc.nodes.top && result == BW_OK; n++)
        if (n->type == YAML_MAPPING_NODE)
            result = check_keys(y, n, scratch);
    free(scratch);
    return result;
}

bw_err bw_yaml_load(struct bw_yaml *y, const char *text, size_t len, const char *name,
                    const struct bw_yaml_limits *lim, char *err, size_t err_size) {
    memset(y, 0, sizeof *y);
    y->name = name;
    y->err = err;
    y->err_size = err_size;
    if (len > lim->max_bytes)
        return fail_at(y, (yaml_mark_t){0, 0, 0}, BW_E_TOO_LARGE, "larger than %zu bytes",
                       lim->max_bytes);
    if (lim->max_depth > BW_YAML_MAX_DEPTH)
        return BW_E_INTERNAL;
    /* A UTF-8 byte-order mark (some editors write one) is skipped: libyaml, told the input is
     * UTF-8 so that it never decodes UTF-16, would read it as content. */
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
        text += 3;
        len -= 3;
    }
    BW_TRY(scan(y, text, len, lim));
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return BW_E_NOMEM;
    yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    bw_err result = BW_OK;
    if (!yaml_parser_load(&parser, &y->doc)) {
        /* pass 1 parsed the same text, so only memory can fail here */
        result = parser.error == YAML_MEMORY_ERROR
                     ? BW_E_NOMEM
                     : fail_at(y, parser.problem_mark, BW_E_INVALID, "%s",
                               parser.problem ? parser.problem : "YAML syntax error");
    } else {
        y->have_doc = 1;
        result = check_mappings(y);
    }
    yaml_parser_delete(&parser);
    return result;
}

void bw_yaml_cleanup(struct bw_yaml *y) {
    if (y->have_doc)
        yaml_document_delete(&y->doc);
    y->have_doc = 0;
}

const yaml_node_t *bw_yaml_root(struct bw_yaml *y) {
    return y->have_doc ? yaml_document_get_root_node(&y->doc) : NULL;
}

const char *bw_yaml_scalar(const yaml_node_t *n) {
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

int bw_yaml_is_null(const yaml_node_t *n) {
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
    const char *s = bw_yaml_scalar(n);
    if (!s || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++)
        if (strcmp(s, nulls[i]) == 0)
            return 1;
    return 0;
}

size_t bw_yaml_len(const yaml_node_t *seq) {
    return seq && seq->type == YAML_SEQUENCE_NODE
               ? (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start)
               : 0;
}

const yaml_node_t *bw_yaml_item(struct bw_yaml *y, const yaml_node_t *seq, size_t i) {
    return i < bw_yaml_len(seq) ? yaml_document_get_node(&y->doc, seq->data.sequence.items.start[i])
                                : NULL;
}

const yaml_node_t *bw_yaml_key(struct bw_yaml *y, const yaml_node_pair_t *p) {
    return yaml_document_get_node(&y->doc, p->key);
}

const yaml_node_t *bw_yaml_value(struct bw_yaml *y, const yaml_node_pair_t *p) {
    return yaml_document_get_node(&y->doc, p->value);
}

/* A number or boolean must be written plain: `"8080"` is a string in YAML, and accepting it
 * where a number is wanted made the config and the policy disagree on the same text. */
static const char *plain(const yaml_node_t *n) {
    const char *s = bw_yaml_scalar(n);
    return s && *s && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? s : NULL;
}

bw_err bw_yaml_int(const struct bw_yaml *y, const yaml_node_t *n, const char *what, long long lo,
                   long long hi, long long *out) {
    const char *s = plain(n);
    const char *digits = s ? s + (*s == '-') : NULL;
    /* no leading zero: YAML 1.1 readers take 0600 as octal, we would take it as 600 */
    if (!digits || !*digits || strspn(digits, "0123456789") != strlen(digits) ||
        (digits[0] == '0' && digits[1]))
        return bw_yaml_fail(y, n, "%s: expected an integer", what);
    errno = 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return bw_yaml_fail(y, n, "%s: must be between %lld and %lld", what, lo, hi);
    if (v < lo || v > hi)
        return bw_yaml_fail(y, n, "%s: must be between %lld and %lld", what, lo, hi);
    *out = v;
    return BW_OK;
}

bw_err bw_yaml_num(const struct bw_yaml *y, const yaml_node_t *n, const char *what, double lo,
                   double hi, double *out) {
    const char *s = plain(n);
    /* strtod alone would also take hex floats, "inf" and "nan" */
    if (!s || strspn(s, "0123456789+-.eE") != strlen(s))
        return bw_yaml_fail(y, n, "%s: expected a number", what);
    errno = 0;
    char *end = NULL;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v))
        return bw_yaml_fail(y, n, "%s: expected a number", what);
    if (v < lo || v > hi)
        return bw_yaml_fail(y, n, "%s: must be between %g and %g", what, lo, hi);
    *out = v;
    return BW_OK;
}

bw_err bw_yaml_bool(const struct bw_yaml *y, const yaml_node_t *n, const char *what, int *out) {
    const char *s = plain(n);
    if (!s || (strcmp(s, "true") != 0 && strcmp(s, "false") != 0))
        return bw_yaml_fail(y, n, "%s: expected true or false", what);
    *out = s[0] == 't';
    return BW_OK;
}

bw_err bw_yaml_str(const struct bw_yaml *y, const yaml_node_t *n, const char *what, size_t max,
                   const char **out) {
    const char *s = bw_yaml_scalar(n);
    if (!s || bw_yaml_is_null(n))
        return bw_yaml_fail(y, n, "%s: expected a string", what);
    if (n->data.scalar.length > max)
        return bw_yaml_fail(y, n, "%s: longer than %zu bytes", what, max);
    *out = s;
    return BW_OK;
}
