/* toolstream.c: the streamed tool-call assembler (see toolstream.h for the contract).
 *
 * Why calls are complete at "next index" or finish_reason: OpenAI streams one call's deltas
 * contiguously per choice (index, then id/name, then argument fragments), and never returns
 * to an earlier index; a delta for an earlier index is therefore a protocol violation and is
 * refused rather than guessed at. */
#include "policy/toolstream.h"

#include <stdlib.h>
#include <string.h>

#include "policy/answer.h"
#include "policy/answer_shape.h"
#include "reason/reasons.h"
#include "util/buf.h"

#define MAX_NAME_BYTES 256

struct pending {
    int open;
    int legacy; /* a legacy function_call, emitted back as one */
    int custom; /* a custom tool call: emitted back as {type: custom, custom: {name, input}} */
    size_t index;
    char *id;
    struct bw_buf name, args;
    int oversized;
    int64_t last_ms;
};

struct choice {
    struct pending cur;
    int seen_call;     /* any call started in this choice */
    size_t last_index; /* highest index started */
    size_t emitted;    /* calls allowed and emitted: the next output index */
    int legacy;        /* this choice streams a legacy function_call (not tool_calls) */
};

struct bw_toolstream {
    struct bw_toolstream_config cfg;
    struct choice ch[BW_TOOLSTREAM_MAX_CHOICES];
    char *ids[BW_POLICY_MAX_TOOLS];
    size_t n_calls;
    json_t *meta; /* id, object, created, model of the latest chunk: copied onto our chunks */
    int broken;
    const char *fail_reason; /* why the stream broke (a reason code) */
};

bw_err bw_toolstream_new(const struct bw_toolstream_config *cfg, struct bw_toolstream **out) {
    BW_ENSURE(cfg && cfg->emit && cfg->policy && cfg->ctx, BW_E_INVALID);
    struct bw_toolstream *s = calloc(1, sizeof *s);
    BW_ENSURE(s, BW_E_NOMEM);
    s->cfg = *cfg;
    if (!s->cfg.max_args_bytes || s->cfg.max_args_bytes > BW_POLICY_MAX_ARGS_BYTES)
        s->cfg.max_args_bytes = BW_POLICY_MAX_ARGS_BYTES;
    s->meta = json_object();
    if (!s->meta) {
        free(s);
        return BW_E_NOMEM;
    }
    *out = s;
    return BW_OK;
}

static void pending_clear(struct pending *p) {
    free(p->id);
    bw_buf_cleanup(&p->name);
    bw_buf_cleanup(&p->args);
    memset(p, 0, sizeof *p);
}

void bw_toolstream_free(struct bw_toolstream *s) {
    if (!s)
        return;
    for (size_t i = 0; i < BW_TOOLSTREAM_MAX_CHOICES; i++)
        pending_clear(&s->ch[i].cur);
    for (size_t i = 0; i < s->n_calls; i++)
        free(s->ids[i]);
    json_decref(s->meta);
    free(s);
}

static bw_err keep_meta(struct bw_toolstream *s, const json_t *chunk) {
    static const char *const keys[] = {"id", "object", "created", "model", "system_fingerprint"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        json_t *v = json_object_get(chunk, keys[i]);
        if (!v)
            continue;
        /* scalars only: a structured "id" could smuggle anything into our chunks */
        BW_ENSURE(json_is_string(v) || json_is_integer(v), BW_E_INVALID);
        if (json_object_set(s->meta, keys[i], v) != 0)
            return BW_E_NOMEM;
    }
    return BW_OK;
}

/* A chunk of ours: the latest metadata plus one choice. Takes delta and finish (jansson's
 * "o" steals them, also on error). */
