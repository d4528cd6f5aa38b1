/* mcp_server.c: the MCP mock's HTTP side: listener, routing, sessions, the JSON-RPC envelope
 * and the /control/ endpoints. MCP 2025-11-25 basic/transports (Streamable HTTP). */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "mock/mcp_internal.h"
#include "mock/mcp_mock.h"
#include "mock/mock_listen.h"
#include "util/json.h"
#include "util/version.h"

#define MAX_HEADERS_SIZE (64 * 1024)
#define WHY_SIZE 256

/* Newest first: an initialize naming none of these is answered with the newest (spec
 * basic/lifecycle: the server answers with a version it supports). */
static const char *const VERSIONS[] = {BW_MCP_LATEST, "2025-06-18", "2025-03-26"};

/* ---- messages ---- */

json_t *bw_mcp_error_msg(const json_t *id, int code, const char *message) {
    return json_pack("{s:s,s:O,s:{s:i,s:s}}", "jsonrpc", "2.0", "id", id ? id : json_null(),
                     "error", "code", code, "message", message);
}

json_t *bw_mcp_result_msg(const json_t *id, json_t *result_taken) {
    if (!result_taken)
        return NULL;
    return json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", id, "result", result_taken);
}

void bw_mcp_send(struct evhttp_request *req, int status, json_t *msg_taken) {
    char *text = msg_taken ? json_dumps(msg_taken, JSON_COMPACT) : NULL;
    json_decref(msg_taken);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    if (!text) {
        status = 500;
        evbuffer_add_printf(evhttp_request_get_output_buffer(req),
                            "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":%d,"
                            "\"message\":\"out of memory\"}}",
                            BW_MCP_INTERNAL_ERROR);
    } else {
        evbuffer_add(evhttp_request_get_output_buffer(req), text, strlen(text));
        free(text);
    }
    evhttp_send_reply(req, status, NULL, NULL);
}

static void send_error(struct evhttp_request *req, int status, const json_t *id, int code,
                       const char *message) {
    bw_mcp_send(req, status, bw_mcp_error_msg(id, code, message));
}

static const char *header(struct evhttp_request *req, const char *name) {
    return evhttp_find_header(evhttp_request_get_input_headers(req), name);
}

/* ---- sessions ---- */

static struct bw_mcp_session *session_find(struct bw_mcp_mock *m, const char *id) {
    if (!id || strlen(id) != BW_MCP_SESSION_HEX)
        return NULL;
    for (size_t i = 0; i < BW_MCP_MAX_SESSIONS; i++)
        if (m->sessions[i].used && sodium_memcmp(m->sessions[i].id, id, BW_MCP_SESSION_HEX) == 0)
            return &m->sessions[i];
    return NULL;
}

static struct bw_mcp_session *session_new(struct bw_mcp_mock *m) {
    for (size_t i = 0; i < BW_MCP_MAX_SESSIONS; i++) {
        struct bw_mcp_session *s = &m->sessions[i];
        if (s->used)
            continue;
        unsigned char raw[BW_MCP_SESSION_HEX / 2];
        randombytes_buf(raw, sizeof raw);
        sodium_bin2hex(s->id, sizeof s->id, raw, sizeof raw);
        s->used = 1;
        m->nsessions++;
        return s;
    }
    return NULL;
}

/* Spec basic/transports, session management: a request without the header after initialize
 * is 400; an unknown or ended session is 404. Writes the answer itself when it returns NULL. */
static struct bw_mcp_session *session_required(struct bw_mcp_mock *m, struct evhttp_request *req,
                                               const json_t *id) {
    const char *sid = header(req, "Mcp-Session-Id");
    if (!sid) {
        send_error(req, 400, id, BW_MCP_INVALID_REQUEST, "Mcp-Session-Id required");
        return NULL;
    }
    struct bw_mcp_session *s = session_find(m, sid);
    if (!s) {
        send_error(req, 404, id, BW_MCP_INVALID_REQUEST, "session not found");
        return NULL;
    }
    /* basic/transports, protocol version header: absent means 2025-03-26; present must be
     * the version this session negotiated. */
    const char *pv = header(req, "MCP-Protocol-Version");
    if (pv && strcmp(pv, s->version) != 0) {
        send_error(req, 400, id, BW_MCP_INVALID_REQUEST, "unsupported MCP-Protocol-Version");
        return NULL;
    }
    return s;
}

