/* mcp_sampling.c: a server's `sampling/createMessage` riding on a stream is a model call the
 * server asks the client to make: decided on route mcp.sampling (docs/POLICY.md "MCP";
 * model = the first of params.modelPreferences.hints, content = the messages' texts and the
 * system prompt) and receipted. Allowed: relayed to the client. Anything else: the client
 * never sees it, and the gateway answers the server itself with a JSON-RPC error for that
 * request id, POSTed on the session, so the server's tool does not wait for an answer. */
#include <event2/event.h>
#include <event2/http.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/ledger.h"
#include "mcp/mcp_internal.h"
#include "reason/reasons.h"
#include "util/log.h"
#include "util/time.h"

#define MAX_SAMPLING_TEXTS 1024 /* texts decided in one sampling request; more: denied */
#define SAMPLING_REFUSED -1     /* the JSON-RPC code the spec's examples use for a refusal */

/* The gateway's own answer to the server: one POST, its own memory (it may outlive c). */
struct refusal {
    struct bw_upstream *up;
    long timeout_ms;
    struct bw_mcp_upstream_copy route; /* the stream's guarded URL and credential, copied */
    char *body;
    char h_session[BW_MCP_UPSTREAM_SESSION_MAX + 32];
    char h_version[64];
    const char *headers[4];
    struct bw_upstream_xfer *xfer;
};

static int refusal_data(void *arg, long status, const char *ct, const char *p, size_t n) {
    (void)arg, (void)status, (void)ct, (void)p, (void)n;
    return 0; /* the server's answer to an answer is not read */
}

static void free_refusal(struct refusal *f) {
    bw_mcp_upstream_copy_free(&f->route);
    free(f->body);
    free(f);
}

static void refusal_done(void *arg, enum bw_upstream_result r, long status, const char *ct) {
    (void)ct;
    struct refusal *f = arg;
    if (r != BW_UP_OK || status < 200 || status >= 300)
        bw_warn("mcp: the refusal of a sampling request was not taken by the server (%s, %ld)",
                bw_upstream_result_name(r), status);
    free_refusal(f);
}

static const struct bw_upstream_callbacks refusal_cb = {refusal_data, refusal_done, NULL};

/* Started from the event loop: the sampling request was read inside curl's write callback of
 * the stream, where a new transfer must not be added to the same multi handle. */
static void start_refusal(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct refusal *f = arg;
    struct bw_upstream_request r = {
        .method = "POST",
        .body = f->body,
        .body_len = strlen(f->body),
        .connect_timeout_ms = BW_MCP_CONNECT_TIMEOUT_MS,
        .timeout_ms = f->timeout_ms,
        .headers = f->headers,
    };
    /* the stream's own route: the egress guard at connect, the gateway's credential */
    bw_mcp_upstream_apply(&f->route, &r);
    if (bw_upstream_start(f->up, &r, &refusal_cb, f, &f->xfer) != BW_OK) {
        bw_error("mcp: cannot answer a refused sampling request");
        free_refusal(f);
    }
}

static void refuse_upstream(struct bw_mcp_call *c, const json_t *id, const char *reason) {
    struct refusal *f = calloc(1, sizeof *f);
    char *body = bw_mcp_rpc_error(id, SAMPLING_REFUSED,
                                  "the gateway's policy does not allow this sampling request",
                                  reason, NULL, NULL);
    if (!f || !body || bw_mcp_upstream_copy(c, &f->route) != BW_OK) {
        bw_error("mcp: cannot answer a refused sampling request (out of memory)");
        free(body);
        if (f)
            bw_mcp_upstream_copy_free(&f->route);
        free(f);
        return;
    }
    f->body = body;
    size_t n = 0;
    f->headers[n++] = "Accept: application/json, text/event-stream";
    if (c->upstream_session[0]) {
        snprintf(f->h_session, sizeof f->h_session, "Mcp-Session-Id: %s", c->upstream_session);
        f->headers[n++] = f->h_session;
    }
    if (c->h_version[0]) {
        snprintf(f->h_version, sizeof f->h_version, "%s", c->h_version);
        f->headers[n++] = f->h_version;
    }
    f->headers[n] = NULL;
    struct bw_mcp_limits lim;
    bw_mcp_limits(c->w->gw->cfg, &lim);
    f->timeout_ms = lim.call_timeout_ms;
    f->up = c->w->up;
    struct timeval now = {0, 0};
    if (event_base_once(c->w->base, -1, EV_TIMEOUT, start_refusal, f, &now) != 0) {
        bw_error("mcp: cannot answer a refused sampling request");
        free_refusal(f);
    }
}

