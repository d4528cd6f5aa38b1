/* mock_internal.h: what the mock's files share (not part of the contract in mock.h).
 *
 * A request is answered by building a bw_mock_reply (a whole JSON body, or the SSE events of a
 * stream) and sending it either at once or, with latency or a behaviour model, through a hold
 * (mock_hold.c): a held request owns a timer and a close callback on its connection, and is
 * released exactly once, by the timer finishing it, by the client going away, or by
 * bw_mock_free. Everything here runs on the mock's event-base thread. */
#ifndef BW_MOCK_MOCK_INTERNAL_H
#define BW_MOCK_MOCK_INTERNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

struct evhttp;
struct evhttp_request;
struct bw_mock_hold;

#define BW_MOCK_CREATED 1700000000           /* fixed `created` in every object */
#define BW_MOCK_MAX_BODY ((size_t)4 << 20)   /* request bodies */
#define BW_MOCK_MAX_REPLY ((size_t)32 << 20) /* a built answer, all events included */
#define BW_MOCK_MAX_DEPTH 64                 /* JSON nesting in requests */
#define BW_MOCK_MAX_MODEL 256                /* bytes of a model name */
#define BW_MOCK_MAX_AUTH 8192                /* bytes of Authorization kept for stats */
#define BW_MOCK_ID_HEX 16                    /* hex digits in chatcmpl-mock-<hex> */
#define BW_MOCK_SLOW_TICK_MS 200
#define BW_MOCK_SLOW_TICKS 300 /* 60 s */

struct bw_mock {
    struct event_base *base;
    struct evhttp *http;
    int latency_ms;
    uint64_t requests; /* POST /v1/... seen since start or reset */
    char last_auth[BW_MOCK_MAX_AUTH + 1];
    size_t last_auth_len;
    int has_auth; /* last POST /v1/... carried an Authorization header */
    char last_path[128];
    struct bw_mock_hold *holds; /* held requests, doubly linked */
    size_t nholds;
};

/* A built answer. For a stream, body holds every SSE event back to back and ends[i] is the
 * offset just past event i. */
struct bw_mock_reply {
    int status;
    int stream;
    struct bw_buf body;
    size_t *ends;
    size_t nevents, cap_events;
};

void bw_mock_reply_init(struct bw_mock_reply *r);
void bw_mock_reply_cleanup(struct bw_mock_reply *r);
/* Serializes v (compact, deterministic order) as the whole body. v stays the caller's. */
bw_err bw_mock_reply_json(struct bw_mock_reply *r, int status, const json_t *v) BW_MUST_CHECK;
/* Appends one event "data: <data>\n\n" and marks the reply as a stream. */
bw_err bw_mock_reply_event(struct bw_mock_reply *r, const char *data, size_t n) BW_MUST_CHECK;
bw_err bw_mock_reply_event_json(struct bw_mock_reply *r, const json_t *v) BW_MUST_CHECK;
/* Sends the whole reply on req now (a stream as one chunk per event). Frees req. */
void bw_mock_reply_send(struct evhttp_request *req, const struct bw_mock_reply *r);
/* Sends an OpenAI-shaped error {"error":{message,type,param:null,code}} now. Frees req. */
void bw_mock_send_error(struct evhttp_request *req, int status, const char *type, const char *code,
                        const char *message);

/* Text helpers (mock_text.c). "Characters" are UTF-8 code points; tokens are ceil(chars / 4). */
size_t bw_mock_chars(const char *s, size_t n);
size_t bw_mock_tokens(size_t chars);
/* Bytes in the longest prefix of s[0..n) holding at most max_chars code points. */
size_t bw_mock_prefix(const char *s, size_t n, size_t max_chars);
/* Code points in a message's content: a string, or the text of an array of text parts. */
size_t bw_mock_content_chars(const json_t *content);
/* Appends a message's content text to out (parts concatenated). */
bw_err bw_mock_content_text(const json_t *content, struct bw_buf *out) BW_MUST_CHECK;
/* Writes prefix followed by hex_digits lowercase hex of SHA-256(salt || body) into out. */
bw_err bw_mock_hash_id(const char *prefix, const char *salt, const void *body, size_t n,
                       size_t hex_digits, char *out, size_t out_size) BW_MUST_CHECK;
/* Byte offset just past the next piece of s starting at off: a word and the spaces after it. */
size_t bw_mock_next_word(const char *s, size_t n, size_t off);

/* Chat completions (mock_chat.c). On BW_E_INVALID, why holds a message for a 400. */
bw_err bw_mock_chat_answer(const json_t *req, const void *body, size_t body_len,
                           struct bw_mock_reply *out, char *why, size_t why_size) BW_MUST_CHECK;
/* One chat.completion.chunk event: delta is borrowed; finish may be NULL; usage_null adds
 * "usage":null (as OpenAI does when include_usage is set). */
bw_err bw_mock_chat_chunk(struct bw_mock_reply *r, const char *id, const char *model, json_t *delta,
                          const char *finish, int usage_null) BW_MUST_CHECK;

/* Tool calls (mock_tools.c). Returns the "function" object of the tool the last user message
 * asks for, or NULL when no tool call is due. Borrowed from req. */
const json_t *bw_mock_tool_pick(const json_t *req, const char *user, size_t user_len);
/* Deterministic arguments for fn as a compact JSON string; *out is malloc'd. */
bw_err bw_mock_tool_args(const json_t *fn, const char *user, size_t user_len,
                         char **out) BW_MUST_CHECK;

/* Embeddings (mock_embed.c). */
bw_err bw_mock_embed_answer(const json_t *req, struct bw_mock_reply *out, char *why,
                            size_t why_size) BW_MUST_CHECK;

/* Holds (mock_hold.c). Each takes the reply (left empty) and answers req later.
 * Takes req (answered later) and reply_taken's contents. */
bw_err bw_mock_hold_reply(struct bw_mock *m, struct evhttp_request *req,
                          struct bw_mock_reply *reply_taken, int delay_ms) BW_MUST_CHECK;
/* Takes req (answered later). */
bw_err bw_mock_hold_hang(struct bw_mock *m, struct evhttp_request *req) BW_MUST_CHECK;
/* mock-slow-stream: after delay_ms, a role chunk, then one content chunk per 200 ms.
 * Takes req (answered later). */
bw_err bw_mock_hold_slow(struct bw_mock *m, struct evhttp_request *req, const char *id,
                         const char *model, int include_usage, int delay_ms) BW_MUST_CHECK;
/* Releases every hold without answering (the evhttp that owns the requests is freed next). */
void bw_mock_hold_release_all(struct bw_mock *m);

#endif