static bw_err emit_choice(struct bw_toolstream *s, size_t c, json_t *delta, json_t *finish) {
    json_t *choice = json_pack("{s:I,s:o,s:o}", "index", (json_int_t)c, "delta", delta,
                               "finish_reason", finish ? finish : json_null());
    json_t *list = choice ? json_pack("[o]", choice) : NULL;
    json_t *chunk = json_deep_copy(s->meta);
    if (!chunk || !list) {
        json_decref(chunk);
        json_decref(list);
        return BW_E_NOMEM;
    }
    if (json_object_set_new(chunk, "choices", list) != 0) { /* list released by jansson */
        json_decref(chunk);
        return BW_E_NOMEM;
    }
    bw_err e = s->cfg.emit(s->cfg.arg, chunk);
    json_decref(chunk);
    return e;
}

static bw_err emit_call(struct bw_toolstream *s, size_t c, const struct pending *p) {
    json_t *fn = json_pack("{s:s%,s:s%}", "name", (const char *)p->name.ptr, p->name.len,
                           p->custom ? "input" : "arguments",
                           p->args.ptr ? (const char *)p->args.ptr : "", p->args.len);
    if (p->legacy) {
        json_t *legacy = fn ? json_pack("{s:o}", "function_call", fn) : NULL;
        if (!legacy)
            return BW_E_NOMEM;
        s->ch[c].emitted++;
        return emit_choice(s, c, legacy, NULL);
    }
    json_t *call = fn ? json_pack("{s:I,s:s,s:s,s:o}", "index", (json_int_t)s->ch[c].emitted, "id",
                                  p->id ? p->id : "", "type", p->custom ? "custom" : "function",
                                  p->custom ? "custom" : "function", fn)
                      : NULL;
    json_t *delta = call ? json_pack("{s:[o]}", "tool_calls", call) : NULL;
    if (!delta)
        return BW_E_NOMEM;
    s->ch[c].emitted++;
    return emit_choice(s, c, delta, NULL);
}

/* Decides the open call of choice c (complete, or dropped with `force_reason`), emits it if
 * allowed, reports the verdict, and closes it. */
static bw_err close_call(struct bw_toolstream *s, size_t c, const char *force_reason) {
    struct pending *p = &s->ch[c].cur;
    if (!p->open)
        return BW_OK;
    struct bw_policy_call_verdict v;
    const char *name = p->name.len ? (const char *)p->name.ptr : NULL;
    if (p->oversized) /* a length over the cap is refused before any byte is read */
        bw_policy_decide_answer_call(s->cfg.policy, s->cfg.ctx, s->cfg.approved_rule, p->id, name,
                                     p->name.len, "", BW_POLICY_MAX_ARGS_BYTES + 1, &v);
    else
        bw_policy_decide_answer_call(s->cfg.policy, s->cfg.ctx, s->cfg.approved_rule, p->id, name,
                                     p->name.len, p->args.ptr ? (const char *)p->args.ptr : "",
                                     p->args.len, &v);
    if (force_reason) {
        v.decision.effect = BW_POLICY_DENY;
        snprintf(v.decision.reason, sizeof v.decision.reason, "%s", force_reason);
        v.decision.rule[0] = 0;
        v.decision.layer = "default";
        v.decision.http_status = 502;
    }
    bw_err e = BW_OK;
    if (v.decision.effect == BW_POLICY_ALLOW)
        e = emit_call(s, c, p);
    if (s->cfg.on_verdict)
        s->cfg.on_verdict(s->cfg.arg, &v);
    pending_clear(p);
    return e;
}

static bw_err remember_id(struct bw_toolstream *s, const char *id) {
    BW_ENSURE(s->n_calls < BW_POLICY_MAX_TOOLS, BW_E_TOO_LARGE);
    for (size_t i = 0; id && *id && i < s->n_calls; i++)
        BW_ENSURE(!s->ids[i] || strcmp(s->ids[i], id) != 0, BW_E_INVALID);
    s->ids[s->n_calls] = id && *id ? strdup(id) : NULL;
    BW_ENSURE(!id || !*id || s->ids[s->n_calls], BW_E_NOMEM);
    s->n_calls++;
    return BW_OK;
}

