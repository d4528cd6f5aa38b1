/* engine_load.c: compiles a YAML policy (libyaml document API) into struct bw_policy.
 *
 * Strict like src/config/config.c, through the same reader (util/yaml_strict: aliases, anchors,
 * tags, merge keys, duplicate keys, extra documents, depth and node count are refused before
 * the walk; quoted numbers where a number is wanted by its typed getters): unknown keys, wrong
 * types, duplicate rule ids, bad globs, bad paths and bad regexes are errors naming file, line
 * and why. Everything a decision needs is prepared here (hashes, compiled regexes, parsed
 * paths) so evaluation does no parsing and no allocation beyond one PCRE2 match block. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "policy/engine_internal.h"
#include "reason/reasons.h"
#include "util/codec.h"
#include "util/file.h"
#include "util/yaml_strict.h"

#define MAX_LIST 1024 /* entries of one string list / content list / args list */
#define MAX_REGEX_BYTES 4096

struct arg_build;
struct bounds;

struct load {
    yaml_document_t *doc;
    const char *name;
    char *err;
    size_t err_size;
    struct bw_policy *p;
    struct bw_yaml *y; /* the strict reader's document (doc is &y->doc) */
    pcre2_compile_context *cctx;
    pcre2_match_data *probe_md;
    /* All catastrophic-pattern probes of one load share one CPU budget (LOAD_RX_BUDGET_MS):
     * patterns just under the match limit cost up to 49 x the limit each, and an org admin's
     * policy is compiled on a worker that serves other tenants. */
    struct bw_policy_budget probe_budget;
    struct bw_policy_rxrun probe_run;
    pcre2_match_context *probe_mctx;
    struct bw_policy_rule *rule; /* the rule being filled */
    /* The builder the current each_pair callback fills (each_pair's callbacks take only the
     * loader): set by arg_item and get_bounds around their each_pair and nowhere else. They live
     * here, not in file-scope variables, because policies are compiled on several threads at
     * once (event workers loading org policies, PUT /api/v1/policies, SIGHUP reload). */
    struct arg_build *arg;
    struct bounds *bounds;
    int pass; /* top level: 0 reads limits, 1 the rest */
    int have_version;
};

static bw_err fail(struct load *w, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bw_err fail(struct load *w, const yaml_node_t *n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    BW_IGNORE(bw_yaml_vfail(w->y, n, fmt, ap)); /* always BW_E_INVALID, returned below */
    va_end(ap);
    return BW_E_INVALID; /* a constant, so callers' compilers see every failure path */
}

/* The node at idx. The strict reader refused aliases, so the document is a tree and no node is
 * reached twice. */
static bw_err take(struct load *w, yaml_node_item_t idx, const yaml_node_t *parent,
                   const yaml_node_t **out) {
    const yaml_node_t *n = yaml_document_get_node(w->doc, idx);
    if (!n)
        return fail(w, parent, "malformed YAML document");
    *out = n;
    return BW_OK;
}

static const char *scalar(const yaml_node_t *n) {
    return bw_yaml_scalar(n);
}

static size_t seq_len(const yaml_node_t *n) {
    return bw_yaml_len(n);
}

static bw_err get_str(struct load *w, const yaml_node_t *n, const char *what, size_t max,
                      const char **out) {
    return bw_yaml_str(w->y, n, what, max, out);
}

static bw_err get_num(struct load *w, const yaml_node_t *n, const char *what, double lo, double hi,
                      double *out) {
    return bw_yaml_num(w->y, n, what, lo, hi, out);
}

static bw_err get_int(struct load *w, const yaml_node_t *n, const char *what, long long lo,
                      long long hi, long long *out) {
    return bw_yaml_int(w->y, n, what, lo, hi, out);
}

typedef bw_err (*field_fn)(struct load *w, const char *key, const yaml_node_t *k,
                           const yaml_node_t *v);

/* Calls fn for each key of a mapping (keys are distinct strings: checked at load). */
static bw_err each_pair(struct load *w, const yaml_node_t *map, const char *what, field_fn fn) {
    if (!map || map->type != YAML_MAPPING_NODE)
        return fail(w, map, "%s: expected a mapping", what);
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        const yaml_node_t *k = NULL, *v = NULL;
        BW_TRY(take(w, p->key, map, &k));
        BW_TRY(take(w, p->value, map, &v));
        const char *key = scalar(k);
        if (!key)
            return fail(w, k, "%s: keys must be strings", what);
        BW_TRY(fn(w, key, k, v));
    }
    return BW_OK;
}

/* Calls fn(w, item) for each item of a sequence of at most max items. */
typedef bw_err (*item_fn)(struct load *w, const yaml_node_t *item, size_t i, void *arg);

static bw_err each_item(struct load *w, const yaml_node_t *seq, const char *what, size_t max,
                        item_fn fn, void *arg) {
    if (!seq || seq->type != YAML_SEQUENCE_NODE)
        return fail(w, seq, "%s: expected a list", what);
    if (seq_len(seq) > max)
        return fail(w, seq, "%s: more than %zu entries", what, max);
    for (size_t i = 0; i < seq_len(seq); i++) {
        const yaml_node_t *item = NULL;
        BW_TRY(take(w, seq->data.sequence.items.start[i], seq, &item));
        BW_TRY(fn(w, item, i, arg));
    }
    return BW_OK;
}

/* ---- regexes ---- */

/* Thread CPU for every probe of one load (a maximal ordinary policy, 40,000 patterns, probes in
 * well under a second). */
#define LOAD_RX_BUDGET_MS 1000

static int limit_error(int rc) {
    return rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
           rc == PCRE2_ERROR_HEAPLIMIT || rc == PCRE2_ERROR_JIT_STACKLIMIT;
}

/* Load-time smoke test for catastrophic backtracking: runs the pattern, under the policy's own
 * limits, over short runs of each character the pattern mentions followed by a byte that
 * breaks the run. Classic exponential patterns ((a+)+$, (\w+\s?)+x, (a|aa)*b) hit the limit
 * here and are refused; anything subtler is still bounded at match time (and fails closed). */
