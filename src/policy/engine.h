/* engine.h: the policy engine (issue 3). A YAML policy of ordered rules is compiled once into an
 * immutable, reference-counted object; each request (and each tool call) is decided against it.
 * The language is documented in docs/POLICY.md; reason codes in docs/REASON_CODES.md.
 *
 * Evaluation, precisely. One "decision" runs the layers over the request plus at most one
 * tool:
 *   1. The `global` layer runs first, first match wins. A matching `deny`, `require_approval`
 *      or `strip` stands. A matching `allow`, or no match, means "no objection": go to 2.
 *   2. The `rules` layer (the org-level policy) runs the same way and its first match decides;
 *      no match is a deny with NO_MATCHING_RULE.
 *   A regex match-limit error anywhere, or the request's regex budget running out (struct
 *   bw_policy_budget), is a deny with POLICY_MATCH_LIMIT (fail closed).
 * A request is decided once on its own (no tool: rules with a `tool` matcher cannot match) and
 * once per tool name it uses (declared, forced or called in its history: the request view below;
 * as if it carried only that tool). Tool matchers compare names ASCII case-insensitively. The
 * result is the first deny, else the first require_approval, else allow with the tools whose
 * decision was `strip` marked as stripped. So cost is (1 + tools) x rules at worst.
 *
 * Threads: a compiled policy is never modified after bw_policy_parse returns; any number of
 * threads may evaluate it at once. Reference counting is atomic: a worker takes a reference for
 * the length of a request (bw_policy_ref) while a reload publishes a new pointer; the last
 * bw_policy_unref frees it. Swapping the published pointer is the caller's job. */
#ifndef BW_POLICY_ENGINE_H
#define BW_POLICY_ENGINE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

#define BW_POLICY_MAX_BYTES (4u << 20)  /* a policy file larger than this is refused */
#define BW_POLICY_MAX_RULES 20000       /* both layers together */
#define BW_POLICY_MAX_TOOLS 128         /* tools in one request; more is INVALID_REQUEST */
#define BW_POLICY_MAX_TEXTS 65536       /* texts in one request (every string the upstream gets) */
#define BW_POLICY_MAX_ARGS_BYTES 262144 /* a tool call's arguments JSON text */
#define BW_POLICY_ID_SIZE 65            /* rule ids: 1..64 bytes */
#define BW_POLICY_REASON_SIZE 49        /* reason codes: 3..48 bytes */
#define BW_POLICY_ROLE_SIZE 65

struct bw_policy;

/* The regex work of one request (docs/POLICY.md "Regex work budget"): the CPU time every
 * regex of every decision of the request may take together (the request, its declared tools
 * and every tool call of its answer), and the content verdicts already reached, so that a
 * content rule is matched over the request's texts once per request, not once per decision.
 * The caller embeds it (bw_policy_budget_init, zero is also a valid start), points
 * bw_policy_input.budget at it for every decision of that request, with the same texts, and
 * calls bw_policy_budget_cleanup at the end. One thread at a time. Once spent, every decision
 * that needs a regex denies with POLICY_MATCH_LIMIT. */
struct bw_policy_budget {
    int64_t spent_us; /* thread CPU time spent in regex matching so far */
    int exhausted;    /* a limit was hit: every later regex decision denies */
    /* content verdict cache: open addressing on the rule's address (the policy must outlive
     * the budget's use, which holding it for the request guarantees) */
    const void **keys;
    int8_t *vals; /* 1 match, 0 no match */
    size_t cap, n;
};

void bw_policy_budget_init(struct bw_policy_budget *b);
void bw_policy_budget_cleanup(struct bw_policy_budget *b);

enum bw_policy_effect {
    BW_POLICY_DENY = 0, /* zero so that a forgotten initialisation denies */
    BW_POLICY_ALLOW,
    BW_POLICY_REQUIRE_APPROVAL,
    BW_POLICY_STRIP, /* per-tool decisions only: remove this tool, the request goes on */
};