/* ---- POST /mcp ---- */

static void do_initialize(struct bw_mcp_mock *m, struct evhttp_request *req, const json_t *id,
                          const json_t *params) {
    const char *want = json_string_value(json_object_get(params, "protocolVersion"));
    const json_t *caps = json_object_get(params, "capabilities");
    const json_t *info = json_object_get(params, "clientInfo");
    if (!want || !json_is_object(caps) || !json_is_object(info) || !bw_json_str(info, "name")) {
        send_error(req, 200, id, BW_MCP_INVALID_PARAMS,
                   "initialize wants protocolVersion, capabilities and clientInfo.name");
        return;
    }
    const char *version = VERSIONS[0];
    for (size_t i = 0; i < sizeof VERSIONS / sizeof VERSIONS[0]; i++)
        if (strcmp(want, VERSIONS[i]) == 0)
            version = VERSIONS[i];
    struct bw_mcp_session *s = session_new(m);
    if (!s) {
        send_error(req, 503, id, BW_MCP_INTERNAL_ERROR, "too many sessions");
        return;
    }
    snprintf(s->version, sizeof s->version, "%s", version);
    s->sampling = json_is_object(json_object_get(caps, "sampling"));
    json_t *result = json_pack(
        "{s:s,s:{s:{s:b},s:{s:b,s:b},s:{s:b}},s:{s:s,s:s},s:s}", "protocolVersion", version,
        "capabilities", "tools", "listChanged", 0, "resources", "subscribe", 0, "listChanged", 0,
        "prompts", "listChanged", 0, "serverInfo", "name", "bulwark-mock-mcp", "version",
        BW_VERSION, "instructions", "A test server. Nothing it does is real.");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Mcp-Session-Id", s->id);
    bw_mcp_send(req, 200, bw_mcp_result_msg(id, result));
}

static int accepts(struct evhttp_request *req, const char *type) {
    const char *a = header(req, "Accept");
    return a && (strstr(a, type) || strstr(a, "*/*"));
}

static void do_request(struct bw_mcp_mock *m, struct evhttp_request *req, const json_t *id,
                       const char *method, const json_t *params) {
    if (strcmp(method, "initialize") == 0) {
        do_initialize(m, req, id, params);
        return;
    }
    struct bw_mcp_session *s = session_required(m, req, id);
    if (!s)
        return;
    int sse = accepts(req, "text/event-stream");
    int tool = strcmp(method, "tools/call") == 0
                   ? bw_mcp_tool_of(json_string_value(json_object_get(params, "name")))
                   : -1;
    if (tool == BW_MCP_TOOL_SLOW || tool == BW_MCP_TOOL_SAMPLING) {
        m->calls[tool]++;
        if (tool == BW_MCP_TOOL_SLOW)
            bw_mcp_stream_slow(m, req, s, id, params, sse);
        else
            bw_mcp_stream_sampling(m, req, s, id, params, sse);
        return;
    }
    int code;
    const char *why;
    json_t *result = bw_mcp_answer(m, s, method, params, &code, &why);
    if (result)
        bw_mcp_send(req, 200, bw_mcp_result_msg(id, result));
    else
        send_error(req, 200, id, code, why);
}

/* JSON-RPC 2.0 section 4: id is a string or a number; MCP (basic/index) narrows it to a string
 * or an integer, never null. */
static int valid_id(const json_t *id) {
    return json_is_string(id) || json_is_integer(id);
}

static void dispatch(struct bw_mcp_mock *m, struct evhttp_request *req, const json_t *msg) {
    const json_t *id = json_object_get(msg, "id");
    const json_t *method = json_object_get(msg, "method");
    const json_t *params = json_object_get(msg, "params");
    const json_t *bad_id = valid_id(id) ? id : NULL;
    int has_result = json_object_get(msg, "result") != NULL;
    int has_error = json_object_get(msg, "error") != NULL;
    const char *v = bw_json_str(msg, "jsonrpc");
    if (!v || strcmp(v, "2.0") != 0 || (id && !valid_id(id)) ||
        (method && !json_is_string(method)) || (params && !json_is_object(params))) {
        send_error(req, 400, bad_id, BW_MCP_INVALID_REQUEST, "not a valid JSON-RPC 2.0 message");
        return;
    }
    if (method && !has_result && !has_error) {
        if (id) {
            do_request(m, req, id, json_string_value(method), params);
        } else if (session_required(m, req, NULL)) {
            evhttp_send_reply(req, 202, "Accepted", NULL); /* a notification */
        }
        return;
    }
    if (!method && id && has_result != has_error) {
        const struct bw_mcp_session *s = session_required(m, req, NULL);
        if (s) {
            bw_mcp_stream_response(m, s, msg);
            evhttp_send_reply(req, 202, "Accepted", NULL);
        }
        return;
    }
    send_error(req, 400, bad_id, BW_MCP_INVALID_REQUEST, "not a request, notification or response");
}

