/* request_view.c: the one normalized view of a request body (engine.h, docs/POLICY.md "What the
 * policy reads").
 *
 * Tools are read structurally, in every form the API has (tools[] of type function or custom,
 * the legacy functions[], tool_choice, function_call, and the calls in the history), each name
 * from the member its type designates: an object that also carries another naming member (a
 * decoy `name`, or `function` beside `custom`) is refused, so a tool is never decided under a
 * name the upstream does not use. Texts are collected generically: every string leaf at any
 * depth and every object key that is not an API member name, so a member the code does not
 * mention (a schema, metadata, a refusal part, file data, a future field) still reaches the
 * content rules. Only the top-level model and the fixed enum values of structural members are
 * left out: fixed words cannot hide text. A top-level member this file does not know is refused
 * rather than forwarded unread. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/answer_shape.h"
#include "policy/engine_internal.h"
#include "reason/reasons.h"
#include "util/json.h"

#define MAX_WALK_DEPTH 128 /* bodies are depth-bounded at parse (limits.max_json_depth) */

/* OpenAI's chat completion request members (the API reference, 2025), plus best_of, which the
 * budget step reads. Anything else is refused. */
static const char *const chat_members[] = {"audio",
                                           "best_of",
                                           "frequency_penalty",
                                           "function_call",
                                           "functions",
                                           "logit_bias",
                                           "logprobs",
                                           "max_completion_tokens",
                                           "max_tokens",
                                           "messages",
                                           "metadata",
                                           "modalities",
                                           "model",
                                           "n",
                                           "parallel_tool_calls",
                                           "prediction",
                                           "presence_penalty",
                                           "prompt_cache_key",
                                           "reasoning_effort",
                                           "response_format",
                                           "safety_identifier",
                                           "seed",
                                           "service_tier",
                                           "stop",
                                           "store",
                                           "stream",
                                           "stream_options",
                                           "temperature",
                                           "tool_choice",
                                           "tools",
                                           "top_logprobs",
                                           "top_p",
                                           "user",
                                           "verbosity",
                                           "web_search_options",
                                           NULL};

static const char *const embeddings_members[] = {
    "dimensions", "encoding_format", "input", "model", "user", NULL};

/* Object keys that are API or JSON Schema member names: not texts (every other key is, e.g. a
 * schema's property names or metadata keys). A fixed list of words hides nothing. */
static const char *const member_names[] = {"role",
                                           "content",
                                           "name",
                                           "tool_calls",
                                           "tool_call_id",
                                           "function_call",
                                           "refusal",
                                           "audio",
                                           "id",
                                           "type",
                                           "function",
                                           "custom",
                                           "arguments",
                                           "input",
                                           "description",
                                           "parameters",
                                           "strict",
                                           "properties",
                                           "required",
                                           "items",
                                           "additionalProperties",
                                           "enum",
                                           "format",
                                           "text",
                                           "image_url",
                                           "url",
                                           "detail",
                                           "input_audio",
                                           "data",
                                           "file",
                                           "file_id",
                                           "filename",
                                           "file_data",
                                           "json_schema",
                                           "schema",
                                           "mode",
                                           "allowed_tools",
                                           "tools",
                                           "include_usage",
                                           "voice",
                                           "grammar",
                                           "definition",
                                           "syntax",
                                           "title",
                                           "default",
                                           "minimum",
                                           "maximum",
                                           "anyOf",
                                           "allOf",
                                           "oneOf",
                                           "$ref",
                                           "$defs",
                                           "definitions",
                                           "pattern",
                                           "minItems",
                                           "maxItems",
                                           "minLength",
                                           "maxLength",
                                           "const",
                                           "nullable",
                                           "search_context_size",
                                           "user_location",
                                           "approximate",
                                           "city",
                                           "country",
                                           "region",
                                           "timezone",
                                           "index",
                                           NULL};

/* Members whose value is an enum; their values from this list are not texts (any other value
 * is). */