static bw_err open_call(struct bw_toolstream *s, size_t c, size_t index, const char *id,
                        int legacy) {
    struct choice *ch = &s->ch[c];
    BW_ENSURE(!ch->seen_call || index > ch->last_index, BW_E_INVALID); /* no going back */
    BW_TRY(remember_id(s, id));
    struct pending *p = &ch->cur;
    memset(p, 0, sizeof *p);
    p->open = 1;
    p->legacy = legacy;
    p->index = index;
    bw_buf_init(&p->name, MAX_NAME_BYTES);
    bw_buf_init(&p->args, s->cfg.max_args_bytes);
    if (id && *id && !(p->id = strdup(id)))
        return BW_E_NOMEM;
    ch->seen_call = 1;
    ch->last_index = index;
    return BW_OK;
}

static bw_err append_args(struct pending *p, const json_t *frag) {
    if (!frag || json_is_null(frag))
        return BW_OK;
    BW_ENSURE(json_is_string(frag), BW_E_INVALID);
    if (p->oversized)
        return BW_OK;
    bw_err e = bw_buf_append(&p->args, json_string_value(frag), json_string_length(frag));
    if (e == BW_E_TOO_LARGE) { /* keep the decision (deny), drop the bytes */
        p->oversized = 1;
        bw_buf_cleanup(&p->args);
        return BW_OK;
    }
    return e;
}

/* A function (or custom) fragment: name and arguments (or custom input) pieces. */
static bw_err append_fn(struct pending *p, const json_t *fn, int64_t now_ms) {
    if (fn && !json_is_null(fn)) {
        BW_TRY(bw_answer_check_function(fn));
        const json_t *name = json_object_get(fn, "name");
        if (json_is_string(name))
            BW_TRY(bw_buf_append(&p->name, json_string_value(name), json_string_length(name)));
        const json_t *a = json_object_get(fn, "arguments");
        BW_TRY(append_args(p, a ? a : json_object_get(fn, "input")));
    }
    p->last_ms = now_ms;
    return BW_OK;
}

static bw_err call_delta(struct bw_toolstream *s, size_t c, const json_t *d, int64_t now_ms) {
    BW_TRY(bw_answer_check_call(d));
    const json_t *ix = json_object_get(d, "index");
    const json_t *fn = json_object_get(d, "function");
    const json_t *id = json_object_get(d, "id");
    int custom = !fn && json_object_get(d, "custom");
    if (custom)
        fn = json_object_get(d, "custom");
    BW_ENSURE(json_is_integer(ix) && !s->ch[c].legacy, BW_E_INVALID);
    size_t index = (size_t)json_integer_value(ix);
    struct pending *p = &s->ch[c].cur;
    if (!p->open || p->index != index) {
        BW_TRY(close_call(s, c, NULL)); /* a new index completes the previous call */
        BW_TRY(open_call(s, c, index, json_string_value(id), 0));
        p->custom = custom;
    } else if (json_is_string(id) && json_string_length(id) &&
               (!p->id || strcmp(p->id, json_string_value(id)) != 0)) {
        return BW_E_INVALID; /* a call changing its id mid-stream */
    }
    BW_ENSURE(!fn || json_is_null(fn) || p->custom == custom, BW_E_INVALID); /* one kind a call */
    return append_fn(p, fn, now_ms);
}

/* The legacy delta.function_call: one call per choice, complete at finish_reason. A choice
 * uses either it or tool_calls: mixing them is refused (one would be read past the other). */
static bw_err legacy_delta(struct bw_toolstream *s, size_t c, const json_t *fc, int64_t now_ms) {
    if (!fc || json_is_null(fc))
        return BW_OK;
    struct choice *ch = &s->ch[c];
    BW_ENSURE(ch->legacy || !ch->seen_call, BW_E_INVALID);
    if (!ch->legacy) {
        BW_TRY(open_call(s, c, 0, NULL, 1));
        ch->legacy = 1;
    }
    BW_ENSURE(ch->cur.open, BW_E_INVALID); /* a second call after the first was decided */
    return append_fn(&ch->cur, fc, now_ms);
}

static int carries_text(const json_t *delta) {
    for (size_t i = 0; bw_answer_text_keys[i]; i++) {
        const json_t *v = json_object_get(delta, bw_answer_text_keys[i]);
        if (v && !json_is_null(v))
            return 1;
    }
    return 0;
}

