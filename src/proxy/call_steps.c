/* call_steps.c: the governed call as an ordered table of steps and the one driver that runs it
 * (docs/INTERNALS.md "The call"), in the style of s2n-tls's handshake state machine: a table
 * says which step comes next; a step never calls the next one nor ends the call. It returns a
 * verdict:
 *   CONTINUE  the next step in the table runs;
 *   WAIT      the step started something asynchronous (a ledger append, a store job, the
 *             upstream); its completion calls bw_call_step_done with the step's verdict;
 *   DENY      the decision is a refusal (bw_call_deny wrote it): before the decision receipt the
 *             driver skips to recording it, after it the driver writes the refusal;
 *   FAIL      the call ends with the error bw_call_fail_with set.
 * Ending a call is the driver's alone: once an end is set it runs the settle and record-outcome
 * steps (when the end carries an outcome receipt), then observes, logs, replies and frees.
 * Everything runs on the call's worker. */
#include <event2/event.h>
#include <event2/http.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "http/reply.h"
#include "http/reqlog.h"
#include "ledger/ledger.h"
#include "limits/meter.h"
#include "proxy/proxy_internal.h"
#include "reason/reasons.h"
#include "util/log.h"
#include "util/time.h"

typedef enum bw_step_verdict (*step_fn)(struct bw_call *c);

struct step {
    const char *name; /* for docs and debugging */
    step_fn run;
};

struct bw_call_steps {
    const struct step *steps;
    size_t n;
};