static const char *const enum_keys[] = {"role",
                                        "type",
                                        "tool_choice",
                                        "function_call",
                                        "mode",
                                        "detail",
                                        "format",
                                        "reasoning_effort",
                                        "service_tier",
                                        "verbosity",
                                        "encoding_format",
                                        "modalities",
                                        "syntax",
                                        "search_context_size",
                                        NULL};

static const char *const enum_values[] = {
    "system",      "developer",   "user",      "assistant",     "tool",        "function",
    "custom",      "text",        "image_url", "input_audio",   "file",        "refusal",
    "json_schema", "json_object", "content",   "allowed_tools", "grammar",     "none",
    "auto",        "required",    "object",    "string",        "number",      "integer",
    "boolean",     "array",       "null",      "low",           "medium",      "high",
    "minimal",     "default",     "flex",      "scale",         "priority",    "float",
    "base64",      "wav",         "mp3",       "flac",          "opus",        "pcm16",
    "aac",         "lark",        "regex",     "audio",         "approximate", NULL};

static const char *const function_members[] = {"name", "description", "parameters", "strict", NULL};
static const char *const custom_members[] = {"name", "description", "format", NULL};
static const char *const legacy_function_members[] = {"name", "description", "parameters", NULL};
static const char *const name_only[] = {"name", NULL};
static const char *const call_function_members[] = {"name", "arguments", NULL};
static const char *const call_custom_members[] = {"name", "input", NULL};
static const char *const call_outer[] = {"id", NULL};
static const char *const no_members[] = {NULL};

struct vb {
    struct bw_policy_request_view *v;
    const char **reason;
    char *why;
    size_t why_size;
    int numbers; /* numbers below the top level are texts (chat bodies) */
};

__attribute__((format(printf, 4, 5))) static bw_err
refuse(struct vb *b, bw_err e, const char *reason, const char *fmt, ...) {
    *b->reason = reason;
    if (b->why && b->why_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(b->why, b->why_size, fmt, ap);
        va_end(ap);
    }
    return e;
}

/* s (n bytes) is one of list: lengths compared too, so "user\0x" is not "user". */
static int in_list(const char *s, size_t n, const char *const *list) {
    for (; *list; list++)
        if (strlen(*list) == n && memcmp(*list, s, n) == 0)
            return 1;
    return 0;
}

static int str_in(const json_t *s, const char *const *list) {
    return json_is_string(s) && in_list(json_string_value(s), json_string_length(s), list);
}

/* Every member of o is "type", typed (when non-NULL) or in allowed. */
static bw_err only_members(struct vb *b, const json_t *o, const char *typed,
                           const char *const *allowed, const char *where) {
    const char *k;
    const json_t *val;
    json_object_foreach((json_t *)o, k, val) {
        if ((typed && (strcmp(k, "type") == 0 || strcmp(k, typed) == 0)) ||
            in_list(k, strlen(k), allowed))
            continue;
        return refuse(b, BW_E_INVALID, BW_R_INVALID_REQUEST,
                      "%s has a member this gateway does not govern (allowed: the documented "
                      "members of its type)",
                      where);
    }
    return BW_OK;
}

