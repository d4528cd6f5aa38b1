/* outbox.h: durable, at-least-once delivery of events to an org's connections (docs/API.md
 * "Outbox"). Events are rows in the store's outbox table (store/connections.h), written by the
 * code that makes the event (bw_outbox_emit, on the caller's own store handle). A dispatcher
 * (a periodic store job) looks for due rows and hands them to a small pool of delivery threads
 * (each with its own store handle). Fairness: at most OUTBOX_PER_ORG (1) of the OUTBOX_WORKERS (4)
 * deliveries in flight belong to one org, and orgs are visited from a rotating start, so a receiver
 * that never answers holds its own org's slot for at most the delivery timeout and never delays
 * another org's deliveries (unless as many orgs as there are workers all hang at once: then
 * the others wait at most that timeout).
 *
 * One attempt of one row:
 *   1. claim: attempts + 1 and next_attempt_ms = now + lease (timeout + 1 s) in one committed
 *      compare-and-swap, so two replicas never send the same row at once and a holder that
 *      dies leaves the row due again when its lease ends;
 *   2. the connection's sealed credential is read and opened (a record that does not open marks
 *      the connection unhealthy: CONNECTION_CREDENTIAL);
 *   3. bw_connect_deliver: the kind rules and the egress guard's dispatch-time rules again, and
 *      the connect-time check on every address dialled (bw_deliver_post);
 *   4. the outcome is committed: `delivered`, or `failed` with the next attempt at now + backoff
 *      (exponential from backoff_base_ms, capped at backoff_max_ms, "equal jitter": half fixed,
 *      half random), or `dead` once max_attempts attempts have failed.
 * A failed attempt marks the connection unhealthy with the failure's class; a successful one
 * marks it healthy. Events of an unhealthy connection keep their schedule (they wait with
 * backoff and die at max_attempts); re-verifying the connection (POST .../verify, or replacing
 * its secret) makes them due at once.
 *
 * Delivery is at least once: a crash between a receiver's 2xx and step 4's commit sends the
 * event again after the lease. Every attempt carries the same webhook-id (the event id), so a
 * Standard Webhooks receiver deduplicates it. Once step 4 has committed `delivered`, the row is
 * never sent again.
 *
 * Thread-safety: emit and wake from any thread (each with its own store handle); new/free from
 * one thread. bw_outbox_free waits for the deliveries in flight (each bounded by the timeout). */
#ifndef BW_CONNECT_OUTBOX_H
#define BW_CONNECT_OUTBOX_H

#include <jansson.h>
#include <stdint.h>

#include "connect/connect.h"
#include "store/store.h"
#include "util/err.h"

struct bw_outbox;

struct bw_outbox_opts {
    long max_attempts;    /* [10] */
    long backoff_base_ms; /* [1000] */
    long backoff_max_ms;  /* [3600000] */
    long poll_ms;         /* [1000] how often due rows are looked for without a wake-up */
};

/* Opens its own store handles on `where`, starts the delivery threads and registers the
 * dispatcher as a periodic job (every poll_ms, and at once on a wake-up or a finished delivery)
 * on the store job pool `jobs` (jobs/jobs.h). env and jobs are borrowed and must outlive the
 * outbox. */
struct bw_jobs;
bw_err bw_outbox_new(struct bw_jobs *jobs, const char *where, const struct bw_connect_env *env,
                     const struct bw_outbox_opts *opts, struct bw_outbox **out) BW_MUST_CHECK;
/* Lets the dispatcher look at the queue now. NULL is a no-op. */
void bw_outbox_wake(struct bw_outbox *o);
/* Stops the dispatcher, then the delivery threads after the attempts in progress (bounded by the
 * delivery timeout), closes their stores. Rows not yet delivered stay queued for the next start.
 * NULL is a no-op. */
void bw_outbox_free(struct bw_outbox *o);

/* Queues an event for every delivery connection of the org on the caller's store handle s
 * (committed before it returns), then wakes o (which may be NULL). type: [a-z0-9._-], at most
 * 63 bytes; text: the human summary (Slack, Discord), UTF-8, at most 4000 bytes; data: a JSON
 * object (borrowed; NULL = {}), which must never hold a secret. *event_id (may be NULL, 64
 * bytes) gets the new event's id. An org without connections queues nothing (BW_OK). */
bw_err bw_outbox_emit(struct bw_outbox *o, struct bw_store *s, const char *org_id, const char *type,
                      const char *text, const json_t *data, char *event_id) BW_MUST_CHECK;

/* The same with the caller's own event id (printable ASCII without spaces, 1..63 bytes): an id
 * derived from what happened (e.g. "budget_202611_tokens_80") makes the event idempotent: the
 * outbox's primary key queues it once per connection however many times, threads or replicas
 * emit it. */
bw_err bw_outbox_emit_as(struct bw_outbox *o, struct bw_store *s, const char *org_id,
                         const char *event_id, const char *type, const char *text,
                         const json_t *data) BW_MUST_CHECK;

/* The hook the review queue (issue 3) calls when a review item is created or decided: emits
 * "review.created" or "review.decided" with {review_id, state, agent} and a one-line text. */
bw_err bw_outbox_emit_review(struct bw_outbox *o, struct bw_store *s, const char *org_id,
                             const char *review_id, const char *state,
                             const char *agent) BW_MUST_CHECK;

/* The wait before attempt number attempts + 1, given that `attempts` attempts failed (>= 1):
 * d = min(backoff_max_ms, backoff_base_ms * 2^(attempts - 1)), then d/2 + (random mod (d/2+1)).
 * Exposed for tests. */
int64_t bw_outbox_backoff_ms(const struct bw_outbox_opts *o, int64_t attempts, uint32_t random);

/* Deliveries committed as delivered by this process (for tests and logs). */
long bw_outbox_delivered(struct bw_outbox *o);

#endif
