/* health.h: the dependency-health registry behind GET /readyz and GET /api/v1/platform/services
 * (docs/API.md "Readiness and services", docs/SECURITY.md "Dependency health").
 *
 * One registry per process (the gateway serves one configuration). Each dependency (store,
 * ledger, upstream, outbox) and each connection that this process delivered to has a status
 * (up | degraded | down), the time of its last check, the latency of that check and the class
 * of its last error. Two feeds write it:
 *   - the traffic paths report what real work saw (bw_health_report, bw_health_report_connection):
 *     an upstream call's result, a ledger append that failed, a store failure, an outbox
 *     delivery;
 *   - a prober thread (bw_health_start) checks every interval: a ping through its own store
 *     handle, the ledger's state (frozen, its last batch write), its directory's writability
 *     and free space, and a TCP connect to the upstream's host and port (never a model call).
 * A failure reported by traffic holds the entry at that status for BW_HEALTH_HOLD_MS after the
 * last failure, unless a success is reported after it or the prober itself sees the dependency
 * down (or, for the store, whose probe is a statement like any other, sees it up again).
 * Readiness (bw_health_readyz) reads the prober's verdicts only: a caller can provoke a traffic
 * failure, and that must not take replicas out of rotation. The ledger's write failures reach
 * the prober through the ledger's own record (bw_ledger_write_state), not through traffic.
 *
 * What leaves this module is names and enum values only: a status, a class from the fixed list
 * below, integers. No error message, URL, host, path or secret is ever stored here, so no view
 * built on it can carry one.
 *
 * Thread-safety: every function may be called from any thread; the registry is guarded by one
 * mutex held only to copy a few words (never across I/O). */
#ifndef BW_POSTURE_HEALTH_H
#define BW_POSTURE_HEALTH_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define BW_HEALTH_HOLD_MS 5000        /* how long a failure reported by traffic is held */
#define BW_HEALTH_MAX_CONNECTIONS 256 /* connection entries kept (oldest replaced) */

enum bw_health_dep {
    BW_HEALTH_STORE,
    BW_HEALTH_LEDGER,
    BW_HEALTH_UPSTREAM,
    BW_HEALTH_OUTBOX,
    BW_HEALTH_N_DEPS
};

enum bw_health_status { BW_HEALTH_UP, BW_HEALTH_DEGRADED, BW_HEALTH_DOWN };

/* Error classes: short fixed names, never a message. */
enum bw_health_class {
    BW_HC_NONE,           /* "" (JSON null): no error */
    BW_HC_TIMEOUT,        /* "timeout" */
    BW_HC_REFUSED,        /* "refused": connection refused or reset */
    BW_HC_DNS,            /* "dns": the name did not resolve */
    BW_HC_NETWORK,        /* "network": another transport failure */
    BW_HC_TLS,            /* "tls" */
    BW_HC_HTTP_4XX,       /* "http_4xx" */
    BW_HC_HTTP_5XX,       /* "http_5xx" */
    BW_HC_AUTH,           /* "auth": 401/403, or a credential refused */
    BW_HC_PROTOCOL,       /* "protocol": an answer that is not what the protocol says */
    BW_HC_UNAVAILABLE,    /* "unavailable": the store did not answer or refused the statement */
    BW_HC_DISK_FULL,      /* "disk_full" */
    BW_HC_UNWRITABLE,     /* "unwritable": a write was refused (permissions, file size limit) */
    BW_HC_FROZEN,         /* "frozen": the ledger refuses to sign (ledger.h) */
    BW_HC_EGRESS_BLOCKED, /* "egress_blocked" */
    BW_HC_CREDENTIAL,     /* "credential": the sealed credential does not open */
    BW_HC_FAILED,         /* "failed": anything else */
    BW_HC_N
};

const char *bw_health_dep_name(enum bw_health_dep d);       /* "store", "ledger", ... */
const char *bw_health_status_name(enum bw_health_status s); /* "up", "degraded", "down" */
const char *bw_health_class_name(enum bw_health_class c);   /* "" for BW_HC_NONE */

/* The class of a connection's recorded status reason or of an outbox failure class
 * ("HTTP_503", "NETWORK", "EGRESS_BLOCKED", "CONNECTION_CREDENTIAL", ...). Never echoes its
 * input: an unknown reason is BW_HC_FAILED, "" is BW_HC_NONE. */
enum bw_health_class bw_health_class_of_reason(const char *reason) BW_MUST_CHECK;

/* The class of an HTTP status (0 = no answer: BW_HC_NETWORK). */
enum bw_health_class bw_health_class_of_http(long status) BW_MUST_CHECK;

/* ---- feeds ---- */

/* What real work just saw for d (the services view; never readiness): status UP clears a held
 * failure; DEGRADED or DOWN holds it for BW_HEALTH_HOLD_MS. latency_us < 0: unknown. */
void bw_health_report(enum bw_health_dep d, enum bw_health_status st, enum bw_health_class c,
                      int64_t latency_us);

/* The outcome of one delivery to connection conn_id of org_id (ids are copied, at most
 * BW_ID_SIZE-1 bytes; anything else is ignored). */
void bw_health_report_connection(const char *org_id, const char *conn_id, int ok,
                                 enum bw_health_class c, int64_t latency_us);

/* ---- views ---- */

struct bw_health_entry {
    enum bw_health_status status;
    enum bw_health_class error; /* the last error's class (kept after recovery), or NONE */
    int64_t checked_ms;         /* Unix ms of the last check or report; 0 = never */
    int64_t latency_us;         /* of that check; -1 = unknown */
};

/* The effective state of d now (prober and traffic combined as described above). A dependency
 * not monitored in this process (no prober started) is DOWN, error "unavailable", checked 0:
 * fail closed. */
void bw_health_get(enum bw_health_dep d, struct bw_health_entry *out);

struct bw_health_conn {
    char org_id[40];
    char conn_id[40];
    struct bw_health_entry e;
};

/* Copies up to max connection entries of org_id (NULL = every org) into out, newest first;
 * returns how many. */
size_t bw_health_connections(const char *org_id, struct bw_health_conn *out, size_t max);

/* GET /readyz: writes the body into out and returns the HTTP status: 200
 * {"status":"ready"}, or 503 {"status":"not_ready","failing":[names]} naming each of store,
 * ledger, signer, policy that is not usable (store or ledger DOWN by the prober, or never
 * probed; signer_ok / policy_ok 0), and "draining" when stopping. out must hold 160 bytes. */
int bw_health_readyz(int signer_ok, int policy_ok, int stopping, char *out,
                     size_t size) BW_MUST_CHECK;

/* ---- the prober ---- */

struct bw_ledger;

struct bw_health_probe_opts {
    const char *store_where;  /* SQLite path or PostgreSQL URL (copied; never shown) */
    struct bw_ledger *ledger; /* borrowed: must outlive bw_health_stop */
    const char *upstream_url; /* the upstream's base URL (its host and port are copied) */
    int interval_ms;          /* [1000] between rounds */
    int connect_timeout_ms;   /* [1000] for the upstream's TCP connect */
};

/* Runs one round of checks now (so the first /readyz already knows), then starts the prober
 * thread. Only one prober per process: BW_E_EXISTS if one runs. Errors: BW_E_INVALID (an
 * upstream URL without an http(s) host), BW_E_NOMEM, BW_E_INTERNAL (thread). */
bw_err bw_health_start(const struct bw_health_probe_opts *o) BW_MUST_CHECK;

/* Stops and joins the prober (bounded by one round: each check has its own timeout) and
 * forgets every entry. Safe to call when none runs. */
void bw_health_stop(void);

#endif
