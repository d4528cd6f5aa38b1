/* engine_response.c: the plain answer's normalized view and its governance (answer.h).
 *
 * The view is built by walking the answer level by level against the profile (answer_shape.h):
 * choices, each choice's message, its tool_calls entries and its legacy function_call. A level
 * outside the profile stops the walk of that subtree: the answer is refused, and the subtree is
 * scanned only to list, in the receipt, any call-like object it held. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/answer.h"
#include "policy/answer_shape.h"
#include "reason/reasons.h"
#include "util/codec.h"
#include "util/json.h"

struct call_ref {
    json_t *msg;    /* the message it sits in */
    json_t *holder; /* the tool_calls array, or NULL for a legacy function_call */
    json_t *call;   /* the tool_calls entry, or the function_call object */
    const char *id, *name, *args;
    size_t name_len, args_len;
};

struct view {
    struct call_ref *v;
    size_t n;     /* stored, at most BW_ANSWER_MAX_CALLS */
    size_t total; /* found */
    const char *refused;
};

static void refuse(struct view *w, const char *reason) {
    if (!w->refused)
        w->refused = reason;
}

static struct call_ref *add(struct view *w) {
    w->total++;
    if (w->n >= BW_ANSWER_MAX_CALLS) {
        refuse(w, BW_R_TOOL_CALLS_TOO_MANY);
        return NULL;
    }
    struct call_ref *c = &w->v[w->n++];
    memset(c, 0, sizeof *c);
    return c;
}

/* Evidence from a subtree the view cannot hold. */
static void on_foreign(void *arg, const char *name, const char *args, size_t len) {
    struct call_ref *c = add(arg);
    if (c) {
        c->name = name;
        c->args = args;
        c->args_len = len;
    }
}

static void foreign(struct view *w, const json_t *subtree) {
    refuse(w, BW_R_ANSWER_UNGOVERNABLE);
    bw_answer_scan_calls(subtree, BW_ANSWER_MAX_CALLS, on_foreign, w);
}

/* A function (or custom) body: its name and its arguments (or custom input) text. */
static int read_fn(const json_t *fn, const char **name, size_t *name_len, const char **args,
                   size_t *len) {
    if (!json_is_object(fn) || bw_answer_check_function(fn) != BW_OK)
        return 0;
    const json_t *a = json_object_get(fn, "arguments");
    if (!a)
        a = json_object_get(fn, "input");
    *name = bw_json_str(fn, "name");
    *name_len = json_string_length(json_object_get(fn, "name"));
    *args = json_is_string(a) ? json_string_value(a) : "";
    *len = json_is_string(a) ? json_string_length(a) : 0;
    return *name != NULL;
}

static void tool_call(struct view *w, json_t *msg, json_t *calls, json_t *call) {
    const json_t *fn = json_object_get(call, "function");
    if (!fn)
        fn = json_object_get(call, "custom");
    const char *name, *args;
    size_t name_len, len;
    if (bw_answer_check_call(call) != BW_OK || !bw_json_str(call, "id") ||
        !read_fn(fn, &name, &name_len, &args, &len)) {
        foreign(w, call);
        return;
    }
    struct call_ref *c = add(w);
    if (!c)
        return;
    *c = (struct call_ref){msg, calls, call, bw_json_str(call, "id"), name, args, name_len, len};
}

static void message(struct view *w, json_t *msg) {
    if (!msg || json_is_null(msg))
        return;
    if (bw_answer_check_message(msg) != BW_OK) {
        foreign(w, msg);
        return;
    }
    json_t *calls = json_object_get(msg, "tool_calls");
    size_t i;
    json_t *call;
    json_array_foreach(calls, i, call) tool_call(w, msg, calls, call);
    json_t *fc = json_object_get(msg, "function_call");
    if (!fc || json_is_null(fc))
        return;
    const char *name, *args;
    size_t name_len, len;
    if (!read_fn(fc, &name, &name_len, &args, &len)) {
        foreign(w, fc);
        return;
    }
    struct call_ref *c = add(w);
    if (c)
        *c = (struct call_ref){msg, NULL, fc, NULL, name, args, name_len, len};
}

