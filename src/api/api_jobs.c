/* api_jobs.c: checks that may block (DNS resolution, a peer's answer) started from a handler on
 * their own short-lived thread, never on the event worker (api.h). The connections and MCP
 * servers routes share one cap. */
#include <pthread.h>
#include <stdatomic.h>

#include "api/api.h"
#include "gateway/gateway.h"

int bw_api_check_start(struct bw_gateway *gw, void *(*fn)(void *), void *arg, int *busy) {
    *busy = 0;
    if (atomic_fetch_add(&gw->verifying, 1) >= BW_API_MAX_CHECKS) {
        atomic_fetch_sub(&gw->verifying, 1);
        *busy = 1;
        return -1;
    }
    atomic_fetch_add(&gw->inflight, 1); /* a graceful shutdown waits for it */
    pthread_attr_t attr;
    pthread_t t;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&t, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        bw_api_check_done(gw);
        return -1;
    }
    return 0;
}

void bw_api_check_done(struct bw_gateway *gw) {
    atomic_fetch_sub(&gw->verifying, 1);
    atomic_fetch_sub(&gw->inflight, 1);
}