/* One content block's text (type "text"), or a list of blocks (2025-11-25). -1: too many. */
static int add_texts(const json_t *content, struct bw_slice *texts, size_t *n) {
    if (json_is_array(content)) {
        size_t i;
        const json_t *b;
        json_array_foreach(content, i, b) if (add_texts(b, texts, n) != 0) return -1;
        return 0;
    }
    const json_t *t = json_object_get(content, "text");
    if (!json_is_string(t))
        return 0;
    if (*n >= MAX_SAMPLING_TEXTS)
        return -1;
    texts[(*n)++] = bw_slice_of(json_string_value(t), json_string_length(t));
    return 0;
}

/* The model the server asks for: the first hint's name, when it is one a receipt and a rule
 * can hold (printable ASCII, 1..127 bytes). "" without hints; NULL when malformed. */
static const char *model_hint(const json_t *params) {
    const json_t *hints = json_object_get(json_object_get(params, "modelPreferences"), "hints");
    if (!hints)
        return "";
    const json_t *name = json_object_get(json_array_get(hints, 0), "name");
    if (!json_is_array(hints) || (json_array_size(hints) > 0 && !json_is_string(name)))
        return NULL;
    if (!name)
        return "";
    const char *s = json_string_value(name);
    size_t len = json_string_length(name);
    if (len == 0 || len > 127 || strlen(s) != len || !bw_receipt_str_ok(s))
        return NULL;
    return s;
}

static void decide(struct bw_mcp_call *c, const json_t *params, struct bw_policy_decision *d) {
    memset(d, 0, sizeof *d);
    d->effect = BW_POLICY_DENY;
    d->layer = "default";
    const char *model = model_hint(params);
    struct bw_slice *texts = calloc(MAX_SAMPLING_TEXTS, sizeof *texts);
    size_t n = 0;
    const json_t *messages = json_object_get(params, "messages");
    const json_t *system = json_object_get(params, "systemPrompt");
    size_t i;
    const json_t *m;
    int bad = !texts || !model || !json_is_array(messages);
    json_array_foreach(messages, i, m) bad =
        bad || add_texts(json_object_get(m, "content"), texts, &n) != 0;
    if (!bad && json_is_string(system)) {
        if (n < MAX_SAMPLING_TEXTS)
            texts[n++] = bw_slice_of(json_string_value(system), json_string_length(system));
        else
            bad = 1;
    }
    if (bad) {
        snprintf(d->reason, sizeof d->reason, "%s",
                 texts ? BW_R_MCP_UPSTREAM_INVALID : BW_R_INTERNAL);
        goto out;
    }
    if (!c->policy && bw_mcp_acquire_policy(c, &c->policy) != 0) {
        snprintf(d->reason, sizeof d->reason, "%s", BW_R_POLICY_UNAVAILABLE);
        goto out;
    }
    if (!c->policy) { /* no policy in force: nothing is allowed by default */
        snprintf(d->reason, sizeof d->reason, "%s", BW_R_NO_MATCHING_RULE);
        goto out;
    }
    struct bw_policy_input in;
    bw_mcp_fill_input(c, "mcp.sampling");
    in = c->input;
    in.model = model[0] ? model : NULL;
    in.texts = texts;
    in.n_texts = n;
    in.budget = NULL; /* other texts than the call's: its content verdicts do not apply */
    if (bw_policy_eval(c->policy, &in, d) != BW_OK && d->effect == BW_POLICY_ALLOW) {
        d->effect = BW_POLICY_DENY;
        snprintf(d->reason, sizeof d->reason, "%s", BW_R_INTERNAL);
    }
out:
    free(texts);
}