static void walk(struct view *w, json_t *response) {
    if (bw_answer_check_top(response) != BW_OK) {
        foreign(w, response);
        return;
    }
    size_t i;
    json_t *ch;
    json_array_foreach(json_object_get(response, "choices"), i, ch) {
        /* a plain answer has messages; a delta here would go unread */
        if (bw_answer_check_choice(ch) != BW_OK || json_object_get(ch, "delta")) {
            foreign(w, ch);
            continue;
        }
        message(w, json_object_get(ch, "message"));
    }
}

static int duplicate_ids(const struct view *w) {
    for (size_t i = 0; i < w->n; i++)
        for (size_t j = 0; w->v[i].id && j < i; j++)
            if (w->v[j].id && strcmp(w->v[i].id, w->v[j].id) == 0)
                return 1;
    return 0;
}

void bw_policy_call_refused(struct bw_policy_call_verdict *v, const struct bw_policy *p,
                            const char *id, const char *name, const char *args, size_t args_len,
                            const char *reason) {
    memset(v, 0, sizeof *v);
    snprintf(v->id, sizeof v->id, "%s", id ? id : "");
    if (name && strlen(name) < sizeof v->name)
        memcpy(v->name, name, strlen(name) + 1);
    if (args && args_len <= BW_POLICY_MAX_ARGS_BYTES) {
        bw_sha256(args, args_len, v->args_sha256);
        v->has_args = 1;
    }
    v->decision.effect = BW_POLICY_DENY;
    snprintf(v->decision.reason, sizeof v->decision.reason, "%s", reason);
    v->decision.layer = "default";
    v->decision.http_status = 502;
    if (p)
        memcpy(v->decision.policy_sha256, bw_policy_sha256(p), 32);
}

static int declared(const struct bw_policy_input *ctx, const char *name) {
    for (size_t i = 0; i < ctx->n_tools; i++)
        if (ctx->tools[i].name && strcmp(ctx->tools[i].name, name) == 0)
            return 1;
    return 0;
}

void bw_policy_call_approve(struct bw_policy_call_verdict *v, const struct bw_policy_input *ctx,
                            const char *approved_rule) {
    if (!approved_rule || !*approved_rule || v->decision.effect != BW_POLICY_REQUIRE_APPROVAL ||
        strcmp(v->decision.rule, approved_rule) != 0 || !v->name[0] || !declared(ctx, v->name))
        return;
    v->decision.effect = BW_POLICY_ALLOW;
    snprintf(v->decision.reason, sizeof v->decision.reason, "%s", BW_R_APPROVAL_GRANTED);
    v->decision.http_status = 200;
}

/* Removes each call not allowed; a message left with none no longer claims to end in calls. */
static bw_err prune(json_t *response, const struct view *w,
                    const struct bw_policy_call_verdict *v) {
    for (size_t i = w->n; i-- > 0;) {
        const struct call_ref *c = &w->v[i];
        if (v[i].decision.effect == BW_POLICY_ALLOW)
            continue;
        if (!c->holder) {
            BW_ENSURE(json_object_del(c->msg, "function_call") == 0, BW_E_INTERNAL);
            continue;
        }
        size_t j, m = json_array_size(c->holder);
        for (j = 0; j < m && json_array_get(c->holder, j) != c->call; j++)
            ;
        BW_ENSURE(j < m && json_array_remove(c->holder, j) == 0, BW_E_INTERNAL);
    }
    size_t i;
    json_t *ch;
    json_array_foreach(json_object_get(response, "choices"), i, ch) {
        json_t *msg = json_object_get(ch, "message");
        json_t *calls = json_object_get(msg, "tool_calls");
        int removed = 0;
        for (size_t k = 0; k < w->n && !removed; k++)
            removed = w->v[k].msg == msg && v[k].decision.effect != BW_POLICY_ALLOW;
        if (!removed)
            continue;
        if (json_is_array(calls) && json_array_size(calls) == 0)
            BW_ENSURE(json_object_del(msg, "tool_calls") == 0, BW_E_INTERNAL);
        const char *fr = bw_json_str(ch, "finish_reason");
        if (fr && (strcmp(fr, "tool_calls") == 0 || strcmp(fr, "function_call") == 0) &&
            !json_object_get(msg, "tool_calls") && !json_object_get(msg, "function_call"))
            BW_ENSURE(json_object_set_new(ch, "finish_reason", json_string("stop")) == 0,
                      BW_E_NOMEM);
    }
    return BW_OK;
}

