/* evidence_verify_profile.c: the receipt profile of docs/EVIDENCE.md 1.1 as one table, and the
 * check that walks a parsed receipt against it.
 *
 * THE TABLE: every member of every receipt kind, with its type, whether it is required, and its
 * allowed values, is listed below (statement_shape, then one shape per kind). A receipt is in the
 * profile only if each object holds exactly the members its shape lists (no unknown member, every
 * required one present) and each value has its row's type and range. So an insider who re-signs a
 * pack with the log key still cannot hand a verifier a receipt the gateway could not have written:
 * null, true/false, "" for an absent member, a decision outside its enum, two subjects...
 *
 * Adding a member to what src/ledger/receipt.c writes is one row in the shape of each kind that
 * carries it (rows sorted by key, as the receipt's members are; test_profile_tables checks the
 * order) and one row in EVIDENCE.md's table. String lengths come from struct bw_receipt itself, so
 * a field the emitter widens widens here too. */
#include <stdio.h>
#include <string.h>

#include "evidence/receipt_check.h"
#include "evidence/receipt_internal.h"
#include "ledger/note.h"

#define SAFE_INT_MAX INT64_C(9007199254740991)

enum vtype {
    V_STR,  /* 1..hi bytes (unescaped) of printable ASCII (the parser checked the alphabet) */
    V_ENUM, /* one of values[] exactly */
    V_CODE, /* a reason code: [A-Z][A-Z0-9_]*, 3..hi bytes (docs/POLICY.md "Reason codes") */
    V_NAME, /* a tool name as receipts list it: [A-Za-z0-9_.:-], 1..hi bytes */
    V_HEX,  /* a SHA-256: 64 lowercase hex digits */
    V_INT,  /* an integer in [lo, hi] */
    V_OBJ,  /* an object of shape sub */
    V_ARR,  /* an array of lo..hi objects, each of shape sub */
    V_PRED, /* the predicate: an object of the shape its "kind" names */
};

struct shape;

struct field {
    const char *key;
    enum vtype type;
    int required;
    int64_t lo, hi;
    const char *const *values; /* V_ENUM: NULL-terminated */
    const struct shape *sub;   /* V_OBJ, V_ARR */
};

struct shape {
    const struct field *f;
    size_t n;
};

/* The emitter's own bound: a char[N] field holds at most N - 1 bytes. */
#define LEN(member) ((int64_t)sizeof(((struct bw_receipt *)0)->member) - 1)
#define TLEN(member) ((int64_t)sizeof(((struct bw_receipt_tool_call *)0)->member) - 1)

#define REQ 1
#define OPT 0
#define STR(k, need, max)                                                                          \
    { k, V_STR, need, 1, max, NULL, NULL }
#define ENUM(k, need, vals)                                                                        \
    { k, V_ENUM, need, 0, 0, vals, NULL }
#define CODE(k, need, max)                                                                         \
    { k, V_CODE, need, 3, max, NULL, NULL }
#define NAME(k, need, max)                                                                         \
    { k, V_NAME, need, 1, max, NULL, NULL }
#define HEX(k, need)                                                                               \
    { k, V_HEX, need, 0, 0, NULL, NULL }
#define INT(k, need, lo, hi)                                                                       \
    { k, V_INT, need, lo, hi, NULL, NULL }
#define OBJ(k, need, sub)                                                                          \
    { k, V_OBJ, need, 0, 0, NULL, &(sub) }
#define ARR(k, need, sub, lo, hi)                                                                  \
    { k, V_ARR, need, lo, hi, NULL, &(sub) }
#define SHAPE(rows)                                                                                \
    { rows, sizeof(rows) / sizeof((rows)[0]) }

/* ---- allowed values ---- */

static const char *const v_type[] = {"https://in-toto.io/Statement/v1", NULL};
static const char *const v_ptype[] = {BW_RECEIPT_PREDICATE_TYPE, NULL};
static const char *const v_request[] = {"request", NULL};
static const char *const v_kind_decision[] = {"decision", NULL};
static const char *const v_kind_outcome[] = {"outcome", NULL};
static const char *const v_kind_review[] = {"review", NULL};
static const char *const v_kind_admin[] = {"admin", NULL};
/* src/proxy/proxy_worker.c bw_route_name; the MCP gateway's routes (src/mcp/, docs/MCP.md
 * "Receipts"); review items of destructive admin plans: "admin" */
