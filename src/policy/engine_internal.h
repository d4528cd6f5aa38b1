/* engine_internal.h: the compiled form of a policy, shared by the loader (engine_load.c), the
 * matchers (engine_match.c) and the evaluator (engine_eval.c). Not a public interface. */
#ifndef BW_POLICY_ENGINE_INTERNAL_H
#define BW_POLICY_ENGINE_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdatomic.h>
#include "util/err.h"

#include "policy/engine.h"

#define BW_POLICY_MAX_GLOB 256
#define BW_POLICY_MAX_PATH_SEGS 16
#define BW_POLICY_DEFAULT_MATCH_LIMIT 100000
#define BW_POLICY_DEFAULT_DEPTH_LIMIT 5000
#define BW_POLICY_DEFAULT_BUDGET_MS 50 /* regex CPU time per request (limits.regex_budget_ms) */
/* Every compiled regex starts with this callout (ahead of the user's pattern, so it runs once
 * per start position the matcher tries): the per-request budget is checked there, which bounds
 * a search whose match limit PCRE2 counts per start position. */
#define BW_POLICY_RX_PREFIX "(?C255)"

/* One glob of a string matcher. Exact strings (no wildcard) compare by hash first: that keeps
 * a miss to a couple of integer compares, which is what makes 1,000 rules cheap. */
struct bw_policy_pat {
    char *text;
    uint64_t hash;
    int is_glob;
};

struct bw_policy_strset {
    struct bw_policy_pat *v;
    size_t n; /* 0: the field is not constrained */
};

struct bw_policy_rx {
    pcre2_code *code;
    char *source;
};

struct bw_policy_seg {
    char *key; /* NULL for an array index */
    size_t index;
};

struct bw_policy_jpath {
    struct bw_policy_seg seg[BW_POLICY_MAX_PATH_SEGS];
    size_t n;
    char *text;
};

enum bw_policy_argop {
    BW_POLICY_ARG_EQUALS,
    BW_POLICY_ARG_PREFIX,
    BW_POLICY_ARG_REGEX,
    BW_POLICY_ARG_RANGE,
    BW_POLICY_ARG_ENUM,
};

struct bw_policy_argc {
    struct bw_policy_jpath path;
    enum bw_policy_argop op;
    json_t *values; /* equals: one value; enum: an array */
    char *prefix;
    struct bw_policy_rx rx;
    double min, max; /* range: -inf / +inf when not given */
};

struct bw_policy_timewin {
    uint8_t days;      /* bit 0 = Sunday .. bit 6 = Saturday */
    int start_min;     /* minutes after local midnight, inclusive */
    int end_min;       /* exclusive; < start_min wraps past midnight */
    int tz_offset_min; /* local = UTC + offset */
};

/* Bits of bw_policy_rule.fields: which matchers the rule has. */
enum {
    BW_PF_ORG = 1 << 0,
    BW_PF_AGENT = 1 << 1,
    BW_PF_ROLE = 1 << 2,
    BW_PF_ROUTE = 1 << 3,
    BW_PF_MODEL = 1 << 4,
    BW_PF_TOOL = 1 << 5,
    BW_PF_TOKENS = 1 << 6,
    BW_PF_COST = 1 << 7,
    BW_PF_CONTENT = 1 << 8,
    BW_PF_TIME = 1 << 9,
    BW_PF_RESOURCE = 1 << 10, /* MCP resources/read: the resource URI (docs/POLICY.md "MCP") */
    BW_PF_PROMPT = 1 << 11,   /* MCP prompts/get: the prompt's name */
};

struct bw_policy_rule {
    char id[BW_POLICY_ID_SIZE];
    size_t line;
    unsigned fields;
    struct bw_policy_strset org, agent, role, route, model, tool;
    struct bw_policy_strset resource, prompt; /* MCP: case-sensitive globs, like model */
    struct bw_policy_argc *args;
    size_t n_args;
    int64_t tokens_min, tokens_max;
    double cost_min, cost_max;
    struct bw_policy_rx *content;
    size_t n_content;
    struct bw_policy_timewin time;
    enum bw_policy_effect effect;
    char reason[BW_POLICY_REASON_SIZE];
    int http_status;
    char reviewer_role[BW_POLICY_ROLE_SIZE];
    uint32_t quorum, expiry_s;
};

/* 16 bytes per rule, scanned before the rule itself: a 1,000-rule layer's hot array fits in
 * L1/L2, while the rules (hundreds of bytes each, with pointers) would not. A rule whose org
 * matcher is one exact name is skipped on a hash mismatch without touching it. */
struct bw_policy_hot {
    uint64_t org_hash;
    uint32_t fields;
    uint32_t org_single; /* 1: org_hash is the only org the rule accepts */
};

