/* mock_server.c: the mock's listener, routing, behaviour models and /__mock/ endpoints. */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "mock/mock.h"
#include "mock/mock_internal.h"
#include "mock/mock_listen.h"
#include "util/json.h"

#define MAX_HEADERS_SIZE (64 * 1024)
#define WHY_SIZE 256

static const char *const MODELS[] = {
    "gpt-4o-mini",  "gpt-4o",     "text-embedding-3-small", "mock-hang",
    "mock-garbage", "mock-error", "mock-slow-stream",       "mock-runaway",
};

static const char GARBAGE_BODY[] = "this is not json {{{";

/* ---- /__mock/ and GET /v1/models ---- */

static void send_json_value(struct evhttp_request *req, int status, json_t *v_taken) {
    struct bw_mock_reply r;
    bw_mock_reply_init(&r);
    if (v_taken && bw_mock_reply_json(&r, status, v_taken) == BW_OK)
        bw_mock_reply_send(req, &r);
    else
        bw_mock_send_error(req, 500, "server_error", "mock_internal", "mock internal error");
    bw_mock_reply_cleanup(&r);
    json_decref(v_taken);
}

static void serve_models(struct bw_mock *m, struct evhttp_request *req) {
    (void)m;
    json_t *data = json_array();
    for (size_t i = 0; data && i < sizeof MODELS / sizeof MODELS[0]; i++) {
        json_t *e = json_pack("{s:s,s:s,s:i,s:s}", "id", MODELS[i], "object", "model", "created",
                              BW_MOCK_CREATED, "owned_by", "bulwark-mock");
        if (!e || json_array_append_new(data, e) != 0) {
            json_decref(data);
            data = NULL;
        }
    }
    send_json_value(req, 200, data ? json_pack("{s:s,s:o}", "object", "list", "data", data) : NULL);
}

static void serve_stats(struct bw_mock *m, struct evhttp_request *req) {
    /* An Authorization that is not valid UTF-8 cannot be a JSON string; say so instead. */
    json_t *auth = m->has_auth ? json_stringn(m->last_auth, m->last_auth_len) : json_null();
    if (!auth)
        auth = json_string("<not UTF-8>");
    json_t *path = m->last_path[0] ? json_string(m->last_path) : json_null();
    send_json_value(req, 200,
                    json_pack("{s:I,s:o,s:o,s:I}", "requests", (json_int_t)m->requests,
                              "last_authorization", auth, "last_path", path, "held",
                              (json_int_t)m->nholds));
}

static void serve_reset(struct bw_mock *m, struct evhttp_request *req) {
    m->requests = 0;
    m->has_auth = 0;
    m->last_auth_len = 0;
    m->last_path[0] = 0;
    send_json_value(req, 200, json_pack("{s:b}", "reset", 1));
}

/* Every POST /v1/... counts, and its Authorization and path are remembered (bounded). */
static void note_request(struct bw_mock *m, struct evhttp_request *req, const char *path) {
    m->requests++;
    const char *auth = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    m->has_auth = auth != NULL;
    m->last_auth_len = 0;
    if (auth) {
        size_t n = strlen(auth);
        m->last_auth_len = n > BW_MOCK_MAX_AUTH ? BW_MOCK_MAX_AUTH : n;
        memcpy(m->last_auth, auth, m->last_auth_len);
    }
    snprintf(m->last_path, sizeof m->last_path, "%s", path);
}

/* ---- behaviour models ---- */

static void send_garbage(struct evhttp_request *req, int stream) {
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    if (!stream) {
        evhttp_add_header(h, "Content-Type", "application/json");
        evbuffer_add(evhttp_request_get_output_buffer(req), GARBAGE_BODY, sizeof GARBAGE_BODY - 1);
        evhttp_send_reply(req, 200, NULL, NULL);
        return;
    }
    struct bw_mock_reply r;
    bw_mock_reply_init(&r);
    if (bw_mock_reply_event(&r, GARBAGE_BODY, sizeof GARBAGE_BODY - 1) == BW_OK &&
        bw_mock_reply_event(&r, "{\"choices\": [ broken", 20) == BW_OK)
        bw_mock_reply_send(req, &r);
    else
        bw_mock_send_error(req, 500, "server_error", "mock_internal", "mock internal error");
    bw_mock_reply_cleanup(&r);
}

/* Answers the mock-* models; returns 0 when model is an ordinary one. */
static int serve_behaviour(struct bw_mock *m, struct evhttp_request *req, const json_t *body,
                           const char *model, const void *raw, size_t raw_len) {
    int stream = json_is_true(json_object_get(body, "stream"));
    if (strcmp(model, "mock-error") == 0) {
        bw_mock_send_error(req, 500, "server_error", "mock_error", "mock upstream failure");
    } else if (strcmp(model, "mock-garbage") == 0) {
        send_garbage(req, stream);
    } else if (strcmp(model, "mock-hang") == 0) {
        if (bw_mock_hold_hang(m, req) != BW_OK)
            bw_mock_send_error(req, 500, "server_error", "mock_internal", "cannot hold");
    } else if (strcmp(model, "mock-slow-stream") == 0 && stream) {
        char id[64];
        int usage =
            json_is_true(json_object_get(json_object_get(body, "stream_options"), "include_usage"));
        if (bw_mock_hash_id("chatcmpl-mock-", "", raw, raw_len, BW_MOCK_ID_HEX, id, sizeof id) !=
                BW_OK ||
            bw_mock_hold_slow(m, req, id, model, usage, m->latency_ms) != BW_OK)
            bw_mock_send_error(req, 500, "server_error", "mock_internal", "cannot stream");
    } else {
        return 0;
    }
    return 1;
}

/* ---- POST /v1/chat/completions and /v1/embeddings ---- */