static int rx_catastrophic(struct load *w, const struct bw_policy_rx *rx) {
    int result = 0;
    char cands[32] = "a0 x";
    size_t nc = 4;
    for (const char *s = rx->source; *s && nc < sizeof cands - 1; s++)
        if (*s > 0x20 && *s < 0x7f && !memchr(cands, *s, nc))
            cands[nc++] = *s;
    uint8_t probe[64];
    for (size_t i = 0; i < nc; i++) {
        memset(probe, (unsigned char)cands[i], 48);
        probe[48] = 0x01;
        int rc = pcre2_match(rx->code, probe, 49, 0, 0, w->probe_md, w->probe_mctx);
        if (w->probe_budget.exhausted) {
            result = 2; /* the load's probe budget is spent (the callout ended the match) */
            break;
        }
        if (limit_error(rc)) {
            result = 1;
            break;
        }
    }
    bw_policy_rx_finish(&w->probe_run); /* adds this pattern's probe time to the budget */
    return result;
}

static bw_err compile_rx(struct load *w, const yaml_node_t *n, const char *what,
                         struct bw_policy_rx *rx) {
    const char *src;
    BW_TRY(get_str(w, n, what, MAX_REGEX_BYTES, &src));
    /* The budget callout goes first (engine_internal.h): a leading callout runs at every start
     * position the matcher tries and changes nothing else (a callout that returns 0 is a
     * no-op; top-level alternatives and option settings keep their meaning). Start-of-pattern
     * settings such as (*LIMIT_MATCH=...) are therefore not available to a policy. */
    char wrapped[sizeof BW_POLICY_RX_PREFIX + MAX_REGEX_BYTES];
    size_t pre = sizeof BW_POLICY_RX_PREFIX - 1, len = strlen(src);
    memcpy(wrapped, BW_POLICY_RX_PREFIX, pre);
    memcpy(wrapped + pre, src, len);
    int code = 0;
    PCRE2_SIZE off = 0;
    /* MATCH_INVALID_UTF: message text may hold invalid UTF-8; it is matched, never rejected
     * and never read out of bounds. NEVER_BACKSLASH_C: \C could split a UTF-8 character. */
    rx->code = pcre2_compile((PCRE2_SPTR)wrapped, pre + len,
                             PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_NEVER_BACKSLASH_C, &code,
                             &off, w->cctx);
    if (!rx->code) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(code, msg, sizeof msg);
        return fail(w, n, "%s: bad regex at offset %zu: %s", what,
                    (size_t)(off >= pre ? off - pre : 0), (char *)msg);
    }
    rx->source = strdup(src);
    if (!rx->source)
        return BW_E_NOMEM;
    (void)pcre2_jit_compile(rx->code, PCRE2_JIT_COMPLETE); /* the interpreter is the fallback */
    int bad = rx_catastrophic(w, rx);
    if (bad == 2)
        return fail(w, n,
                    "%s: checking the policy's regexes took more than %d ms of CPU; a policy "
                    "whose patterns are this slow on 48-byte probes is refused",
                    what, LOAD_RX_BUDGET_MS);
    if (bad)
        return fail(w, n,
                    "%s: regex backtracks catastrophically (hits the match limit on a "
                    "48-byte probe)",
                    what);
    return BW_OK;
}

/* ---- string matchers ---- */

static const char *const known_routes[] = {
    "chat",         "completions",    "responses",      "embeddings",         "models",
    "moderations",  "mcp.tools_list", "mcp.tools_call", "mcp.resources_read", "mcp.prompts_get",
    "mcp.sampling", "widget",
};

static const char *route_invalid(const char *s) {
    if (strpbrk(s, "*?"))
        return NULL;
    for (size_t i = 0; i < sizeof known_routes / sizeof known_routes[0]; i++)
        if (strcmp(known_routes[i], s) == 0)
            return NULL;
    return "unknown route (see docs/POLICY.md for the list)";
}

struct strset_arg {
    struct bw_policy_strset *set;
    const char *what;
    int is_route;
};

static bw_err strset_item(struct load *w, const yaml_node_t *n, size_t i, void *arg) {
    struct strset_arg *a = arg;
    const char *s;
    BW_TRY(get_str(w, n, a->what, BW_POLICY_MAX_GLOB - 1, &s));
    const char *why = bw_policy_glob_invalid(s);
    if (!why && a->is_route)
        why = route_invalid(s);
    if (why)
        return fail(w, n, "%s: invalid pattern '%.64s': %s", a->what, s, why);
    struct bw_policy_pat *p = &a->set->v[i];
    p->text = strdup(s);
    if (!p->text)
        return BW_E_NOMEM;
    p->hash = bw_policy_hash(s);
    p->is_glob = strpbrk(s, "*?") != NULL;
    a->set->n = i + 1;
    return BW_OK;
}

/* A string matcher is one glob or a non-empty list of globs. */
static bw_err strset(struct load *w, const yaml_node_t *v, const char *what,
                     struct bw_policy_strset *set, int is_route) {
    struct strset_arg a = {set, what, is_route};
    if (v->type == YAML_SCALAR_NODE) {
        set->v = calloc(1, sizeof *set->v);
        return set->v ? strset_item(w, v, 0, &a) : BW_E_NOMEM;
    }
    if (v->type != YAML_SEQUENCE_NODE || seq_len(v) == 0)
        return fail(w, v, "%s: expected a string or a non-empty list of strings", what);
    if (seq_len(v) > MAX_LIST)
        return fail(w, v, "%s: more than %d entries", what, MAX_LIST);
    set->v = calloc(seq_len(v), sizeof *set->v);
    if (!set->v)
        return BW_E_NOMEM;
    return each_item(w, v, what, MAX_LIST, strset_item, &a);
}

/* ---- argument constraints ---- */

/* A YAML scalar as a JSON value: plain true/false/null/numbers are typed, anything quoted is a
 * string (so `equals: "1"` and `equals: 1` mean different things, as in YAML). */