/* One tool: a declared tool of a request (args NULL: it has no arguments yet) or a call (args
 * is the parsed arguments object). Both borrowed. */
struct bw_policy_tool {
    const char *name;
    const json_t *args;
};

/* What a decision reads. Every pointer is borrowed for the call. NULL strings match nothing
 * but a rule that does not constrain that field. */
struct bw_policy_input {
    const char *org, *agent, *role, *route, *model;
    int64_t max_tokens;    /* < 0: absent, treated as unbounded */
    double estimated_cost; /* USD; < 0: unknown, treated as unbounded */
    const struct bw_policy_tool *tools;
    size_t n_tools;               /* <= BW_POLICY_MAX_TOOLS */
    const struct bw_slice *texts; /* message texts, any bytes (invalid UTF-8 is matched safely) */
    size_t n_texts;
    int64_t now_s; /* Unix seconds, for time windows */
    /* The request's regex budget and content cache (borrowed; see struct bw_policy_budget).
     * NULL: each decision gets its own fresh budget and nothing is cached. */
    struct bw_policy_budget *budget;
    /* MCP (docs/POLICY.md "MCP"): the resource URI of a resources/read and the prompt name of
     * a prompts/get; NULL elsewhere, so a rule with a `resource` / `prompt` matcher matches
     * nothing else. */
    const char *resource, *prompt;
};

/* A self-contained verdict (no pointer into the policy): it may outlive the policy. */
struct bw_policy_decision {
    enum bw_policy_effect effect;
    char reason[BW_POLICY_REASON_SIZE]; /* ALLOWED, a registered code, or a custom code */
    char rule[BW_POLICY_ID_SIZE];       /* id of the deciding rule; "" when no rule matched */
    const char *layer; /* static: "global", "rules", "org" (an org policy's rules) or "default" */
    int http_status;   /* 200 for allow, else the reason's status */
    char reviewer_role[BW_POLICY_ROLE_SIZE];     /* require_approval only */
    uint32_t quorum;                             /* require_approval only */
    uint32_t expiry_s;                           /* require_approval only */
    uint64_t stripped[BW_POLICY_MAX_TOOLS / 64]; /* bit i: input tool i was stripped */
    uint8_t policy_sha256[32];                   /* SHA-256 of the exact policy file bytes */
    int has_org_policy;            /* the rules layer came from the org's own policy: */
    uint8_t org_policy_sha256[32]; /* the SHA-256 of its exact bytes */
};

/* Compiles a policy from YAML text. `name` is used in error messages. On success *out holds
 * one reference. On failure writes "<name>:<line>: <why>" into err and leaves *out untouched.
 * Errors: BW_E_INVALID (any problem with the text), BW_E_TOO_LARGE (over
 * BW_POLICY_MAX_BYTES), BW_E_NOMEM. */
bw_err bw_policy_parse(const char *text, size_t len, const char *name, struct bw_policy **out,
                       char *err, size_t err_size) BW_MUST_CHECK;

/* Reads and compiles a policy file; as bw_policy_parse plus BW_E_IO when unreadable. A failed
 * load never affects a policy the caller already holds. */
bw_err bw_policy_load(const char *path, struct bw_policy **out, char *err,
                      size_t err_size) BW_MUST_CHECK;

/* Takes another reference (atomic). Returns p. */
struct bw_policy *bw_policy_ref(struct bw_policy *p) BW_MUST_CHECK;
/* Drops a reference (atomic); the last one frees. NULL is a no-op. */
void bw_policy_unref(struct bw_policy *p);

/* The SHA-256 of the exact bytes the policy was compiled from (32 bytes, owned by p). */
const uint8_t *bw_policy_sha256(const struct bw_policy *p);
/* Number of rules in both layers. */
size_t bw_policy_rule_count(const struct bw_policy *p);