typedef bw_err (*answer_fn)(const json_t *req, const void *raw, size_t raw_len,
                            struct bw_mock_reply *out, char *why, size_t why_size);

static bw_err answer_embed(const json_t *req, const void *raw, size_t raw_len,
                           struct bw_mock_reply *out, char *why, size_t why_size) {
    (void)raw;
    (void)raw_len;
    return bw_mock_embed_answer(req, out, why, why_size);
}

static void deliver(struct bw_mock *m, struct evhttp_request *req, struct bw_mock_reply *r) {
    if (m->latency_ms <= 0) {
        bw_mock_reply_send(req, r);
        return;
    }
    if (bw_mock_hold_reply(m, req, r, m->latency_ms) != BW_OK)
        bw_mock_send_error(req, 500, "server_error", "mock_internal", "cannot delay");
}

static void serve_post(struct bw_mock *m, struct evhttp_request *req, answer_fn answer) {
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    char why[WHY_SIZE] = "invalid request";
    if (len > BW_MOCK_MAX_BODY) {
        bw_mock_send_error(req, 413, "invalid_request_error", "body_too_large",
                           "request body over 4 MiB");
        return;
    }
    const char *raw = len ? (const char *)evbuffer_pullup(in, -1) : "";
    json_t *body = NULL;
    if (!raw || bw_json_parse(raw, len, BW_MOCK_MAX_DEPTH, &body, why, sizeof why) != BW_OK) {
        bw_mock_send_error(req, 400, "invalid_request_error", "invalid_json", why);
        return;
    }
    const char *model = bw_json_str(body, "model");
    if (!model || !serve_behaviour(m, req, body, model, raw, len)) {
        struct bw_mock_reply r;
        bw_mock_reply_init(&r);
        bw_err e = answer(body, raw, len, &r, why, sizeof why);
        if (e == BW_OK)
            deliver(m, req, &r);
        else if (e == BW_E_INVALID)
            bw_mock_send_error(req, 400, "invalid_request_error", NULL, why);
        else
            bw_mock_send_error(req, 500, "server_error", "mock_internal", bw_err_str(e));
        bw_mock_reply_cleanup(&r);
    }
    json_decref(body);
}

static void serve_chat(struct bw_mock *m, struct evhttp_request *req) {
    serve_post(m, req, bw_mock_chat_answer);
}

static void serve_embeddings(struct bw_mock *m, struct evhttp_request *req) {
    serve_post(m, req, answer_embed);
}

/* ---- routing ---- */

struct route {
    const char *path;
    enum evhttp_cmd_type method;
    void (*serve)(struct bw_mock *m, struct evhttp_request *req);
};

static const struct route ROUTES[] = {
    {"/v1/models", EVHTTP_REQ_GET, serve_models},
    {"/v1/chat/completions", EVHTTP_REQ_POST, serve_chat},
    {"/v1/embeddings", EVHTTP_REQ_POST, serve_embeddings},
    {"/__mock/stats", EVHTTP_REQ_GET, serve_stats},
    {"/__mock/reset", EVHTTP_REQ_POST, serve_reset},
};

static void on_request(struct evhttp_request *req, void *arg) {
    struct bw_mock *m = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    enum evhttp_cmd_type method = evhttp_request_get_command(req);
    if (!path)
        path = "";
    if (method == EVHTTP_REQ_POST && strncmp(path, "/v1/", 4) == 0)
        note_request(m, req, path);
    for (size_t i = 0; i < sizeof ROUTES / sizeof ROUTES[0]; i++) {
        if (strcmp(path, ROUTES[i].path) != 0)
            continue;
        if (method != ROUTES[i].method) {
            evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
                              ROUTES[i].method == EVHTTP_REQ_GET ? "GET" : "POST");
            bw_mock_send_error(req, 405, "invalid_request_error", "method_not_allowed",
                               "method not allowed for this URL");
            return;
        }
        ROUTES[i].serve(m, req);
        return;
    }
    bw_mock_send_error(req, 404, "invalid_request_error", "unknown_url", "unknown request URL");
}

/* ---- lifecycle ---- */

bw_err bw_mock_start_opts(struct event_base *base, const struct bw_mock_opts *o,
                          struct bw_mock **out, int *bound_port) {
    BW_ENSURE(base && o && o->host && out, BW_E_INVALID);
    struct bw_mock *m = calloc(1, sizeof *m);
    BW_ENSURE(m, BW_E_NOMEM);
    bw_err result = BW_OK;
    int port = 0;
    m->base = base;
    m->latency_ms = o->latency_ms > 0 ? o->latency_ms : 0;
    m->http = evhttp_new(base);
    BW_GOTO_IF(!m->http, BW_E_NOMEM);
    evhttp_set_max_body_size(m->http, (ev_ssize_t)BW_MOCK_MAX_BODY);
    evhttp_set_max_headers_size(m->http, MAX_HEADERS_SIZE);
    evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_OPTIONS);
    evhttp_set_gencb(m->http, on_request, m);
    BW_GOTO(bw_mock_listen(m->base, m->http, o->host, o->port, o->reuse_port, &port));
out:
    if (result != BW_OK) {
        bw_mock_free(m);
        return result;
    }
    *out = m;
    if (bound_port)
        *bound_port = port;
    return BW_OK;
}

bw_err bw_mock_start(struct event_base *base, const char *host, int port, int latency_ms,
                     struct bw_mock **out, int *bound_port) {
    struct bw_mock_opts o = {.host = host, .port = port, .latency_ms = latency_ms};
    return bw_mock_start_opts(base, &o, out, bound_port);
}

void bw_mock_free(struct bw_mock *m) {
    if (!m)
        return;
    bw_mock_hold_release_all(m);
    if (m->http)
        evhttp_free(m->http);
    free(m);
}
