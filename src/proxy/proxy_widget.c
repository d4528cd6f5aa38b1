/* proxy_widget.c: POST /widget/v1/{public_key}/chat and its CORS preflight (widget.h).
 *
 * Before the governed call: the key names an enabled widget, the Origin is one the org listed,
 * the body is one bounded message, the conversation (if named) is this agent's and not full.
 * Then the gateway builds the upstream request (model, history, max_tokens are ours, not the
 * browser's) and hands it to the same pipeline as /v1/chat/completions (bw_call_begin_prepared)
 * with hooks that store the transcript: the user message once the decision is durable and
 * before anything is forwarded, the answer before it is returned. A store failure at either
 * point denies (503): nothing reaches the model, or the browser, that the org cannot review.
 *
 * Why a request without an Origin header is refused: browsers always send Origin on a
 * cross-origin POST, so only non-browser clients omit it, and for them the widget key would
 * be a free, unauthenticated chat endpoint billed to the org. Servers should call
 * /v1/chat/completions with an agent key instead. (Origin can be forged by a non-browser
 * client; the allow-list stops other sites' pages, not scripts: the per-widget rate limit and
 * the budget are what bound scripts.) */
#include <event2/buffer.h>
#include <event2/http.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/reqlog.h"
#include "http/reply.h"
#include "util/text.h"
#include "reason/reasons.h"
#include "proxy/proxy_internal.h"
#include "proxy/widget.h"
#include "store/identity.h"
#include "util/log.h"
#include "util/time.h"

#define WIDGET_MAX_ANSWER_BYTES (256u << 10) /* an answer longer than this is refused (502) */
#define PREFLIGHT_MAX_AGE "600"

/* The state of one widget call, owned by the call (hook_arg) once it starts. */
struct widget_call {
    char org_id[BW_ID_SIZE];
    char agent_id[BW_ID_SIZE];
    char conversation[BW_ID_SIZE];
    char *message; /* taken from the parsed request */
    size_t message_len;
    int64_t user_created_ms;
};

static void widget_call_free(void *arg) {
    struct widget_call *wc = arg;
    if (!wc)
        return;
    free(wc->message);
    free(wc);
}

/* ---- transcripts ---- */

static bw_err store_message(struct bw_call *c, struct widget_call *wc, const char *role,
                            const char *content, int64_t created_ms) {
    struct bw_transcript_record t;
    memset(&t, 0, sizeof t);
    bw_store_new_id("trn", t.id);
    snprintf(t.org_id, sizeof t.org_id, "%s", wc->org_id);
    snprintf(t.agent_id, sizeof t.agent_id, "%s", wc->agent_id);
    snprintf(t.conversation, sizeof t.conversation, "%s", wc->conversation);
    snprintf(t.role, sizeof t.role, "%s", role);
    t.content = content;
    snprintf(t.receipt_id, sizeof t.receipt_id, "%s", c->receipt_id);
    t.created_ms = created_ms;
    return bw_store_transcript_insert(c->w->store, &t);
}

/* The decision allowed the call and its receipt is durable: the user message is stored before
 * anything leaves for the upstream. */
static int before_forward(struct bw_call *c) {
    struct widget_call *wc = c->hook_arg;
    wc->user_created_ms = bw_now_ms();
    if (store_message(c, wc, "user", wc->message, wc->user_created_ms) != BW_OK) {
        bw_error("widget: the user message could not be stored: nothing forwarded");
        bw_call_fail(c, 503, BW_R_STORE_UNAVAILABLE,
                     "the transcript store is unavailable; nothing was forwarded",
                     "store_unavailable");
        return -1;
    }
    return 0;
}

/* The text of choices[0].message.content, or NULL. */
static const char *answer_text(json_t *answer, size_t *len) {
    json_t *choices = json_object_get(answer, "choices");
    json_t *msg = json_object_get(json_array_get(choices, 0), "message");
    json_t *content = json_object_get(msg, "content");
    if (!json_is_string(content))
        return NULL;
    *len = json_string_length(content);
    return json_string_value(content);
}

