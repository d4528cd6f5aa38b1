/* mock_chat.c: POST /v1/chat/completions answers, as OpenAI's chat.completion object or as a
 * stream of chat.completion.chunk events. Everything is a function of the request bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mock/mock_internal.h"
#include "util/json.h"

#define EXCERPT_CHARS 40
#define MAX_TOKENS_CAP ((size_t)1 << 30) /* larger limits are as good as none */
#define ARG_PIECE_CHARS 8                /* streamed tool-call arguments per delta */

static const char REPLY_LEAD[] = "This is a mock reply to: ";
static const char REPLY_EMPTY[] = "This is a mock reply to an empty message. ";
static const char REPLY_TAIL[] =
    "The Bulwark mock model answers every request deterministically. "
    "The same request always gets the same words, so tests can compare them. "
    "Nothing here was produced by a real language model.";

struct chat {
    const char *model;
    int stream, include_usage;
    size_t max_tokens;  /* 0: no limit */
    struct bw_buf user; /* text of the last user message */
    size_t prompt_tokens, completion_tokens;
    char id[64];
    char call_id[64];
    const json_t *tool_fn; /* "function" of the tool to call, or NULL */
    char *args;            /* its arguments (malloc'd JSON text) */
    struct bw_buf text;    /* the reply content when not calling a tool */
    const char *finish;
};

static bw_err invalid(char *why, size_t why_size, const char *msg) {
    snprintf(why, why_size, "%s", msg);
    return BW_E_INVALID;
}

static bw_err parse_limit(const json_t *req, size_t *out, char *why, size_t why_size) {
    const json_t *v = json_object_get(req, "max_completion_tokens");
    if (!v || json_is_null(v))
        v = json_object_get(req, "max_tokens");
    *out = 0;
    if (!v || json_is_null(v))
        return BW_OK;
    if (!json_is_integer(v) || json_integer_value(v) < 1)
        return invalid(why, why_size, "max_tokens must be a positive integer");
    json_int_t n = json_integer_value(v);
    *out = (uint64_t)n > MAX_TOKENS_CAP ? 0 : (size_t)n;
    return BW_OK;
}

static bw_err parse_stream(const json_t *req, struct chat *c, char *why, size_t why_size) {
    const json_t *s = json_object_get(req, "stream");
    if (s && !json_is_null(s) && !json_is_boolean(s))
        return invalid(why, why_size, "stream must be a boolean");
    c->stream = json_is_true(s);
    const json_t *o = json_object_get(req, "stream_options");
    if (!o || json_is_null(o))
        return BW_OK;
    if (!json_is_object(o))
        return invalid(why, why_size, "stream_options must be an object");
    const json_t *u = json_object_get(o, "include_usage");
    if (u && !json_is_null(u) && !json_is_boolean(u))
        return invalid(why, why_size, "stream_options.include_usage must be a boolean");
    c->include_usage = c->stream && json_is_true(u);
    return BW_OK;
}

/* prompt_tokens = ceil(chars of all contents / 4) + 4 per message; remembers the text of the
 * last user message. */
static bw_err parse_messages(const json_t *req, struct chat *c, char *why, size_t why_size) {
    const json_t *msgs = json_object_get(req, "messages");
    if (!json_is_array(msgs) || json_array_size(msgs) == 0)
        return invalid(why, why_size, "messages must be a non-empty array");
    size_t chars = 0, i;
    const json_t *msg, *last_user = NULL;
    json_array_foreach(msgs, i, msg) {
        const char *role = bw_json_str(msg, "role");
        if (!json_is_object(msg) || !role)
            return invalid(why, why_size, "each message must be an object with a role");
        chars += bw_mock_content_chars(json_object_get(msg, "content"));
        if (strcmp(role, "user") == 0)
            last_user = msg;
    }
    c->prompt_tokens = bw_mock_tokens(chars) + 4 * json_array_size(msgs);
    if (last_user)
        BW_TRY(bw_mock_content_text(json_object_get(last_user, "content"), &c->user));
    return BW_OK;
}

static bw_err parse_chat(const json_t *req, struct chat *c, char *why, size_t why_size) {
    c->model = bw_json_str(req, "model");
    if (!c->model || !*c->model || strlen(c->model) > BW_MOCK_MAX_MODEL)
        return invalid(why, why_size, "you must provide a model parameter");
    BW_TRY(parse_stream(req, c, why, why_size));
    BW_TRY(parse_limit(req, &c->max_tokens, why, why_size));
    if (strcmp(c->model, "mock-runaway") == 0)
        c->max_tokens = 0; /* an upstream that ignores max_tokens: the gateway must hold it */
    return parse_messages(req, c, why, why_size);
}

