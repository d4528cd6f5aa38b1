/* thread_role.c: the calling thread's role and the store-on-worker check (thread_role.h). */
#include "util/thread_role.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"
#include "util/time.h"

/* Owner: each thread its own (thread-local); written once by the thread itself. */
static _Thread_local enum bw_thread_role role;
/* Shared by every worker: atomics, no lock. */
static _Atomic uint64_t on_worker_total;
static _Atomic int64_t last_log_ms;

void bw_thread_set_role(enum bw_thread_role r) {
    role = r;
}

enum bw_thread_role bw_thread_role(void) {
    return role;
}

uint64_t bw_thread_store_on_worker_total(void) {
    return atomic_load(&on_worker_total);
}

/* Read on every violation, not cached: cheap next to a store call, and a test can set it
 * before starting the gateway without any init order to respect. */
static int assert_on(void) {
    const char *v = getenv("BULWARK_ASSERT_STORE_OFF_WORKER");
    return v && strcmp(v, "1") == 0;
}

void bw_thread_check_store(const char *fn) {
    if (role != BW_THREAD_WORKER)
        return;
    if (assert_on()) {
        /* Straight to stderr: the log sink's writer thread would not get to write a queued line
         * before abort. fn is a function name (__func__), never data. */
        char line[256];
        int n = snprintf(line, sizeof line,
                         "store: %s called on an event worker "
                         "(BULWARK_ASSERT_STORE_OFF_WORKER=1): aborting\n",
                         fn);
        if (n > 0)
            (void)!write(2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
        abort();
    }
    atomic_fetch_add(&on_worker_total, 1);
    int64_t now = bw_now_ms(), last = atomic_load(&last_log_ms);
    if (now - last >= 1000 && atomic_compare_exchange_strong(&last_log_ms, &last, now))
        bw_warn("store: %s called on an event worker (bulwark_store_calls_on_worker_total)", fn);
}
