/* mcp_internal.h: what the MCP mock's files share (not part of the contract in mcp_mock.h).
 *
 * mcp_server.c owns HTTP (routing, sessions, the JSON-RPC envelope); mcp_tools.c answers the
 * methods that answer at once; mcp_stream.c the tool calls that answer later over SSE (slow,
 * ask_sampling). Everything runs on the mock's event-base thread. */
#ifndef BW_MOCK_MCP_INTERNAL_H
#define BW_MOCK_MCP_INTERNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

struct evhttp;
struct evhttp_request;
struct bw_mcp_stream;

#define BW_MCP_MAX_BODY ((size_t)1 << 20) /* request bodies */
#define BW_MCP_MAX_DEPTH 32               /* JSON nesting */
#define BW_MCP_MAX_SESSIONS 1024
#define BW_MCP_SESSION_HEX 32
#define BW_MCP_MAX_STREAMS 256
#define BW_MCP_MAX_TEXT 65536 /* echo text, sampling prompt: bytes */
#define BW_MCP_MAX_AUTH 8192
#define BW_MCP_SLOW_TICK_MS 100
#define BW_MCP_SLOW_MAX_STEPS 50
#define BW_MCP_SAMPLING_TIMEOUT_MS 30000
#define BW_MCP_LATEST "2025-11-25"

/* JSON-RPC 2.0 error codes (section 5.1). */
#define BW_MCP_PARSE_ERROR (-32700)
#define BW_MCP_INVALID_REQUEST (-32600)
#define BW_MCP_METHOD_NOT_FOUND (-32601)
#define BW_MCP_INVALID_PARAMS (-32602)
#define BW_MCP_INTERNAL_ERROR (-32603)

enum bw_mcp_tool {
    BW_MCP_TOOL_ECHO,
    BW_MCP_TOOL_DELETE,
    BW_MCP_TOOL_MUTABLE,
    BW_MCP_TOOL_SLOW,
    BW_MCP_TOOL_SAMPLING,
    BW_MCP_NTOOLS
};

struct bw_mcp_session {
    int used;
    int sampling; /* the client declared capabilities.sampling */
    char id[BW_MCP_SESSION_HEX + 1];
    char version[16]; /* negotiated protocol version */
};

struct bw_mcp_mock {
    struct event_base *base;
    struct evhttp *http;
    unsigned revision; /* of the `mutable` tool; /control/mutate increments */
    uint64_t requests; /* POST /mcp seen since start or reset */
    uint64_t calls[BW_MCP_NTOOLS];
    uint64_t sampling_seq;
    char last_auth[BW_MCP_MAX_AUTH + 1];
    size_t last_auth_len;
    int has_auth;
    struct bw_mcp_session sessions[BW_MCP_MAX_SESSIONS];
    size_t nsessions;
    struct bw_mcp_stream *streams; /* open SSE answers, doubly linked */
    size_t nstreams;
};

/* Messages (mcp_server.c). Each returns a new reference, or NULL when out of memory. */
json_t *bw_mcp_error_msg(const json_t *id, int code, const char *message) BW_MUST_CHECK;
json_t *bw_mcp_result_msg(const json_t *id, json_t *result_taken) BW_MUST_CHECK;
/* Sends msg (taken) as an application/json body with status. Frees req and msg_taken. */
void bw_mcp_send(struct evhttp_request *req, int status, json_t *msg_taken);

/* Methods (mcp_tools.c). Index of a tool name, or -1. */
int bw_mcp_tool_of(const char *name) BW_MUST_CHECK;
/* Answers method for session s: a result object, or NULL with *code and *why set. */
json_t *bw_mcp_answer(struct bw_mcp_mock *m, const struct bw_mcp_session *s, const char *method,
                      const json_t *params, int *code, const char **why) BW_MUST_CHECK;
/* A tool result with one text item: {"content":[{"type":"text","text":text}],"isError":b}. */
json_t *bw_mcp_text_result(const char *text, int is_error) BW_MUST_CHECK;

/* Streams (mcp_stream.c). Each answers req itself (also on failure). sse: the client accepts
 * text/event-stream.
 * Frees req (answers it, now or later). */
void bw_mcp_stream_slow(struct bw_mcp_mock *m, struct evhttp_request *req,
                        const struct bw_mcp_session *s, const json_t *id, const json_t *params,
                        int sse);
/* Frees req (answers it, now or later). */
void bw_mcp_stream_sampling(struct bw_mcp_mock *m, struct evhttp_request *req,
                            const struct bw_mcp_session *s, const json_t *id, const json_t *params,
                            int sse);
/* A client's JSON-RPC response on session s: finishes the stream waiting for it. */
void bw_mcp_stream_response(struct bw_mcp_mock *m, const struct bw_mcp_session *s,
                            const json_t *msg);
void bw_mcp_stream_release_all(struct bw_mcp_mock *m);

#endif
