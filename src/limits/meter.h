/* meter.h: the metering writer. Event-loop workers hand it one usage row per model call; a
 * periodic store job (jobs/jobs.h, on a store thread) writes them to the usage table in batches
 * (one transaction, so one fsync, per batch: every flush_ms, and at once when batch_max rows
 * wait), so no worker ever waits on the database.
 *
 * Its commits do not wait for fsync (bw_store_relax_durability): the rows are also in the
 * durable outcome receipts. Bounded: at most queue_max rows wait; past that a row is dropped with
 * an error logged (the outcome receipt, durable in the ledger, still carries the call's usage). A
 * crash loses at most the rows not yet written, likewise recoverable from the receipts.
 * Thread-safe: push from any thread; new/free from one. */
#ifndef BW_LIMITS_METER_H
#define BW_LIMITS_METER_H

#include <stddef.h>

#include "store/store.h"
#include "util/err.h"

struct bw_meter;

struct bw_meter_opts {
    size_t batch_max; /* default 512 */
    int flush_ms;     /* default 100 */
    size_t queue_max; /* default 65536 */
};

/* Opens its own store handle on `where` and registers a periodic job (every flush_ms, or as
 * soon as a batch is full) on the store job pool `jobs` (jobs/jobs.h), which must outlive it.
 * Errors: BW_E_INVALID, BW_E_NOMEM, the store's. */
struct bw_jobs;
bw_err bw_meter_new(struct bw_jobs *jobs, const char *where, const struct bw_meter_opts *opts,
                    struct bw_meter **out) BW_MUST_CHECK;
/* Queues a copy of u. Never blocks on I/O. */
void bw_meter_push(struct bw_meter *m, const struct bw_usage_record *u);
/* Writes everything queued (its last tick), unregisters the job, closes its store. Before
 * the pool is freed. NULL is a no-op. */
void bw_meter_free(struct bw_meter *m);
/* Rows written so far (for tests and logs). */
size_t bw_meter_written(struct bw_meter *m);

#endif
