/* proxy_govern.c: step 7 of DESIGN.md (inspect) for chat answers under a policy: every tool
 * call in a plain answer (any HTTP status) or a stream is decided from the normalized view
 * (policy/answer.h, policy/toolstream.h), refused calls never reach the client, an answer the
 * view cannot hold is refused whole, and every call (delivered, refused, dropped) is listed in
 * the outcome receipt with its reason. */
#include <stdlib.h>
#include <string.h>

#include "policy/answer.h"
#include "proxy/proxy_internal.h"
#include "reason/reasons.h"
#include "util/log.h"
#include "util/time.h"

#define STREAM_CALL_TIMEOUT_MS 30000

/* The approval this call spent, if any: a re-send whose require_approval decision an approved
 * review turned into allow keeps the approved rule's id (proxy_review.c). */
static const char *approved_rule(const struct bw_call *c) {
    return c->review.item && strcmp(c->decide.decision.reason, BW_R_APPROVAL_GRANTED) == 0 &&
                   c->decide.decision.rule[0]
               ? c->decide.decision.rule
               : NULL;
}

/* Step 9 lists every decided call in the outcome receipt: name, decision, argument hash. */
static void record_verdict(struct bw_call *c, const struct bw_policy_call_verdict *v) {
    bw_receipt_add_tool_call(&c->answer.tool_calls, v->name[0] ? v->name : NULL,
                             bw_policy_effect_name(v->decision.effect), v->decision.reason,
                             v->has_args ? v->args_sha256 : NULL);
}

static void on_stream_verdict(void *arg, const struct bw_policy_call_verdict *v) {
    record_verdict(arg, v);
}

const char *bw_call_govern_answer(struct bw_call *c, json_t *answer, int is_error, int *changed) {
    *changed = 0;
    if (!c->decide.policy || !bw_route_is_chat(c->route))
        return NULL;
    struct bw_policy_answer a;
    bw_err e = is_error ? bw_policy_govern_error_answer(c->decide.policy, answer, &a)
                        : bw_policy_govern_answer(c->decide.policy, &c->decide.input,
                                                  approved_rule(c), answer, &a);
    if (e != BW_OK)
        return BW_R_INTERNAL;
    for (size_t i = 0; i < a.n; i++) {
        const struct bw_policy_call_verdict *v = &a.verdicts[i];
        record_verdict(c, v);
        bw_info("proxy: tool call %zu: %s (%s, rule %s)", i,
                bw_policy_effect_name(v->decision.effect), v->decision.reason,
                v->decision.rule[0] ? v->decision.rule : "-");
    }
    const char *refused = a.refused;
    *changed = a.changed;
    bw_policy_answer_cleanup(&a);
    return refused;
}

static bw_err emit_chunk(void *arg, const json_t *chunk) {
    bw_forward_send_json_event(arg, chunk);
    return BW_OK;
}

int bw_call_govern_stream(struct bw_call *c, json_t *chunk) {
    if (!c->answer.toolstream) {
        struct bw_toolstream_config cfg = {
            .policy = c->decide.policy,
            .ctx = &c->decide.input,
            .call_timeout_ms = STREAM_CALL_TIMEOUT_MS,
            .emit = emit_chunk,
            .on_verdict = on_stream_verdict,
            .arg = c,
            .approved_rule = approved_rule(c),
        };
        if (bw_toolstream_new(&cfg, &c->answer.toolstream) != BW_OK)
            return -1;
    }
    int64_t now = bw_mono_us() / 1000;
    if (bw_toolstream_feed(c->answer.toolstream, chunk, now) != BW_OK ||
        bw_toolstream_expire(c->answer.toolstream, now) != BW_OK)
        return -1;
    return 0;
}

int bw_call_govern_stream_end(struct bw_call *c) {
    return c->answer.toolstream && bw_toolstream_finish(c->answer.toolstream) != BW_OK ? -1 : 0;
}

const char *bw_call_stream_fail_reason(const struct bw_call *c) {
    const char *r = c->answer.toolstream ? bw_toolstream_fail_reason(c->answer.toolstream) : NULL;
    return r ? r : BW_R_TOOL_STREAM_INVALID;
}

int bw_call_stream_calls_open(const struct bw_call *c) {
    return c->answer.toolstream ? bw_toolstream_open_calls(c->answer.toolstream) : 0;
}
