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
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/auth.h"
#include "http/reply.h"
#include "http/reqlog.h"
#include "jobs/jobs.h"
#include "proxy/proxy_internal.h"
#include "proxy/widget.h"
#include "reason/reasons.h"
#include "store/identity.h"
#include "util/log.h"
#include "util/text.h"
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

/* ---- transcripts: stored by store jobs, the text copied (the call may end first) ---- */

struct transcript_job {
    struct bw_transcript_record t;
    char *content; /* owned copy */
    size_t len;
    bw_err e;
};

static void transcript_job_free(void *arg) {
    struct transcript_job *j = arg;
    if (!j)
        return;
    free(j->content);
    free(j);
}

static void transcript_run(struct bw_store *s, void *arg) {
    struct transcript_job *j = arg;
    j->t.content = j->content;
    j->e = bw_store_transcript_insert(s, &j->t);
}

static struct transcript_job *transcript_job_new(struct bw_call *c, const struct widget_call *wc,
                                                 const char *role, const char *content, size_t len,
                                                 int64_t created_ms) {
    struct transcript_job *j = calloc(1, sizeof *j);
    if (!j || !(j->content = malloc(len + 1))) {
        free(j);
        return NULL;
    }
    memcpy(j->content, content, len);
    j->content[len] = 0;
    j->len = len;
    bw_store_new_id("trn", j->t.id);
    snprintf(j->t.org_id, sizeof j->t.org_id, "%s", wc->org_id);
    snprintf(j->t.agent_id, sizeof j->t.agent_id, "%s", wc->agent_id);
    snprintf(j->t.conversation, sizeof j->t.conversation, "%s", wc->conversation);
    snprintf(j->t.role, sizeof j->t.role, "%s", role);
    snprintf(j->t.receipt_id, sizeof j->t.receipt_id, "%s", c->record.receipt_id);
    j->t.created_ms = created_ms;
    return j;
}

static enum bw_step_verdict user_stored(struct bw_call *c, void *arg, bw_err err) {
    struct transcript_job *j = arg;
    if ((err != BW_OK ? err : j->e) != BW_OK) {
        bw_error("widget: the user message could not be stored: nothing forwarded");
        return bw_call_fail_with(c, 503, BW_R_STORE_UNAVAILABLE,
                                 "the transcript store is unavailable; nothing was forwarded",
                                 "store_unavailable");
    }
    return BW_STEP_CONTINUE;
}

/* The before-forward step: the decision allowed the call and its receipt is durable: the user
 * message is stored before anything leaves for the upstream. */