static char ascii_lower(char c) {
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Tool names are decided ASCII case-insensitively, so they are collected that way. */
static int same_name(const char *a, const char *b) {
    for (; *a && ascii_lower(*a) == ascii_lower(*b); a++, b++)
        ;
    return ascii_lower(*a) == ascii_lower(*b);
}

static bw_err add_ref(struct vb *b, enum bw_policy_tool_place place, size_t tool,
                      const json_t *node) {
    struct bw_policy_request_view *v = b->v;
    if (v->n_refs == v->refs_cap) {
        if (v->refs_cap >= BW_POLICY_MAX_TOOL_REFS)
            return refuse(b, BW_E_TOO_LARGE, BW_R_INVALID_REQUEST,
                          "the request names tools in more than %d places",
                          BW_POLICY_MAX_TOOL_REFS);
        size_t cap = v->refs_cap ? v->refs_cap * 2 : 16;
        struct bw_policy_tool_ref *r = realloc(v->refs, cap * sizeof *r);
        if (!r)
            return BW_E_NOMEM;
        v->refs = r;
        v->refs_cap = cap;
    }
    v->refs[v->n_refs++] = (struct bw_policy_tool_ref){place, tool, node};
    return BW_OK;
}

/* One place naming a tool: the name is checked against the alphabet, collected once. */
static bw_err add_name(struct vb *b, const json_t *name, enum bw_policy_tool_place place,
                       const json_t *node, const char *where) {
    struct bw_policy_request_view *v = b->v;
    if (!json_is_string(name))
        return refuse(b, BW_E_INVALID, BW_R_INVALID_REQUEST, "%s needs a string \"name\"", where);
    const char *s = json_string_value(name);
    if (!bw_policy_tool_name_ok(s, json_string_length(name)))
        return refuse(b, BW_E_INVALID, BW_R_TOOL_NAME_INVALID,
                      "%s: a tool name must be 1 to 64 of A-Z a-z 0-9 _ . -", where);
    size_t i;
    for (i = 0; i < v->n_tools && !same_name(v->tools[i].name, s); i++)
        ;
    if (i == v->n_tools) {
        if (i >= BW_POLICY_MAX_TOOLS)
            return refuse(b, BW_E_TOO_LARGE, BW_R_INVALID_REQUEST,
                          "the request names more than %d different tools", BW_POLICY_MAX_TOOLS);
        v->tools[i] = (struct bw_policy_tool){s, NULL};
        v->n_tools++;
    }
    return add_ref(b, place, i, node);
}

/* {type: function, function: {name..}} or {type: custom, custom: {name..}}: the name comes
 * from the member the type designates and nothing else may name a tool. outer: members allowed
 * beside type and that one; fn / cu: members allowed inside it. type_optional: a missing type
 * is function (history calls). */
static bw_err typed_name(struct vb *b, const json_t *o, const char *where, int type_optional,
                         const char *const *outer, const char *const *fn, const char *const *cu,
                         enum bw_policy_tool_place place, const json_t *node) {
    if (!json_is_object(o))
        return refuse(b, BW_E_INVALID, BW_R_INVALID_REQUEST, "%s must be an object", where);
    const json_t *type = json_object_get(o, "type");
    const char *typed;
    const char *const *inner;
    if (!type && type_optional) {
        typed = "function";
        inner = fn;
    } else if (json_is_string(type) && strcmp(json_string_value(type), "function") == 0 &&
               json_string_length(type) == 8) {
        typed = "function";
        inner = fn;
    } else if (json_is_string(type) && strcmp(json_string_value(type), "custom") == 0 &&
               json_string_length(type) == 6) {
        typed = "custom";
        inner = cu;
    } else {
        return refuse(b, BW_E_INVALID, BW_R_INVALID_REQUEST,
                      "%s: \"type\" must be \"function\" or \"custom\"", where);
    }
    BW_TRY(only_members(b, o, typed, outer, where));
    const json_t *in = json_object_get(o, typed);
    if (!json_is_object(in))
        return refuse(b, BW_E_INVALID, BW_R_INVALID_REQUEST, "%s needs a \"%s\" object", where,
                      typed);
    BW_TRY(only_members(b, in, NULL, inner, where));
    return add_name(b, json_object_get(in, "name"), place, node, where);
}

static bw_err read_tools(struct vb *b, const json_t *tools) {
    if (!tools || json_is_null(tools))
        return BW_OK;
    if (!json_is_array(tools))
        return refuse(b, BW_E_INVALID, BW_R_INVALID_REQUEST, "\"tools\" must be an array");
    size_t i;
    json_t *t;
    char where[48];
    json_array_foreach(tools, i, t) {
        snprintf(where, sizeof where, "tools[%zu]", i);
        BW_TRY(typed_name(b, t, where, 0, no_members, function_members, custom_members,
                          BW_POLICY_PLACE_TOOLS, t));
    }
    return BW_OK;
}

static bw_err read_functions(struct vb *b, const json_t *fns) {
    if (!fns || json_is_null(fns))
        return BW_OK;
    if (!json_is_array(fns))
        return refuse(b, BW_E_INVALID, BW_R_INVALID_REQUEST, "\"functions\" must be an array");
    size_t i;
    json_t *f;
    char where[48];
    json_array_foreach(fns, i, f) {
        snprintf(where, sizeof where, "functions[%zu]", i);
        if (!json_is_object(f))
            return refuse(b, BW_E_INVALID, BW_R_INVALID_REQUEST, "%s must be an object", where);
        BW_TRY(only_members(b, f, NULL, legacy_function_members, where));
        BW_TRY(add_name(b, json_object_get(f, "name"), BW_POLICY_PLACE_FUNCTIONS, f, where));
    }
    return BW_OK;
}

static const char *const choice_modes[] = {"none", "auto", "required", NULL};
static const char *const function_call_modes[] = {"none", "auto", NULL};
static const char *const allowed_modes[] = {"auto", "required", NULL};
static const char *const allowed_outer[] = {"mode", "tools", NULL};

/* tool_choice: a mode, one forced tool, or {type: allowed_tools, allowed_tools: {mode, tools}}. */
static bw_err read_tool_choice(struct vb *b, const json_t *tc) {
    if (!tc || json_is_null(tc) || str_in(tc, choice_modes))
        return BW_OK;
    if (!json_is_object(tc))
        return refuse(b, BW_E_INVALID, BW_R_INVALID_REQUEST,
                      "\"tool_choice\" must be none, auto, required or an object");
    if (!str_in(json_object_get(tc, "type"), (const char *const[]){"allowed_tools", NULL}))
        return typed_name(b, tc, "tool_choice", 0, no_members, name_only, name_only,
                          BW_POLICY_PLACE_TOOL_CHOICE, tc);
    BW_TRY(only_members(b, tc, "allowed_tools", no_members, "tool_choice"));
    const json_t *at = json_object_get(tc, "allowed_tools");
    const json_t *list = json_object_get(at, "tools");
    if (!json_is_object(at) || !str_in(json_object_get(at, "mode"), allowed_modes) ||
        !json_is_array(list))
        return refuse(b, BW_E_INVALID, BW_R_INVALID_REQUEST,
                      "tool_choice.allowed_tools needs a mode (auto or required) and tools");
    BW_TRY(only_members(b, at, NULL, allowed_outer, "tool_choice.allowed_tools"));
    size_t i;
    json_t *t;
    json_array_foreach(list, i, t) {
        BW_TRY(typed_name(b, t, "tool_choice.allowed_tools.tools[]", 0, no_members, name_only,
                          name_only, BW_POLICY_PLACE_TOOL_CHOICE, tc));
    }
    return BW_OK;
}

static bw_err read_function_call(struct vb *b, const json_t *fc) {
    if (!fc || json_is_null(fc) || str_in(fc, function_call_modes))
        return BW_OK;
    if (!json_is_object(fc))
        return refuse(b, BW_E_INVALID, BW_R_INVALID_REQUEST,
                      "\"function_call\" must be none, auto or {\"name\": ...}");
    BW_TRY(only_members(b, fc, NULL, name_only, "function_call"));
    return add_name(b, json_object_get(fc, "name"), BW_POLICY_PLACE_FUNCTION_CALL, fc,
                    "function_call");
}

/* One message's tool references: assistant tool_calls[], a legacy function_call, and the name
 * of a legacy role "function" result. */
static bw_err read_message_calls(struct vb *b, const json_t *m, size_t i) {
    char where[64];
    const json_t *calls = json_object_get(m, "tool_calls");
    if (calls && !json_is_null(calls)) {
        if (!json_is_array(calls))
            return refuse(b, BW_E_INVALID, BW_R_INVALID_REQUEST,
                          "messages[%zu].tool_calls must be an array", i);
        size_t j;
        json_t *call;
        json_array_foreach(calls, j, call) {
            snprintf(where, sizeof where, "messages[%zu].tool_calls[%zu]", i, j);
            BW_TRY(typed_name(b, call, where, 1, call_outer, call_function_members,
                              call_custom_members, BW_POLICY_PLACE_HISTORY, call));
        }
    }
    const json_t *fc = json_object_get(m, "function_call");
    if (fc && !json_is_null(fc)) {
        snprintf(where, sizeof where, "messages[%zu].function_call", i);
        if (!json_is_object(fc))
            return refuse(b, BW_E_INVALID, BW_R_INVALID_REQUEST, "%s must be an object", where);
        BW_TRY(only_members(b, fc, NULL, call_function_members, where));
        BW_TRY(add_name(b, json_object_get(fc, "name"), BW_POLICY_PLACE_HISTORY, fc, where));
    }
    /* a role "tool" result may name its tool too (upstreams that render it show the name) */
    if (str_in(json_object_get(m, "role"), (const char *const[]){"function", NULL}) ||
        (str_in(json_object_get(m, "role"), (const char *const[]){"tool", NULL}) &&
         json_object_get(m, "name") && !json_is_null(json_object_get(m, "name")))) {
        snprintf(where, sizeof where, "messages[%zu] (role %s)", i,
                 json_string_value(json_object_get(m, "role")));
        BW_TRY(add_name(b, json_object_get(m, "name"), BW_POLICY_PLACE_HISTORY, m, where));
    }
    return BW_OK;
}

/* The message members the view reads. Upstreams written in Go (encoding/json) match member
 * names case-insensitively, folding also U+017F to s and U+212A to k: "TOOL_CALLS" or
 * "tool_call\u017f" would be read there as tool_calls while this view skips them. */
static const char *const message_read_members[] = {
    "role", "content", "name", "tool_calls", "tool_call_id", "function_call", NULL};

static bw_err no_folded_members(struct vb *b, const json_t *m, size_t i) {
    const char *k;
    const json_t *val;
    json_object_foreach((json_t *)m, k, val) {
        for (const char *const *w = message_read_members; *w; w++)
            if (strcmp(k, *w) != 0 && bw_answer_key_folds(k, *w))
                return refuse(b, BW_E_INVALID, BW_R_INVALID_REQUEST,
                              "messages[%zu] has a member spelled like \"%s\" in another case "
                              "(an upstream may read it as that member)",
                              i, *w);
    }
    return BW_OK;
}

static bw_err read_messages(struct vb *b, const json_t *msgs) {
    if (!msgs)
        return BW_OK;
    if (!json_is_array(msgs))
        return refuse(b, BW_E_INVALID, BW_R_INVALID_REQUEST, "\"messages\" must be an array");
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m) {
        const json_t *c = json_object_get(m, "content");
        if (!json_is_object(m) || !json_is_string(json_object_get(m, "role")))
            return refuse(b, BW_E_INVALID, BW_R_INVALID_REQUEST,
                          "messages[%zu] must be an object with a string \"role\"", i);
        if (c && !json_is_null(c) && !json_is_string(c) && !json_is_array(c))
            return refuse(b, BW_E_INVALID, BW_R_INVALID_REQUEST,
                          "messages[%zu].content must be a string or an array of parts", i);
        BW_TRY(no_folded_members(b, m, i));
        BW_TRY(read_message_calls(b, m, i));
    }
    return BW_OK;
}