static const char *const v_route[] = {"chat",
                                      "embeddings",
                                      "mcp.prompts_get",
                                      "mcp.resources_read",
                                      "mcp.sampling",
                                      "mcp.tools_call",
                                      "mcp.tools_list",
                                      "models",
                                      "widget",
                                      NULL};
static const char *const v_review_route[] = {
    "admin",  "chat",   "embeddings", "mcp.prompts_get", "mcp.resources_read", "mcp.tools_call",
    "models", "widget", NULL};
/* the request's decision (policy/engine.h effects; strip is per tool only) */
static const char *const v_decision[] = {"allow", "deny", "require_approval", NULL};
static const char *const v_layer[] = {"config", "default", "global", "org", "rules", NULL};
static const char *const v_tool_decision[] = {"allow", "deny", "require_approval", "strip", NULL};
/* review actions and the item's status after them (review/review.c) */
static const char *const v_review_action[] = {"approve", "create", "deny", "expire", "use", NULL};
static const char *const v_review_status[] = {"approved", "denied", "expired",
                                              "pending",  "used",   NULL};
static const char *const v_admin_decision[] = {"apply", NULL};
/* every status src/proxy/ passes to bw_call_finish / bw_call_respond / bw_call_fail, and the
 * MCP gateway's (src/mcp/ bw_mcp_outcome: client_too_slow, ledger_unavailable,
 * result_too_large, tool_error, upstream_invalid) */
static const char *const v_outcome_status[] = {
    "answer_refused",
    "budget_cut_off",
    "client_disconnected",
    "client_too_slow",
    "internal_error",
    "ledger_unavailable",
    "ok",
    "ok_tool_calls_removed",
    "result_too_large",
    "tool_call_incomplete",
    "tool_error",
    "upstream_bad_response",
    "upstream_error",
    "upstream_invalid",
    "upstream_timeout",
    "upstream_unavailable",
    NULL,
};
static const char *const v_usage_source[] = {"estimated", NULL};

/* ---- shapes: THE TABLE (rows sorted by key) ---- */

static const struct field log_rows[] = {
    INT("index", REQ, 0, SAFE_INT_MAX),
    STR("origin", REQ, BW_NOTE_NAME_MAX),
};
static const struct shape log_shape = SHAPE(log_rows);

static const struct field usage_rows[] = {
    INT("completion_tokens", REQ, 0, SAFE_INT_MAX), INT("cost_micros", OPT, 0, SAFE_INT_MAX),
    INT("prompt_tokens", REQ, 0, SAFE_INT_MAX),     ENUM("source", OPT, v_usage_source),
    INT("total_tokens", REQ, 0, SAFE_INT_MAX),
};
static const struct shape usage_shape = SHAPE(usage_rows);

static const struct field tool_call_rows[] = {
    HEX("args_sha256", OPT),
    ENUM("decision", REQ, v_tool_decision),
    NAME("name", OPT, TLEN(name)),
    CODE("reason", REQ, TLEN(reason)),
};
static const struct shape tool_call_shape = SHAPE(tool_call_rows);

static const struct field decision_rows[] = {
    STR("agent", OPT, LEN(agent)),
    ENUM("decision", REQ, v_decision),
    ENUM("kind", REQ, v_kind_decision),
    ENUM("layer", OPT, v_layer),
    OBJ("log", REQ, log_shape),
    STR("model", OPT, LEN(model)),
    STR("org_id", OPT, LEN(org_id)),
    HEX("org_policy_sha256", OPT),
    HEX("policy_sha256", REQ),
    STR("principal", OPT, LEN(principal)),
    CODE("reason", REQ, LEN(reason)),
    ENUM("route", REQ, v_route),
    STR("rule", OPT, LEN(rule)),
    INT("time_ms", REQ, 0, SAFE_INT_MAX),
    ARR("tool_calls", OPT, tool_call_shape, 1, BW_RECEIPT_MAX_TOOL_CALLS),
    INT("tool_calls_total", OPT, 1, SAFE_INT_MAX),
};

