/* store.h: the persistent store's interface (orgs, API keys), with two backends:
 *   SQLite (embedded default): a file path; WAL, so readers never block the writer; every
 *     tenant statement binds org_id.
 *   PostgreSQL (scale-out, many gateway replicas): a "postgres://" or "postgresql://" URL; the
 *     connecting role is the runtime role (owns nothing, no BYPASSRLS), every tenant table has
 *     forced row-level security, and each transaction sets its tenant with
 *     set_config('app.org_id', $1, true). Migrations are applied by the owner role
 *     (the files in src/store/pg/; scripts/pg-test.sh shows how), not by the gateway.
 * Every statement is parameterized. A handle is used by one thread at a time: each event-loop
 * worker opens its own. */
#ifndef BW_STORE_STORE_H
#define BW_STORE_STORE_H

#include <stdint.h>

#include "util/err.h"

#define BW_ID_SIZE 40

struct bw_store;

struct bw_key_record {
    char id[BW_ID_SIZE];
    char org_id[BW_ID_SIZE]; /* "" for an operator key (outside every org) */
    char org_name[64];
    char role[16];  /* owner | admin | reviewer | member | agent | operator */
    char agent[64]; /* optional agent name the key is bound to ("" = none) */
    char name[64];  /* a label chosen by its creator ("" = none) */
    /* The key's accountable principal, fixed at creation and never changed: the member id of
     * the person it belongs to, or "operator" (operator keys, and org keys the operator made
     * on the host for no member). Four eyes, quorums and readiness count these, not keys. */
    char member_id[BW_ID_SIZE];
    char created_by[BW_ID_SIZE]; /* key id of the creator, "cli", or "" */
    char rotated_to[BW_ID_SIZE]; /* the replacing key's id after a rotation */
    uint8_t hash[32];
    int64_t created_ms;
    int64_t expires_ms;   /* 0 = never; a rotated key's grace period ends here */
    int64_t revoked_ms;   /* 0 = active */
    int64_t last_used_ms; /* 0 = never (listing only) */
};

/* Opens the SQLite database at path (create=1: creates it, failing with BW_E_EXISTS if the file
 * exists) with WAL, foreign keys and a busy timeout, and applies pending migrations. */
bw_err bw_store_open_sqlite(const char *path, int create, struct bw_store **out) BW_MUST_CHECK;

/* Opens `where`: a PostgreSQL URL (the schema must exist: BW_E_UNAVAILABLE otherwise, and if
 * the server is unreachable) or else a SQLite path as bw_store_open_sqlite (create ignored for
 * PostgreSQL). */
bw_err bw_store_open(const char *where, int create, struct bw_store **out) BW_MUST_CHECK;

/* 1 if `where` names a PostgreSQL database. */
int bw_store_is_postgres(const char *where) BW_MUST_CHECK;
void bw_store_close(struct bw_store *s); /* NULL is a no-op */

/* A cheap liveness check (the health prober's, src/posture/health.h): PostgreSQL "SELECT 1",
 * reconnecting first if the connection is broken (bounded by the connect timeout); SQLite a
 * read of the schema page. BW_OK or BW_E_UNAVAILABLE. Never logs. */
bw_err bw_store_ping(struct bw_store *s) BW_MUST_CHECK;

/* Schema version after migrations. */
int bw_store_schema_version(struct bw_store *s) BW_MUST_CHECK;

/* Creates an org; writes its new id ("org_<16 hex>"). BW_E_EXISTS if the name is taken. */
bw_err bw_store_org_create(struct bw_store *s, const char *name, char id[BW_ID_SIZE]) BW_MUST_CHECK;

/* Inserts a key record (id, org_id, role, agent, name, member_id, created_by, hash,
 * created/expires set by the caller). role "operator" (org_id "") goes to the operator keys,
 * which no tenant can see; on PostgreSQL only the owner role may write them. */
bw_err bw_store_key_insert(struct bw_store *s, const struct bw_key_record *k) BW_MUST_CHECK;

/* Looks up a key (org or operator) by its keyed hash, with its org's name. BW_E_NOT_FOUND if
 * none. The caller still compares hashes in constant time and checks revoked/expired. This is
 * the one read that crosses tenants (the key is the capability; on PostgreSQL it goes through
 * the SECURITY DEFINER function bulwark_key_lookup). */
bw_err bw_store_key_by_hash(struct bw_store *s, const uint8_t hash[32],
                            struct bw_key_record *out) BW_MUST_CHECK;

/* For a handle that only writes data recoverable from elsewhere (metering rows, whose usage the
 * outcome receipts also hold): commits stop waiting for fsync (SQLite WAL synchronous=NORMAL:
 * still atomic and consistent, the last commits may be lost on power failure). PostgreSQL:
 * no-op. */
void bw_store_relax_durability(struct bw_store *s);

/* Groups the following writes into one transaction (one fsync): for batched metering. Only
 * bw_store_usage_insert and bw_store_key_touch may run inside it (each sets its own tenant). */
bw_err bw_store_tx_begin(struct bw_store *s) BW_MUST_CHECK;
bw_err bw_store_tx_commit(struct bw_store *s) BW_MUST_CHECK;
void bw_store_tx_rollback(struct bw_store *s);

/* New random id "<prefix>_<16 hex>" (prefix up to 8 chars). */
void bw_store_new_id(const char *prefix, char id[BW_ID_SIZE]);

/* ---- Spend: usage metering and billing state (store_billing.c, migration 2, SPEND.md) ----
 * Tenant-facing reads bind org_id. bw_store_usage_month_totals and the billing-event functions
 * are not tenant reads: they serve startup restore and the signed billing webhook. */