/* ---- texts ---- */

static bw_err add_text(struct vb *b, const char *s, size_t n) {
    struct bw_policy_request_view *v = b->v;
    if (v->n_texts == v->texts_cap) {
        if (v->texts_cap >= BW_POLICY_MAX_TEXTS)
            return refuse(b, BW_E_TOO_LARGE, BW_R_INVALID_REQUEST,
                          "the request holds more than %d strings", BW_POLICY_MAX_TEXTS);
        size_t cap = v->texts_cap ? v->texts_cap * 2 : 64;
        if (cap > BW_POLICY_MAX_TEXTS)
            cap = BW_POLICY_MAX_TEXTS;
        struct bw_slice *t = realloc(v->texts, cap * sizeof *t);
        if (!t)
            return BW_E_NOMEM;
        v->texts = t;
        v->texts_cap = cap;
    }
    v->texts[v->n_texts++] = bw_slice_of(s, n);
    return BW_OK;
}

/* A number as the upstream receives it (the forwarded body is dumped with the same flags): a
 * schema's enum, default, example or const, or a part's text, is shown to the model as its
 * digits, so a content rule must see them. The string is kept alive by the view. */
static bw_err add_number(struct vb *b, const json_t *j) {
    char *s = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
    json_t *str = s ? json_string(s) : NULL;
    free(s);
    if (!str)
        return BW_E_NOMEM;
    bw_err e = bw_policy_request_view_retain(b->v, str);
    json_decref(str); /* the view's array holds it now */
    BW_TRY(e);
    return add_text(b, json_string_value(str), json_string_length(str));
}