static const struct field outcome_rows[] = {
    STR("agent", OPT, LEN(agent)),
    INT("duration_ms", REQ, 0, SAFE_INT_MAX),
    INT("http_status", REQ, 100, 999),
    ENUM("kind", REQ, v_kind_outcome),
    OBJ("log", REQ, log_shape),
    STR("model", OPT, LEN(model)),
    STR("org_id", OPT, LEN(org_id)),
    HEX("parent_leaf_hash", REQ),
    STR("principal", OPT, LEN(principal)),
    HEX("response_sha256", OPT),
    ENUM("route", REQ, v_route),
    ENUM("status", REQ, v_outcome_status),
    INT("time_ms", REQ, 0, SAFE_INT_MAX),
    ARR("tool_calls", OPT, tool_call_shape, 1, BW_RECEIPT_MAX_TOOL_CALLS),
    INT("tool_calls_total", OPT, 1, SAFE_INT_MAX),
    OBJ("usage", OPT, usage_shape),
};

static const struct field review_rows[] = {
    STR("agent", OPT, LEN(agent)),         ENUM("decision", REQ, v_review_action),
    ENUM("kind", REQ, v_kind_review),      OBJ("log", REQ, log_shape),
    STR("model", OPT, LEN(model)),         STR("org_id", OPT, LEN(org_id)),
    HEX("parent_leaf_hash", OPT),          HEX("policy_sha256", OPT),
    STR("principal", OPT, LEN(principal)), CODE("reason", REQ, LEN(reason)),
    ENUM("route", OPT, v_review_route),    STR("rule", REQ, LEN(rule)),
    ENUM("status", REQ, v_review_status),  INT("time_ms", REQ, 0, SAFE_INT_MAX),
};

static const struct field admin_rows[] = {
    STR("agent", OPT, LEN(agent)),
    ENUM("decision", REQ, v_admin_decision),
    INT("duration_ms", OPT, 0, SAFE_INT_MAX), /* key.rotate: the grace period (api_keys.c) */
    ENUM("kind", REQ, v_kind_admin),
    OBJ("log", REQ, log_shape),
    STR("model", OPT, LEN(model)), /* mcp.pin.*: the MCP server (mcp_pin.c, api_mcp_pins.c) */
    STR("org_id", OPT, LEN(org_id)),
    HEX("policy_sha256", OPT),
    STR("principal", REQ, LEN(principal)),
    CODE("reason", REQ, LEN(reason)),
    STR("route", REQ, LEN(route)),
    STR("rule", OPT, LEN(rule)),
    STR("status", OPT, LEN(status)),
    INT("time_ms", REQ, 0, SAFE_INT_MAX),
};

/* Indexed by enum bw_receipt_kind. */
static const struct shape kind_shapes[] = {
    SHAPE(decision_rows),
    SHAPE(outcome_rows),
    SHAPE(review_rows),
    SHAPE(admin_rows),
};
_Static_assert(sizeof kind_shapes / sizeof kind_shapes[0] == BW_RECEIPT_ADMIN + 1,
               "one shape per receipt kind");

static const struct field digest_rows[] = {
    HEX("sha256", REQ),
};
static const struct shape digest_shape = SHAPE(digest_rows);

static const struct field subject_rows[] = {
    OBJ("digest", REQ, digest_shape),
    ENUM("name", REQ, v_request),
};
static const struct shape subject_shape = SHAPE(subject_rows);

static const struct field statement_rows[] = {
    ENUM("_type", REQ, v_type),
    {"predicate", V_PRED, REQ, 0, 0, NULL, NULL},
    ENUM("predicateType", REQ, v_ptype),
    ARR("subject", REQ, subject_shape, 1, 1),
};
static const struct shape statement_shape = SHAPE(statement_rows);

/* ---- the walk ---- */

struct walk {
    const struct bw_jdoc *d;
    char *detail;
    size_t size;
};

/* Where a value sits ("predicate", "usage"; arr: an element of that array), rendered only when
 * something is wrong: the walk itself never formats. */
struct path {
    const struct path *up;
    const char *key;
    int arr;
};

static size_t put_path(char *out, size_t size, size_t n, const struct path *p) {
    if (!p)
        return n;
    n = put_path(out, size, n, p->up);
    int k = snprintf(out + n, size - n, "%s%.40s%s", n ? "." : "", p->key, p->arr ? "[]" : "");
    return k < 0 || (size_t)k >= size - n ? size - 1 : n + (size_t)k;
}

static const char *bad(struct walk *w, const struct path *p, const char *key, const char *why) {
    size_t n = put_path(w->detail, w->size, 0, p);
    snprintf(w->detail + n, w->size - n, "%s%.40s: %s", n && key[0] ? "." : "", key, why);
    return w->detail;
}