/* Calls fn once per require_approval rule (both layers, in order; a composite's global layer is
 * its platform's and its rules its org's) with its reviewer role and quorum (the signoff
 * readiness check). */
void bw_policy_each_approval(const struct bw_policy *p,
                             void (*fn)(void *arg, const char *reviewer_role, uint32_t quorum),
                             void *arg);

/* Counts the rules that allow everything (docs/POLICY.md "Default deny"): `allow` rules of the
 * deciding `rules` layer (a composite's: its org's) whose only matchers are org, agent, role,
 * route or model matchers that each list a lone "*". first_id gets the first one's id ("" if
 * none). Thread-safe (reads an immutable policy). (engine_audit.c) */
size_t bw_policy_allow_all_rules(const struct bw_policy *p, char first_id[BW_POLICY_ID_SIZE]);

/* Decides a request. Always writes *out (a deny on any failure): the return value only says
 * why it failed: BW_E_INVALID (more than BW_POLICY_MAX_TOOLS tools), BW_E_NOMEM. Thread-safe.
 * Cost: linear in the rules, plus what the matching rules' matchers read (content patterns
 * read the texts, argument constraints read the named paths). */
bw_err bw_policy_eval(const struct bw_policy *p, const struct bw_policy_input *in,
                      struct bw_policy_decision *out) BW_MUST_CHECK;

/* Per-org policies (docs/POLICY.md "Org policies"): a composite of the platform policy (may be
 * NULL) and an org's own policy. Deciding with it runs the platform's `global` layer first (an
 * org cannot loosen it), then the org's `rules` layer. org must have no `global` layer
 * (BW_E_INVALID). The composite holds references to both; decisions carry the platform's hash
 * in policy_sha256 and the org's in org_policy_sha256. Every function taking a policy accepts a
 * composite. */
bw_err bw_policy_compose(struct bw_policy *platform, struct bw_policy *org,
                         struct bw_policy **out) BW_MUST_CHECK;
/* What bw_policy_compose refuses, with why in err: an org policy with a global layer, or one
 * that reuses a rule id of the platform policy (a receipt's rule id must name one rule).
 * BW_OK or BW_E_INVALID. platform may be NULL. */
bw_err bw_policy_compose_check(const struct bw_policy *platform, const struct bw_policy *org,
                               char *err, size_t err_size) BW_MUST_CHECK;
/* The org policy's SHA-256 of a composite with a platform part, else NULL. */
const uint8_t *bw_policy_org_sha256(const struct bw_policy *p);
/* Number of rules in the global layer (an org policy must have none). */
size_t bw_policy_global_count(const struct bw_policy *p);

/* Decides each of n tools on its own (the context's own tools are ignored): out[i] is the
 * decision for tools[i] as if the request carried only that tool. Declared tools (args NULL)
 * and calls (args set) follow the rules in docs/POLICY.md. Always writes all n decisions. */
bw_err bw_policy_decide_tools(const struct bw_policy *p, const struct bw_policy_input *ctx,
                              const struct bw_policy_tool *tools, size_t n,
                              struct bw_policy_decision *out) BW_MUST_CHECK;

/* 1 if tool i was stripped by decision d. */
int bw_policy_stripped(const struct bw_policy_decision *d, size_t i) BW_MUST_CHECK;

/* Static lowercase name: "allow", "deny", "require_approval", "strip". */
const char *bw_policy_effect_name(enum bw_policy_effect e);

/* ---- views of OpenAI bodies ---- */

/* The one normalized view of a request body (src/policy/request_view.c; docs/POLICY.md "What
 * the policy reads"): borrowed from the body, which must outlive the view.
 * - tools: every tool name the request uses, in any form, once each (names compare ASCII
 *   case-insensitively), each decided as a declared tool (args NULL);
 * - refs: every place that names one of them (declarations in tools[] / functions[], the forced
 *   tool_choice / function_call, allowed_tools, calls in the history), so strip can remove a
 *   tool from every place it is named;
 * - texts: every string the upstream receives (any depth: contents, names, tool and parameter
 *   descriptions, schemas, arguments, metadata, prediction, file data...) and every object key
 *   that is not an API member name, except the top-level model and the fixed enum values of
 *   structural members (role, type, tool_choice modes...).
 * A top-level member the view does not know is refused (BW_E_INVALID): nothing is forwarded
 * unread. */
