/* engine_request.c: views of OpenAI bodies for the policy engine: what a request declares
 * (model, max_tokens, tools, message texts), and the decision of one model tool call (the
 * answer's view and its governance are in engine_response.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/engine_internal.h"
#include "policy/reasons.h"
#include "util/codec.h"
#include "util/json.h"

#define MAX_ARGS_DEPTH 64

struct texts {
    struct bw_slice *v;
    size_t n;
};

static bw_err add_text(struct texts *t, const json_t *s) {
    if (!json_is_string(s))
        return BW_OK;
    if (t->n >= BW_POLICY_MAX_TEXTS)
        return BW_E_TOO_LARGE;
    t->v[t->n++] = bw_slice_of(json_string_value(s), json_string_length(s));
    return BW_OK;
}

/* A string, or an array whose strings / {"type":"text","text":..} parts are texts. */
static bw_err add_content(struct texts *t, const json_t *c) {
    if (json_is_string(c))
        return add_text(t, c);
    if (!json_is_array(c))
        return json_is_null(c) || !c ? BW_OK : BW_E_INVALID;
    size_t i;
    json_t *part;
    json_array_foreach(c, i, part) {
        if (json_is_string(part))
            BW_TRY(add_text(t, part));
        else if (json_is_object(part))
            BW_TRY(add_text(t, json_object_get(part, "text")));
        else
            return BW_E_INVALID;
    }
    return BW_OK;
}

/* Message contents, plus the arguments of earlier assistant tool calls in the history: they go
 * to the model too, so content patterns must see them. */
static bw_err add_messages(struct texts *t, const json_t *msgs) {
    if (!msgs)
        return BW_OK;
    if (!json_is_array(msgs))
        return BW_E_INVALID;
    size_t i, j;
    json_t *m, *call;
    json_array_foreach(msgs, i, m) {
        if (!json_is_object(m))
            return BW_E_INVALID;
        BW_TRY(add_content(t, json_object_get(m, "content")));
        json_t *calls = json_object_get(m, "tool_calls");
        if (json_is_array(calls))
            json_array_foreach(calls, j, call) BW_TRY(
                add_text(t, json_object_get(json_object_get(call, "function"), "arguments")));
    }
    return BW_OK;
}

/* tools: [{type:function, function:{name}}] (or {name} for other tool types); the legacy
 * `functions: [{name}]` is read the same way. */
static bw_err add_tools(struct bw_policy_request_view *v, const json_t *tools) {
    if (!tools || json_is_null(tools))
        return BW_OK;
    if (!json_is_array(tools))
        return BW_E_INVALID;
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t) {
        if (!json_is_object(t))
            return BW_E_INVALID;
        const json_t *fn = json_object_get(t, "function");
        const char *name = bw_json_str(json_is_object(fn) ? fn : t, "name");
        if (!name)
            return BW_E_INVALID;
        if (v->n_tools >= BW_POLICY_MAX_TOOLS)
            return BW_E_TOO_LARGE;
        v->tools[v->n_tools].name = name;
        v->tools[v->n_tools].args = NULL;
        v->n_tools++;
    }
    return BW_OK;
}

/* The larger of max_tokens and max_completion_tokens: a bound must hold for either. */
static bw_err read_max_tokens(struct bw_policy_request_view *v, const json_t *body) {
    const char *keys[] = {"max_tokens", "max_completion_tokens"};
    v->max_tokens = -1;
    for (size_t i = 0; i < 2; i++) {
        const json_t *n = json_object_get(body, keys[i]);
        if (!n || json_is_null(n))
            continue;
        if (!json_is_integer(n) || json_integer_value(n) < 0)
            return BW_E_INVALID;
        if (json_integer_value(n) > v->max_tokens)
            v->max_tokens = json_integer_value(n);
    }
    return BW_OK;
}

static bw_err fill_view(struct bw_policy_request_view *v, const json_t *body) {
    if (!json_is_object(body))
        return BW_E_INVALID;
    const json_t *model = json_object_get(body, "model");
    if (model && !json_is_string(model))
        return BW_E_INVALID;
    v->model = model ? json_string_value(model) : NULL;
    BW_TRY(read_max_tokens(v, body));
    v->tools = calloc(BW_POLICY_MAX_TOOLS, sizeof *v->tools);
    v->texts = calloc(BW_POLICY_MAX_TEXTS, sizeof *v->texts);
    if (!v->tools || !v->texts)
        return BW_E_NOMEM;
    BW_TRY(add_tools(v, json_object_get(body, "tools")));
    BW_TRY(add_tools(v, json_object_get(body, "functions")));
    struct texts t = {v->texts, 0};
    BW_TRY(add_messages(&t, json_object_get(body, "messages")));
    BW_TRY(add_content(&t, json_object_get(body, "input")));  /* embeddings, responses */
    BW_TRY(add_content(&t, json_object_get(body, "prompt"))); /* legacy completions */
    v->n_texts = t.n;
    return BW_OK;
}

bw_err bw_policy_request_view_init(struct bw_policy_request_view *v, const json_t *body) {
    memset(v, 0, sizeof *v);
    bw_err e = fill_view(v, body);
    if (e != BW_OK)
        bw_policy_request_view_cleanup(v);
    return e;
}

void bw_policy_request_view_cleanup(struct bw_policy_request_view *v) {
    free(v->tools);
    free(v->texts);
    memset(v, 0, sizeof *v);
    v->max_tokens = -1;
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