struct bw_policy_layer {
    struct bw_policy_rule *rules;
    struct bw_policy_hot *hot;
    size_t n;
};

struct bw_policy {
    atomic_uint refs;
    /* A composite (bw_policy_compose) has no layers of its own: base's global layer, then
     * overlay's rules layer. Both are references it holds; base may be NULL. */
    struct bw_policy *base, *overlay;
    struct bw_policy_layer global, rules;
    /* Regex limits. A composite's are the overlay's clamped to the platform's (or to the
     * defaults without a platform policy): an org can lower the operator's ceiling, never
     * raise it. Its mctx carries them for the overlay's rules. */
    uint32_t match_limit, depth_limit, budget_ms;
    pcre2_match_context *mctx; /* read-only after load: shared by all threads */
    uint8_t sha256[32];
};

/* FNV-1a, for the exact-string fast path (not a security boundary: equal hashes still strcmp). */
uint64_t bw_policy_hash(const char *s);

/* Glob over bytes: '*' any run (also empty), '?' one byte, everything else literal. */
int bw_policy_glob_match(const char *pat, const char *s) BW_MUST_CHECK;
/* NULL if pat is a valid glob, else why not (static). */
const char *bw_policy_glob_invalid(const char *pat);

/* 1 if s matches any pattern of set (s NULL matches nothing). h is bw_policy_hash(s). */
int bw_policy_strset_match(const struct bw_policy_strset *set, const char *s,
                           uint64_t h) BW_MUST_CHECK;

/* Tool names (docs/POLICY.md "Tool names"): the same glob and exact matching, but ASCII
 * case-insensitive, so `shell*` also matches `Shell` and `SHELL_exec`. */
int bw_policy_glob_match_ci(const char *pat, const char *s) BW_MUST_CHECK;
int bw_policy_strset_match_ci(const struct bw_policy_strset *set, const char *s) BW_MUST_CHECK;

/* request_view.c: fills the view's tools, places and texts from body (v->model and the caps
 * are engine_request.c's). On failure sets *reason (a static code) and writes why. */
bw_err bw_policy_view_fill(struct bw_policy_request_view *v, const json_t *body,
                           enum bw_policy_body_kind kind, const char **reason, char *why,
                           size_t why_size) BW_MUST_CHECK;

/* Compiles a JSON path ("$", "$.a.b[0]"). NULL on success, else why not (static). */
const char *bw_policy_jpath_compile(const char *text, struct bw_policy_jpath *out);
/* The value at path inside v, or NULL. */
const json_t *bw_policy_jpath_get(const struct bw_policy_jpath *path, const json_t *v);

/* The regex budget of one decision (engine_match.c): the request's budget, the decision's CPU
 * start and the per-decision copies of the match contexts that carry the callout. */
struct bw_policy_rxrun {
    struct bw_policy_budget *budget;
    int64_t limit_us; /* the policy's budget for the whole request */
    int64_t start_us; /* thread CPU time when this decision's first regex ran; 0: none yet */
    uint32_t ticks;   /* callouts and matches since the last clock read */
    pcre2_match_data *md;
};

/* Thread CPU time in microseconds (CLOCK_THREAD_CPUTIME_ID: time other threads or a preempted
 * thread spend does not count against a request). */
int64_t bw_policy_cpu_us(void);

/* One tick of the decision's work against the request's budget: regex start positions (the
 * callout), regex matches and tool-glob rules all tick; the thread's CPU clock is read every
 * 32 ticks. 1 when the budget is spent (then run->budget is exhausted: fail closed). */
int bw_policy_over_budget(struct bw_policy_rxrun *run) BW_MUST_CHECK;

/* Makes a per-decision copy of mctx whose callout charges run (NULL on allocation failure). */
pcre2_match_context *bw_policy_rx_context(const pcre2_match_context *mctx,
                                          struct bw_policy_rxrun *run) BW_MUST_CHECK;

/* Regex match over bytes under mctx (from bw_policy_rx_context): 1 match, 0 no match, -1 limit
 * hit, budget spent or other matcher error (the caller must fail closed; run->budget is then
 * exhausted). */
int bw_policy_rx_match(struct bw_policy_rxrun *run, pcre2_match_context *mctx,
                       const struct bw_policy_rx *rx, const uint8_t *s, size_t n) BW_MUST_CHECK;

/* Ends a decision's regex work: adds its CPU time to the budget. */
void bw_policy_rx_finish(struct bw_policy_rxrun *run);

/* Numeric/string/bool/null equality between a JSON argument and a policy value. */
int bw_policy_json_equal(const json_t *a, const json_t *b) BW_MUST_CHECK;

void bw_policy_rule_cleanup(struct bw_policy_rule *r);

#endif
