/* store_pg.c: the PostgreSQL backend (libpq). The connecting role is the runtime role: it owns
 * nothing and cannot bypass row-level security, so every tenant statement runs in a
 * transaction that first sets the tenant with set_config('app.org_id', $1, true) — transaction
 * local, never session level, so nothing leaks to the connection's next user. Authentication
 * looks a key up through the bulwark_key_lookup() function, the one path that crosses tenants
 * (src/store/pg/0001_init.sql says why).
 *
 * Statements run through sql.h (one code path for both backends); this file only connects
 * and checks the schema version. Calls are synchronous on the calling thread; the gateway's key
 * cache keeps them off the hot path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_internal.h"
#include "store/store_migrations.h"
#include "util/log.h"
#include "util/time.h"

bw_err bw_store_pg_open(const char *conninfo, struct bw_store *s) {
    s->kind = BW_STORE_POSTGRES;
    /* A connect timeout unless the URL sets its own (later keywords win, so the URL's comes
     * second): without one, a reconnect to an unreachable host (PQreset after a failure) would
     * hold the calling worker for the kernel's TCP timeout, minutes. */
    /* tcp_user_timeout and keepalives: a server that vanishes from the network (no RST) fails a
     * statement in seconds instead of the kernel's retransmission timeout (TCP only). */
    static const char *const keys[] = {"connect_timeout",
                                       "tcp_user_timeout",
                                       "keepalives_idle",
                                       "keepalives_interval",
                                       "keepalives_count",
                                       "dbname",
                                       NULL};
    const char *vals[] = {"3", "10000", "5", "2", "3", conninfo, NULL};
    s->pg = PQconnectdbParams(keys, vals, 1);
    if (!s->pg || PQstatus(s->pg) != CONNECTION_OK) {
        /* libpq's message may echo the URL's host and user but never its password. */
        bw_error("store: cannot connect to PostgreSQL: %s", s->pg ? PQerrorMessage(s->pg) : "");
        return BW_E_UNAVAILABLE;
    }
    /* The owner role applies src/store/pg/NNNN_*.sql; each records its number. A schema behind
     * this build (or ahead of it) is refused rather than half-used. */
    int version = 0;
    PGresult *r = PQexec(s->pg, "SELECT to_regclass('bulwark_schema') IS NOT NULL");
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    int present = ok && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (present) {
        r = PQexec(s->pg, "SELECT coalesce(max(version), 0) FROM bulwark_schema");
        ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
        version = ok ? (int)strtol(PQgetvalue(r, 0, 0), NULL, 10) : -1;
        PQclear(r);
    }
    int want = bw_store_migrations[bw_store_n_migrations - 1].version;
    if (version != want) {
        bw_error("store: the PostgreSQL schema is at version %d, this build needs %d: apply the "
                 "migrations in src/store/pg as the owner role",
                 version < 0 ? 0 : version, want);
        return BW_E_UNAVAILABLE;
    }
    s->version = version;
    return BW_OK;
}

int bw_store_pg_usable(struct bw_store *s) {
    if (PQstatus(s->pg) == CONNECTION_OK)
        return 1;
    int64_t now = bw_now_ms();
    if (now < s->reconnect_after_ms)
        return 0;
    PQreset(s->pg); /* bounded by connect_timeout */
    if (PQstatus(s->pg) == CONNECTION_OK)
        return 1;
    s->reconnect_after_ms = now + 1000;
    return 0;
}

void bw_store_pg_close(struct bw_store *s) {
    if (s->pg)
        PQfinish(s->pg);
    s->pg = NULL;
}