static bw_err scalar_json(struct load *w, const yaml_node_t *n, const char *what, json_t **out) {
    const char *s = scalar(n);
    if (!s)
        return fail(w, n, "%s: expected a scalar (string, number, true, false, null)", what);
    json_t *v = NULL;
    if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        char *end = NULL;
        errno = 0;
        double d = *s ? strtod(s, &end) : 0;
        if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0)
            v = json_boolean(s[0] == 't');
        else if (strcmp(s, "null") == 0 || strcmp(s, "~") == 0)
            v = json_null();
        else if (*s && end && !*end && !errno && isfinite(d))
            v = json_real(d);
    }
    if (!v)
        v = json_stringn(s, n->data.scalar.length);
    if (!v)
        return fail(w, n, "%s: not valid UTF-8", what);
    *out = v;
    return BW_OK;
}

static bw_err enum_item(struct load *w, const yaml_node_t *n, size_t i, void *arg) {
    (void)i;
    json_t *v;
    BW_TRY(scalar_json(w, n, "args.enum", &v));
    return json_array_append_new(arg, v) == 0 ? BW_OK : BW_E_NOMEM;
}

struct arg_build {
    struct bw_policy_argc *c;
    int have_path, have_op;
};

static bw_err set_op(struct load *w, struct arg_build *b, const yaml_node_t *k,
                     enum bw_policy_argop op) {
    if (b->have_op && !(op == BW_POLICY_ARG_RANGE && b->c->op == BW_POLICY_ARG_RANGE))
        return fail(w, k, "args: one of equals, prefix, regex, enum or min/max per constraint");
    b->have_op = 1;
    b->c->op = op;
    return BW_OK;
}

static bw_err arg_field(struct load *w, const char *key, const yaml_node_t *k,
                        const yaml_node_t *v) {
    struct arg_build *b = w->arg;
    struct bw_policy_argc *c = b->c;
    if (strcmp(key, "path") == 0) {
        const char *s, *why;
        BW_TRY(get_str(w, v, "args.path", 512, &s));
        if ((why = bw_policy_jpath_compile(s, &c->path)))
            return fail(w, v, "args.path: invalid path '%.64s': %s", s, why);
        b->have_path = 1;
        return BW_OK;
    }
    if (strcmp(key, "equals") == 0) {
        BW_TRY(set_op(w, b, k, BW_POLICY_ARG_EQUALS));
        return scalar_json(w, v, "args.equals", &c->values);
    }
    if (strcmp(key, "prefix") == 0) {
        const char *s;
        BW_TRY(set_op(w, b, k, BW_POLICY_ARG_PREFIX));
        BW_TRY(get_str(w, v, "args.prefix", 4096, &s));
        c->prefix = strdup(s);
        return c->prefix ? BW_OK : BW_E_NOMEM;
    }
    if (strcmp(key, "regex") == 0) {
        BW_TRY(set_op(w, b, k, BW_POLICY_ARG_REGEX));
        return compile_rx(w, v, "args.regex", &c->rx);
    }
    if (strcmp(key, "enum") == 0) {
        BW_TRY(set_op(w, b, k, BW_POLICY_ARG_ENUM));
        if (!(c->values = json_array()))
            return BW_E_NOMEM;
        if (v->type == YAML_SEQUENCE_NODE && seq_len(v) == 0)
            return fail(w, v, "args.enum: empty list");
        return each_item(w, v, "args.enum", MAX_LIST, enum_item, c->values);
    }
    if (strcmp(key, "min") == 0 || strcmp(key, "max") == 0) {
        BW_TRY(set_op(w, b, k, BW_POLICY_ARG_RANGE));
        return get_num(w, v, key[1] == 'i' ? "args.min" : "args.max", -1e300, 1e300,
                       key[1] == 'i' ? &c->min : &c->max);
    }
    return fail(w, k, "args: unknown key '%.64s'", key);
}

static bw_err arg_item(struct load *w, const yaml_node_t *n, size_t i, void *arg) {
    struct bw_policy_rule *r = arg;
    struct bw_policy_argc *c = &r->args[i];
    c->min = -INFINITY;
    c->max = INFINITY;
    r->n_args = i + 1;
    struct arg_build b = {c, 0, 0};
    w->arg = &b;
    bw_err e = each_pair(w, n, "args entry", arg_field);
    w->arg = NULL;
    BW_TRY(e);
    if (!b.have_path)
        return fail(w, n, "args entry: 'path' is required");
    if (!b.have_op)
        return fail(w, n, "args entry: needs equals, prefix, regex, enum or min/max");
    if (c->op == BW_POLICY_ARG_RANGE && c->min > c->max)
        return fail(w, n, "args entry: min is greater than max");
    return BW_OK;
}

/* ---- bounds, content, time ---- */

struct bounds {
    double lo, hi;
    double *min, *max;
    const char *what;
};

static bw_err bounds_field(struct load *w, const char *key, const yaml_node_t *k,
                           const yaml_node_t *v) {
    struct bounds *b = w->bounds;
    if (strcmp(key, "min") == 0)
        return get_num(w, v, b->what, b->lo, b->hi, b->min);
    if (strcmp(key, "max") == 0)
        return get_num(w, v, b->what, b->lo, b->hi, b->max);
    return fail(w, k, "%s: unknown key '%.64s' (expected min, max)", b->what, key);
}

static bw_err get_bounds(struct load *w, const yaml_node_t *v, const char *what, double hi,
                         double *min, double *max) {
    struct bounds b = {0, hi, min, max, what};
    *min = -INFINITY;
    *max = INFINITY;
    w->bounds = &b;
    bw_err e = each_pair(w, v, what, bounds_field);
    w->bounds = NULL;
    BW_TRY(e);
    if (isinf(*min) && isinf(*max))
        return fail(w, v, "%s: give min, max or both", what);
    if (*min > *max)
        return fail(w, v, "%s: min is greater than max", what);
    return BW_OK;
}

