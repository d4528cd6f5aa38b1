/* thread_role.h: what the calling thread is for, so a contract about threads can be checked at
 * run time. Event workers (src/http/server.c) mark themselves BW_THREAD_WORKER; the store
 * (src/store/) refuses to be entered from one (bw_thread_check_store; docs/INTERNALS.md, "Store
 * jobs"). A thread that never set a role is BW_THREAD_OTHER (main, CLI, tests, background). */
#ifndef BW_UTIL_THREAD_ROLE_H
#define BW_UTIL_THREAD_ROLE_H

#include <stdint.h>

enum bw_thread_role { BW_THREAD_OTHER = 0, BW_THREAD_WORKER, BW_THREAD_STORE };

void bw_thread_set_role(enum bw_thread_role role); /* the calling thread's, thread-local */
enum bw_thread_role bw_thread_role(void);

/* Called by every store entry point with its name (a string literal). On an event worker: with
 * BULWARK_ASSERT_STORE_OFF_WORKER=1 in the environment, logs one line naming fn and aborts;
 * otherwise counts the event (bw_thread_store_on_worker_total, the metric
 * bulwark_store_calls_on_worker_total) and logs fn at most once per second. Elsewhere a
 * thread-local read and nothing else. */
void bw_thread_check_store(const char *fn);
uint64_t bw_thread_store_on_worker_total(void);

#endif