static void on_receipt(void *arg, bw_err err, uint64_t index, const uint8_t leaf[32]) {
    (void)index;
    (void)leaf;
    struct bw_gateway *gw = arg;
    if (err != BW_OK)
        bw_error("mcp: sampling receipt not recorded: %s", bw_err_str(err));
    atomic_fetch_sub(&gw->inflight, 1);
}

/* An allowed request's receipt: the stream is held until it is durable (fail closed: a
 * sampling request the evidence does not show never reaches the client). */
struct pending {
    struct bw_mcp_call *c;
    json_t *id; /* the request's id, to refuse it upstream when the receipt fails */
};

static void on_allowed_receipt(void *arg, bw_err err, uint64_t index, const uint8_t leaf[32]) {
    (void)index;
    (void)leaf;
    struct pending *p = arg;
    struct bw_mcp_call *c = p->c;
    if (err != BW_OK) {
        bw_error("mcp: sampling receipt not durable (%s): not relayed", bw_err_str(err));
        refuse_upstream(c, p->id, BW_R_LEDGER_UNAVAILABLE);
    }
    json_decref(p->id);
    free(p);
    bw_mcp_stream_release(c, err == BW_OK); /* may free c */
}

/* Appends the decision receipt. Allowed: 0 once the stream holds for it, -1 if it cannot. */
static int record(struct bw_mcp_call *c, const json_t *msg, json_t *id,
                  const struct bw_policy_decision *d) {
    struct bw_gateway *gw = c->w->gw;
    struct bw_receipt r;
    bw_receipt_init(&r, BW_RECEIPT_DECISION);
    r.time_ms = bw_now_ms();
    snprintf(r.org_id, sizeof r.org_id, "%s", c->key.org_id);
    snprintf(r.principal, sizeof r.principal, "%s", c->key.id);
    snprintf(r.agent, sizeof r.agent, "%s", c->key.agent);
    snprintf(r.route, sizeof r.route, "mcp.sampling");
    snprintf(r.model, sizeof r.model, "%s", c->server.name); /* the server that asked */
    char *canon = json_dumps(msg, JSON_COMPACT | JSON_SORT_KEYS);
    if (canon)
        bw_sha256(canon, strlen(canon), r.request_sha256);
    free(canon);
    snprintf(r.decision, sizeof r.decision, "%s", bw_policy_effect_name(d->effect));
    snprintf(r.reason, sizeof r.reason, "%s", d->reason);
    snprintf(r.rule, sizeof r.rule, "%s", d->rule);
    snprintf(r.layer, sizeof r.layer, "%s", d->layer ? d->layer : "");
    r.has_policy = c->policy != NULL;
    memcpy(r.policy_sha256, d->policy_sha256, 32);
    r.has_org_policy = d->has_org_policy;
    memcpy(r.org_policy_sha256, d->org_policy_sha256, 32);
    if (d->effect == BW_POLICY_ALLOW) {
        struct pending *p = calloc(1, sizeof *p);
        if (!p || bw_mcp_stream_hold(c) != 0) {
            free(p);
            return -1;
        }
        p->c = c;
        p->id = json_incref(id);
        bw_ledger_append(gw->ledger, &r, c->w->base, on_allowed_receipt, p);
        return 0;
    }
    atomic_fetch_add(&gw->inflight, 1);
    bw_ledger_append(gw->ledger, &r, c->w->base, on_receipt, gw);
    return 0;
}

int bw_mcp_sampling(struct bw_mcp_call *c, const struct bw_mcp_msg *m) {
    struct bw_policy_decision d;
    const json_t *params = json_object_get(m->msg, "params");
    decide(c, params, &d);
    if (record(c, m->msg, m->id, &d) != 0) { /* cannot hold the stream for it: refused */
        d.effect = BW_POLICY_DENY;
        snprintf(d.reason, sizeof d.reason, "%s", BW_R_INTERNAL);
    } else if (d.effect == BW_POLICY_ALLOW) {
        return 1;
    }
    /* require_approval too: no reviewer can answer while the server's tool waits */
    bw_info("mcp: sampling request of server %s refused (%s)", c->server.name, d.reason);
    refuse_upstream(c, m->id, d.reason);
    return 0;
}
