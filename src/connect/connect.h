/* connect.h: connections (Slack, Discord, generic webhook, GitHub, Notion): the rules for their
 * URLs and credentials, the live verification call made before one is saved (and on request),
 * and the delivery of one queued event. The durable queue around delivery is outbox.h; storage
 * is store/connections.h; the API is api/api_connections.c (docs/API.md "Connections").
 *
 * A connection's credential is one sealed record (vault/seal.h), sealed for (org id, secret id):
 *   slack, discord  the webhook URL (its path is the token)
 *   webhook         the URL, a newline, then the Standard Webhooks signing secret "whsec_..."
 *   github, notion  the token
 * Plaintext credentials exist only in sodium_malloc'd memory (struct bw_connect_cred) and are
 * wiped when released. Nothing here logs, or writes into `why`, a URL's path or query, a token,
 * a header value or a response body. libcurl keeps its own heap copies of the URL and headers
 * for the life of one easy handle (freed, not wiped: libcurl has no option for it).
 *
 * BLOCKING: bw_connect_verify and bw_connect_deliver resolve names and make one HTTP exchange
 * (bounded by the timeout in the environment). Call them from a verification or outbox thread,
 * never from an event worker. Thread-safe: the environment is read-only. */
#ifndef BW_CONNECT_CONNECT_H
#define BW_CONNECT_CONNECT_H

#include <stddef.h>
#include <stdint.h>

#include "egress/egress.h"
#include "util/err.h"
#include "vault/keyring.h"
#include "vault/seal.h"

enum bw_connect_kind {
    BW_CONNECT_SLACK,
    BW_CONNECT_DISCORD,
    BW_CONNECT_WEBHOOK,
    BW_CONNECT_GITHUB,
    BW_CONNECT_NOTION,
};

/* "slack" ... "notion" <-> kind. parse returns 0 for an unknown name. */
int bw_connect_kind_parse(const char *name, enum bw_connect_kind *out) BW_MUST_CHECK;
const char *bw_connect_kind_name(enum bw_connect_kind kind);
/* 1 for the kinds events are delivered to (slack, discord, webhook). */
int bw_connect_kind_delivers(enum bw_connect_kind kind) BW_MUST_CHECK;

#define BW_CONNECT_TOKEN_MAX 1024 /* bytes of a GitHub or Notion token */
#define BW_CONNECT_REASON_SIZE 40
#define BW_CONNECT_WHY_SIZE 256
#define BW_CONNECT_DISPLAY_SIZE 300

/* Shared, read-only configuration (built once at start). */
struct bw_connect_env {
    const struct bw_keyring *keys;         /* borrowed: seals and opens credentials */
    const struct bw_egress_policy *policy; /* borrowed; NULL = empty operator allowlist */
    int allow_http;                        /* generic webhooks may use http:// */
    const char *github_api;                /* base URL, no trailing slash */
    const char *notion_api;
    long timeout_ms; /* one verification or delivery, all hops */
};

/* A plaintext credential in sodium_malloc'd memory: `bytes` as sealed, and the parts split out
 * (NUL-terminated, pointing into the same allocation). */
struct bw_connect_cred {
    enum bw_connect_kind kind;
    size_t len;
    const char *url;    /* slack, discord, webhook; else "" */
    const char *secret; /* webhook signing secret, or the token; else "" */
    uint8_t bytes[];    /* len bytes, then a NUL, then the split copy */
};
void bw_connect_cred_free(struct bw_connect_cred *c); /* wipes; NULL is a no-op */

/* Builds a credential from its parts (borrowed; copied into sodium_malloc'd memory), checking
 * their shapes without the network: url required for slack/discord/webhook (at most
 * BW_EGRESS_URL_MAX-1 bytes, printable ASCII), secret required for webhook ("whsec_" + base64)
 * and github/notion (printable ASCII without spaces, at most BW_CONNECT_TOKEN_MAX), and absent
 * otherwise. Errors: BW_E_INVALID (why says which field), BW_E_NOMEM. */
bw_err bw_connect_cred_new(enum bw_connect_kind kind, const char *url, const char *secret,
                           struct bw_connect_cred **out, char *why, size_t why_size) BW_MUST_CHECK;

/* Opens a sealed credential of `kind` for (org_id, secret_id). Errors: those of bw_vault_open,
 * BW_E_INVALID (opened but not of the kind's shape). */
bw_err bw_connect_cred_open(const struct bw_connect_env *env, enum bw_connect_kind kind,
                            const char *org_id, const char *secret_id, const uint8_t *sealed,
                            size_t sealed_len, struct bw_connect_cred **out) BW_MUST_CHECK;

/* Seals c for (org_id, secret_id) into out (at least BW_VAULT_SEALED_SIZE(c->len) bytes) and
 * writes the master key id and the display fingerprint of the secret part. */
bw_err bw_connect_cred_seal(const struct bw_connect_env *env, const struct bw_connect_cred *c,
                            const char *org_id, const char *secret_id, uint8_t *out,
                            size_t out_size, size_t *out_len,
                            uint8_t master_id[BW_VAULT_MASTER_ID_BYTES],
                            char fingerprint[BW_VAULT_FINGERPRINT_SIZE]) BW_MUST_CHECK;

/* What a check found. reason is a stable code for the API (REASON_CODES.md):
 *   EGRESS_BLOCKED            the egress guard refused the URL or an address it resolves to
 *   CONNECTION_URL_REJECTED   not the kind's scheme or host (Slack/Discord: https on their hosts)
 *   CONNECTION_VERIFY_FAILED  the live call failed (status or network); retryable says if a
 *                             later try may succeed
 *   CONNECTION_CREDENTIAL     the stored credential could not be opened (tampered, other master)
 * display is scheme://host[:port] of the URL checked (never a path). */
struct bw_connect_result {
    char reason[BW_CONNECT_REASON_SIZE];
    char why[BW_CONNECT_WHY_SIZE];
    char display[BW_CONNECT_DISPLAY_SIZE];
    long status;
    int blocked;
    int retryable;
};

/* Save-time check and live verification, BLOCKING: the URL's kind rules, the egress guard's
 * save-time check with DNS (every address must be allowed), then one call: a test message
 * ("connection.verify", Standard Webhooks signed for webhooks) for slack/discord/webhook,
 * GET {github_api}/user or GET {notion_api}/v1/users/me with the token. BW_OK only on 2xx.
 * Errors: BW_E_DENIED (guard or kind rules), BW_E_UPSTREAM / BW_E_TIMEOUT / BW_E_UNAVAILABLE
 * (the call failed), BW_E_NOMEM, BW_E_INTERNAL. res is filled on every return. */
bw_err bw_connect_verify(const struct bw_connect_env *env, const struct bw_connect_cred *c,
                         struct bw_connect_result *res) BW_MUST_CHECK;

/* One event to deliver (all borrowed). */
struct bw_connect_event {
    const char *id;   /* the outbox event id: the webhook-id, stable across retries */
    const char *type; /* e.g. "key.create" */
    const char *text; /* human summary (Slack, Discord) */
    const char *data; /* JSON object text (webhooks) */
    int64_t event_ms;
};

/* Delivers one event to a slack/discord/webhook credential through bw_deliver_post: the kind
 * rules and the guard's dispatch-time rules are checked again, and every address dialled meets
 * the connect-time hook. Same errors as bw_connect_verify, plus BW_E_INVALID (bad event). */
bw_err bw_connect_deliver(const struct bw_connect_env *env, const struct bw_connect_cred *c,
                          const struct bw_connect_event *ev,
                          struct bw_connect_result *res) BW_MUST_CHECK;

#endif