static void on_answer(struct bw_call *c, long status, json_t *answer) {
    struct widget_call *wc = c->hook_arg;
    if (status < 200 || status >= 300) {
        /* The provider's own error text is not for a public page: say only that it failed. */
        bw_call_fail(c, 502, BW_R_UPSTREAM_UNAVAILABLE, "the model could not answer",
                     "upstream_error");
        return;
    }
    size_t len = 0;
    const char *text = answer_text(answer, &len);
    if (!text || len == 0 || len > WIDGET_MAX_ANSWER_BYTES || memchr(text, 0, len)) {
        bw_call_fail(c, 502, BW_R_UPSTREAM_BAD_RESPONSE,
                     "the model's answer has no text the widget can show", "upstream_bad_response");
        return;
    }
    /* Strictly after the user message, so the conversation reads back in order even when both
     * land in the same millisecond (the list orders by time, then by random id). */
    int64_t now = bw_now_ms();
    if (now <= wc->user_created_ms)
        now = wc->user_created_ms + 1;
    if (store_message(c, wc, "assistant", text, now) != BW_OK) {
        bw_error("widget: the answer could not be stored: not returned");
        bw_call_fail(c, 503, BW_R_STORE_UNAVAILABLE, "the transcript store is unavailable",
                     "store_unavailable");
        return;
    }
    json_t *reply = json_pack("{s:s, s:s%, s:s}", "conversation_id", wc->conversation, "message",
                              text, len, "receipt_id", c->receipt_id);
    char *body = reply ? json_dumps(reply, JSON_COMPACT) : NULL;
    json_decref(reply);
    if (!body) {
        bw_call_fail(c, 500, BW_R_INTERNAL, "out of memory", "internal_error");
        return;
    }
    bw_call_respond(c, 200, body, strlen(body), "ok");
    free(body);
}

static const struct bw_call_hooks widget_hooks = {before_forward, on_answer, widget_call_free};

/* ---- history ---- */

/* The last `max` messages of a conversation, oldest first, as a ring while listing. */
struct history {
    json_t **ring; /* max slots of {"role","content"} */
    size_t max, n, next;
    int64_t total; /* messages in the conversation */
    int bad;
};

static int history_row(void *arg, const struct bw_transcript_record *t) {
    struct history *h = arg;
    h->total++;
    if (h->max == 0)
        return 0;
    const char *content = t->content ? t->content : "";
    json_t *m = json_pack("{s:s, s:s}", "role", t->role, "content", content);
    if (!m) { /* not UTF-8: the store holds what we validated, so this is corruption */
        h->bad = 1;
        return 0;
    }
    json_decref(h->ring[h->next]);
    h->ring[h->next] = m;
    h->next = (h->next + 1) % h->max;
    if (h->n < h->max)
        h->n++;
    return 0;
}

/* Appends the ring's messages, oldest first, keeping the newest that fit in max_bytes of
 * content. */
static int history_append(struct history *h, json_t *messages, size_t max_bytes) {
    size_t first = (h->next + h->max - h->n) % (h->max ? h->max : 1);
    size_t keep = 0, bytes = 0;
    while (keep < h->n) {
        json_t *m = h->ring[(first + h->n - 1 - keep) % h->max];
        size_t len = json_string_length(json_object_get(m, "content"));
        if (bytes + len > max_bytes)
            break;
        bytes += len;
        keep++;
    }
    for (size_t i = h->n - keep; i < h->n; i++)
        if (json_array_append(messages, h->ring[(first + i) % h->max]) != 0)
            return -1;
    return 0;
}

static void history_cleanup(struct history *h) {
    for (size_t i = 0; i < h->max && h->ring; i++)
        json_decref(h->ring[i]);
    free(h->ring);
}

/* ---- replies before the call ---- */

static void reply_disabled(struct evhttp_request *req) {
    /* One answer for an unknown, malformed or disabled key: a key's existence is not revealed. */
    bw_http_reply_error(req, 404, BW_R_WIDGET_DISABLED, "no enabled widget has this key", NULL,
                        NULL);
}