static bw_err choice_calls(struct bw_toolstream *s, size_t c, const json_t *calls, int64_t now_ms) {
    size_t i;
    json_t *d;
    json_array_foreach(calls, i, d) BW_TRY(call_delta(s, c, d, now_ms));
    return BW_OK;
}

/* finish_reason completes the open call; "tool_calls" (or "function_call") with none emitted
 * becomes "stop". */
static bw_err choice_finish(struct bw_toolstream *s, size_t c, const json_t *finish) {
    BW_TRY(close_call(s, c, NULL));
    const char *fr = json_string_value(finish);
    int claims_calls = strcmp(fr, "tool_calls") == 0 || strcmp(fr, "function_call") == 0;
    json_t *out = json_string(claims_calls && s->ch[c].emitted == 0 ? "stop" : fr);
    json_t *delta = json_object();
    if (!out || !delta) {
        json_decref(out);
        json_decref(delta);
        return BW_E_NOMEM;
    }
    return emit_choice(s, c, delta, out);
}

/* The text members pass as they are: bw_answer_check_message has checked each is text (or an
 * inert record), so none can carry a call. Anything else is not copied. */
static bw_err choice_text(struct bw_toolstream *s, size_t c, const json_t *delta) {
    json_t *copy = json_object();
    if (!copy)
        return BW_E_NOMEM;
    for (size_t i = 0; bw_answer_text_keys[i]; i++) {
        json_t *v = json_object_get(delta, bw_answer_text_keys[i]);
        if (v && json_object_set(copy, bw_answer_text_keys[i], v) != 0) {
            json_decref(copy);
            return BW_E_NOMEM;
        }
    }
    return emit_choice(s, c, copy, NULL);
}

/* Lists what a chunk the governor cannot read carried (never emitted): for the receipt. */
static void on_foreign(void *arg, const char *name, const char *args, size_t len) {
    struct bw_toolstream *s = arg;
    struct bw_policy_call_verdict v;
    bw_policy_call_refused(&v, s->cfg.policy, NULL, name, args, len, BW_R_TOOL_STREAM_INVALID);
    if (s->cfg.on_verdict)
        s->cfg.on_verdict(s->cfg.arg, &v);
}

static bw_err foreign(struct bw_toolstream *s, const json_t *subtree) {
    bw_answer_scan_calls(subtree, BW_POLICY_MAX_TOOLS, on_foreign, s);
    return BW_E_INVALID;
}

static bw_err one_choice(struct bw_toolstream *s, const json_t *choice, int64_t now_ms) {
    if (bw_answer_check_choice(choice) != BW_OK || json_object_get(choice, "message"))
        return foreign(s, choice); /* a stream has deltas; a message here would go unread */
    const json_t *delta = json_object_get(choice, "delta");
    const json_t *finish = json_object_get(choice, "finish_reason");
    if (delta && !json_is_null(delta) && bw_answer_check_message(delta) != BW_OK)
        return foreign(s, delta);
    json_int_t ix = json_integer_value(json_object_get(choice, "index"));
    BW_ENSURE(ix < BW_TOOLSTREAM_MAX_CHOICES, BW_E_INVALID);
    size_t c = (size_t)ix;
    if (json_is_object(delta) && carries_text(delta))
        BW_TRY(choice_text(s, c, delta));
    BW_TRY(choice_calls(s, c, json_object_get(delta, "tool_calls"), now_ms));
    BW_TRY(legacy_delta(s, c, json_object_get(delta, "function_call"), now_ms));
    if (json_is_string(finish))
        BW_TRY(choice_finish(s, c, finish));
    return BW_OK;
}

/* Usage (and an upstream's error record) go out as a chunk of their own: the latest metadata,
 * no choices. Unknown top-level scalars are not passed on. */
static bw_err emit_usage(struct bw_toolstream *s, const json_t *usage, const json_t *error) {
    json_t *u = json_deep_copy(s->meta);
    bw_err e = BW_E_NOMEM;
    if (u && json_object_set_new(u, "choices", json_array()) == 0 &&
        (!usage || json_object_set(u, "usage", (json_t *)usage) == 0) &&
        (!error || json_object_set(u, "error", (json_t *)error) == 0))
        e = s->cfg.emit(s->cfg.arg, u);
    json_decref(u);
    return e;
}