struct bw_policy_request_view {
    const char *model;
    int64_t max_tokens;
    struct bw_policy_tool *tools;
    size_t n_tools;
    struct bw_slice *texts;
    size_t n_texts;
    struct bw_policy_tool_ref *refs;
    size_t n_refs;
    size_t texts_cap, refs_cap; /* allocated room (grows to the maxima) */
    json_t *retained; /* owned: parts removed from the body (strip) that names and texts still
                       * point into; bw_policy_request_view_retain, freed by cleanup */
    /* Output caps (bw_policy_request_caps; docs/SPEND.md "Worst case"). max_tokens above is
     * the per-choice cap: the larger of max_tokens and max_completion_tokens, -1 if neither. */
    int64_t choices;          /* completions the upstream produces: max(n, best_of), 1 if absent */
    int64_t extra_completion; /* tokens billed as completion beyond the cap (prediction bytes) */
    int64_t output_cap;       /* max_tokens x choices + extra_completion; -1 when no cap */
};

#define BW_POLICY_MAX_TOOL_REFS 4096 /* places naming a tool in one request */
#define BW_POLICY_TOOL_NAME_MAX 64   /* tool names: ^[A-Za-z0-9_.-]{1,64}$ */

/* The kind of body a view reads (its known top-level members differ). */
enum bw_policy_body_kind {
    BW_POLICY_BODY_CHAT = 0,   /* /v1/chat/completions (and the widget's built request) */
    BW_POLICY_BODY_EMBEDDINGS, /* /v1/embeddings */
};

/* Where a request names a tool. */
enum bw_policy_tool_place {
    BW_POLICY_PLACE_TOOLS = 0,     /* a declaration in tools[] (function or custom) */
    BW_POLICY_PLACE_FUNCTIONS,     /* a declaration in the legacy functions[] */
    BW_POLICY_PLACE_TOOL_CHOICE,   /* tool_choice: forced, or listed in allowed_tools */
    BW_POLICY_PLACE_FUNCTION_CALL, /* the legacy function_call forcing it */
    BW_POLICY_PLACE_HISTORY,       /* messages[]: a tool_calls[] entry, a legacy function_call,
                                    * or a role "function" result's name */
};

struct bw_policy_tool_ref {
    enum bw_policy_tool_place place;
    size_t tool;        /* index into the view's tools */
    const json_t *node; /* TOOLS / FUNCTIONS: the declaration (the element of its array) */
};

/* Keeps node alive as long as the view (take a reference before removing it from the body:
 * the view's names and texts may point into it). Errors: BW_E_NOMEM. */
bw_err bw_policy_request_view_retain(struct bw_policy_request_view *v, json_t *node) BW_MUST_CHECK;

/* 1 if name (len bytes, NULs included) is a tool name Bulwark accepts: 1..64 bytes of
 * [A-Za-z0-9_.-]. Anything else (unicode, spaces, control bytes, empty, longer) is refused. */
int bw_policy_tool_name_ok(const char *name, size_t len) BW_MUST_CHECK;

/* Builds the view of a body of the given kind (as bw_policy_request_view_init). On failure
 * *reason is a static reason code (INVALID_REQUEST, TOOL_NAME_INVALID) and why a message for
 * the client naming the member (never echoing its value). */
bw_err bw_policy_request_view_build(struct bw_policy_request_view *v, const json_t *body,
                                    enum bw_policy_body_kind kind, const char **reason, char *why,
                                    size_t why_size) BW_MUST_CHECK;