static bw_err content_item(struct load *w, const yaml_node_t *n, size_t i, void *arg) {
    struct bw_policy_rule *r = arg;
    r->n_content = i + 1;
    return compile_rx(w, n, "content", &r->content[i]);
}

static bw_err parse_hhmm(struct load *w, const yaml_node_t *n, const char *s, int *out) {
    if (strlen(s) != 5 || s[2] != ':')
        return fail(w, n, "time.hours: expected HH:MM-HH:MM");
    for (int i = 0; i < 5; i++)
        if (i != 2 && (s[i] < '0' || s[i] > '9'))
            return fail(w, n, "time.hours: expected HH:MM-HH:MM");
    int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
    if (h > 24 || m > 59 || (h == 24 && m != 0))
        return fail(w, n, "time.hours: hour 00..24, minute 00..59");
    *out = h * 60 + m;
    return BW_OK;
}

static bw_err time_hours(struct load *w, const yaml_node_t *v, struct bw_policy_timewin *t) {
    const char *s;
    BW_TRY(get_str(w, v, "time.hours", 11, &s));
    char a[6] = "", b[6] = "";
    const char *dash = strchr(s, '-');
    if (!dash || dash - s != 5 || strlen(dash + 1) != 5)
        return fail(w, v, "time.hours: expected HH:MM-HH:MM");
    memcpy(a, s, 5);
    memcpy(b, dash + 1, 5);
    BW_TRY(parse_hhmm(w, v, a, &t->start_min));
    BW_TRY(parse_hhmm(w, v, b, &t->end_min));
    if (t->start_min == t->end_min)
        return fail(w, v, "time.hours: empty window (for all day use 00:00-24:00)");
    return BW_OK;
}

static bw_err time_tz(struct load *w, const yaml_node_t *v, struct bw_policy_timewin *t) {
    const char *s;
    BW_TRY(get_str(w, v, "time.tz", 6, &s));
    if (strcmp(s, "UTC") == 0 || strcmp(s, "Z") == 0) {
        t->tz_offset_min = 0;
        return BW_OK;
    }
    int off;
    if ((s[0] != '+' && s[0] != '-') || parse_hhmm(w, v, s + 1, &off) != BW_OK)
        return fail(w, v, "time.tz: expected UTC or a fixed offset like +02:00 / -05:30");
    if (off > 14 * 60)
        return fail(w, v, "time.tz: offset beyond 14:00");
    t->tz_offset_min = s[0] == '-' ? -off : off;
    return BW_OK;
}

static bw_err day_item(struct load *w, const yaml_node_t *n, size_t i, void *arg) {
    (void)i;
    static const char *const names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
    const char *s = scalar(n);
    for (int d = 0; s && d < 7; d++) {
        if (strcmp(s, names[d]) == 0) {
            *(uint8_t *)arg |= (uint8_t)(1u << d);
            return BW_OK;
        }
    }
    return fail(w, n, "time.days: expected mon, tue, wed, thu, fri, sat or sun");
}

static bw_err time_field(struct load *w, const char *key, const yaml_node_t *k,
                         const yaml_node_t *v) {
    struct bw_policy_timewin *t = &w->rule->time;
    if (strcmp(key, "days") == 0) {
        t->days = 0;
        BW_TRY(each_item(w, v, "time.days", 7, day_item, &t->days));
        return t->days ? BW_OK : fail(w, v, "time.days: empty list");
    }
    if (strcmp(key, "hours") == 0)
        return time_hours(w, v, t);
    if (strcmp(key, "tz") == 0)
        return time_tz(w, v, t);
    return fail(w, k, "time: unknown key '%.64s' (expected days, hours, tz)", key);
}

/* ---- rules ---- */

static bw_err match_tokens_cost(struct load *w, const char *key, const yaml_node_t *v) {
    struct bw_policy_rule *r = w->rule;
    if (strcmp(key, "max_tokens") == 0) {
        double lo, hi;
        BW_TRY(get_bounds(w, v, "max_tokens", 1e15, &lo, &hi));
        r->tokens_min = isinf(lo) ? INT64_MIN : (int64_t)ceil(lo);
        r->tokens_max = isinf(hi) ? INT64_MAX : (int64_t)floor(hi);
        r->fields |= BW_PF_TOKENS;
        return BW_OK;
    }
    BW_TRY(get_bounds(w, v, "cost", 1e12, &r->cost_min, &r->cost_max));
    r->fields |= BW_PF_COST;
    return BW_OK;
}

static bw_err match_list(struct load *w, const char *key, const yaml_node_t *v) {
    struct bw_policy_rule *r = w->rule;
    if (strcmp(key, "args") == 0) {
        if (v->type != YAML_SEQUENCE_NODE || seq_len(v) == 0 || seq_len(v) > 64)
            return fail(w, v, "args: expected a list of 1..64 constraints");
        if (!(r->args = calloc(seq_len(v), sizeof *r->args)))
            return BW_E_NOMEM;
        return each_item(w, v, "args", 64, arg_item, r);
    }
    /* content: one pattern or a list */
    size_t n = v->type == YAML_SEQUENCE_NODE ? seq_len(v) : 1;
    if (n == 0 || n > 64)
        return fail(w, v, "content: expected a regex or a list of 1..64 regexes");
    if (!(r->content = calloc(n, sizeof *r->content)))
        return BW_E_NOMEM;
    r->fields |= BW_PF_CONTENT;
    if (v->type != YAML_SEQUENCE_NODE) {
        r->n_content = 1;
        return compile_rx(w, v, "content", &r->content[0]);
    }
    return each_item(w, v, "content", 64, content_item, r);
}