/* Every string under j is a text, except an enum member's known value; every key that is not
 * a member name is a text too. key: the member j sits in (an array passes its own down). */
static bw_err walk(struct vb *b, const json_t *j, const char *key, size_t depth) {
    if (depth > MAX_WALK_DEPTH)
        return refuse(b, BW_E_INVALID, BW_R_INVALID_REQUEST, "the request is nested too deeply");
    switch (json_typeof(j)) {
    case JSON_STRING:
        if (key && in_list(key, strlen(key), enum_keys) && str_in(j, enum_values))
            return BW_OK;
        return add_text(b, json_string_value(j), json_string_length(j));
    case JSON_OBJECT: {
        const char *k;
        json_t *val;
        json_object_foreach((json_t *)j, k, val) {
            if (!in_list(k, strlen(k), member_names))
                BW_TRY(add_text(b, k, strlen(k)));
            BW_TRY(walk(b, val, k, depth + 1));
        }
        return BW_OK;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *val;
        json_array_foreach(j, i, val) BW_TRY(walk(b, val, key, depth + 1));
        return BW_OK;
    }
    case JSON_INTEGER:
    case JSON_REAL:
        /* top-level numbers are sampling settings (max_tokens, seed, temperature...), never
         * shown to the model; deeper ones can be (a schema enum): texts */
        return b->numbers && depth > 1 ? add_number(b, j) : BW_OK;
    default: /* booleans, null: fixed words, not text */
        return BW_OK;
    }
}

