/* metrics_store.c: the store job pool's counters (src/jobs/jobs.h) and the store calls still
 * made on an event worker (util/thread_role.h), which issue 15 drives to zero. */
#include <inttypes.h>

#include "jobs/jobs.h"
#include "metrics/metrics.h"
#include "util/thread_role.h"

/* Owner: serve's main thread sets it before the workers start and clears it before the pool is
 * freed (and after the workers stopped); scrapes on the workers read it. Atomic pointer. */
static _Atomic(struct bw_jobs *) jobs_pool;

void bw_metrics_set_jobs(struct bw_jobs *j) {
    jobs_pool = j;
}

bw_err bw_metrics_render_store(struct bw_buf *o) {
    BW_TRY(bw_buf_appendf(o,
                          "# HELP bulwark_store_calls_on_worker_total Store transactions "
                          "started on an event worker (each one stalls that worker's "
                          "calls; the goal is 0).\n"
                          "# TYPE bulwark_store_calls_on_worker_total counter\n"
                          "bulwark_store_calls_on_worker_total %" PRIu64 "\n",
                          bw_thread_store_on_worker_total()));
    struct bw_jobs *j = jobs_pool;
    if (!j)
        return BW_OK;
    struct bw_jobs_stats st;
    bw_jobs_stats(j, &st);
    BW_TRY(bw_buf_appendf(o, "# HELP bulwark_store_jobs_total Store jobs by result: ran, or "
                             "refused (queue full, deadline passed in the queue, stopping).\n"
                             "# TYPE bulwark_store_jobs_total counter\n"));
    BW_TRY(bw_buf_appendf(o,
                          "bulwark_store_jobs_total{result=\"ran\"} %" PRIu64 "\n"
                          "bulwark_store_jobs_total{result=\"full\"} %" PRIu64 "\n"
                          "bulwark_store_jobs_total{result=\"expired\"} %" PRIu64 "\n"
                          "bulwark_store_jobs_total{result=\"stopped\"} %" PRIu64 "\n",
                          st.ran, st.full, st.expired, st.stopped));
    return bw_buf_appendf(o,
                          "# HELP bulwark_store_jobs_queued Store jobs waiting for a store "
                          "thread.\n# TYPE bulwark_store_jobs_queued gauge\n"
                          "bulwark_store_jobs_queued %zu\n",
                          st.queued);
}
