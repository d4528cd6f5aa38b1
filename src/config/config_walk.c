/* config_walk.c: the config's typed getters, thin wrappers over util/yaml_strict (the reader
 * the policy uses too) that keep the section readers' bw_cfg_* names. */
#include "config/config_walk.h"

#include <stdarg.h>
#include <string.h>

bw_err bw_cfg_fail(struct walk *w, const yaml_node_t *n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    BW_IGNORE(bw_yaml_vfail(w->y, n, fmt, ap)); /* always BW_E_INVALID, returned below */
    va_end(ap);
    return BW_E_INVALID; /* a constant, so callers' compilers see every failure path */
}

/* A plain null (~, null, nothing) is no string: every config field that reads text refuses it. */
const char *bw_cfg_scalar(const yaml_node_t *n) {
    return bw_yaml_is_null(n) ? NULL : bw_yaml_scalar(n);
}

bw_err bw_cfg_int(struct walk *w, const yaml_node_t *n, const char *key, long lo, long hi,
                  long *out) {
    long long v;
    BW_TRY(bw_yaml_int(w->y, n, key, lo, hi, &v));
    *out = (long)v;
    return BW_OK;
}

bw_err bw_cfg_str(struct walk *w, const yaml_node_t *n, const char *key, char *out,
                  size_t out_size) {
    const char *s;
    BW_TRY(bw_yaml_str(w->y, n, key, out_size - 1, &s));
    memcpy(out, s, n->data.scalar.length + 1);
    return BW_OK;
}

/* Calls fn for each key of a mapping node; keys are distinct strings (checked at load). */
bw_err bw_cfg_each_pair(struct walk *w, const yaml_node_t *map, const char *what, field_fn fn) {
    if (!map || map->type != YAML_MAPPING_NODE)
        return bw_cfg_fail(w, map, "%s: expected a mapping", what);
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++)
        BW_TRY(fn(w, bw_yaml_scalar(bw_yaml_key(w->y, p)), bw_yaml_value(w->y, p)));
    return BW_OK;
}

bw_err bw_cfg_bool(struct walk *w, const yaml_node_t *n, const char *key, int *out) {
    return bw_yaml_bool(w->y, n, key, out);
}
