/* readiness.h: GET /api/v1/security/readiness (docs/API.md "Security readiness",
 * docs/SECURITY.md "Readiness"). A set of controls, each a verdict pass | warn | fail about one
 * security property of the running gateway (key file modes, the ledger, the policy, config
 * secrets, transport, tenant isolation in the store, the egress guard, upstream credentials,
 * widgets, keys).
 *
 * Cost and threads. The checks read files, the store and the catalog: they never run on an
 * event worker. One refresher thread (bw_readiness_start) computes every verdict about every
 * REFRESH_MS into an immutable snapshot, through its own store handle (on PostgreSQL: the
 * runtime role's own connection, so the catalog is read as the gateway's queries meet it). A
 * request kicks the refresher when the snapshot is older than a second; an authenticated one
 * (admin, operator) whose snapshot is older than a refresh period also waits at most
 * BW_READINESS_WAIT_MS for a newer one (the public view never waits, so an unauthenticated
 * flood cannot hold the workers), then renders the snapshot it has. The snapshot pointer
 * and its reference count are protected by one mutex (readiness.c, struct bw_readiness).
 *
 * Fail closed: a check that cannot run (file unreadable, store down, catalog query failed or
 * timed out) is `fail`, never `pass`; a snapshot older than BW_READINESS_STALE_MS (the refresher
 * is stuck) is rendered with every control `fail`.
 *
 * Views. Who sees what is decided here, not by the caller:
 *   public    status, and each control's id and status;
 *   org admin the same, except that the org-scoped controls (widgets, keys) are its own org's
 *             and carry `detail` and `values`;
 *   operator  every control with `detail` (text) and `values` (the facts behind the verdict);
 *             the org-scoped ones are platform-wide, with a per-org breakdown.
 * `status` is the worst control of the view. No view carries a secret, a filesystem path, a
 * hostname or address (except the operator's own egress allowlist entries, to the operator
 * only), a database URL or a version string: the controls write only counts, modes, ids, table
 * names, rule ids, times and fixed text. */
#ifndef BW_POSTURE_READINESS_H
#define BW_POSTURE_READINESS_H

#include <stdint.h>

#include "util/err.h"

#define BW_READINESS_REFRESH_MS 2000
#define BW_READINESS_WAIT_MS 100    /* the most a request waits for an on-demand refresh */
#define BW_READINESS_STALE_MS 15000 /* an older snapshot renders every control as fail */

struct bw_config;
struct bw_gateway;
struct bw_readiness;

/* What the controls read. Every pointer is borrowed and must outlive bw_readiness_stop. */
struct bw_readiness_env {
    const struct bw_config *cfg;
    const char *data_dir;    /* holds master.key, ledger/, bulwark.db (SQLite) */
    const char *config_path; /* the config file the gateway loaded */
    struct bw_gateway *gw;   /* policy, ledger, db_path, connect, outbox */
};

enum bw_readiness_view {
    BW_READINESS_PUBLIC = 0,
    BW_READINESS_ORG_ADMIN,
    BW_READINESS_OPERATOR,
};

/* Runs the first refresh on the calling thread (so the first request has a snapshot), then
 * starts the refresher thread. Errors: BW_E_NOMEM, BW_E_INTERNAL (thread). */
bw_err bw_readiness_start(const struct bw_readiness_env *env,
                          struct bw_readiness **out) BW_MUST_CHECK;

/* Stops and joins the refresher (it finishes the check it is in: each is bounded), frees
 * everything. NULL is a no-op. */
void bw_readiness_stop(struct bw_readiness *r);

/* The view as a JSON object (json_t *, new reference; NULL on allocation failure). org_id is
 * the admin's org for BW_READINESS_ORG_ADMIN, else ignored. An authenticated view may wait up
 * to BW_READINESS_WAIT_MS for a fresher snapshot. Thread-safe. */
void *bw_readiness_render(struct bw_readiness *r, enum bw_readiness_view view,
                          const char *org_id) BW_MUST_CHECK;

/* "pass", "warn" or "fail". */
const char *bw_readiness_level_name(int level);

#endif