static bw_err feed(struct bw_toolstream *s, const json_t *chunk, int64_t now_ms) {
    if (bw_answer_check_top(chunk) != BW_OK)
        return foreign(s, chunk);
    BW_TRY(keep_meta(s, chunk));
    const json_t *choices = json_object_get(chunk, "choices");
    const json_t *usage = json_object_get(chunk, "usage");
    const json_t *error = json_object_get(chunk, "error");
    if (json_is_null(usage))
        usage = NULL;
    if (json_is_null(error))
        error = NULL;
    size_t i;
    json_t *ch;
    json_array_foreach(choices, i, ch) BW_TRY(one_choice(s, ch, now_ms));
    if (usage || error || json_array_size(choices) == 0)
        BW_TRY(emit_usage(s, usage, error));
    return BW_OK;
}

/* A broken stream delivers nothing more: every open call is dropped and listed with why. */
static void drop_open(struct bw_toolstream *s, const char *reason) {
    for (size_t c = 0; c < BW_TOOLSTREAM_MAX_CHOICES; c++)
        if (s->ch[c].cur.open)
            (void)close_call(s, c, reason); /* a forced deny emits nothing: cannot fail */
}

static const char *reason_of(bw_err e) {
    switch (e) {
    case BW_E_TOO_LARGE:
        return BW_R_TOOL_CALLS_TOO_MANY;
    case BW_E_TIMEOUT:
        return BW_R_TOOL_CALL_INCOMPLETE;
    default:
        return BW_R_TOOL_STREAM_INVALID;
    }
}

static bw_err broke(struct bw_toolstream *s, bw_err e) {
    if (!s->broken) {
        s->broken = 1;
        s->fail_reason = reason_of(e);
        drop_open(s, s->fail_reason);
    }
    return e;
}

bw_err bw_toolstream_feed(struct bw_toolstream *s, const json_t *chunk, int64_t now_ms) {
    BW_ENSURE(!s->broken, BW_E_INVALID);
    bw_err e = feed(s, chunk, now_ms);
    return e == BW_OK ? BW_OK : broke(s, e);
}

bw_err bw_toolstream_expire(struct bw_toolstream *s, int64_t now_ms) {
    if (s->broken || s->cfg.call_timeout_ms <= 0)
        return BW_OK;
    int dropped = 0;
    for (size_t c = 0; c < BW_TOOLSTREAM_MAX_CHOICES; c++) {
        struct pending *p = &s->ch[c].cur;
        if (p->open && now_ms - p->last_ms > s->cfg.call_timeout_ms) {
            bw_err e = close_call(s, c, BW_R_TOOL_CALL_INCOMPLETE);
            if (e != BW_OK)
                return broke(s, e);
            dropped = 1;
        }
    }
    return dropped ? broke(s, BW_E_TIMEOUT) : BW_OK;
}

bw_err bw_toolstream_finish(struct bw_toolstream *s) {
    if (s->broken)
        return BW_E_INVALID;
    int dropped = 0;
    for (size_t c = 0; c < BW_TOOLSTREAM_MAX_CHOICES; c++) {
        if (s->ch[c].cur.open) {
            (void)close_call(s, c, BW_R_TOOL_CALL_INCOMPLETE); /* forced: emits nothing */
            dropped = 1;
        }
    }
    s->broken = 1;
    s->fail_reason = dropped ? BW_R_TOOL_CALL_INCOMPLETE : NULL;
    return dropped ? BW_E_UPSTREAM : BW_OK;
}

int bw_toolstream_open_calls(const struct bw_toolstream *s) {
    int n = 0;
    for (size_t c = 0; c < BW_TOOLSTREAM_MAX_CHOICES; c++)
        n += s->ch[c].cur.open;
    return n;
}

const char *bw_toolstream_fail_reason(const struct bw_toolstream *s) {
    return s->fail_reason;
}
