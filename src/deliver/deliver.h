/* deliver.h: one guarded delivery of an event to a customer-supplied URL (a connection): a
 * generic HTTPS webhook signed per Standard Webhooks, a Slack incoming webhook, or a Discord
 * webhook. This module guards the act of sending; the durable outbox (queue, retries with
 * backoff, health marking) is built on top of it and decides what to do with the result.
 *
 * Every delivery goes through the egress guard exactly as egress.h prescribes:
 *   - bw_egress_check_url_static on the URL (no DNS here: the connect-time hook judges the
 *     addresses), then bw_egress_curl_apply on a fresh easy handle for every hop, so each
 *     address libcurl dials is checked (DNS rebinding meets the hook);
 *   - libcurl never follows redirects. 301, 302, 307 and 308 are followed by hand, at most
 *     max_redirects times: the Location is resolved and re-checked with bw_egress_redirect, an
 *     https URL may not redirect to http (the payload would leave in clear text), and the same
 *     POST (headers, body, signature) is sent again. 303 is not followed (it would turn the
 *     POST into a GET of some other resource) and ends the delivery as a failure;
 *   - proxies from the environment are ignored, protocols are http and https only, the
 *     response body is discarded but capped, and the whole delivery (all hops) has one deadline.
 *
 * BLOCKING: bw_deliver_post performs the transfer with curl_easy_perform and returns when it is
 * over (at most total_timeout_ms). Call it from a dedicated delivery (outbox) thread, never from
 * an event worker. Thread-safe: calls on different threads share nothing but the (immutable)
 * egress policy and keys; curl_global_init must have run before any thread calls it.
 *
 * Secrets: for Slack and Discord the URL itself is the credential (its path holds the token);
 * for webhooks the signing keys are. Nothing here logs, and `why` never contains, a URL's path,
 * query or userinfo, a header value, a key, or the response body. The module's own copies of
 * the URL live in sodium_malloc'd memory and are wiped; libcurl keeps its own copy of the URL in
 * ordinary heap memory for the life of the easy handle (freed, not wiped, at cleanup: libcurl
 * has no option to wipe it). */
#ifndef BW_DELIVER_DELIVER_H
#define BW_DELIVER_DELIVER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "egress/egress.h"
#include "util/buf.h"
#include "util/err.h"
#include "webhook/webhook.h"

#define BW_DELIVER_BODY_MAX (256 * 1024)    /* bytes of one request body */
#define BW_DELIVER_TEXT_MAX 4000            /* bytes of an event's human summary */
#define BW_DELIVER_TYPE_MAX 64              /* bytes of an event type */
#define BW_DELIVER_DISCORD_CONTENT_MAX 2000 /* Discord "content": up to 2000 characters */
#define BW_DELIVER_REDIRECTS_MAX 5          /* hard cap on max_redirects */
#define BW_DELIVER_WHY_SIZE 256

enum bw_deliver_kind {
    BW_DELIVER_WEBHOOK, /* generic HTTPS endpoint; body is the event; Standard Webhooks signed */
    BW_DELIVER_SLACK,   /* Slack incoming webhook: {"text": ...} */
    BW_DELIVER_DISCORD, /* Discord webhook: {"content": ..., "allowed_mentions": {"parse": []}} */
};

/* Name of a kind for metadata and logs: "webhook", "slack", "discord" (static). */
const char *bw_deliver_kind_name(enum bw_deliver_kind kind);

/* An event to deliver. All borrowed. */
struct bw_deliver_event {
    const char *type;     /* e.g. "review.created": 1..BW_DELIVER_TYPE_MAX of [a-z0-9._-] */
    const char *text;     /* one human-readable summary, UTF-8, at most BW_DELIVER_TEXT_MAX */
    const json_t *data;   /* the event's details (an object), for webhooks; NULL = {} */
    int64_t timestamp_ms; /* when the event happened (Unix ms, >= 0) */
};

/* Formats the request body for `kind` into out (appended; the caller's bw_buf max applies):
 *   WEBHOOK  {"type":T,"timestamp":"YYYY-MM-DDTHH:MM:SS.mmmZ","data":{...}} (the payload shape
 *            the Standard Webhooks spec recommends)
 *   SLACK    {"text":S} with &, < and > written as &amp; &lt; &gt; (Slack's control
 *            characters: unescaped, event text could ping <!channel> or forge <url|links>)
 *   DISCORD  {"content":S,"allowed_mentions":{"parse":[]}}: S cut to 2000 characters (code
 *            points; the last replaced by "…" when cut); no mention in the text ever pings
 * Errors: BW_E_INVALID (bad type, text not UTF-8, data not an object, negative time),
 * BW_E_TOO_LARGE (text over BW_DELIVER_TEXT_MAX, or out's max), BW_E_NOMEM. */
bw_err bw_deliver_format(enum bw_deliver_kind kind, const struct bw_deliver_event *ev,
                         struct bw_buf *out) BW_MUST_CHECK;

/* Where to deliver. */
struct bw_deliver_target {
    enum bw_deliver_kind kind;
    const char *url;                    /* borrowed; secret for SLACK and DISCORD */
    const struct bw_webhook_keys *keys; /* WEBHOOK: BW_WEBHOOK_STANDARD signing keys; else NULL */
};

/* Limits and the guard's policy. Zero fields take the defaults in brackets. */
struct bw_deliver_options {
    const struct bw_egress_policy *policy; /* borrowed; NULL = empty operator allowlist */
    int max_redirects;                     /* [3], at most BW_DELIVER_REDIRECTS_MAX */
    long connect_timeout_ms;               /* [5000] per hop */
    long total_timeout_ms;                 /* [15000] for the whole delivery, all hops */
    curl_off_t max_response_bytes;         /* [65536] per response, then discarded */
};

/* What happened, for the outbox and the operator. Filled on every return, success or not. */
struct bw_deliver_result {
    long status;   /* HTTP status of the last response, 0 if none */
    int hops;      /* requests sent (1 + redirects followed) */
    int blocked;   /* the egress guard refused (URL, redirect target or connect-time address) */
    int retryable; /* a later attempt may succeed: network error, timeout, 408, 425, 429, 5xx */
    char why[BW_DELIVER_WHY_SIZE]; /* one line, "" on success; never a path, query or secret */
};

/* POSTs body[0..body_len) (JSON) to t->url: Content-Type application/json, and for WEBHOOK the
 * webhook-id (msg_id: the event's id, the same on every retry so receivers deduplicate),
 * webhook-timestamp (timestamp_s: this attempt) and webhook-signature headers from
 * bw_webhook_sign_standard. msg_id and timestamp_s are ignored for SLACK and DISCORD.
 * Returns BW_OK when the final response is 2xx (even if its body exceeded the cap: the
 * receiver accepted). Errors: BW_E_INVALID (arguments: body empty or over BW_DELIVER_BODY_MAX,
 * keys missing or present for the wrong kind, bad msg_id), BW_E_DENIED (the guard refused:
 * res->blocked), BW_E_UPSTREAM (a non-2xx final status, a 303, too many redirects, a downgrade
 * to http), BW_E_TIMEOUT, BW_E_UNAVAILABLE (could not connect or the connection failed),
 * BW_E_NOMEM, BW_E_INTERNAL. */
bw_err bw_deliver_post(const struct bw_deliver_options *o, const struct bw_deliver_target *t,
                       const char *msg_id, int64_t timestamp_s, const uint8_t *body,
                       size_t body_len, struct bw_deliver_result *res) BW_MUST_CHECK;

#endif