static void note_request(struct bw_mcp_mock *m, struct evhttp_request *req) {
    const char *auth = header(req, "Authorization");
    m->requests++;
    m->has_auth = auth != NULL;
    m->last_auth_len = 0;
    if (auth) {
        size_t n = strlen(auth);
        m->last_auth_len = n > BW_MCP_MAX_AUTH ? BW_MCP_MAX_AUTH : n;
        memcpy(m->last_auth, auth, m->last_auth_len);
    }
}

static void serve_post(struct bw_mcp_mock *m, struct evhttp_request *req) {
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *ct = header(req, "Content-Type");
    char why[WHY_SIZE] = "parse error";
    note_request(m, req);
    if (!ct || strncasecmp(ct, "application/json", 16) != 0 || (ct[16] && ct[16] != ';')) {
        send_error(req, 415, NULL, BW_MCP_INVALID_REQUEST, "Content-Type must be application/json");
        return;
    }
    /* basic/transports: the client lists both; a client that takes neither cannot read us. */
    if (!accepts(req, "application/json") && !accepts(req, "text/event-stream")) {
        send_error(req, 406, NULL, BW_MCP_INVALID_REQUEST, "Accept must allow application/json");
        return;
    }
    if (len > BW_MCP_MAX_BODY) {
        send_error(req, 413, NULL, BW_MCP_INVALID_REQUEST, "body over 1 MiB");
        return;
    }
    const char *raw = len ? (const char *)evbuffer_pullup(in, -1) : "";
    size_t lead = 0;
    while (lead < len && strchr(" \t\r\n", raw[lead]))
        lead++;
    if (lead < len && raw[lead] == '[') {
        /* Batches were removed in MCP 2025-06-18; none of the elements is looked at. */
        send_error(req, 400, NULL, BW_MCP_INVALID_REQUEST, "JSON-RPC batches are not supported");
        return;
    }
    json_t *msg = NULL;
    if (!raw || bw_json_parse(raw, len, BW_MCP_MAX_DEPTH, &msg, why, sizeof why) != BW_OK) {
        send_error(req, 400, NULL, BW_MCP_PARSE_ERROR, "parse error");
        return;
    }
    dispatch(m, req, msg);
    json_decref(msg);
}

/* ---- DELETE /mcp, GET /mcp ---- */

static void serve_delete(struct bw_mcp_mock *m, struct evhttp_request *req) {
    struct bw_mcp_session *s = session_required(m, req, NULL);
    if (!s)
        return;
    memset(s, 0, sizeof *s);
    m->nsessions--;
    evhttp_send_reply(req, 200, "OK", NULL);
}

static void serve_get(struct bw_mcp_mock *m, struct evhttp_request *req) {
    (void)m;
    /* basic/transports: a server that offers no server-initiated stream answers GET with 405. */
    evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "POST, DELETE");
    send_error(req, 405, NULL, BW_MCP_INVALID_REQUEST, "no server-initiated stream");
}

/* ---- /control/ ---- */

static void serve_mutate(struct bw_mcp_mock *m, struct evhttp_request *req) {
    m->revision++;
    bw_mcp_send(req, 200, json_pack("{s:i}", "revision", (int)m->revision));
}

static void serve_reset(struct bw_mcp_mock *m, struct evhttp_request *req) {
    m->revision = 0;
    m->requests = 0;
    memset(m->calls, 0, sizeof m->calls);
    m->has_auth = 0;
    m->last_auth_len = 0;
    bw_mcp_send(req, 200, json_pack("{s:b}", "reset", 1));
}

