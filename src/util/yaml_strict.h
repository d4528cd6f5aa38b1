/* yaml_strict.h: the one strict YAML reader behind the config (src/config/) and the policy
 * (src/policy/engine_load.c). libyaml reads the text twice: first as events, to refuse what
 * neither user ever needs before any tree is built, then as a document the users walk with the
 * typed accessors below.
 *
 * Refused when loading (error "NAME:LINE:COLUMN: why"): more than max_bytes; a YAML syntax
 * error; input that is not UTF-8 (a UTF-16 byte-order mark included); more than one document;
 * aliases (*a), anchors (&a) and tags (!!python/object, !!str, !x) on any node; %TAG
 * directives; nesting deeper than max_depth; more than max_nodes nodes; a key that is not a
 * scalar; a merge key (<<); the same key twice in one mapping; a NUL byte in any scalar.
 * So the document is a tree (no node is reached twice) of bounded size and depth, and every
 * mapping has distinct string keys.
 *
 * Refused by the typed accessors (error "NAME:LINE: what: why"): a quoted integer, number or
 * boolean (`port: "8080"`, `enabled: "true"`), and a null (`~`, `null`, nothing) where a string
 * is wanted. Not thread-affine: one struct bw_yaml per load; loads on several threads at once
 * are safe (libyaml keeps no global state). */
#ifndef BW_UTIL_YAML_STRICT_H
#define BW_UTIL_YAML_STRICT_H

#include <stdarg.h>
#include <stddef.h>
#include <yaml.h>

#include "util/err.h"

struct bw_yaml_limits {
    size_t max_bytes;   /* the text's length */
    unsigned max_depth; /* nested mappings and sequences; the root mapping is depth 1 */
    size_t max_nodes;   /* scalars, mappings and sequences together */
};

/* The deepest max_depth a caller may ask for (the event pass keeps one small frame per level). */
#define BW_YAML_MAX_DEPTH 64

struct bw_yaml {
    yaml_document_t doc;
    const char *name; /* borrowed: the file name used in every error */
    char *err;        /* borrowed: the caller's error buffer */
    size_t err_size;
    int have_doc;
};

/* Parses text (len bytes, need not be NUL-terminated) under lim into y. On BW_E_INVALID or
 * BW_E_TOO_LARGE, err holds "NAME:LINE:COLUMN: why" (never the document's content beyond a key
 * of at most 64 bytes); on BW_E_NOMEM nothing more. y must be released with bw_yaml_cleanup
 * whatever the result. name and err are borrowed for y's lifetime. */
bw_err bw_yaml_load(struct bw_yaml *y, const char *text, size_t len, const char *name,
                    const struct bw_yaml_limits *lim, char *err, size_t err_size) BW_MUST_CHECK;
/* Frees the document; safe after a failed load and on a zeroed struct. */
void bw_yaml_cleanup(struct bw_yaml *y);
/* The root node, or NULL for an empty document. */
const yaml_node_t *bw_yaml_root(struct bw_yaml *y);

/* Writes "NAME:LINE: message" (line 1 when n is NULL) to y->err; returns BW_E_INVALID. */
bw_err bw_yaml_fail(const struct bw_yaml *y, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4))) BW_MUST_CHECK;
bw_err bw_yaml_vfail(const struct bw_yaml *y, const yaml_node_t *n, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0))) BW_MUST_CHECK;

/* The scalar's text (NUL-free, checked at load), or NULL for a mapping, sequence or NULL. */
const char *bw_yaml_scalar(const yaml_node_t *n);
/* A plain (unquoted) scalar spelling YAML's null: nothing, ~, null, Null, NULL. */
int bw_yaml_is_null(const yaml_node_t *n) BW_MUST_CHECK;
/* Items of a sequence (0 for anything else). */
size_t bw_yaml_len(const yaml_node_t *seq);
/* The i-th item of a sequence (i < bw_yaml_len), the key and value of a mapping pair. */
const yaml_node_t *bw_yaml_item(struct bw_yaml *y, const yaml_node_t *seq, size_t i);
const yaml_node_t *bw_yaml_key(struct bw_yaml *y, const yaml_node_pair_t *p);
const yaml_node_t *bw_yaml_value(struct bw_yaml *y, const yaml_node_pair_t *p);

/* A plain decimal integer ([-]digits) in [lo, hi]; quoted, empty, hex, "+5", "1.0" and a
 * leading zero ("0600": octal to YAML 1.1 readers) refused. */
bw_err bw_yaml_int(const struct bw_yaml *y, const yaml_node_t *n, const char *what, long long lo,
                   long long hi, long long *out) BW_MUST_CHECK;
/* A plain finite decimal number in [lo, hi]; quoted, hex, inf and nan refused. */
bw_err bw_yaml_num(const struct bw_yaml *y, const yaml_node_t *n, const char *what, double lo,
                   double hi, double *out) BW_MUST_CHECK;
/* Plain true or false, nothing else (not "true", yes, on, True). */
bw_err bw_yaml_bool(const struct bw_yaml *y, const yaml_node_t *n, const char *what,
                    int *out) BW_MUST_CHECK;
/* A string scalar of at most max bytes, quoted or plain, but not a plain null. *out is
 * borrowed from the document. */
bw_err bw_yaml_str(const struct bw_yaml *y, const yaml_node_t *n, const char *what, size_t max,
                   const char **out) BW_MUST_CHECK;

#endif