static void preflight(struct evhttp_request *req) {
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    if (!bw_widget_preflight_ok(evhttp_find_header(in, "Access-Control-Request-Method"),
                                evhttp_find_header(in, "Access-Control-Request-Headers"))) {
        bw_http_reply_error(req, 400, BW_R_INVALID_REQUEST,
                            "the widget accepts only POST with a Content-Type header", NULL, NULL);
        return;
    }
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    evhttp_add_header(out, "Access-Control-Allow-Methods", "POST");
    evhttp_add_header(out, "Access-Control-Allow-Headers", "Content-Type");
    evhttp_add_header(out, "Access-Control-Max-Age", PREFLIGHT_MAX_AGE);
    bw_reqlog_end(req, 204);
    evhttp_send_reply(req, 204, "No Content", NULL);
}

/* The parsed message becomes a governed call. Replies on every failure. */
static void chat(struct bw_gw_worker *w, struct evhttp_request *req,
                 const struct bw_agent_record *agent) {
    const struct bw_config *cfg = w->gw->cfg;
    struct widget_call *wc = NULL;
    json_t *body = NULL;
    struct history h;
    memset(&h, 0, sizeof h);
    struct bw_widget_request wr;
    memset(&wr, 0, sizeof wr);

    if (!bw_http_content_is_json(req)) {
        bw_http_reply_error(req, 415, BW_R_UNSUPPORTED_MEDIA_TYPE,
                            "Content-Type must be application/json", NULL, NULL);
        goto out;
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const uint8_t *raw = len ? evbuffer_pullup(in, -1) : (const uint8_t *)"";
    const char *reason = NULL;
    char why[200];
    bw_err e = bw_widget_request_parse(raw, len, cfg->widget_max_message_bytes, &wr, &reason, why,
                                       sizeof why);
    if (e != BW_OK) {
        int status = e == BW_E_TOO_LARGE ? 413 : e == BW_E_NOMEM ? 503 : 400;
        bw_http_reply_error(req, status, reason ? reason : BW_R_INVALID_REQUEST, why, NULL, NULL);
        goto out;
    }
    const char *model = agent->model[0] ? agent->model : cfg->widget_model;
    if (!bw_text_model_ok(model)) {
        bw_error("widget: agent %s has no usable model and widget.model is not set", agent->id);
        bw_http_reply_error(req, 503, BW_R_INTERNAL, "the widget has no model configured", NULL,
                            NULL);
        goto out;
    }
    wc = calloc(1, sizeof *wc);
    h.max = (size_t)cfg->widget_history_messages;
    h.ring = calloc(h.max ? h.max : 1, sizeof *h.ring);
    body = json_pack("{s:s, s:I, s:[]}", "model", model, "max_tokens",
                     (json_int_t)cfg->widget_max_tokens, "messages");
    if (!wc || !h.ring || !body) {
        bw_http_reply_error(req, 503, BW_R_INTERNAL, "out of memory", NULL, NULL);
        goto out;
    }
    snprintf(wc->org_id, sizeof wc->org_id, "%s", agent->org_id);
    snprintf(wc->agent_id, sizeof wc->agent_id, "%s", agent->id);
    if (wr.conversation_id[0]) {
        snprintf(wc->conversation, sizeof wc->conversation, "%s", wr.conversation_id);
        e = bw_store_transcript_list(w->store, agent->org_id, agent->id, wc->conversation, 0,
                                     (size_t)cfg->widget_max_conversation_messages, history_row,
                                     &h);
        if (e != BW_OK || h.bad) {
            bw_http_reply_error(req, 503, BW_R_STORE_UNAVAILABLE,
                                "the transcript store is unavailable", NULL, NULL);
            goto out;
        }
        /* Ids come from the gateway only: an id this agent never issued is not a conversation
         * a browser may start (or join). */
        if (h.total == 0) {
            bw_http_reply_error(req, 404, BW_R_NOT_FOUND, "no such conversation", NULL, NULL);
            goto out;
        }
        if (h.total + 2 > cfg->widget_max_conversation_messages) {
            bw_http_reply_error(req, 409, BW_R_CONFLICT,
                                "the conversation is full; start a new one", NULL, NULL);
            goto out;
        }
    } else {
        bw_store_new_id(BW_WIDGET_CONVERSATION_PREFIX, wc->conversation);
    }
    json_t *messages = json_object_get(body, "messages");
    if (history_append(&h, messages, cfg->widget_history_bytes) != 0 ||
        json_array_append_new(messages, json_pack("{s:s, s:s%}", "role", "user", "content",
                                                  wr.message, wr.message_len)) != 0) {
        bw_http_reply_error(req, 503, BW_R_INTERNAL, "out of memory", NULL, NULL);
        goto out;
    }
    wc->message = wr.message;
    wc->message_len = wr.message_len;
    wr.message = NULL;

    struct bw_key_record caller;
    memset(&caller, 0, sizeof caller);
    /* ids are "agt_" + 16 hex (20 bytes): the principal fits with room to spare */
    snprintf(caller.id, sizeof caller.id, BW_WIDGET_PRINCIPAL_PREFIX "%.32s", agent->id);
    snprintf(caller.org_id, sizeof caller.org_id, "%s", agent->org_id);
    snprintf(caller.org_name, sizeof caller.org_name, "%s", agent->org_name);
    snprintf(caller.role, sizeof caller.role, "widget");
    snprintf(caller.agent, sizeof caller.agent, "%s", agent->name);
    struct bw_call_start start = {
        .route = BW_ROUTE_WIDGET,
        .caller = &caller,
        .body_json = body,
        .model = model,
        .hooks = &widget_hooks,
        .hook_arg = wc,
    };
    body = NULL; /* taken, with wc, by the call */
    wc = NULL;
    bw_call_begin_prepared(w, req, &start);
out:
    history_cleanup(&h);
    json_decref(body);
    widget_call_free(wc);
    bw_widget_request_cleanup(&wr);
}

void bw_widget_handle(struct bw_gw_worker *w, struct evhttp_request *req, const char *path) {
    char key[BW_WIDGET_KEY_SIZE];
    if (!bw_widget_path_key(path, key)) {
        bw_http_reply_error(req, 404, BW_R_NOT_FOUND, "no such endpoint", NULL, NULL);
        return;
    }
    enum evhttp_cmd_type method = evhttp_request_get_command(req);
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    /* Every answer depends on the Origin: caches must key on it. */
    evhttp_add_header(out, "Vary", "Origin");
    if (method != EVHTTP_REQ_POST && method != EVHTTP_REQ_OPTIONS) {
        evhttp_add_header(out, "Allow", "POST, OPTIONS");
        bw_http_reply_error(req, 405, BW_R_METHOD_NOT_ALLOWED, "method not allowed on this path",
                            NULL, NULL);
        return;
    }
    if (!bw_widget_key_shape_ok(key, strlen(key))) {
        reply_disabled(req);
        return;
    }
    struct bw_agent_record agent;
    bw_err e = bw_widget_lookup(w->widgets, w->store, key, bw_now_ms(), &agent);
    if (e == BW_E_NOT_FOUND || (e == BW_OK && !agent.widget_enabled)) {
        reply_disabled(req);
        return;
    }
    if (e != BW_OK) {
        bw_http_reply_error(req, 503, BW_R_STORE_UNAVAILABLE, "the store is unavailable", NULL,
                            NULL);
        return;
    }
    bw_reqlog_set_principal(req, agent.org_id, agent.name, NULL);
    const char *origin = evhttp_find_header(evhttp_request_get_input_headers(req), "Origin");
    if (!bw_widget_origin_allowed(agent.widget_origins, origin)) {
        bw_http_reply_error(req, 403, BW_R_ORIGIN_NOT_ALLOWED, "this origin may not use the widget",
                            NULL, NULL);
        return;
    }
    evhttp_add_header(out, "Access-Control-Allow-Origin", origin);
    if (method == EVHTTP_REQ_OPTIONS) {
        preflight(req);
        return;
    }
    evhttp_add_header(out, "Access-Control-Expose-Headers",
                      "bulwark-receipt-id, bulwark-decision, Retry-After");
    chat(w, req, &agent);
}
