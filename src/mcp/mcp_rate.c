/* mcp_rate.c: calls per minute per (org, principal, tool) (mcp.h, docs/MCP.md "Limits"), on the
 * token buckets of src/limits/ (sharded, thread-safe, bounded, full buckets evicted first).
 *
 * The MCP limiter has its own bw_limits table, apart from the model routes' gw->limits: a
 * caller filling it cannot touch model-call rate limits or budgets, and it is never in leased
 * mode (the limit is per gateway process; docs/MCP.md says so). A bucket is named by a hash
 * of the triple, so its key is short and fixed whatever the lengths of the ids and tool. The
 * gateway only asks for a bucket once the policy has allowed the tool (mcp_govern.c's caller),
 * so names a caller makes up and the policy denies never reach the table. */
#include <event2/http.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "limits/limits.h"
#include "mcp/mcp_internal.h"
#include "reason/reasons.h"
#include "util/codec.h"
#include "util/time.h"

/* Owned by this file, created once (pthread_once) and kept for the process's life; the table
 * inside is thread-safe (limits.h). */
static struct bw_limits *rate_table;
/* Guards the creation of rate_table. */
static pthread_once_t rate_once = PTHREAD_ONCE_INIT;

static void rate_init(void) {
    struct bw_limits_opts o = {BW_MCP_RATE_KEYS};
    if (bw_limits_new(&o, &rate_table) != BW_OK)
        rate_table = NULL; /* every take then fails closed */
}

int bw_mcp_rate_take(const char *org_id, const char *principal, const char *tool, int64_t cpm,
                     int64_t now_us, int64_t *retry_after_ms) {
    pthread_once(&rate_once, rate_init);
    if (!rate_table || cpm < 1 || cpm > BW_LIMITS_MAX_RATE)
        return -1;
    /* "mc:" + 32 hex of SHA-256(org NUL principal NUL tool) */
    char buf[512];
    int n = snprintf(buf, sizeof buf, "%s%c%s%c%s", org_id, 0, principal, 0, tool);
    if (n < 0 || (size_t)n >= sizeof buf)
        return -1;
    uint8_t digest[32];
    bw_sha256(buf, (size_t)n, digest);
    char key[3 + 32 + 1] = "mc:";
    if (bw_hex_encode(digest, 16, key + 3, sizeof key - 3) != BW_OK)
        return -1;
    struct bw_limits_rate rate = {cpm, cpm};
    bw_err e = bw_limits_take(rate_table, key, &rate, 1, now_us, retry_after_ms);
    if (e == BW_OK)
        return 0;
    return e == BW_E_LIMIT ? 1 : -1;
}

/* A tools/call the policy allowed (or that presents an approval: checked before the approval
 * is spent, so a limited call does not use it up) takes one unit; over the limit the decision
 * becomes deny MCP_RATE_LIMITED (429), receipted like every refusal. A full table fails closed
 * the same way. */
void bw_mcp_rate_gate(struct bw_mcp_call *c) {
    struct bw_policy_decision *d = &c->decision;
    int with_approval =
        d->effect == BW_POLICY_REQUIRE_APPROVAL &&
        evhttp_find_header(evhttp_request_get_input_headers(c->req), "bulwark-approval");
    if (d->effect != BW_POLICY_ALLOW && !with_approval)
        return;
    struct bw_mcp_limits lim;
    bw_mcp_limits(c->w->gw->cfg, &lim);
    int64_t retry_ms = 0;
    int r = bw_mcp_rate_take(c->key.org_id, c->key.id, c->msg.name, lim.calls_per_minute,
                             bw_mono_us(), &retry_ms);
    if (r == 0)
        return;
    /* as the model routes' limits (proxy_admit.c): the receipt names the limiter, not the rule
     * that allowed the call */
    d->effect = BW_POLICY_DENY;
    snprintf(d->reason, sizeof d->reason, "%s", BW_R_MCP_RATE_LIMITED);
    snprintf(d->rule, sizeof d->rule, "limits");
    d->layer = NULL;
    d->http_status = 429;
    long secs = r == 1 && retry_ms > 0 ? (long)((retry_ms + 999) / 1000) : 1;
    char v[24];
    snprintf(v, sizeof v, "%ld", secs);
    evhttp_add_header(evhttp_request_get_output_headers(c->req), "Retry-After", v);
}
