#include "config/config_walk.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bw_err bw_cfg_fail(struct walk *w, const yaml_node_t *n, const char *fmt, ...) {
    int off = snprintf(w->err, w->err_size, "%s:%zu: ", w->name,
                       n ? (size_t)n->start_mark.line + 1 : (size_t)0);
    if (off < 0 || (size_t)off >= w->err_size)
        return BW_E_INVALID;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->err + off, w->err_size - (size_t)off, fmt, ap);
    va_end(ap);
    return BW_E_INVALID;
}

const char *bw_cfg_scalar(const yaml_node_t *n) {
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

bw_err bw_cfg_int(struct walk *w, const yaml_node_t *n, const char *key, long lo, long hi,
                      long *out) {
    const char *s = bw_cfg_scalar(n);
    if (!s || !*s)
        return bw_cfg_fail(w, n, "%s: expected an integer", key);
    errno = 0;
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (errno || *end)
        return bw_cfg_fail(w, n, "%s: expected an integer", key);
    if (v < lo || v > hi)
        return bw_cfg_fail(w, n, "%s: must be between %ld and %ld", key, lo, hi);
    *out = v;
    return BW_OK;
}

bw_err bw_cfg_str(struct walk *w, const yaml_node_t *n, const char *key, char *out,
                      size_t out_size) {
    const char *s = bw_cfg_scalar(n);
    if (!s)
        return bw_cfg_fail(w, n, "%s: expected a string", key);
    if (strlen(s) >= out_size)
        return bw_cfg_fail(w, n, "%s: longer than %zu bytes", key, out_size - 1);
    memcpy(out, s, strlen(s) + 1);
    return BW_OK;
}

/* Calls fn for each key of a mapping node; non-mappings and non-scalar keys are errors. */
bw_err bw_cfg_each_pair(struct walk *w, const yaml_node_t *map, const char *what, field_fn fn) {
    if (!map || map->type != YAML_MAPPING_NODE)
        return bw_cfg_fail(w, map, "%s: expected a mapping", what);
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        const yaml_node_t *k = yaml_document_get_node(w->doc, p->key);
        const yaml_node_t *v = yaml_document_get_node(w->doc, p->value);
        const char *key = bw_cfg_scalar(k);
        if (!key)
            return bw_cfg_fail(w, k, "%s: keys must be strings", what);
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++)
            if (strcmp(bw_cfg_scalar(yaml_document_get_node(w->doc, q->key)), key) == 0)
                return bw_cfg_fail(w, k, "%s: duplicate key '%.64s'", what, key);
        BW_TRY(fn(w, key, v));
    }
    return BW_OK;
}

bw_err bw_cfg_bool(struct walk *w, const yaml_node_t *n, const char *key, int *out) {
    const char *b = bw_cfg_scalar(n);
    if (!b || (strcmp(b, "true") != 0 && strcmp(b, "false") != 0))
        return bw_cfg_fail(w, n, "%s: expected true or false", key);
    *out = strcmp(b, "true") == 0;
    return BW_OK;
}

