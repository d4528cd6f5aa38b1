/* store_pg.c: the PostgreSQL backend (libpq). The connecting role is the runtime role: it owns
 * nothing and cannot bypass row-level security, so every tenant statement runs in a
 * transaction that first sets the tenant with set_config('app.org_id', $1, true) — transaction
 * local, never session level, so nothing leaks to the connection's next user. Authentication
 * looks a key up through the bulwark_key_lookup() function, the one path that crosses tenants
 * (src/store/pg/0001_init.sql says why).
 *
 * Calls are synchronous on the calling thread; the gateway's key cache keeps them off the hot
 * path. Every statement is parameterized. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_internal.h"
#include "util/log.h"

#define SQLSTATE_UNIQUE_VIOLATION "23505"

/* Logs the server's message (it never contains parameter values for our statements' errors,
 * which name constraints, not data) and maps the failure. */
static bw_err pg_failed(struct bw_store *s, PGresult *r, const char *what) {
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (state && strcmp(state, SQLSTATE_UNIQUE_VIOLATION) == 0)
        return BW_E_EXISTS;
    bw_error("store: postgres: %s failed: %s", what, PQerrorMessage(s->pg));
    if (PQstatus(s->pg) == CONNECTION_BAD)
        PQreset(s->pg); /* the next call may succeed; this one is already denied */
    return BW_E_UNAVAILABLE;
}

static bw_err simple(struct bw_store *s, const char *sql) {
    PGresult *r = PQexec(s->pg, sql);
    bw_err e = PQresultStatus(r) == PGRES_COMMAND_OK ? BW_OK : pg_failed(s, r, sql);
    PQclear(r);
    return e;
}

bw_err bw_store_pg_open(const char *conninfo, struct bw_store *s) {
    s->kind = BW_STORE_POSTGRES;
    s->pg = PQconnectdb(conninfo);
    if (!s->pg || PQstatus(s->pg) != CONNECTION_OK) {
        /* libpq's message may echo the URL's host and user but never its password. */
        bw_error("store: cannot connect to PostgreSQL: %s", s->pg ? PQerrorMessage(s->pg) : "");
        return BW_E_UNAVAILABLE;
    }
    PGresult *r = PQexec(s->pg, "SELECT to_regprocedure('bulwark_key_lookup(bytea)') IS NOT NULL");
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
             strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (!ok) {
        bw_error("store: the Bulwark schema is missing: apply the migrations in src/store/pg as "
                 "the owner role");
        return BW_E_UNAVAILABLE;
    }
    s->version = 1;
    return BW_OK;
}

void bw_store_pg_close(struct bw_store *s) {
    if (s->pg)
        PQfinish(s->pg);
    s->pg = NULL;
}

/* Runs one tenant-scoped write in its own transaction with app.org_id set. */
static bw_err tenant_exec(struct bw_store *s, const char *org_id, const char *sql, int n,
                          const char *const *vals, const int *lens, const int *fmts) {
    BW_TRY(simple(s, "BEGIN"));
    const char *tenant[1] = {org_id};
    PGresult *r = PQexecParams(s->pg, "SELECT set_config('app.org_id', $1, true)", 1, NULL, tenant,
                               NULL, NULL, 0);
    bw_err e = PQresultStatus(r) == PGRES_TUPLES_OK ? BW_OK : pg_failed(s, r, "set tenant");
    PQclear(r);
    if (e == BW_OK) {
        r = PQexecParams(s->pg, sql, n, NULL, vals, lens, fmts, 0);
        e = PQresultStatus(r) == PGRES_COMMAND_OK ? BW_OK : pg_failed(s, r, "write");
        PQclear(r);
    }
    if (e != BW_OK) {
        (void)simple(s, "ROLLBACK");
        return e;
    }
    return simple(s, "COMMIT");
}

bw_err bw_store_pg_org_create(struct bw_store *s, const char *id, const char *name) {
    const char *vals[2] = {id, name};
    return tenant_exec(s, id,
                       "INSERT INTO orgs(id, name, created_ms)"
                       " VALUES ($1, $2, (extract(epoch from clock_timestamp()) * 1000)::bigint)",
                       2, vals, NULL, NULL);
}

bw_err bw_store_pg_key_insert(struct bw_store *s, const struct bw_key_record *k) {
    char created[24], expires[24];
    snprintf(created, sizeof created, "%lld", (long long)k->created_ms);
    snprintf(expires, sizeof expires, "%lld", (long long)k->expires_ms);
    const char *vals[7] = {k->id,   k->org_id, k->role, k->agent, (const char *)k->hash,
                           created, expires};
    int lens[7] = {0, 0, 0, 0, 32, 0, 0};
    int fmts[7] = {0, 0, 0, 0, 1, 0, 0}; /* the hash goes as binary bytea */
    return tenant_exec(s, k->org_id,
                       "INSERT INTO api_keys(id, org_id, role, agent, hash, created_ms,"
                       " expires_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                       7, vals, lens, fmts);
}

static void copy_field(PGresult *r, int col, char *out, size_t size) {
    snprintf(out, size, "%s", PQgetisnull(r, 0, col) ? "" : PQgetvalue(r, 0, col));
}

static int64_t int_field(PGresult *r, int col) {
    return strtoll(PQgetvalue(r, 0, col), NULL, 10);
}

bw_err bw_store_pg_key_by_hash(struct bw_store *s, const uint8_t hash[32],
                               struct bw_key_record *out) {
    const char *vals[1] = {(const char *)hash};
    int lens[1] = {32}, fmts[1] = {1};
    PGresult *r = PQexecParams(s->pg,
                               "SELECT id, org_id, org_name, role, agent, encode(hash, 'hex'),"
                               " created_ms, expires_ms, revoked_ms FROM bulwark_key_lookup($1)",
                               1, NULL, vals, lens, fmts, 0);
    bw_err e = BW_OK;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        e = pg_failed(s, r, "key lookup");
    } else if (PQntuples(r) == 0) {
        e = BW_E_NOT_FOUND;
    } else {
        struct bw_key_record k;
        memset(&k, 0, sizeof k);
        copy_field(r, 0, k.id, sizeof k.id);
        copy_field(r, 1, k.org_id, sizeof k.org_id);
        copy_field(r, 2, k.org_name, sizeof k.org_name);
        copy_field(r, 3, k.role, sizeof k.role);
        copy_field(r, 4, k.agent, sizeof k.agent);
        const char *hex = PQgetvalue(r, 0, 5);
        if (sodium_hex2bin(k.hash, 32, hex, strlen(hex), NULL, NULL, NULL) != 0) {
            e = BW_E_UNAVAILABLE;
        } else {
            k.created_ms = int_field(r, 6);
            k.expires_ms = int_field(r, 7);
            k.revoked_ms = int_field(r, 8);
            *out = k;
        }
    }
    PQclear(r);
    return e;
}
