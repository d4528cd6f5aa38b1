/* engine_request.c: views of OpenAI bodies for the policy engine: what a request declares
 * (model, max_tokens, tools, message texts), and the decision of one model tool call (the
 * answer's view and its governance are in engine_response.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/engine_internal.h"
#include "reason/reasons.h"
#include "util/codec.h"
#include "util/json.h"

#define MAX_ARGS_DEPTH 64

/* ---- output caps (docs/SPEND.md "Worst case") ---- */

/* An optional integer field in lo..hi: *out = -1 when absent or null. */
static bw_err cap_int(const json_t *body, const char *key, int64_t lo, int64_t hi, int64_t *out) {
    const json_t *n = json_object_get(body, key);
    *out = -1;
    if (!n || json_is_null(n))
        return BW_OK;
    if (!json_is_integer(n) || json_integer_value(n) < lo || json_integer_value(n) > hi)
        return BW_E_INVALID;
    *out = json_integer_value(n);
    return BW_OK;
}

/* Predicted output: rejected predicted tokens are billed as completion tokens, so its text is
 * part of the completion worst case (a token is at least one byte). */
static bw_err prediction_bytes(const json_t *body, int64_t *out) {
    const json_t *p = json_object_get(body, "prediction");
    *out = 0;
    if (!p || json_is_null(p))
        return BW_OK;
    const json_t *c = json_is_object(p) ? json_object_get(p, "content") : NULL;
    if (json_is_string(c)) {
        *out = (int64_t)json_string_length(c);
        return BW_OK;
    }
    if (!json_is_array(c))
        return BW_E_INVALID;
    size_t i;
    json_t *part;
    json_array_foreach(c, i, part) {
        const json_t *t = json_object_get(part, "text");
        if (!json_is_string(t))
            return BW_E_INVALID;
        *out += (int64_t)json_string_length(t);
    }
    return BW_OK;
}

bw_err bw_policy_request_caps(struct bw_policy_request_view *v, const json_t *body,
                              const char **problem) {
    int64_t mt, mct, n, best_of, extra;
    const char *why = NULL;
    if (!json_is_object(body))
        why = "the request must be a JSON object";
    else if (cap_int(body, "max_tokens", 1, BW_POLICY_MAX_OUTPUT_TOKENS, &mt) != BW_OK)
        why = "\"max_tokens\" must be an integer from 1 to 100000000";
    else if (cap_int(body, "max_completion_tokens", 1, BW_POLICY_MAX_OUTPUT_TOKENS, &mct) != BW_OK)
        why = "\"max_completion_tokens\" must be an integer from 1 to 100000000";
    else if (cap_int(body, "n", 1, BW_POLICY_MAX_CHOICES, &n) != BW_OK)
        why = "\"n\" must be an integer from 1 to 128";
    else if (cap_int(body, "best_of", 1, BW_POLICY_MAX_CHOICES, &best_of) != BW_OK)
        why = "\"best_of\" must be an integer from 1 to 128";
    else if (prediction_bytes(body, &extra) != BW_OK)
        why = "\"prediction\" must be {\"type\":\"content\",\"content\": text or text parts}";
    else if (extra * (n > best_of ? n : best_of > 0 ? best_of : 1) > BW_POLICY_MAX_OUTPUT_TOKENS)
        why = "\"prediction\" is too long for its number of choices";
    if (why) {
        if (problem)
            *problem = why;
        return BW_E_INVALID;
    }
    v->max_tokens = mt > mct ? mt : mct; /* the larger: a bound must hold for either */
    v->choices = n > best_of ? n : best_of;
    if (v->choices < 1)
        v->choices = 1;
    v->extra_completion = extra * v->choices;
    v->output_cap = v->max_tokens < 0 ? -1 : v->max_tokens * v->choices + v->extra_completion;
    return BW_OK;
}

