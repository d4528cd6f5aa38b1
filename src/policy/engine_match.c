/* engine_match.c: the primitive matchers of the policy engine: globs, exact-string sets, the
 * JSON path subset, argument equality and bounded regex matching. All pure and thread-safe. */
#include <string.h>
#include <time.h>

#include "policy/engine_internal.h"

uint64_t bw_policy_hash(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) {
        h ^= (uint8_t)*s;
        h *= 0x100000001b3ull;
    }
    return h;
}

static char ascii_lower(char c) {
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Iterative glob with single backtrack point: O(len(pat) * len(s)) worst case, no recursion,
 * so a hostile tool name cannot blow the stack or take exponential time. fold: compare ASCII
 * letters case-insensitively. */
static int glob(const char *pat, const char *s, int fold) {
    const char *star = NULL, *resume = NULL;
    while (*s) {
        if (*pat == '*') {
            star = pat++;
            resume = s;
        } else if (*pat == '?' ||
                   (*pat && (fold ? ascii_lower(*pat) == ascii_lower(*s) : *pat == *s))) {
            pat++;
            s++;
        } else if (star) {
            pat = star + 1;
            s = ++resume;
        } else {
            return 0;
        }
    }
    while (*pat == '*')
        pat++;
    return *pat == 0;
}

int bw_policy_glob_match(const char *pat, const char *s) {
    return glob(pat, s, 0);
}

/* bw_policy_glob_match with both sides folded to ASCII lowercase byte by byte: tool names are
 * ASCII only (bw_policy_tool_name_ok), so no other folding can make two names equal. */
int bw_policy_glob_match_ci(const char *pat, const char *s) {
    return glob(pat, s, 1);
}

/* Locale-independent, unlike strcasecmp: only A-Z fold. */
static int ascii_case_equal(const char *a, const char *b) {
    for (; *a && ascii_lower(*a) == ascii_lower(*b); a++, b++)
        ;
    return ascii_lower(*a) == ascii_lower(*b);
}

/* No hash fast path: the hash is of the exact bytes. Tool rules are few next to org rules. */
int bw_policy_strset_match_ci(const struct bw_policy_strset *set, const char *s) {
    if (!s)
        return 0;
    for (size_t i = 0; i < set->n; i++) {
        const struct bw_policy_pat *p = &set->v[i];
        if (p->is_glob ? bw_policy_glob_match_ci(p->text, s) : ascii_case_equal(p->text, s))
            return 1;
    }
    return 0;
}

int bw_policy_tool_name_ok(const char *name, size_t len) {
    if (!name || len == 0 || len > BW_POLICY_TOOL_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

/* Brackets, braces and backslashes are reserved so that a later, richer glob syntax can never
 * silently change what an existing policy means. */
const char *bw_policy_glob_invalid(const char *pat) {
    size_t n = strlen(pat);
    if (n == 0)
        return "empty pattern";
    if (n >= BW_POLICY_MAX_GLOB)
        return "pattern longer than 255 bytes";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)pat[i];
        if (c < 0x20 || c == 0x7f)
            return "control character in pattern";
        if (c == '[' || c == ']' || c == '{' || c == '}' || c == '\\')
            return "'[', ']', '{', '}' and '\\' are reserved in globs";
    }
    return NULL;
}

int bw_policy_strset_match(const struct bw_policy_strset *set, const char *s, uint64_t h) {
    if (!s)
        return 0;
    for (size_t i = 0; i < set->n; i++) {
        const struct bw_policy_pat *p = &set->v[i];
        if (p->is_glob ? bw_policy_glob_match(p->text, s)
                       : (p->hash == h && strcmp(p->text, s) == 0))
            return 1;
    }
    return 0;
}

static int ident_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

static const char *jpath_index(const char **pp, struct bw_policy_seg *seg) {
    const char *p = *pp + 1; /* past '[' */
    size_t v = 0, digits = 0;
    for (; *p >= '0' && *p <= '9'; p++, digits++) {
        if (digits >= 6)
            return "array index larger than 999999";
        v = v * 10 + (size_t)(*p - '0');
    }
    if (digits == 0 || *p != ']')
        return "expected [N] with a decimal index";
    seg->key = NULL;
    seg->index = v;
    *pp = p + 1;
    return NULL;
}

static const char *jpath_key(const char **pp, struct bw_policy_seg *seg) {
    const char *start = *pp + 1; /* past '.' */
    const char *p = start;
    while (ident_char(*p))
        p++;
    if (p == start)
        return "expected a key name after '.' (letters, digits, '_', '-')";
    seg->key = strndup(start, (size_t)(p - start));
    if (!seg->key)
        return "out of memory";
    *pp = p;
    return NULL;
}

const char *bw_policy_jpath_compile(const char *text, struct bw_policy_jpath *out) {
    memset(out, 0, sizeof *out);
    if (text[0] != '$')
        return "a path starts with '$'";
    const char *p = text + 1;
    while (*p) {
        if (out->n >= BW_POLICY_MAX_PATH_SEGS)
            return "path deeper than 16 segments";
        const char *why = *p == '.'   ? jpath_key(&p, &out->seg[out->n])
                          : *p == '[' ? jpath_index(&p, &out->seg[out->n])
                                      : "expected '.key' or '[N]'";
        if (why)
            return why;
        out->n++;
    }
    out->text = strdup(text);
    return out->text ? NULL : "out of memory";
}

const json_t *bw_policy_jpath_get(const struct bw_policy_jpath *path, const json_t *v) {
    for (size_t i = 0; v && i < path->n; i++) {
        const struct bw_policy_seg *s = &path->seg[i];
        if (s->key)
            v = json_is_object(v) ? json_object_get(v, s->key) : NULL;
        else
            v = json_is_array(v) ? json_array_get(v, s->index) : NULL;
    }
    return v;
}

int bw_policy_json_equal(const json_t *a, const json_t *b) {
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    if (json_is_string(a) && json_is_string(b))
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
    if (json_is_boolean(a) || json_is_null(a))
        return json_typeof(a) == json_typeof(b);
    return 0;
}

/* ---- bounded regex matching ---- */

int64_t bw_policy_cpu_us(void) {
    struct timespec t;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t) != 0)
        return INT64_MAX; /* no clock: treat the budget as spent (fail closed) */
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