/* Fills v from body: a chat body, or an embeddings body when it has `input` and no `messages`.
 * Errors: BW_E_INVALID (not an object, model not a string, an unknown top-level member,
 * malformed tools, tool choices, calls or messages, a tool name outside the alphabet),
 * BW_E_TOO_LARGE (more than BW_POLICY_MAX_TOOLS tool names, BW_POLICY_MAX_TOOL_REFS places or
 * BW_POLICY_MAX_TEXTS texts), BW_E_NOMEM. On error v is left empty (cleanup is still safe). */
bw_err bw_policy_request_view_init(struct bw_policy_request_view *v,
                                   const json_t *body) BW_MUST_CHECK;
void bw_policy_request_view_cleanup(struct bw_policy_request_view *v);

#define BW_POLICY_MAX_OUTPUT_TOKENS 100000000 /* a max_tokens above this is INVALID_REQUEST */
#define BW_POLICY_MAX_CHOICES 128             /* n / best_of above this is INVALID_REQUEST */

/* Reads the request's output caps into v's max_tokens, choices, extra_completion and output_cap
 * (touching nothing else): max_tokens / max_completion_tokens (integers 1..BW_POLICY_MAX_OUTPUT_
 * TOKENS; both present: the larger, since which one an upstream honours depends on the model),
 * n / best_of (integers 1..BW_POLICY_MAX_CHOICES), prediction (its text bytes: each token is at
 * least one byte). null is absent. BW_E_INVALID with *problem, a static message for the client,
 * on anything else (negative, zero, fractional, string, too large). */
bw_err bw_policy_request_caps(struct bw_policy_request_view *v, const json_t *body,
                              const char **problem) BW_MUST_CHECK;

/* A model's tool call (from a response's tool_calls or an assembled stream) and its verdict. */
struct bw_policy_call_verdict {
    char id[BW_POLICY_ID_SIZE * 2]; /* the call id, truncated if longer */
    struct bw_policy_decision decision;
    char name[BW_POLICY_ID_SIZE]; /* the tool's name ("" if none or longer than 64 bytes) */
    int has_args;                 /* args_sha256 is set: the arguments arrived whole */
    uint8_t args_sha256[32];      /* SHA-256 of the arguments text, for outcome receipts */
};

/* Parses a tool call's arguments text (JSON object, duplicate keys rejected, at most
 * BW_POLICY_MAX_ARGS_BYTES; "" is {}). *out gets a new reference. Errors: BW_E_INVALID,
 * BW_E_TOO_LARGE. */
bw_err bw_policy_parse_args(const char *text, size_t len, json_t **out) BW_MUST_CHECK;

/* Decides one model tool call: arguments text is parsed with bw_policy_parse_args (a failure is
 * a deny with TOOL_ARGS_INVALID / TOOL_ARGS_TOO_LARGE), then decided as bw_policy_decide_tools
 * does. Always writes *v (a deny on any failure). */
void bw_policy_decide_call(const struct bw_policy *p, const struct bw_policy_input *ctx,
                           const char *id, const char *name, const char *args, size_t args_len,
                           struct bw_policy_call_verdict *v);

/* Decides every tool call in a chat.completion response (choices[].message.tool_calls[]) and
 * removes, in place, each call that is not allowed; a choice whose calls were all removed gets
 * finish_reason "stop" if it was "tool_calls". *verdicts (malloc'd, caller frees) gets one entry
 * per call in order, *n their count. A call whose arguments do not parse or are too large is
 * denied (TOOL_ARGS_INVALID / TOOL_ARGS_TOO_LARGE). Errors: BW_E_INVALID (malformed
 * tool_calls, duplicate call ids: the caller must not forward the response), BW_E_NOMEM. */
bw_err bw_policy_enforce_response(const struct bw_policy *p, const struct bw_policy_input *ctx,
                                  json_t *response, struct bw_policy_call_verdict **verdicts,
                                  size_t *n) BW_MUST_CHECK;

#endif