static void serve_stats(struct bw_mcp_mock *m, struct evhttp_request *req) {
    json_t *calls = json_object();
    for (int i = 0; calls && i < BW_MCP_NTOOLS; i++) {
        static const char *const names[BW_MCP_NTOOLS] = {"echo", "delete_everything", "mutable",
                                                         "slow", "ask_sampling"};
        json_object_set_new(calls, names[i], json_integer((json_int_t)m->calls[i]));
    }
    /* An Authorization that is not valid UTF-8 cannot be a JSON string; say so instead. */
    json_t *auth = m->has_auth ? json_stringn(m->last_auth, m->last_auth_len) : json_null();
    if (!auth)
        auth = json_string("<not UTF-8>");
    bw_mcp_send(req, 200,
                calls ? json_pack("{s:I,s:o,s:I,s:I,s:i,s:o}", "requests", (json_int_t)m->requests,
                                  "calls", calls, "sessions", (json_int_t)m->nsessions, "streams",
                                  (json_int_t)m->nstreams, "revision", (int)m->revision,
                                  "last_authorization", auth)
                      : NULL);
}

/* ---- routing ---- */

struct route {
    const char *path;
    enum evhttp_cmd_type method;
    void (*serve)(struct bw_mcp_mock *m, struct evhttp_request *req);
};

static const struct route ROUTES[] = {
    {"/mcp", EVHTTP_REQ_POST, serve_post},
    {"/mcp", EVHTTP_REQ_GET, serve_get},
    {"/mcp", EVHTTP_REQ_DELETE, serve_delete},
    {"/control/mutate", EVHTTP_REQ_POST, serve_mutate},
    {"/control/reset", EVHTTP_REQ_POST, serve_reset},
    {"/control/stats", EVHTTP_REQ_GET, serve_stats},
};

static void on_request(struct evhttp_request *req, void *arg) {
    struct bw_mcp_mock *m = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    enum evhttp_cmd_type method = evhttp_request_get_command(req);
    int path_known = 0;
    for (size_t i = 0; path && i < sizeof ROUTES / sizeof ROUTES[0]; i++) {
        if (strcmp(path, ROUTES[i].path) != 0)
            continue;
        path_known = 1;
        if (method == ROUTES[i].method) {
            ROUTES[i].serve(m, req);
            return;
        }
    }
    if (path_known) {
        send_error(req, 405, NULL, BW_MCP_INVALID_REQUEST, "method not allowed");
        return;
    }
    send_error(req, 404, NULL, BW_MCP_INVALID_REQUEST, "unknown URL");
}

/* ---- lifecycle ---- */

bw_err bw_mcp_mock_start(struct event_base *base, const char *host, int port,
                         struct bw_mcp_mock **out, int *bound_port) {
    BW_ENSURE(base && host && out, BW_E_INVALID);
    BW_ENSURE(sodium_init() >= 0, BW_E_CRYPTO);
    struct bw_mcp_mock *m = calloc(1, sizeof *m);
    BW_ENSURE(m, BW_E_NOMEM);
    bw_err result = BW_OK;
    int bound = 0;
    m->base = base;
    m->http = evhttp_new(base);
    BW_GOTO_IF(!m->http, BW_E_NOMEM);
    /* libevent answers a body over its limit at once and closes, while the client is still
     * sending: the client sees a reset, not the 413. So libevent reads up to 8x the limit and
     * the handler answers a body over BW_MCP_MAX_BODY with a 413 it can read. */
    evhttp_set_max_body_size(m->http, (ev_ssize_t)(8 * BW_MCP_MAX_BODY));
    evhttp_set_max_headers_size(m->http, MAX_HEADERS_SIZE);
    evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_OPTIONS);
    evhttp_set_gencb(m->http, on_request, m);
    BW_GOTO(bw_mock_listen(m->base, m->http, host, port, 0, &bound));
out:
    if (result != BW_OK) {
        bw_mcp_mock_free(m);
        return result;
    }
    *out = m;
    if (bound_port)
        *bound_port = bound;
    return BW_OK;
}

void bw_mcp_mock_free(struct bw_mcp_mock *m) {
    if (!m)
        return;
    bw_mcp_stream_release_all(m);
    if (m->http)
        evhttp_free(m->http);
    free(m);
}