/* Reads the clock every this many ticks: between two reads at most this many start positions
 * run, each bounded by the match limit (well under a millisecond at the default), so the
 * budget is overrun by a few milliseconds at most while a cheap start position costs a counter
 * increment, not a system call. */
#define CLOCK_EVERY 32

int bw_policy_over_budget(struct bw_policy_rxrun *run) {
    if (run->budget->exhausted)
        return 1;
    if (++run->ticks < CLOCK_EVERY && run->start_us)
        return 0;
    run->ticks = 0;
    int64_t now = bw_policy_cpu_us();
    if (!run->start_us) {
        run->start_us = now;
        if (now == INT64_MAX || run->budget->spent_us >= run->limit_us)
            run->budget->exhausted = 1;
        return run->budget->exhausted;
    }
    if (now == INT64_MAX || run->budget->spent_us + (now - run->start_us) >= run->limit_us)
        run->budget->exhausted = 1;
    return run->budget->exhausted;
}

/* Called by PCRE2 at BW_POLICY_RX_PREFIX (once per start position tried) and at any callout
 * the pattern has. A negative return ends the whole match with that error. */
static int on_callout(pcre2_callout_block *cb, void *arg) {
    (void)cb;
    return bw_policy_over_budget(arg) ? PCRE2_ERROR_CALLOUT : 0;
}

pcre2_match_context *bw_policy_rx_context(const pcre2_match_context *mctx,
                                          struct bw_policy_rxrun *run) {
    pcre2_match_context *c = pcre2_match_context_copy((pcre2_match_context *)mctx);
    if (c)
        pcre2_set_callout(c, on_callout, run);
    return c;
}

int bw_policy_rx_match(struct bw_policy_rxrun *run, pcre2_match_context *mctx,
                       const struct bw_policy_rx *rx, const uint8_t *s, size_t n) {
    if (!mctx || bw_policy_over_budget(run)) {
        run->budget->exhausted = 1;
        return -1;
    }
    if (!run->md && !(run->md = pcre2_match_data_create(1, NULL))) {
        run->budget->exhausted = 1;
        return -1; /* out of memory: fail closed like a limit */
    }
    int rc =
        pcre2_match(rx->code, (PCRE2_SPTR)(s ? s : (const uint8_t *)""), n, 0, 0, run->md, mctx);
    if (rc >= 0)
        return 1;
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    /* Match limit, depth limit, JIT stack, heap limit, the budget (callout), or anything else:
     * the caller cannot know what the pattern would have said, so it must fail closed. */
    run->budget->exhausted = 1;
    return -1;
}

void bw_policy_rx_finish(struct bw_policy_rxrun *run) {
    if (run->start_us) {
        int64_t now = bw_policy_cpu_us();
        run->budget->spent_us +=
            now == INT64_MAX || run->start_us == INT64_MAX ? run->limit_us : now - run->start_us;
        if (run->budget->spent_us >= run->limit_us)
            run->budget->exhausted = 1;
    }
    run->start_us = 0;
    run->ticks = 0;
    pcre2_match_data_free(run->md);
    run->md = NULL;
}