/* The unescaped length of string node i. */
static size_t str_len(const struct bw_jdoc *d, size_t i) {
    const struct bw_jnode *x = &d->node[i];
    if (x->plain)
        return x->len;
    size_t n = 0;
    for (size_t k = 0; k < x->len; k++, n++)
        if (d->text[x->off + k] == '\\')
            k++;
    return n;
}

static int all_bytes(const char *p, size_t n, int (*ok)(unsigned char, size_t)) {
    for (size_t k = 0; k < n; k++)
        if (!ok((unsigned char)p[k], k))
            return 0;
    return 1;
}

static int code_byte(unsigned char c, size_t pos) {
    return (c >= 'A' && c <= 'Z') || (pos > 0 && ((c >= '0' && c <= '9') || c == '_'));
}

static int name_byte(unsigned char c, size_t pos) {
    (void)pos;
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == ':' || c == '-';
}

static int hex_byte(unsigned char c, size_t pos) {
    (void)pos;
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static const char *check_object(struct walk *w, size_t obj, const struct shape *s,
                                const struct path *path);

/* A string value's own rules (its type was checked). NULL if it holds. */
static const char *string_rule(struct walk *w, size_t i, const struct field *f) {
    const struct bw_jnode *x = &w->d->node[i];
    const char *p = w->d->text + x->off;
    size_t n = str_len(w->d, i);
    switch (f->type) {
    case V_STR:
        if (n == 0)
            return "empty string (an absent member is omitted, never written as \"\")";
        return (int64_t)n > f->hi ? "string longer than the emitter can write" : NULL;
    case V_ENUM:
        for (const char *const *v = f->values; *v; v++)
            if (bw_jdoc_str_is(w->d, i, *v))
                return NULL;
        return "not one of the documented values";
    case V_CODE:
        return (int64_t)n >= f->lo && (int64_t)n <= f->hi && x->plain && all_bytes(p, n, code_byte)
                   ? NULL
                   : "not a reason code ([A-Z][A-Z0-9_]{2,47})";
    case V_NAME:
        return n >= 1 && (int64_t)n <= f->hi && x->plain && all_bytes(p, n, name_byte)
                   ? NULL
                   : "not a tool name of 1..64 bytes of [A-Za-z0-9_.:-]";
    case V_HEX:
        return n == 64 && x->plain && all_bytes(p, n, hex_byte) ? NULL
                                                                : "not 64 lowercase hex digits";
    case V_INT:
    case V_OBJ:
    case V_ARR:
    case V_PRED:
    default:
        return "internal: not a string rule";
    }
}

static const char *check_array(struct walk *w, size_t i, const struct field *f,
                               const struct path *path) {
    const struct bw_jnode *x = &w->d->node[i];
    if (x->num < f->lo || x->num > f->hi)
        return bad(w, path, f->key,
                   f->lo == f->hi ? "array must hold exactly one element"
                                  : "array length outside the profile");
    struct path sub = {path, f->key, 1};
    for (size_t k = i + 1; k < x->end; k = w->d->node[k].end) {
        if (w->d->node[k].type != BW_J_OBJ)
            return bad(w, &sub, "", "not an object");
        const char *why = check_object(w, k, f->sub, &sub);
        if (why)
            return why;
    }
    return NULL;
}

/* The predicate: the shape its kind names (extract() already required a known kind), then the
 * rules between members. */
static const char *check_predicate(struct walk *w, size_t i, const struct path *up) {
    const struct bw_jdoc *d = w->d;
    struct path pred = {up, "predicate", 0};
    size_t kind = bw_jdoc_member(d, i, "kind");
    for (int k = BW_RECEIPT_DECISION; k <= BW_RECEIPT_ADMIN; k++) {
        if (!bw_jdoc_str_is(d, kind, bw_receipt_kind_name((enum bw_receipt_kind)k)))
            continue;
        const char *why = check_object(w, i, &kind_shapes[k], &pred);
        if (why)
            return why;
        /* tool_calls lists the first BW_RECEIPT_MAX_TOOL_CALLS of tool_calls_total calls
         * (receipt.c encode_tool_calls): the two come together and agree. */
        size_t list = bw_jdoc_member(d, i, "tool_calls");
        size_t total = bw_jdoc_member(d, i, "tool_calls_total");
        if (!list != !total)
            return bad(w, &pred, "tool_calls",
                       "tool_calls and tool_calls_total come together or not at all");
        int64_t want = total && d->node[total].num < BW_RECEIPT_MAX_TOOL_CALLS
                           ? d->node[total].num
                           : BW_RECEIPT_MAX_TOOL_CALLS;
        if (list && d->node[list].num != want)
            return bad(w, &pred, "tool_calls",
                       "lists fewer calls than tool_calls_total allows (min(total, 6))");
        return NULL;
    }
    return bad(w, &pred, "kind", "not one of the documented values");
}

static const char *check_value(struct walk *w, size_t i, const struct field *f,
                               const struct path *path) {
    const struct bw_jnode *x = &w->d->node[i];
    static const char *const wrong = "wrong type (null, true and false are never written)";
    switch (f->type) {
    case V_INT:
        if (x->type != BW_J_INT)
            return bad(w, path, f->key, wrong);
        return x->num < f->lo || x->num > f->hi
                   ? bad(w, path, f->key, "integer outside the documented range")
                   : NULL;
    case V_OBJ:
    case V_PRED: {
        if (x->type != BW_J_OBJ)
            return bad(w, path, f->key, wrong);
        if (f->type == V_PRED)
            return check_predicate(w, i, path);
        struct path sub = {path, f->key, 0};
        return check_object(w, i, f->sub, &sub);
    }
    case V_ARR:
        return x->type != BW_J_ARR ? bad(w, path, f->key, wrong) : check_array(w, i, f, path);
    case V_STR:
    case V_ENUM:
    case V_CODE:
    case V_NAME:
    case V_HEX:
    default: {
        if (x->type != BW_J_STR)
            return bad(w, path, f->key, wrong);
        const char *why = string_rule(w, i, f);
        return why ? bad(w, path, f->key, why) : NULL;
    }
    }
}

/* -1, 0, 1 as node i's key sorts before, equal to or after key (unescaped bytes; an escaped key
 * never equals a table key, whose bytes need no escape). */
static int key_order(const struct bw_jdoc *d, size_t i, const char *key) {
    const struct bw_jnode *x = &d->node[i];
    size_t n = strlen(key), m = x->klen < n ? x->klen : n;
    int r = memcmp(d->text + x->key, key, m);
    if (r == 0 && !x->kplain)
        r = 1; /* compare as unequal; the order is not needed for an unknown member */
    return r ? r : x->klen < n ? -1 : x->klen > n;
}

/* Exactly the members of s: the object's members and the rows are both sorted, so one merge
 * pass finds unknown members, missing required ones and each value's row. */
static const char *check_object(struct walk *w, size_t obj, const struct shape *s,
                                const struct path *path) {
    const struct bw_jdoc *d = w->d;
    size_t r = 0;
    for (size_t i = obj + 1; i < d->node[obj].end; i = d->node[i].end) {
        int ord = 1;
        while (r < s->n && (ord = key_order(d, i, s->f[r].key)) > 0) {
            if (s->f[r].required)
                return bad(w, path, s->f[r].key, "required member missing");
            r++;
        }
        if (r == s->n || ord != 0) {
            char key[64];
            snprintf(key, sizeof key, "%.*s", (int)d->node[i].klen, d->text + d->node[i].key);
            return bad(w, path, key, "member not in the profile of this receipt kind");
        }
        const char *why = check_value(w, i, &s->f[r], path);
        if (why)
            return why;
        r++;
    }
    for (; r < s->n; r++)
        if (s->f[r].required)
            return bad(w, path, s->f[r].key, "required member missing");
    return NULL;
}

const char *bw_evidence_profile_check(const struct bw_jdoc *d, char *detail, size_t size) {
    struct walk w = {d, detail, size};
    if (d->n == 0 || d->node[0].type != BW_J_OBJ)
        return bad(&w, NULL, "receipt", "not an object");
    return check_object(&w, 0, &statement_shape, NULL);
}

int bw_evidence_profile_tables_sorted(void) {
    const struct shape *all[] = {
        &statement_shape, &subject_shape,  &digest_shape,   &log_shape,      &usage_shape,
        &tool_call_shape, &kind_shapes[0], &kind_shapes[1], &kind_shapes[2], &kind_shapes[3]};
    for (size_t s = 0; s < sizeof all / sizeof all[0]; s++)
        for (size_t r = 1; r < all[s]->n; r++)
            if (strcmp(all[s]->f[r - 1].key, all[s]->f[r].key) >= 0)
                return 0;
    return 1;
}