static bw_err match_field(struct load *w, const char *key, const yaml_node_t *k,
                          const yaml_node_t *v) {
    struct bw_policy_rule *r = w->rule;
    static const struct {
        const char *key;
        size_t off;
        unsigned bit;
    } sets[] = {
        {"org", offsetof(struct bw_policy_rule, org), BW_PF_ORG},
        {"agent", offsetof(struct bw_policy_rule, agent), BW_PF_AGENT},
        {"role", offsetof(struct bw_policy_rule, role), BW_PF_ROLE},
        {"route", offsetof(struct bw_policy_rule, route), BW_PF_ROUTE},
        {"model", offsetof(struct bw_policy_rule, model), BW_PF_MODEL},
        {"tool", offsetof(struct bw_policy_rule, tool), BW_PF_TOOL},
        {"resource", offsetof(struct bw_policy_rule, resource), BW_PF_RESOURCE},
        {"prompt", offsetof(struct bw_policy_rule, prompt), BW_PF_PROMPT},
    };
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        if (strcmp(key, sets[i].key) == 0) {
            r->fields |= sets[i].bit;
            return strset(w, v, key, (struct bw_policy_strset *)((char *)r + sets[i].off),
                          sets[i].bit == BW_PF_ROUTE);
        }
    }
    if (strcmp(key, "max_tokens") == 0 || strcmp(key, "cost") == 0)
        return match_tokens_cost(w, key, v);
    if (strcmp(key, "args") == 0 || strcmp(key, "content") == 0)
        return match_list(w, key, v);
    if (strcmp(key, "time") == 0) {
        r->fields |= BW_PF_TIME;
        r->time.days = 0x7f;
        r->time.start_min = 0;
        r->time.end_min = 24 * 60;
        return each_pair(w, v, "time", time_field);
    }
    return fail(w, k, "match: unknown key '%.64s'", key);
}

static int id_ok(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n >= BW_POLICY_ID_SIZE)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || !strchr("_.:-", c)))
            return 0;
    }
    return 1;
}

/* Codes a policy may name in `reason`: registered policy-denial codes, or custom ones. The
 * registered non-policy codes are refused: a deny must not claim to be UNAUTHENTICATED (401)
 * or INTERNAL (500), nor an engine-only code (POLICY_MATCH_LIMIT, TOOL_ARGS_INVALID ...).
 * A new registered code that is not a policy denial must be added here. */
static const char *const reserved_reasons[] = {
    BW_R_ALLOWED,
    BW_R_UNAUTHENTICATED,
    BW_R_ROLE_FORBIDDEN,
    BW_R_INVALID_JSON,
    BW_R_JSON_TOO_DEEP,
    BW_R_INVALID_REQUEST,
    BW_R_BODY_TOO_LARGE,
    BW_R_UNSUPPORTED_MEDIA_TYPE,
    BW_R_NOT_FOUND,
    BW_R_METHOD_NOT_ALLOWED,
    BW_R_UPSTREAM_TIMEOUT,
    BW_R_UPSTREAM_BAD_RESPONSE,
    BW_R_UPSTREAM_UNAVAILABLE,
    BW_R_LEDGER_UNAVAILABLE,
    BW_R_STORE_UNAVAILABLE,
    BW_R_SHUTTING_DOWN,
    BW_R_INTERNAL,
    BW_R_POLICY_MATCH_LIMIT,
    BW_R_POLICY_UNAVAILABLE,
    BW_R_APPROVAL_REQUIRED,
    BW_R_TOOL_STRIPPED,
    BW_R_TOOL_ARGS_INVALID,
    BW_R_TOOL_ARGS_TOO_LARGE,
    BW_R_TOOL_CALL_INCOMPLETE,
    BW_R_TOOL_CALL_DUPLICATE_ID,
    BW_R_TOOL_STREAM_INVALID,
    /* issue 6 (limits, webhooks): a policy must not impersonate these either */
    BW_R_RATE_LIMITED,
    BW_R_CONCURRENCY_LIMITED,
    BW_R_BUDGET_EXHAUSTED,
    BW_R_BUDGET_UNBOUNDED,
    BW_R_PRICE_UNKNOWN,
    BW_R_LIMITS_UNAVAILABLE,
    BW_R_WEBHOOK_NOT_CONFIGURED,
    BW_R_WEBHOOK_HEADER_MALFORMED,
    BW_R_WEBHOOK_SIGNATURE_INVALID,
    BW_R_WEBHOOK_TIMESTAMP_OUT_OF_RANGE,
    BW_R_WEBHOOK_BODY_TOO_LARGE,
    BW_R_WEBHOOK_PAYLOAD_INVALID,
    BW_R_WEBHOOK_IN_PROGRESS,
    BW_R_BILLING_EVENT_APPLIED,
    /* issue 14 (mcp-oauth2): the MCP limiter and OAuth refusals */
    BW_R_MCP_RATE_LIMITED,
    BW_R_MCP_OAUTH_TOKEN_INVALID,
    BW_R_MCP_OAUTH_ISSUER,
    BW_R_MCP_OAUTH_EXPIRED,
    BW_R_MCP_OAUTH_AUDIENCE,
    BW_R_MCP_OAUTH_INSUFFICIENT_SCOPE,
    BW_R_MCP_OAUTH_ORG_UNKNOWN,
    BW_R_MCP_OAUTH_UNAVAILABLE,
};

