/* isolation.h: what the store tells readiness (src/posture/) about tenant isolation on
 * PostgreSQL, read live from pg_catalog through the handle's own connection, so it is the
 * runtime role's view: a table the runtime role owns, or a role that bypasses RLS, shows here
 * exactly as the gateway's queries would meet it. */
#ifndef BW_STORE_ISOLATION_H
#define BW_STORE_ISOLATION_H

#include <stddef.h>

#include "store/store.h"
#include "util/err.h"

#define BW_ISOLATION_MAX_LISTED 16 /* table names kept per finding */
#define BW_ISOLATION_NAME 64

struct bw_store_isolation {
    size_t tables;     /* ordinary and partitioned tables in the current schema */
    size_t rls_off;    /* of which without ENABLE ROW LEVEL SECURITY */
    size_t not_forced; /* of which without FORCE ROW LEVEL SECURITY */
    size_t owned;      /* of which the runtime role owns (or is a member of the owner) */
    int superuser;     /* the runtime role is a superuser */
    int bypassrls;     /* the runtime role has BYPASSRLS */
    char role_found;   /* 1: the role's pg_roles row was read */
    /* the first tables of each finding, by name */
    char rls_off_names[BW_ISOLATION_MAX_LISTED][BW_ISOLATION_NAME];
    char not_forced_names[BW_ISOLATION_MAX_LISTED][BW_ISOLATION_NAME];
    char owned_names[BW_ISOLATION_MAX_LISTED][BW_ISOLATION_NAME];
};

/* Reads the catalog (PostgreSQL only: BW_E_INVALID on SQLite). Each statement runs with a
 * transaction-local statement_timeout of timeout_ms. Errors: BW_E_UNAVAILABLE (server down,
 * timeout). The caller treats any error as a failed check. */
bw_err bw_store_isolation_read(struct bw_store *s, int timeout_ms,
                               struct bw_store_isolation *out) BW_MUST_CHECK;

/* Bounds every later statement of this handle's session (PostgreSQL: statement_timeout and
 * lock_timeout, session-level; SQLite: no-op, its busy timeout already bounds a wait): for a
 * background reader that must not wait behind a long lock (an ALTER TABLE in an open
 * transaction) or a slow query. It does not bound a server that stops answering at all. */
bw_err bw_store_session_timeout(struct bw_store *s, int timeout_ms) BW_MUST_CHECK;

#endif
