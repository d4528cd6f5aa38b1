/* answer.h: governing a model's answer (docs/POLICY.md "Answers"): one normalized view of every
 * tool call a chat.completion carries, in every choice, in `tool_calls` (function and custom
 * calls) and in the legacy `function_call`; each call decided; what is not allowed removed;
 * and an answer the view cannot hold (a shape outside answer_shape.h's profile, too many calls,
 * two calls with one id) refused whole. The streamed counterpart is toolstream.h. */
#ifndef BW_POLICY_ANSWER_H
#define BW_POLICY_ANSWER_H

#include <jansson.h>

#include "policy/engine.h"

/* Calls in one plain answer; more refuses it (TOOL_CALLS_TOO_MANY), as a stream is capped. */
#define BW_ANSWER_MAX_CALLS BW_POLICY_MAX_TOOLS

struct bw_policy_answer {
    struct bw_policy_call_verdict *verdicts; /* one per call found, in order (malloc'd) */
    size_t n;
    /* NULL: forward the answer (as changed in place). Else a static reason code: refuse the
     * whole answer; every verdict is then a deny with this reason (nothing was delivered). */
    const char *refused;
    int changed; /* calls were removed (or a finish_reason rewritten) in place */
};

/* Governs `response` (a parsed chat.completion body, any HTTP status) in place. approved_rule:
 * the rule id of the approval this request spent (a re-send with bulwark-approval), or NULL;
 * see bw_policy_call_approve. Refused calls are removed; a choice left with none has
 * finish_reason "tool_calls"/"function_call" rewritten to "stop". Always fills *out (release
 * with bw_policy_answer_cleanup), also when the answer is refused. Errors: BW_E_UNAVAILABLE (no
 * policy), BW_E_NOMEM; out is then empty. */
bw_err bw_policy_govern_answer(const struct bw_policy *p, const struct bw_policy_input *ctx,
                               const char *approved_rule, json_t *response,
                               struct bw_policy_answer *out) BW_MUST_CHECK;
/* An answer with a non-2xx status (an upstream's error body): the same view, and any call found
 * in it refuses it (ANSWER_UNGOVERNABLE; an error carries no calls). Nothing is decided. */
bw_err bw_policy_govern_error_answer(const struct bw_policy *p, json_t *response,
                                     struct bw_policy_answer *out) BW_MUST_CHECK;
void bw_policy_answer_cleanup(struct bw_policy_answer *a);

/* The approval covers the request it was given for, and what the model answers to it under
 * the same rule: a call decided require_approval by exactly the approved rule, to a tool the
 * approved request declared, becomes allow (APPROVAL_GRANTED). A deny, a strip, another rule's
 * require_approval or an undeclared tool are untouched. approved_rule NULL or "": no-op. */
void bw_policy_call_approve(struct bw_policy_call_verdict *v, const struct bw_policy_input *ctx,
                            const char *approved_rule);

/* Decides one call of an answer (plain or streamed): its name must be ^[A-Za-z0-9_.-]{1,64}$
 * checked with its byte length (else a deny, TOOL_NAME_INVALID: a NUL or a look-alike byte
 * would be decided under another name than the one delivered), then bw_policy_decide_call, then
 * bw_policy_call_approve. name may be NULL or empty (a call without a name: TOOL_CALL_INCOMPLETE,
 * as bw_policy_decide_call says). */
void bw_policy_decide_answer_call(const struct bw_policy *p, const struct bw_policy_input *ctx,
                                  const char *approved_rule, const char *id, const char *name,
                                  size_t name_len, const char *args, size_t args_len,
                                  struct bw_policy_call_verdict *v);

/* A verdict for a call that was refused without being decided (the answer or stream it came
 * in could not be governed): deny with `reason`, the name and argument hash as given. */
void bw_policy_call_refused(struct bw_policy_call_verdict *v, const struct bw_policy *p,
                            const char *id, const char *name, const char *args, size_t args_len,
                            const char *reason);

#endif