static const char *reason_invalid(const char *s) {
    size_t n = strlen(s);
    if (n < 3 || n > 48 || s[0] < 'A' || s[0] > 'Z')
        return "a reason code matches ^[A-Z][A-Z0-9_]{2,47}$";
    for (size_t i = 1; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return "a reason code matches ^[A-Z][A-Z0-9_]{2,47}$";
    for (size_t i = 0; i < sizeof reserved_reasons / sizeof reserved_reasons[0]; i++)
        if (strcmp(s, reserved_reasons[i]) == 0)
            return "this registered code is not a policy denial and cannot be used here";
    return NULL;
}

static bw_err approval_field(struct load *w, const char *key, const yaml_node_t *k,
                             const yaml_node_t *v) {
    struct bw_policy_rule *r = w->rule;
    long long n;
    if (strcmp(key, "reviewer_role") == 0) {
        const char *s;
        BW_TRY(get_str(w, v, "approval.reviewer_role", BW_POLICY_ROLE_SIZE - 1, &s));
        if (!id_ok(s))
            return fail(w, v, "approval.reviewer_role: letters, digits, '_', '.', ':', '-'");
        memcpy(r->reviewer_role, s, strlen(s) + 1);
        return BW_OK;
    }
    if (strcmp(key, "quorum") == 0) {
        BW_TRY(get_int(w, v, "approval.quorum", 1, 16, &n));
        r->quorum = (uint32_t)n;
        return BW_OK;
    }
    if (strcmp(key, "expires_in_s") == 0) {
        BW_TRY(get_int(w, v, "approval.expires_in_s", 1, 30 * 86400, &n));
        r->expiry_s = (uint32_t)n;
        return BW_OK;
    }
    return fail(w, k, "approval: unknown key '%.64s'", key);
}

static bw_err rule_effect(struct load *w, const yaml_node_t *v) {
    static const char *const names[] = {"deny", "allow", "require_approval", "strip"};
    const char *s = scalar(v);
    for (int e = 0; s && e < 4; e++) {
        if (strcmp(s, names[e]) == 0) {
            w->rule->effect = (enum bw_policy_effect)e;
            w->rule->http_status = -1; /* marks "effect given" until finish_rule */
            return BW_OK;
        }
    }
    return fail(w, v, "effect: expected allow, deny, require_approval or strip");
}

static bw_err rule_field(struct load *w, const char *key, const yaml_node_t *k,
                         const yaml_node_t *v) {
    struct bw_policy_rule *r = w->rule;
    const char *s;
    if (strcmp(key, "id") == 0) {
        BW_TRY(get_str(w, v, "id", BW_POLICY_ID_SIZE - 1, &s));
        if (!id_ok(s))
            return fail(w, v,
                        "id: 1..64 of letters, digits, '_', '.', ':', '-' (starting "
                        "with a letter or digit)");
        memcpy(r->id, s, strlen(s) + 1);
        return BW_OK;
    }
    if (strcmp(key, "description") == 0)
        return get_str(w, v, "description", 4096, &s);
    if (strcmp(key, "match") == 0)
        return each_pair(w, v, "match", match_field);
    if (strcmp(key, "effect") == 0)
        return rule_effect(w, v);
    if (strcmp(key, "reason") == 0) {
        const char *why;
        BW_TRY(get_str(w, v, "reason", BW_POLICY_REASON_SIZE - 1, &s));
        if ((why = reason_invalid(s)))
            return fail(w, v, "reason '%.48s': %s", s, why);
        memcpy(r->reason, s, strlen(s) + 1);
        return BW_OK;
    }
    if (strcmp(key, "approval") == 0) {
        r->quorum = 1;
        r->expiry_s = 3600;
        return each_pair(w, v, "approval", approval_field);
    }
    return fail(w, k, "rule: unknown key '%.64s'", key);
}

/* Cross-field checks, and the reason/status each effect carries. */
static bw_err finish_rule(struct load *w, const yaml_node_t *n) {
    struct bw_policy_rule *r = w->rule;
    if (!r->id[0])
        return fail(w, n, "rule: 'id' is required");
    if (r->http_status != -1)
        return fail(w, n, "rule '%s': 'effect' is required", r->id);
    if (r->n_args && !(r->fields & BW_PF_TOOL))
        return fail(w, n, "rule '%s': 'args' needs a 'tool' matcher", r->id);
    if (r->reason[0] && r->effect != BW_POLICY_DENY)
        return fail(w, n, "rule '%s': 'reason' is only for effect deny", r->id);
    if ((r->quorum != 0) != (r->effect == BW_POLICY_REQUIRE_APPROVAL))
        return fail(w, n,
                    "rule '%s': 'approval' is required for, and only for, "
                    "require_approval",
                    r->id);
    if (r->effect == BW_POLICY_REQUIRE_APPROVAL && !r->reviewer_role[0])
        return fail(w, n, "rule '%s': approval.reviewer_role is required", r->id);
    if (r->effect == BW_POLICY_STRIP && !(r->fields & BW_PF_TOOL))
        return fail(w, n, "rule '%s': effect strip needs a 'tool' matcher", r->id);
    const char *code = r->effect == BW_POLICY_ALLOW              ? BW_R_ALLOWED
                       : r->effect == BW_POLICY_REQUIRE_APPROVAL ? BW_R_APPROVAL_REQUIRED
                       : r->effect == BW_POLICY_STRIP            ? BW_R_TOOL_STRIPPED
                       : (r->fields & BW_PF_TOOL)                ? BW_R_TOOL_DENIED
                                                                 : BW_R_POLICY_DENIED;
    if (!r->reason[0])
        snprintf(r->reason, sizeof r->reason, "%s", code);
    r->http_status = r->effect == BW_POLICY_ALLOW || r->effect == BW_POLICY_STRIP ? 200 : 403;
    return BW_OK;
}

static bw_err rule_item(struct load *w, const yaml_node_t *n, size_t i, void *arg) {
    struct bw_policy_layer *layer = arg;
    struct bw_policy_rule *r = &layer->rules[i];
    layer->n = i + 1;
    r->line = (size_t)n->start_mark.line + 1;
    r->tokens_min = INT64_MIN;
    r->tokens_max = INT64_MAX;
    r->cost_min = -INFINITY;
    r->cost_max = INFINITY;
    w->rule = r;
    BW_TRY(each_pair(w, n, "rule", rule_field));
    return finish_rule(w, n);
}

static bw_err layer(struct load *w, const yaml_node_t *v, const char *what,
                    struct bw_policy_layer *l) {
    if (v->type != YAML_SEQUENCE_NODE)
        return fail(w, v, "%s: expected a list of rules", what);
    size_t n = seq_len(v);
    if (n + w->p->global.n + w->p->rules.n > BW_POLICY_MAX_RULES)
        return fail(w, v, "%s: more than %d rules in the policy", what, BW_POLICY_MAX_RULES);
    if (l->rules)
        return fail(w, v, "%s: given twice", what);
    if (!(l->rules = calloc(n ? n : 1, sizeof *l->rules)) ||
        !(l->hot = calloc(n ? n : 1, sizeof *l->hot)))
        return BW_E_NOMEM;
    BW_TRY(each_item(w, v, what, BW_POLICY_MAX_RULES, rule_item, l));
    for (size_t i = 0; i < l->n; i++) {
        const struct bw_policy_rule *r = &l->rules[i];
        l->hot[i].fields = r->fields;
        l->hot[i].org_single = r->org.n == 1 && !r->org.v[0].is_glob;
        l->hot[i].org_hash = l->hot[i].org_single ? r->org.v[0].hash : 0;
    }
    return BW_OK;
}

static bw_err limits_field(struct load *w, const char *key, const yaml_node_t *k,
                           const yaml_node_t *v) {
    long long n;
    if (strcmp(key, "regex_match_limit") == 0) {
        BW_TRY(get_int(w, v, "limits.regex_match_limit", 1000, 10000000, &n));
        w->p->match_limit = (uint32_t)n;
        return BW_OK;
    }
    if (strcmp(key, "regex_depth_limit") == 0) {
        BW_TRY(get_int(w, v, "limits.regex_depth_limit", 100, 1000000, &n));
        w->p->depth_limit = (uint32_t)n;
        return BW_OK;
    }
    if (strcmp(key, "regex_budget_ms") == 0) {
        BW_TRY(get_int(w, v, "limits.regex_budget_ms", 1, 10000, &n));
        w->p->budget_ms = (uint32_t)n;
        return BW_OK;
    }
    return fail(w, k, "limits: unknown key '%.64s'", key);
}

static bw_err top_field(struct load *w, const char *key, const yaml_node_t *k,
                        const yaml_node_t *v) {
    if (strcmp(key, "limits") == 0)
        return w->pass == 0 ? each_pair(w, v, "limits", limits_field) : BW_OK;
    if (w->pass == 0)
        return BW_OK;
    if (strcmp(key, "version") == 0) {
        long long n;
        w->have_version = 1;
        return get_int(w, v, "version", 1, 1, &n);
    }
    if (strcmp(key, "global") == 0)
        return layer(w, v, "global", &w->p->global);
    if (strcmp(key, "rules") == 0)
        return layer(w, v, "rules", &w->p->rules);
    return fail(w, k, "unknown key '%.64s' (expected version, limits, global, rules)", key);
}

static int cmp_rule_id(const void *a, const void *b) {
    const struct bw_policy_rule *x = *(const struct bw_policy_rule *const *)a;
    const struct bw_policy_rule *y = *(const struct bw_policy_rule *const *)b;
    int c = strcmp(x->id, y->id);
    return c ? c : (x->line > y->line) - (x->line < y->line);
}

/* Duplicate ids across both layers: sort pointers (n log n, fine for 20,000 rules). */
static bw_err check_ids(struct load *w) {
    size_t n = w->p->global.n + w->p->rules.n;
    if (n < 2)
        return BW_OK;
    const struct bw_policy_rule **v = malloc(n * sizeof *v);
    if (!v)
        return BW_E_NOMEM;
    for (size_t i = 0; i < w->p->global.n; i++)
        v[i] = &w->p->global.rules[i];
    for (size_t i = 0; i < w->p->rules.n; i++)
        v[w->p->global.n + i] = &w->p->rules.rules[i];
    qsort(v, n, sizeof *v, cmp_rule_id);
    bw_err result = BW_OK;
    for (size_t i = 1; i < n && result == BW_OK; i++) {
        if (strcmp(v[i - 1]->id, v[i]->id) == 0) {
            snprintf(w->err, w->err_size, "%s:%zu: duplicate rule id '%s' (first at line %zu)",
                     w->name, v[i]->line, v[i]->id, v[i - 1]->line);
            result = BW_E_INVALID;
        }
    }
    free(v);
    return result;
}

/* ---- object lifetime ---- */

void bw_policy_rule_cleanup(struct bw_policy_rule *r) {
    struct bw_policy_strset *sets[] = {&r->org,   &r->agent, &r->role,     &r->route,
                                       &r->model, &r->tool,  &r->resource, &r->prompt};
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        for (size_t j = 0; j < sets[i]->n; j++)
            free(sets[i]->v[j].text);
        free(sets[i]->v);
    }
    for (size_t i = 0; r->args && i < r->n_args; i++) {
        struct bw_policy_argc *c = &r->args[i];
        for (size_t j = 0; j < c->path.n; j++)
            free(c->path.seg[j].key);
        free(c->path.text);
        json_decref(c->values);
        free(c->prefix);
        pcre2_code_free(c->rx.code);
        free(c->rx.source);
    }
    free(r->args);
    for (size_t i = 0; r->content && i < r->n_content; i++) {
        pcre2_code_free(r->content[i].code);
        free(r->content[i].source);
    }
    free(r->content);
}