/* "This is a mock reply to: <first 40 chars, on one line>. " and fixed sentences. */
static bw_err compose_text(struct chat *c) {
    const char *u = c->user.ptr ? (const char *)c->user.ptr : "";
    size_t n = bw_mock_prefix(u, c->user.len, EXCERPT_CHARS);
    while (n > 0 && (u[n - 1] == ' ' || u[n - 1] == '.' || u[n - 1] == '\n'))
        n--;
    if (n == 0) {
        BW_TRY(bw_buf_append_str(&c->text, REPLY_EMPTY));
    } else {
        BW_TRY(bw_buf_append_str(&c->text, REPLY_LEAD));
        size_t at = c->text.len;
        BW_TRY(bw_buf_append(&c->text, u, n));
        for (size_t i = at; i < c->text.len; i++)
            if (c->text.ptr[i] == '\n' || c->text.ptr[i] == '\r' || c->text.ptr[i] == '\t')
                c->text.ptr[i] = ' ';
        BW_TRY(bw_buf_append_str(&c->text, ". "));
    }
    BW_TRY(bw_buf_append_str(&c->text, REPLY_TAIL));
    size_t chars = bw_mock_chars((const char *)c->text.ptr, c->text.len);
    c->finish = "stop";
    if (c->max_tokens && bw_mock_tokens(chars) > c->max_tokens) {
        c->text.len = bw_mock_prefix((const char *)c->text.ptr, c->text.len, c->max_tokens * 4);
        c->text.ptr[c->text.len] = 0;
        chars = bw_mock_chars((const char *)c->text.ptr, c->text.len);
        c->finish = "length";
    }
    c->completion_tokens = bw_mock_tokens(chars);
    return BW_OK;
}

static bw_err compose(const json_t *req, const void *body, size_t body_len, struct chat *c) {
    BW_TRY(
        bw_mock_hash_id("chatcmpl-mock-", "", body, body_len, BW_MOCK_ID_HEX, c->id, sizeof c->id));
    c->tool_fn = bw_mock_tool_pick(req, (const char *)c->user.ptr, c->user.len);
    if (!c->tool_fn)
        return compose_text(c);
    BW_TRY(
        bw_mock_hash_id("call_", "tool_call:", body, body_len, 24, c->call_id, sizeof c->call_id));
    BW_TRY(bw_mock_tool_args(c->tool_fn, (const char *)c->user.ptr, c->user.len, &c->args));
    const char *name = bw_json_str(c->tool_fn, "name");
    c->completion_tokens =
        bw_mock_tokens(bw_mock_chars(name, strlen(name)) + bw_mock_chars(c->args, strlen(c->args)));
    c->finish = "tool_calls";
    return BW_OK;
}

static json_t *usage_json(const struct chat *c) {
    return json_pack("{s:I,s:I,s:I}", "prompt_tokens", (json_int_t)c->prompt_tokens,
                     "completion_tokens", (json_int_t)c->completion_tokens, "total_tokens",
                     (json_int_t)(c->prompt_tokens + c->completion_tokens));
}

static json_t *message_json(const struct chat *c) {
    if (!c->tool_fn)
        return json_pack("{s:s,s:s%,s:n}", "role", "assistant", "content",
                         (const char *)c->text.ptr, c->text.len, "refusal");
    return json_pack("{s:s,s:n,s:n,s:[{s:s,s:s,s:{s:s,s:s}}]}", "role", "assistant", "content",
                     "refusal", "tool_calls", "id", c->call_id, "type", "function", "function",
                     "name", bw_json_str(c->tool_fn, "name"), "arguments", c->args);
}

static bw_err answer_plain(const struct chat *c, struct bw_mock_reply *out) {
    json_t *v =
        json_pack("{s:s,s:s,s:i,s:s,s:[{s:i,s:o,s:n,s:s}],s:o,s:s}", "id", c->id, "object",
                  "chat.completion", "created", BW_MOCK_CREATED, "model", c->model, "choices",
                  "index", 0, "message", message_json(c), "logprobs", "finish_reason", c->finish,
                  "usage", usage_json(c), "system_fingerprint", "fp_mock");
    BW_ENSURE(v, BW_E_NOMEM);
    bw_err result = bw_mock_reply_json(out, 200, v);
    json_decref(v);
    return result;
}