/* The scalars; tools, places and texts are the normalized view's (request_view.c). */
static bw_err fill_view(struct bw_policy_request_view *v, const json_t *body,
                        enum bw_policy_body_kind kind, const char **reason, char *why,
                        size_t why_size) {
    if (!json_is_object(body))
        return BW_E_INVALID;
    const json_t *model = json_object_get(body, "model");
    if (model && !json_is_string(model))
        return BW_E_INVALID;
    v->model = model ? json_string_value(model) : NULL;
    BW_TRY(bw_policy_request_caps(v, body, NULL));
    return bw_policy_view_fill(v, body, kind, reason, why, why_size);
}

bw_err bw_policy_request_view_build(struct bw_policy_request_view *v, const json_t *body,
                                    enum bw_policy_body_kind kind, const char **reason, char *why,
                                    size_t why_size) {
    const char *r = BW_R_INVALID_REQUEST;
    if (why && why_size)
        snprintf(why, why_size, "the request body is not one a policy can govern");
    memset(v, 0, sizeof *v);
    bw_err e = fill_view(v, body, kind, &r, why, why_size);
    if (e != BW_OK)
        bw_policy_request_view_cleanup(v);
    if (reason)
        *reason = r;
    return e;
}

bw_err bw_policy_request_view_init(struct bw_policy_request_view *v, const json_t *body) {
    enum bw_policy_body_kind kind =
        json_object_get(body, "input") && !json_object_get(body, "messages")
            ? BW_POLICY_BODY_EMBEDDINGS
            : BW_POLICY_BODY_CHAT;
    return bw_policy_request_view_build(v, body, kind, NULL, NULL, 0);
}

void bw_policy_request_view_cleanup(struct bw_policy_request_view *v) {
    free(v->tools);
    free(v->texts);
    free(v->refs);
    json_decref(v->retained);
    memset(v, 0, sizeof *v);
    v->max_tokens = -1;
    v->output_cap = -1;
}

bw_err bw_policy_parse_args(const char *text, size_t len, json_t **out) {
    BW_ENSURE(len <= BW_POLICY_MAX_ARGS_BYTES, BW_E_TOO_LARGE);
    json_t *v = len == 0 ? json_object() : json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    if (!v)
        return BW_E_INVALID;
    if (!json_is_object(v) || bw_json_depth(v, MAX_ARGS_DEPTH) > MAX_ARGS_DEPTH) {
        json_decref(v);
        return BW_E_INVALID;
    }
    *out = v;
    return BW_OK;
}

void bw_policy_decide_call(const struct bw_policy *p, const struct bw_policy_input *ctx,
                           const char *id, const char *name, const char *args, size_t args_len,
                           struct bw_policy_call_verdict *v) {
    memset(v, 0, sizeof *v);
    snprintf(v->id, sizeof v->id, "%s", id ? id : "");
    if (name && strlen(name) < sizeof v->name)
        memcpy(v->name, name, strlen(name) + 1);
    /* An oversized call's excess was discarded unread (args_len is then only a marker): it
     * has no hash. */
    if (args_len <= BW_POLICY_MAX_ARGS_BYTES) {
        bw_sha256(args ? args : "", args ? args_len : 0, v->args_sha256);
        v->has_args = 1;
    }
    json_t *parsed = NULL;
    bw_err e = p ? bw_policy_parse_args(args, args_len, &parsed) : BW_E_UNAVAILABLE;
    if (e != BW_OK || !name) {
        const char *why = !p                    ? BW_R_POLICY_UNAVAILABLE
                          : !name               ? BW_R_TOOL_CALL_INCOMPLETE
                          : e == BW_E_TOO_LARGE ? BW_R_TOOL_ARGS_TOO_LARGE
                                                : BW_R_TOOL_ARGS_INVALID;
        v->decision.effect = BW_POLICY_DENY;
        snprintf(v->decision.reason, sizeof v->decision.reason, "%s", why);
        v->decision.layer = "default";
        v->decision.http_status = p ? 403 : 503;
        if (p)
            memcpy(v->decision.policy_sha256, bw_policy_sha256(p), 32);
        json_decref(parsed);
        return;
    }
    struct bw_policy_tool t = {name, parsed};
    (void)bw_policy_decide_tools(p, ctx, &t, 1, &v->decision); /* a failure is a deny */
    json_decref(parsed);
}
