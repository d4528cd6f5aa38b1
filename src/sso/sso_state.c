/* sso_state.c: sign-ins in flight, between /console/sso/start and /callback. Each entry is a
 * random state bound to a random browser cookie, with the nonce and PKCE verifier that only
 * this process knows; an entry is removed by the first callback that names it, whatever the
 * outcome, so a state is never used twice.
 *
 * The table is process-local: behind a load balancer the callback must reach the process that
 * served the start (docs/CONSOLE.md says so). It is bounded: past SSO_STATE_MAX entries the
 * expired ones go, then the oldest (a flood of starts costs in-flight sign-ins their retry,
 * never memory). */
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "sso/sso_internal.h"

/* Owner: this file. Protected by table_mu; every worker thread starts and finishes sign-ins. */
static pthread_mutex_t table_mu = PTHREAD_MUTEX_INITIALIZER;
static struct sso_pending *table; /* SSO_STATE_MAX slots, allocated at first use; "" state = free */

static int same(const char *a, const char *b) {
    size_t n = strlen(a);
    return n == strlen(b) && n > 0 && sodium_memcmp(a, b, n) == 0;
}

bw_err sso_state_put(const struct sso_pending *p) {
    bw_err e = BW_OK;
    pthread_mutex_lock(&table_mu);
    if (!table)
        table = calloc(SSO_STATE_MAX, sizeof *table);
    if (!table) {
        e = BW_E_NOMEM;
        goto out;
    }
    size_t slot = SSO_STATE_MAX, oldest = 0;
    for (size_t i = 0; i < SSO_STATE_MAX; i++) {
        if (table[i].state[0] && table[i].expires_ms <= p->expires_ms - SSO_STATE_TTL_MS) {
            sodium_memzero(&table[i], sizeof table[i]); /* expired */
        }
        if (!table[i].state[0] && slot == SSO_STATE_MAX)
            slot = i;
        if (table[i].expires_ms < table[oldest].expires_ms)
            oldest = i;
    }
    if (slot == SSO_STATE_MAX)
        slot = oldest;
    table[slot] = *p;
out:
    pthread_mutex_unlock(&table_mu);
    return e;
}

bw_err sso_state_take(const char *state, const char *browser, int64_t now_ms,
                      struct sso_pending *out) {
    bw_err e = BW_E_NOT_FOUND;
    if (!state || strlen(state) != SSO_TOKEN_SIZE - 1)
        return e;
    pthread_mutex_lock(&table_mu);
    for (size_t i = 0; table && i < SSO_STATE_MAX; i++) {
        if (!table[i].state[0] || !same(table[i].state, state))
            continue;
        /* found: single use, whatever follows */
        if (table[i].expires_ms > now_ms && browser && same(table[i].browser, browser)) {
            *out = table[i];
            e = BW_OK;
        }
        sodium_memzero(&table[i], sizeof table[i]);
        break;
    }
    pthread_mutex_unlock(&table_mu);
    return e;
}