bw_err bw_mock_chat_chunk(struct bw_mock_reply *r, const char *id, const char *model, json_t *delta,
                          const char *finish, int usage_null) {
    json_t *v = json_pack("{s:s,s:s,s:i,s:s,s:s,s:[{s:i,s:O,s:n,s:s?}]}", "id", id, "object",
                          "chat.completion.chunk", "created", BW_MOCK_CREATED, "model", model,
                          "system_fingerprint", "fp_mock", "choices", "index", 0, "delta", delta,
                          "logprobs", "finish_reason", finish);
    BW_ENSURE(v, BW_E_NOMEM);
    bw_err result = BW_OK;
    if (usage_null && json_object_set_new(v, "usage", json_null()) != 0)
        result = BW_E_NOMEM;
    if (result == BW_OK)
        result = bw_mock_reply_event_json(r, v);
    json_decref(v);
    return result;
}

/* Sends delta (taken) as one chunk. */
static bw_err chunk_taken(struct bw_mock_reply *r, const struct chat *c, json_t *delta,
                          const char *finish) {
    BW_ENSURE(delta, BW_E_NOMEM);
    bw_err result = bw_mock_chat_chunk(r, c->id, c->model, delta, finish, c->include_usage);
    json_decref(delta);
    return result;
}

static bw_err stream_text(const struct chat *c, struct bw_mock_reply *r) {
    const char *s = (const char *)c->text.ptr;
    BW_TRY(chunk_taken(
        r, c, json_pack("{s:s,s:s,s:n}", "role", "assistant", "content", "", "refusal"), NULL));
    for (size_t off = 0, end; off < c->text.len; off = end) {
        end = bw_mock_next_word(s, c->text.len, off);
        BW_TRY(chunk_taken(r, c, json_pack("{s:s%}", "content", s + off, end - off), NULL));
    }
    return BW_OK;
}

static bw_err stream_tool(const struct chat *c, struct bw_mock_reply *r) {
    BW_TRY(chunk_taken(r, c,
                       json_pack("{s:s,s:n,s:[{s:i,s:s,s:s,s:{s:s,s:s}}],s:n}", "role", "assistant",
                                 "content", "tool_calls", "index", 0, "id", c->call_id, "type",
                                 "function", "function", "name", bw_json_str(c->tool_fn, "name"),
                                 "arguments", "", "refusal"),
                       NULL));
    size_t n = strlen(c->args);
    for (size_t off = 0, end; off < n; off = end) {
        end = off + bw_mock_prefix(c->args + off, n - off, ARG_PIECE_CHARS);
        BW_TRY(chunk_taken(r, c,
                           json_pack("{s:[{s:i,s:{s:s%}}]}", "tool_calls", "index", 0, "function",
                                     "arguments", c->args + off, end - off),
                           NULL));
    }
    return BW_OK;
}

static bw_err stream_usage(const struct chat *c, struct bw_mock_reply *r) {
    json_t *v = json_pack("{s:s,s:s,s:i,s:s,s:s,s:[],s:o}", "id", c->id, "object",
                          "chat.completion.chunk", "created", BW_MOCK_CREATED, "model", c->model,
                          "system_fingerprint", "fp_mock", "choices", "usage", usage_json(c));
    BW_ENSURE(v, BW_E_NOMEM);
    bw_err result = bw_mock_reply_event_json(r, v);
    json_decref(v);
    return result;
}

static bw_err answer_stream(const struct chat *c, struct bw_mock_reply *r) {
    BW_TRY(c->tool_fn ? stream_tool(c, r) : stream_text(c, r));
    BW_TRY(chunk_taken(r, c, json_object(), c->finish));
    if (c->include_usage)
        BW_TRY(stream_usage(c, r));
    return bw_mock_reply_event(r, "[DONE]", 6);
}

bw_err bw_mock_chat_answer(const json_t *req, const void *body, size_t body_len,
                           struct bw_mock_reply *out, char *why, size_t why_size) {
    struct chat c;
    memset(&c, 0, sizeof c);
    bw_buf_init(&c.user, BW_MOCK_MAX_BODY);
    bw_buf_init(&c.text, BW_MOCK_MAX_BODY);
    bw_err result;
    BW_GOTO(parse_chat(req, &c, why, why_size));
    BW_GOTO(compose(req, body, body_len, &c));
    BW_GOTO(c.stream ? answer_stream(&c, out) : answer_plain(&c, out));
out:
    bw_buf_cleanup(&c.user);
    bw_buf_cleanup(&c.text);
    free(c.args);
    return result;
}