static void policy_free(struct bw_policy *p) {
    bw_policy_unref(p->base);
    bw_policy_unref(p->overlay);
    struct bw_policy_layer *layers[] = {&p->global, &p->rules};
    for (size_t l = 0; l < 2; l++) {
        for (size_t i = 0; i < layers[l]->n; i++)
            bw_policy_rule_cleanup(&layers[l]->rules[i]);
        free(layers[l]->rules);
        free(layers[l]->hot);
    }
    pcre2_match_context_free(p->mctx);
    free(p);
}

struct bw_policy *bw_policy_ref(struct bw_policy *p) {
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
    return p;
}

void bw_policy_unref(struct bw_policy *p) {
    /* acq_rel: the freeing thread must see every other holder's reads finished. */
    if (p && atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) == 1)
        policy_free(p);
}

const uint8_t *bw_policy_sha256(const struct bw_policy *p) {
    return p->overlay ? (p->base ? p->base->sha256 : p->overlay->sha256) : p->sha256;
}

const uint8_t *bw_policy_org_sha256(const struct bw_policy *p) {
    return p->overlay && p->base ? p->overlay->sha256 : NULL;
}

size_t bw_policy_global_count(const struct bw_policy *p) {
    return p->overlay ? (p->base ? p->base->global.n : 0) : p->global.n;
}