static enum bw_step_verdict before_forward(struct bw_call *c) {
    struct widget_call *wc = c->hook_arg;
    wc->user_created_ms = bw_now_ms();
    struct transcript_job *j =
        transcript_job_new(c, wc, "user", wc->message, wc->message_len, wc->user_created_ms);
    if (!j)
        return bw_call_fail_with(c, 503, BW_R_INTERNAL, "out of memory", "internal_error");
    return bw_call_wait_job(c, transcript_run, user_stored, j, transcript_job_free);
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

/* The answer is stored: the widget's reply. */
static enum bw_step_verdict answer_stored(struct bw_call *c, void *arg, bw_err err) {
    struct transcript_job *j = arg;
    struct widget_call *wc = c->hook_arg;
    if ((err != BW_OK ? err : j->e) != BW_OK) {
        bw_error("widget: the answer could not be stored: not returned");
        return bw_call_fail_with(c, 503, BW_R_STORE_UNAVAILABLE,
                                 "the transcript store is unavailable", "store_unavailable");
    }
    json_t *reply = json_pack("{s:s, s:s%, s:s}", "conversation_id", wc->conversation, "message",
                              j->content, j->len, "receipt_id", c->record.receipt_id);
    char *body = reply ? json_dumps(reply, JSON_COMPACT) : NULL;
    json_decref(reply);
    if (!body)
        return bw_call_fail_with(c, 500, BW_R_INTERNAL, "out of memory", "internal_error");
    bw_call_respond(c, 200, body, strlen(body), "ok"); /* takes body */
    return BW_STEP_CONTINUE;
}

static enum bw_step_verdict on_answer(struct bw_call *c, long status, json_t *answer) {
    struct widget_call *wc = c->hook_arg;
    if (status < 200 || status >= 300) {
        /* The provider's own error text is not for a public page: say only that it failed. */
        return bw_call_fail_with(c, 502, BW_R_UPSTREAM_UNAVAILABLE, "the model could not answer",
                                 "upstream_error");
    }
    size_t len = 0;
    const char *text = answer_text(answer, &len);
    if (!text || len == 0 || len > WIDGET_MAX_ANSWER_BYTES || memchr(text, 0, len))
        return bw_call_fail_with(c, 502, BW_R_UPSTREAM_BAD_RESPONSE,
                                 "the model's answer has no text the widget can show",
                                 "upstream_bad_response");
    /* Strictly after the user message, so the conversation reads back in order even when both
     * land in the same millisecond (the list orders by time, then by random id). */
    int64_t now = bw_now_ms();
    if (now <= wc->user_created_ms)
        now = wc->user_created_ms + 1;
    struct transcript_job *j = transcript_job_new(c, wc, "assistant", text, len, now);
    if (!j)
        return bw_call_fail_with(c, 500, BW_R_INTERNAL, "out of memory", "internal_error");
    return bw_call_wait_job(c, transcript_run, answer_stored, j, transcript_job_free);
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
    if (!h->max || !h->n)
        return 0; /* nothing kept (and no ring to index) */
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

/* One widget chat request on its way to a governed call: the parsed message, the request the
 * gateway builds, and the conversation's history (read on a store thread when the request names
 * a conversation). */
struct widget_chat {
    struct bw_gw_worker *w;
    struct evhttp_request *req; /* NULL once answered at the deadline: the job's done frees */
    struct event *timer;
    struct bw_agent_record agent;
    const char *model;
    struct widget_call *wc;
    json_t *body;
    struct history h;
    struct bw_widget_request wr;
    bw_err e; /* the history read's */
};

static void widget_chat_free(struct widget_chat *x) {
    if (x->timer)
        event_free(x->timer);
    history_cleanup(&x->h);
    json_decref(x->body);
    widget_call_free(x->wc);
    bw_widget_request_cleanup(&x->wr);
    free(x);
}

/* The history is read (or there is none): the request is built and the governed call starts.
 * Replies on every failure; frees x. */
static void chat_begin(struct widget_chat *x) {
    const struct bw_config *cfg = x->w->gw->cfg;
    struct evhttp_request *req = x->req;
    struct widget_call *wc = x->wc;
    if (x->wr.conversation_id[0]) {
        if (x->e != BW_OK || x->h.bad) {
            bw_http_reply_error(req, 503, BW_R_STORE_UNAVAILABLE,
                                "the transcript store is unavailable", NULL, NULL);
            goto out;
        }
        /* Ids come from the gateway only: an id this agent never issued is not a conversation
         * a browser may start (or join). */
        if (x->h.total == 0) {
            bw_http_reply_error(req, 404, BW_R_NOT_FOUND, "no such conversation", NULL, NULL);
            goto out;
        }
        if (x->h.total + 2 > cfg->widget_max_conversation_messages) {
            bw_http_reply_error(req, 409, BW_R_CONFLICT,
                                "the conversation is full; start a new one", NULL, NULL);
            goto out;
        }
    }
    json_t *messages = json_object_get(x->body, "messages");
    if (history_append(&x->h, messages, cfg->widget_history_bytes) != 0 ||
        json_array_append_new(messages, json_pack("{s:s, s:s%}", "role", "user", "content",
                                                  x->wr.message, x->wr.message_len)) != 0) {
        bw_http_reply_error(req, 503, BW_R_INTERNAL, "out of memory", NULL, NULL);
        goto out;
    }
    wc->message = x->wr.message;
    wc->message_len = x->wr.message_len;
    x->wr.message = NULL;

    struct bw_key_record caller;
    memset(&caller, 0, sizeof caller);
    /* ids are "agt_" + 16 hex (20 bytes): the principal fits with room to spare */
    snprintf(caller.id, sizeof caller.id, BW_WIDGET_PRINCIPAL_PREFIX "%.32s", x->agent.id);
    snprintf(caller.org_id, sizeof caller.org_id, "%s", x->agent.org_id);
    snprintf(caller.org_name, sizeof caller.org_name, "%s", x->agent.org_name);
    snprintf(caller.role, sizeof caller.role, "widget");
    snprintf(caller.agent, sizeof caller.agent, "%s", x->agent.name);
    struct bw_call_start start = {
        .route = BW_ROUTE_WIDGET,
        .caller = &caller,
        .body_json = x->body,
        .model = x->model,
        .hooks = &widget_hooks,
        .hook_arg = wc,
    };
    x->body = NULL; /* taken, with wc, by the call */
    x->wc = NULL;
    bw_call_begin_prepared(x->w, req, &start);
out:
    widget_chat_free(x);
}

static void history_run(struct bw_store *s, void *arg) {
    struct widget_chat *x = arg;
    x->e = bw_store_transcript_list(s, x->wc->org_id, x->wc->agent_id, x->wc->conversation, 0,
                                    (size_t)x->w->gw->cfg->widget_max_conversation_messages,
                                    history_row, &x->h);
}

static void history_done(void *arg, bw_err err) {
    struct widget_chat *x = arg;
    if (!x->req) {
        widget_chat_free(x);
        return;
    }
    if (err != BW_OK)
        x->e = err;
    event_free(x->timer);
    x->timer = NULL;
    chat_begin(x);
}

static void history_deadline(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct widget_chat *x = arg;
    struct evhttp_request *req = x->req;
    x->req = NULL; /* the job's done frees x */
    event_free(x->timer);
    x->timer = NULL;
    bw_http_reply_error(req, 503, BW_R_STORE_UNAVAILABLE, "the store did not answer in time", NULL,
                        NULL);
}

/* The parsed message becomes a governed call. Replies on every failure. */
static void chat(struct bw_gw_worker *w, struct evhttp_request *req,
                 const struct bw_agent_record *agent) {
    const struct bw_config *cfg = w->gw->cfg;
    struct widget_chat *x = calloc(1, sizeof *x);
    if (!x) {
        bw_http_reply_error(req, 503, BW_R_INTERNAL, "out of memory", NULL, NULL);
        return;
    }
    x->w = w;
    x->req = req;
    x->agent = *agent;
    if (!bw_http_content_is_json(req)) {
        bw_http_reply_error(req, 415, BW_R_UNSUPPORTED_MEDIA_TYPE,
                            "Content-Type must be application/json", NULL, NULL);
        goto fail;
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const uint8_t *raw = len ? evbuffer_pullup(in, -1) : (const uint8_t *)"";
    const char *reason = NULL;
    char why[200];
    bw_err e = bw_widget_request_parse(raw, len, cfg->widget_max_message_bytes, &x->wr, &reason,
                                       why, sizeof why);
    if (e != BW_OK) {
        int status = e == BW_E_TOO_LARGE ? 413 : e == BW_E_NOMEM ? 503 : 400;
        bw_http_reply_error(req, status, reason ? reason : BW_R_INVALID_REQUEST, why, NULL, NULL);
        goto fail;
    }
    x->model = x->agent.model[0] ? x->agent.model : cfg->widget_model;
    if (!bw_text_model_ok(x->model)) {
        bw_error("widget: agent %s has no usable model and widget.model is not set", agent->id);
        bw_http_reply_error(req, 503, BW_R_INTERNAL, "the widget has no model configured", NULL,
                            NULL);
        goto fail;
    }
    x->wc = calloc(1, sizeof *x->wc);
    x->h.max = (size_t)cfg->widget_history_messages;
    x->h.ring = calloc(x->h.max ? x->h.max : 1, sizeof *x->h.ring);
    x->body = json_pack("{s:s, s:I, s:[]}", "model", x->model, "max_tokens",
                        (json_int_t)cfg->widget_max_tokens, "messages");
    if (!x->wc || !x->h.ring || !x->body) {
        bw_http_reply_error(req, 503, BW_R_INTERNAL, "out of memory", NULL, NULL);
        goto fail;
    }
    snprintf(x->wc->org_id, sizeof x->wc->org_id, "%s", agent->org_id);
    snprintf(x->wc->agent_id, sizeof x->wc->agent_id, "%s", agent->id);
    if (!x->wr.conversation_id[0]) {
        bw_store_new_id(BW_WIDGET_CONVERSATION_PREFIX, x->wc->conversation);
        chat_begin(x);
        return;
    }
    snprintf(x->wc->conversation, sizeof x->wc->conversation, "%s", x->wr.conversation_id);
    if (!w->gw->jobs) { /* no pool: the worker's own handle */
        history_run(w->store, x);
        chat_begin(x);
        return;
    }
    /* the history is read on a store thread, with the call's deadline */
    struct timeval tv = {BW_CALL_STORE_WAIT_MS / 1000, (BW_CALL_STORE_WAIT_MS % 1000) * 1000};
    x->timer = evtimer_new(w->base, history_deadline, x);
    if (!x->timer || evtimer_add(x->timer, &tv) != 0 ||
        bw_jobs_submit(w->gw->jobs, w->base, bw_jobs_deadline(BW_CALL_STORE_WAIT_MS), history_run,
                       history_done, x) != BW_OK) {
        bw_http_reply_error(req, 503, BW_R_STORE_UNAVAILABLE, "the store is unavailable", NULL,
                            NULL);
        goto fail;
    }
    return;
fail:
    widget_chat_free(x);
}

/* The rest of the endpoint, once the key's agent is known (e: the lookup's answer). */
static void handle_agent(struct bw_gw_worker *w, struct evhttp_request *req, bw_err e,
                         const struct bw_agent_record *agent) {
    if (e == BW_E_NOT_FOUND || (e == BW_OK && !agent->widget_enabled)) {
        reply_disabled(req);
        return;
    }
    if (e != BW_OK) {
        bw_http_reply_error(req, 503, BW_R_STORE_UNAVAILABLE, "the store is unavailable", NULL,
                            NULL);
        return;
    }
    bw_reqlog_set_principal(req, agent->org_id, agent->name, NULL);
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    const char *origin = evhttp_find_header(evhttp_request_get_input_headers(req), "Origin");
    if (!bw_widget_origin_allowed(agent->widget_origins, origin)) {
        bw_http_reply_error(req, 403, BW_R_ORIGIN_NOT_ALLOWED, "this origin may not use the widget",
                            NULL, NULL);
        return;
    }
    evhttp_add_header(out, "Access-Control-Allow-Origin", origin);
    if (evhttp_request_get_command(req) == EVHTTP_REQ_OPTIONS) {
        preflight(req);
        return;
    }
    evhttp_add_header(out, "Access-Control-Expose-Headers",
                      "bulwark-receipt-id, bulwark-decision, Retry-After");
    chat(w, req, agent);
}

/* A widget key that missed the worker's cache: its agent is read on a store thread, before any
 * governed call exists. The request is the job's until answered; at the deadline the client
 * gets 503 and the job's late completion only frees the lookup. (evhttp keeps a request whose
 * client went away until it is answered: answering it then only frees it.) */
struct widget_lookup {
    struct bw_gw_worker *w;
    struct evhttp_request *req; /* NULL once answered at the deadline */
    struct event *timer;
    char key[BW_WIDGET_KEY_SIZE];
    unsigned long generation;
    bw_err e;
    struct bw_agent_record agent;
};

static void lookup_free(struct widget_lookup *l) {
    if (l->timer)
        event_free(l->timer);
    free(l);
}

static void lookup_run(struct bw_store *s, void *arg) {
    struct widget_lookup *l = arg;
    l->e = bw_store_agent_by_widget_key(s, l->key, &l->agent);
}

static void lookup_done(void *arg, bw_err err) {
    struct widget_lookup *l = arg;
    if (!l->req) {
        lookup_free(l);
        return;
    }
    struct bw_agent_record agent;
    bw_err e = bw_widget_fetched(l->w->widgets, l->key, err != BW_OK ? err : l->e, &l->agent,
                                 l->generation, bw_now_ms(), &agent);
    struct bw_gw_worker *w = l->w;
    struct evhttp_request *req = l->req;
    lookup_free(l);
    handle_agent(w, req, e, &agent);
}

static void lookup_deadline(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct widget_lookup *l = arg;
    struct evhttp_request *req = l->req;
    l->req = NULL; /* the job's done frees l */
    event_free(l->timer);
    l->timer = NULL;
    bw_http_reply_error(req, 503, BW_R_STORE_UNAVAILABLE, "the store did not answer in time", NULL,
                        NULL);
}

static void lookup_start(struct bw_gw_worker *w, struct evhttp_request *req, const char *key) {
    struct widget_lookup *l = calloc(1, sizeof *l);
    struct timeval tv = {BW_CALL_STORE_WAIT_MS / 1000, (BW_CALL_STORE_WAIT_MS % 1000) * 1000};
    if (l) {
        l->w = w;
        l->req = req;
        snprintf(l->key, sizeof l->key, "%s", key);
        /* before the read: an invalidation racing with it leaves the entry stale */
        l->generation = bw_auth_cache_generation();
        l->timer = evtimer_new(w->base, lookup_deadline, l);
    }
    if (!l || !l->timer || evtimer_add(l->timer, &tv) != 0 ||
        bw_jobs_submit(w->gw->jobs, w->base, bw_jobs_deadline(BW_CALL_STORE_WAIT_MS), lookup_run,
                       lookup_done, l) != BW_OK) {
        if (l)
            lookup_free(l);
        bw_http_reply_error(req, 503, BW_R_STORE_UNAVAILABLE, "the store is unavailable", NULL,
                            NULL);
    }
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
    if (bw_widget_cached(w->widgets, key, bw_now_ms(), &agent)) {
        handle_agent(w, req, BW_OK, &agent);
        return;
    }
    if (!w->gw->jobs) { /* no pool: the worker's own handle */
        bw_err e = bw_widget_lookup(w->widgets, w->store, key, bw_now_ms(), &agent);
        handle_agent(w, req, e, &agent);
        return;
    }
    lookup_start(w, req, key);
}