void bw_policy_decide_answer_call(const struct bw_policy *p, const struct bw_policy_input *ctx,
                                  const char *approved_rule, const char *id, const char *name,
                                  size_t name_len, const char *args, size_t args_len,
                                  struct bw_policy_call_verdict *v) {
    if (name && !bw_answer_name_ok(name, name_len)) {
        /* decided under a name the policy could not match as written: refused. An empty name
         * too: no rule names "", so it would fall to the default while its arguments go out */
        bw_policy_call_refused(v, p, id, name, args, args_len, BW_R_TOOL_NAME_INVALID);
        v->decision.http_status = 403;
        return;
    }
    bw_policy_decide_call(p, ctx, id, name, args, args_len, v);
    bw_policy_call_approve(v, ctx, approved_rule);
}

static void decide_all(const struct bw_policy *p, const struct bw_policy_input *ctx,
                       const char *approved_rule, const struct view *w,
                       struct bw_policy_call_verdict *v) {
    for (size_t i = 0; i < w->n; i++) {
        const struct call_ref *c = &w->v[i];
        if (w->refused) { /* nothing of a refused answer is delivered: no need to decide */
            bw_policy_call_refused(&v[i], p, c->id, c->name, c->args, c->args_len, w->refused);
            continue;
        }
        bw_policy_decide_answer_call(p, ctx, approved_rule, c->id, c->name, c->name_len, c->args,
                                     c->args_len, &v[i]);
    }
}

static bw_err govern(const struct bw_policy *p, const struct bw_policy_input *ctx,
                     const char *approved_rule, json_t *response, int error_answer,
                     struct bw_policy_answer *out) {
    memset(out, 0, sizeof *out);
    BW_ENSURE(p, BW_E_UNAVAILABLE);
    struct view w = {calloc(BW_ANSWER_MAX_CALLS, sizeof(struct call_ref)), 0, 0, NULL};
    struct bw_policy_call_verdict *v = calloc(BW_ANSWER_MAX_CALLS, sizeof *v);
    bw_err result = BW_OK;
    if (!w.v || !v) {
        result = BW_E_NOMEM;
        goto out;
    }
    walk(&w, response);
    if (error_answer && w.total > 0) /* an error answers nothing: a call in it is refused */
        refuse(&w, BW_R_ANSWER_UNGOVERNABLE);
    if (!w.refused && duplicate_ids(&w))
        refuse(&w, BW_R_TOOL_CALL_DUPLICATE_ID);
    decide_all(p, ctx, approved_rule, &w, v);
    if (!w.refused) {
        for (size_t i = 0; i < w.n; i++)
            out->changed |= v[i].decision.effect != BW_POLICY_ALLOW;
        BW_GOTO(prune(response, &w, v));
    }
    out->verdicts = v;
    out->n = w.n;
    out->refused = w.refused;
    v = NULL;
out:
    free(w.v);
    free(v);
    return result;
}

bw_err bw_policy_govern_answer(const struct bw_policy *p, const struct bw_policy_input *ctx,
                               const char *approved_rule, json_t *response,
                               struct bw_policy_answer *out) {
    return govern(p, ctx, approved_rule, response, 0, out);
}

bw_err bw_policy_govern_error_answer(const struct bw_policy *p, json_t *response,
                                     struct bw_policy_answer *out) {
    return govern(p, NULL, NULL, response, 1, out);
}

void bw_policy_answer_cleanup(struct bw_policy_answer *a) {
    free(a->verdicts);
    memset(a, 0, sizeof *a);
}

bw_err bw_policy_enforce_response(const struct bw_policy *p, const struct bw_policy_input *ctx,
                                  json_t *response, struct bw_policy_call_verdict **verdicts,
                                  size_t *n) {
    struct bw_policy_answer a;
    BW_TRY(bw_policy_govern_answer(p, ctx, NULL, response, &a));
    if (a.refused) {
        bw_policy_answer_cleanup(&a);
        return BW_E_INVALID;
    }
    *verdicts = a.verdicts;
    *n = a.n;
    return BW_OK;
}