#define STEP(fn)                                                                                   \
    { #fn, bw_step_##fn }

/* /v1/chat/completions, /v1/embeddings, /v1/models. The JSON body is parsed after identify,
 * so a client without a valid key never reaches the parser (the bound is the server's size
 * limits, before either). */
static const struct step call_steps[] = {
    STEP(bound),          /* 1 the server's size limits; the body pulled up */
    STEP(identify),       /* 2 bearer key -> key record (auth/) */
    STEP(parse),          /* 1 content type, JSON parsed once, the route's fields; the hash */
    STEP(admit),          /* 3 rates, in-flight, budget reservation (limits/) */
    STEP(decide),         /* 4 the policy's decision (policy/) */
    STEP(review_gate),    /* 4 require_approval with a bulwark-approval header: spend it */
    STEP(record),         /* 5 the decision receipt, durable (ledger/) */
    STEP(review_item),    /* 4 require_approval without one: review receipt, item, 403 */
    STEP(forward),        /* 6 the upstream transfer; a stream is governed as it flows */
    STEP(govern_answer),  /* 7 a whole answer: parsed and governed */
    STEP(settle),         /* 8 the reservation settled, usage metered */
    STEP(record_outcome), /* 9 the outcome receipt */
};

/* The widget (proxy_widget.c): its own first steps (key, origin, message, history) ran before
 * the call began; then the same steps, with its hook (the transcript) before forwarding. */
static const struct step prepared_steps[] = {
    STEP(prepared),      STEP(admit),       STEP(decide),         STEP(review_gate),
    STEP(record),        STEP(review_item), STEP(before_forward), STEP(forward),
    STEP(govern_answer), STEP(settle),      STEP(record_outcome),
};

#define N(a) (sizeof(a) / sizeof((a)[0]))
static const struct bw_call_steps tables[] = {
    [BW_TABLE_CALL] = {call_steps, N(call_steps)},
    [BW_TABLE_PREPARED] = {prepared_steps, N(prepared_steps)},
};

/* The index of a step in a table (every table has record and settle; n if not). */
static size_t index_of(const struct bw_call_steps *t, step_fn fn) {
    size_t i = 0;
    while (i < t->n && t->steps[i].run != fn)
        i++;
    return i;
}

/* ---- the end ---- */

static void call_free(struct bw_call *c) {
    struct bw_gateway *gw = c->w->gw;
    bw_call_job_detach(c);
    if (c->gone_ev)
        event_free(c->gone_ev);
    if (c->fwd.idle_ev)
        event_free(c->fwd.idle_ev);
    bw_call_release_admission(c); /* a call that never reached the upstream gives all back */
    bw_call_policy_cleanup(c);
    free(c->review.item);
    bw_buf_cleanup(&c->answer.resp);
    bw_sse_cleanup(&c->answer.sse);
    bw_sha256_stream_cleanup(&c->answer.resp_sha);
    if (c->fwd.byok_auth)
        sodium_free(c->fwd.byok_auth); /* zeroes the org's key before releasing it */
    if (c->hooks && c->hooks->cleanup)
        c->hooks->cleanup(c->hook_arg);
    free(c->in.built_body);
    free(c->end.body);
    free(c);
    atomic_fetch_sub(&gw->inflight, 1);
}

static void detach_close_cb(struct bw_call *c) {
    struct evhttp_connection *evcon = evhttp_request_get_connection(c->req);
    if (evcon)
        evhttp_connection_set_closecb(evcon, NULL, NULL);
}

/* The call's fields for its request-log line; reason: the code to log, or NULL to leave it to
 * the error reply (which logs its own code). */
static void log_call(struct bw_call *c, const char *reason) {
    bw_reqlog_set_principal(c->req, c->ident.key.org_id, c->ident.key.agent, c->ident.key.id);
    if (c->record.receipt_id[0])
        bw_reqlog_set_decision(c->req, bw_call_decision_name(c), reason, c->record.receipt_id);
}

/* A streamed reply ends (or a client gone gets nothing). */
static void end_stream(struct bw_call *c) {
    int http_status = c->end.http_status;
    bw_call_observe_end(c, c->answer.reply_started ? 200 : http_status, c->answer.end_reason);
    log_call(c, c->answer.end_reason    ? c->answer.end_reason
                : c->answer.stream_fail ? c->answer.stream_fail
                                        : c->decide.decision.reason);
    /* what the client saw: a started stream is a 200 whatever ended it in-band; also for a
     * detached req, which evhttp never completes */
    bw_reqlog_end(c->req, c->answer.reply_started ? 200 : http_status);
    if (!c->client_gone)
        detach_close_cb(c);
    if (c->answer.reply_started)
        evhttp_send_reply_end(c->req); /* frees req, also when detached */
    else
        evhttp_send_reply(c->req, 499, "Client Closed", NULL); /* detached: only frees req */
}

static void end_body(struct bw_call *c) {
    bw_call_observe_end(c, c->end.http_status, NULL);
    log_call(c, c->decide.decision.reason);
    if (c->client_gone)
        bw_reqlog_end(c->req, 499); /* detached: the reply below only frees req */
    else
        detach_close_cb(c);
    bw_http_add_receipt_headers(c->req, c->record.receipt_id, "allow");
    if (c->end.body)
        bw_http_reply_json(c->req, c->end.http_status, c->end.body, c->end.len);
    else
        bw_http_reply_json(c->req, c->end.http_status, (const char *)c->answer.resp.ptr,
                           c->answer.resp.len);
}

static void end_error(struct bw_call *c) {
    const struct bw_call_end *e = &c->end;
    bw_call_observe_end(c, e->http_status, e->code);
    log_call(c, NULL);
    if (c->client_gone) {
        bw_reqlog_set_reason(c->req, e->code);
        bw_reqlog_end(c->req, 499); /* detached: the reply below only frees req */
    } else
        detach_close_cb(c);
    const char *rid = c->record.receipt_id[0] ? c->record.receipt_id : NULL;
    bw_http_reply_error_with(c->req, e->http_status, e->code, e->message, rid,
                             rid ? bw_call_decision_name(c) : NULL,
                             c->review.id[0] ? "review_id" : NULL, c->review.id);
}

/* The one place a call ends: the reply its end says, then free. */
static void end_call(struct bw_call *c) {
    switch (c->end.kind) {
    case BW_END_STREAM:
        end_stream(c);
        break;
    case BW_END_BODY:
        end_body(c);
        break;
    case BW_END_ERROR:
        end_error(c);
        break;
    case BW_END_NONE:
    default: /* a table that ran out without an end: a bug, never an answer */
        bw_error("proxy: a call reached the end of its steps without an answer");
        c->end.kind = BW_END_ERROR;
        c->end.http_status = 500;
        c->end.code = BW_R_INTERNAL;
        c->end.message = "internal error";
        end_error(c);
        break;
    }
    call_free(c);
}

/* The decision refused the call and its receipt is durable: the refusal the client gets. */
static void set_denied(struct bw_call *c) {
    const struct bw_policy_decision *d = &c->decide.decision;
    bw_call_add_retry_after(c);
    const char *msg = c->decide.refusal_message ? c->decide.refusal_message
                      : d->effect == BW_POLICY_REQUIRE_APPROVAL
                          ? "the policy requires a reviewer's approval for this call"
                          : "the policy does not allow this call";
    (void)bw_call_fail_with(c, d->http_status ? d->http_status : 403, d->reason, msg, NULL);
}

/* ---- the driver ---- */

/* Where a verdict leads; returns 0 to run c->step next, 1 to stop (wait). */
static int advance(struct bw_call *c, enum bw_step_verdict v) {
    const struct bw_call_steps *t = c->table;
    switch (v) {
    case BW_STEP_CONTINUE:
        c->step++;
        break;
    case BW_STEP_WAIT:
        return 1;
    case BW_STEP_DENY:
        if (c->step < index_of(t, bw_step_record))
            c->step = index_of(t, bw_step_record); /* recorded like any decision */
        else
            set_denied(c);
        break;
    case BW_STEP_FAIL:
    default:
        if (c->end.kind == BW_END_NONE)
            (void)bw_call_fail_with(c, 500, BW_R_INTERNAL, "internal error", NULL);
        break;
    }
    /* An end is set: the outcome (when it has one), then the reply. */
    if (c->end.kind != BW_END_NONE) {
        size_t settle = index_of(t, bw_step_settle);
        if (c->step < settle)
            c->step = c->end.outcome ? settle : t->n;
    }
    return 0;
}

static void drive(struct bw_call *c) {
    const struct bw_call_steps *t = c->table;
    for (;;) {
        if (c->step >= t->n) {
            end_call(c);
            return;
        }
        c->driving = 1;
        c->woken = 0;
        enum bw_step_verdict v = t->steps[c->step].run(c);
        c->driving = 0;
        if (v == BW_STEP_WAIT && c->woken) /* its completion already came, inside the step */
            v = c->wake_verdict;
        c->woken = 0;
        if (advance(c, v))
            return;
    }
}

void bw_call_run(struct bw_call *c, enum bw_call_table table) {
    c->table = &tables[table];
    c->step = 0;
    drive(c);
}

void bw_call_step_done(struct bw_call *c, enum bw_step_verdict v) {
    if (c->driving) { /* completed inside the step that waits: the loop takes it */
        c->woken = 1;
        c->wake_verdict = v;
        return;
    }
    if (!advance(c, v))
        drive(c);
}

/* ---- the writers ---- */

enum bw_step_verdict bw_call_deny(struct bw_call *c, const char *reason, int http_status,
                                  const char *rule) {
    struct bw_policy_decision *d = &c->decide.decision;
    d->effect = BW_POLICY_DENY;
    snprintf(d->reason, sizeof d->reason, "%s", reason);
    d->http_status = http_status;
    if (rule) {
        snprintf(d->rule, sizeof d->rule, "%s", rule);
        d->layer = NULL; /* not a policy layer's decision */
    }
    return BW_STEP_DENY;
}

enum bw_step_verdict bw_call_fail_with(struct bw_call *c, int http_status, const char *code,
                                       const char *message, const char *outcome_status) {
    if (c->end.kind == BW_END_NONE) {
        c->end.kind = BW_END_ERROR;
        c->end.http_status = http_status;
        c->end.code = code;
        c->end.message = message;
        c->end.outcome = outcome_status;
    }
    return BW_STEP_FAIL;
}

void bw_call_fail(struct bw_call *c, int http_status, const char *code, const char *message,
                  const char *outcome_status) {
    bw_call_step_done(c, bw_call_fail_with(c, http_status, code, message, outcome_status));
}

void bw_call_finish(struct bw_call *c, const char *status, int http_status) {
    if (c->end.kind == BW_END_NONE) {
        c->end.kind = BW_END_STREAM;
        c->end.http_status = http_status;
        c->end.outcome = status;
    }
    bw_call_step_done(c, BW_STEP_CONTINUE);
}

void bw_call_respond(struct bw_call *c, int http_status, char *body, size_t len,
                     const char *status) {
    if (c->end.kind == BW_END_NONE) {
        c->end.kind = BW_END_BODY;
        c->end.http_status = http_status;
        c->end.outcome = status;
        c->end.body = body;
        c->end.len = len;
    } else {
        free(body);
    }
    bw_call_step_done(c, BW_STEP_CONTINUE);
}

/* ---- the steps that belong to the table itself ---- */

enum bw_step_verdict bw_step_before_forward(struct bw_call *c) {
    if (c->client_gone)
        return BW_STEP_CONTINUE; /* the forward step ends it as a client gone */
    return c->hooks && c->hooks->before_forward ? c->hooks->before_forward(c) : BW_STEP_CONTINUE;
}

/* Settles a forwarded call's reservation with the real usage and meters it (DESIGN.md step 8).
 * Runs only for an end with an outcome receipt. */
enum bw_step_verdict bw_step_settle(struct bw_call *c) {
    struct bw_gateway *gw = c->w->gw;
    if (!c->fwd.forwarded || c->route == BW_ROUTE_MODELS)
        return BW_STEP_CONTINUE;
    struct bw_usage_record u;
    bw_call_settle(c, &u);
    snprintf(u.status, sizeof u.status, "%s", c->end.outcome ? c->end.outcome : "");
    if (gw->meter)
        bw_meter_push(gw->meter, &u);
    return BW_STEP_CONTINUE;
}

static void on_outcome_durable(void *arg, bw_err err, uint64_t index, const uint8_t leaf[32]) {
    (void)index;
    (void)leaf;
    struct bw_gateway *gw = arg;
    if (err != BW_OK)
        bw_error("proxy: outcome receipt not recorded: %s", bw_err_str(err));
    atomic_fetch_sub(&gw->inflight, 1);
}

/* The outcome receipt (DESIGN.md step 9): appended, not waited for (the reply does not depend
 * on it; shutdown waits for it through gw->inflight). */
enum bw_step_verdict bw_step_record_outcome(struct bw_call *c) {
    struct bw_gateway *gw = c->w->gw;
    struct bw_receipt r;
    bw_call_receipt(c, BW_RECEIPT_OUTCOME, &r);
    snprintf(r.status, sizeof r.status, "%s", c->end.outcome ? c->end.outcome : "");
    r.http_status = c->end.http_status;
    r.has_parent = 1;
    memcpy(r.parent_leaf_hash, c->record.decision_leaf, 32);
    if (c->fwd.forwarded) {
        bw_sha256_stream_final(&c->answer.resp_sha, r.response_sha256);
        r.has_response = 1;
    }
    r.tool_calls = c->answer.tool_calls;
    if (c->settle.settled) { /* the bill is provable from the evidence: usage and cost */
        r.has_usage = 1;
        r.prompt_tokens = c->settle.settled_prompt;
        r.completion_tokens = c->settle.settled_completion;
        r.total_tokens = c->answer.has_usage
                             ? c->answer.total_tokens
                             : c->settle.settled_prompt + c->settle.settled_completion;
        r.usage_estimated = c->settle.usage_estimated;
        r.has_cost = 1;
        r.cost_micros = c->settle.cost_micros;
    } else if (c->answer.has_usage) {
        r.has_usage = 1;
        r.prompt_tokens = c->answer.prompt_tokens;
        r.completion_tokens = c->answer.completion_tokens;
        r.total_tokens = c->answer.total_tokens;
    }
    r.duration_ms = (bw_mono_us() - c->start_us) / 1000;
    atomic_fetch_add(&gw->inflight, 1);
    bw_ledger_append(gw->ledger, &r, c->w->base, on_outcome_durable, gw);
    return BW_STEP_CONTINUE;
}