struct bw_usage_record {
    char id[BW_ID_SIZE]; /* "" = generate ("use_<16 hex>") */
    char org_id[BW_ID_SIZE];
    char agent[64];
    char key_id[BW_ID_SIZE];
    char model[128];
    int64_t prompt_tokens, completion_tokens, total_tokens, cost_micros;
    char status[32]; /* outcome status: ok | upstream_error | ... */
    int estimated;   /* 1: the upstream reported no usage; the gateway counted (SPEND.md) */
    int64_t started_ms, ended_ms;
    int32_t month; /* budget month of the reservation (bw_limits_month_of(started_ms)) */
    char receipt_id[32];
};

/* Inserts one usage row (one model call). Errors: BW_E_INVALID (negative counts, empty
 * org/model), BW_E_EXISTS, BW_E_UNAVAILABLE. */
bw_err bw_store_usage_insert(struct bw_store *s, const struct bw_usage_record *u) BW_MUST_CHECK;
/* rows[0..n) inside a transaction (bw_store_tx_begin), each under its own org: on PostgreSQL
 * one statement per org per batch (unnest of column arrays), on SQLite row by row. All rows are
 * checked first: one invalid row writes none (BW_E_INVALID). */
bw_err bw_store_usage_insert_many(struct bw_store *s, const struct bw_usage_record *rows,
                                  size_t n) BW_MUST_CHECK;

/* Calls fn once per (org_id, agent) with that month's settled tokens and cost, agent "" being
 * the org's total. For restoring budgets at start. fn returning non-zero stops (BW_E_INTERNAL). */
typedef int (*bw_store_usage_total_fn)(void *arg, const char *org_id, const char *agent,
                                       int64_t tokens, int64_t cost_micros);
bw_err bw_store_usage_month_totals(struct bw_store *s, int32_t month, bw_store_usage_total_fn fn,
                                   void *arg) BW_MUST_CHECK;

/* One org's settled tokens and cost in a month (0, 0 if none). */
bw_err bw_store_usage_month_org(struct bw_store *s, const char *org_id, int32_t month,
                                int64_t *tokens, int64_t *cost_micros) BW_MUST_CHECK;

enum bw_usage_group { BW_USAGE_BY_NONE, BW_USAGE_BY_MODEL, BW_USAGE_BY_AGENT, BW_USAGE_BY_DAY };

struct bw_usage_row {
    const char *group; /* model, agent, "YYYY-MM-DD" (UTC), or "" for NONE */
    int64_t calls, prompt_tokens, completion_tokens, total_tokens, cost_micros;
};
/* Aggregates org_id's usage with from_ms <= started_ms < to_ms, ordered by group. fn is called
 * per row (row strings valid during the call); non-zero stops with BW_E_INTERNAL. At most
 * max_rows rows (BW_E_TOO_LARGE after). */
typedef int (*bw_store_usage_row_fn)(void *arg, const struct bw_usage_row *row);
bw_err bw_store_usage_query(struct bw_store *s, const char *org_id, int64_t from_ms, int64_t to_ms,
                            enum bw_usage_group group, size_t max_rows, bw_store_usage_row_fn fn,
                            void *arg) BW_MUST_CHECK;

struct bw_billing_state {
    char org_id[BW_ID_SIZE];
    char plan[32];
    int64_t monthly_tokens, monthly_cost_micros; /* -1 = unlimited */
    int64_t event_created; /* the provider's `created` of the event that set this state */
    char event_id[128];
    int64_t updated_ms;
};

/* The org's billing state. BW_E_NOT_FOUND if no event ever set one. */
bw_err bw_store_billing_get(struct bw_store *s, const char *org_id,
                            struct bw_billing_state *out) BW_MUST_CHECK;

/* Whether a billing event id was already recorded: BW_OK (seen; its outcome copied into
 * outcome[16]) or BW_E_NOT_FOUND. */
bw_err bw_store_billing_event_seen(struct bw_store *s, const char *event_id,
                                   char outcome[16]) BW_MUST_CHECK;

struct bw_billing_event {
    const char *event_id; /* scheme-qualified: "stripe:evt_..", "standard:msg_.." */
    const char *org_id;   /* "" if none */
    const char *type;
    int64_t created;
    const char *receipt_id;
};

enum bw_billing_outcome {
    BW_BILLING_APPLIED,
    BW_BILLING_DUPLICATE, /* the event id was already recorded: nothing written */
    BW_BILLING_STALE,     /* older than the org's state: recorded, state unchanged */
    BW_BILLING_IGNORED,   /* state == NULL: recorded only */
};

/* In one IMMEDIATE transaction: if the event id is recorded, nothing (DUPLICATE); else if state
 * is given and the org's current event_created is newer than ev->created, record it as stale;
 * else upsert state and record the event as applied. Ties apply (the later delivery wins).
 * Errors: BW_E_UNAVAILABLE (rolled back: nothing written). */
bw_err bw_store_billing_apply(struct bw_store *s, const struct bw_billing_event *ev,
                              const struct bw_billing_state *state,
                              enum bw_billing_outcome *outcome) BW_MUST_CHECK;

/* The id of the org called name. BW_E_NOT_FOUND if none. */
bw_err bw_store_org_by_name(struct bw_store *s, const char *name,
                            char id[BW_ID_SIZE]) BW_MUST_CHECK;

/* Calls fn for every org (id, name); for startup restore. */
typedef int (*bw_store_org_fn)(void *arg, const char *id, const char *name);
bw_err bw_store_orgs_each(struct bw_store *s, bw_store_org_fn fn, void *arg) BW_MUST_CHECK;

#endif