size_t bw_policy_rule_count(const struct bw_policy *p) {
    return p->overlay ? bw_policy_global_count(p) + p->overlay->rules.n : p->global.n + p->rules.n;
}

void bw_policy_each_approval(const struct bw_policy *p,
                             void (*fn)(void *arg, const char *reviewer_role, uint32_t quorum),
                             void *arg) {
    /* A composite's layers are its parts': base's global layer, overlay's rules. */
    const struct bw_policy_layer *layers[2] = {
        p->overlay ? (p->base ? &p->base->global : NULL) : &p->global,
        p->overlay ? &p->overlay->rules : &p->rules,
    };
    for (size_t l = 0; l < 2; l++)
        for (size_t i = 0; layers[l] && i < layers[l]->n; i++)
            if (layers[l]->rules[i].effect == BW_POLICY_REQUIRE_APPROVAL)
                fn(arg, layers[l]->rules[i].reviewer_role, layers[l]->rules[i].quorum);
}

/* ---- entry points ---- */

static bw_err new_policy(struct bw_policy **out) {
    struct bw_policy *p = calloc(1, sizeof *p);
    if (!p)
        return BW_E_NOMEM;
    atomic_init(&p->refs, 1);
    p->match_limit = BW_POLICY_DEFAULT_MATCH_LIMIT;
    p->depth_limit = BW_POLICY_DEFAULT_DEPTH_LIMIT;
    p->budget_ms = BW_POLICY_DEFAULT_BUDGET_MS;
    *out = p;
    return BW_OK;
}

/* The match context carries the limits; it is built after pass 0 has read them. */
static bw_err make_contexts(struct load *w) {
    w->p->mctx = pcre2_match_context_create(NULL);
    w->cctx = pcre2_compile_context_create(NULL);
    w->probe_md = pcre2_match_data_create(1, NULL);
    if (!w->p->mctx || !w->cctx || !w->probe_md)
        return BW_E_NOMEM;
    pcre2_set_match_limit(w->p->mctx, w->p->match_limit);
    pcre2_set_depth_limit(w->p->mctx, w->p->depth_limit);
    pcre2_set_heap_limit(w->p->mctx, 20 * 1024); /* KiB of backtracking memory per match */
    w->probe_run.budget = &w->probe_budget;
    w->probe_run.limit_us = (int64_t)LOAD_RX_BUDGET_MS * 1000;
    if (!(w->probe_mctx = bw_policy_rx_context(w->p->mctx, &w->probe_run)))
        return BW_E_NOMEM;
    /* the probe runs under the default limits at most: a policy's raised limit would let one
     * probe of a pattern just under it run for seconds between two reads of the clock */
    if (w->p->match_limit > BW_POLICY_DEFAULT_MATCH_LIMIT)
        pcre2_set_match_limit(w->probe_mctx, BW_POLICY_DEFAULT_MATCH_LIMIT);
    if (w->p->depth_limit > BW_POLICY_DEFAULT_DEPTH_LIMIT)
        pcre2_set_depth_limit(w->probe_mctx, BW_POLICY_DEFAULT_DEPTH_LIMIT);
    pcre2_set_max_pattern_length(w->cctx, sizeof BW_POLICY_RX_PREFIX + MAX_REGEX_BYTES);
    pcre2_set_parens_nest_limit(w->cctx, 64);
    return BW_OK;
}

static bw_err walk_document(struct load *w, yaml_document_t *doc) {
    yaml_node_t *root = yaml_document_get_root_node(doc);
    if (!root)
        return fail(w, NULL, "empty policy");
    BW_TRY(each_pair(w, root, "policy", top_field));
    BW_TRY(make_contexts(w));
    w->pass = 1;
    BW_TRY(each_pair(w, root, "policy", top_field));
    if (!w->have_version)
        return fail(w, root, "'version: 1' is required");
    if (!w->p->rules.rules)
        return fail(w, root, "'rules' is required (an empty list denies everything)");
    return check_ids(w);
}

/* The strict reader's bounds for a policy (docs/POLICY.md): 20,000 rules of a few nodes each
 * fit; the node bound caps the tree's memory (~70 bytes a node) below the text's own bound. */
static const struct bw_yaml_limits policy_yaml = {BW_POLICY_MAX_BYTES, 32, 1u << 20};

bw_err bw_policy_parse(const char *text, size_t len, const char *name, struct bw_policy **out,
                       char *err, size_t err_size) {
    bw_err result = BW_OK;
    struct bw_yaml y;
    struct load w = {.doc = &y.doc, .name = name, .err = err, .err_size = err_size, .y = &y};
    memset(&y, 0, sizeof y);
    BW_TRY(new_policy(&w.p));
    BW_GOTO(bw_yaml_load(&y, text, len, name, &policy_yaml, err, err_size));
    BW_GOTO(walk_document(&w, &y.doc));
    bw_sha256(text, len, w.p->sha256);
out:
    bw_yaml_cleanup(&y);
    pcre2_compile_context_free(w.cctx);
    pcre2_match_data_free(w.probe_md);
    pcre2_match_context_free(w.probe_mctx);
    bw_policy_budget_cleanup(&w.probe_budget);
    if (result == BW_OK)
        *out = w.p;
    else
        policy_free(w.p);
    return result;
}

bw_err bw_policy_load(const char *path, struct bw_policy **out, char *err, size_t err_size) {
    char *text = NULL;
    size_t n = 0;
    /* One byte over the bound is read so bw_policy_parse reports the file as too large. */
    BW_TRY(bw_file_read_bounded(path, BW_POLICY_MAX_BYTES, &text, &n, err, err_size));
    bw_err result = bw_policy_parse(text, n, path, out, err, err_size);
    free(text);
    return result;
}