/* Known top-level members only; all of them walked for texts except model (a routing name the
 * model matcher reads). */
static bw_err read_top(struct vb *b, const json_t *body, const char *const *known) {
    const char *k;
    json_t *val;
    json_object_foreach((json_t *)body, k, val) {
        if (!in_list(k, strlen(k), known))
            return refuse(b, BW_E_INVALID, BW_R_INVALID_REQUEST,
                          "the request has a top-level member this gateway does not govern "
                          "(see docs/POLICY.md \"What the policy reads\")");
        if (strcmp(k, "model") != 0)
            BW_TRY(walk(b, val, k, 1));
    }
    return BW_OK;
}

bw_err bw_policy_view_fill(struct bw_policy_request_view *v, const json_t *body,
                           enum bw_policy_body_kind kind, const char **reason, char *why,
                           size_t why_size) {
    /* embeddings input may be token ids by the thousand: numbers, not text the rules can read */
    struct vb b = {v, reason, why, why_size, kind == BW_POLICY_BODY_CHAT};
    v->tools = calloc(BW_POLICY_MAX_TOOLS, sizeof *v->tools);
    if (!v->tools)
        return BW_E_NOMEM;
    switch (kind) {
    case BW_POLICY_BODY_CHAT:
        BW_TRY(read_top(&b, body, chat_members));
        BW_TRY(read_tools(&b, json_object_get(body, "tools")));
        BW_TRY(read_functions(&b, json_object_get(body, "functions")));
        BW_TRY(read_tool_choice(&b, json_object_get(body, "tool_choice")));
        BW_TRY(read_function_call(&b, json_object_get(body, "function_call")));
        return read_messages(&b, json_object_get(body, "messages"));
    case BW_POLICY_BODY_EMBEDDINGS:
        return read_top(&b, body, embeddings_members);
    default:
        return refuse(&b, BW_E_INVALID, BW_R_INVALID_REQUEST, "unknown request kind");
    }
}

bw_err bw_policy_request_view_retain(struct bw_policy_request_view *v, json_t *node) {
    if (!v->retained && !(v->retained = json_array()))
        return BW_E_NOMEM;
    return json_array_append(v->retained, node) == 0 ? BW_OK : BW_E_NOMEM;
}
