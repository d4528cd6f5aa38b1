/* connections.h: sealed secrets, connections and the durable outbox in the store (migration 6;
 * docs/API.md "Connections", docs/SECURITY.md). Written once for both backends on sql.h.
 *
 * Tenant rules as identity.h: every function taking org_id binds it and, on PostgreSQL, runs
 * in a transaction whose tenant is org_id, so another org's row answers BW_E_NOT_FOUND like a
 * missing one; a malformed id is BW_E_NOT_FOUND too. Other errors: BW_E_EXISTS (a name taken
 * in the org), BW_E_INVALID (a CHECK), BW_E_UNAVAILABLE (store failure: deny).
 *
 * Secrets: this layer stores and returns sealed records only (ciphertext, src/vault/seal.h); it
 * never sees a plaintext secret. Listing functions never return the sealed bytes; only
 * bw_store_connection_sealed does, for the code that opens them (verification, delivery).
 * A handle is used by one thread at a time. */
#ifndef BW_STORE_CONNECTIONS_H
#define BW_STORE_CONNECTIONS_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "vault/seal.h"

/* ---- connections and their secrets (store_vault.c) ---- */

struct bw_connection_record {
    char id[BW_ID_SIZE];
    char org_id[BW_ID_SIZE];
    char kind[16]; /* slack | discord | webhook | github | notion */
    char name[64];
    char url[300]; /* display form only: scheme://host[:port] (never a path, query or token) */
    char secret_id[BW_ID_SIZE];
    char status[16]; /* healthy | unhealthy */
    char status_reason[64];
    char fingerprint[BW_VAULT_FINGERPRINT_SIZE + 4];
    int64_t verified_ms; /* last successful or failed verification */
    int64_t created_ms;
    int64_t secret_updated_ms;
    int64_t last_used_ms; /* last time the secret was opened for a call */
};

/* A sealed record as stored, with the metadata written next to it. */
struct bw_sealed_secret {
    const uint8_t *sealed; /* borrowed */
    size_t sealed_len;
    uint8_t master_id[BW_VAULT_MASTER_ID_BYTES];
    char fingerprint[BW_VAULT_FINGERPRINT_SIZE + 4];
};

/* In one transaction: inserts the secret row (id c->secret_id, kind c->kind, name c->name) and
 * the connection row (status healthy, verified at c->verified_ms). BW_E_EXISTS if the name is
 * taken in the org. */
bw_err bw_store_connection_create(struct bw_store *s, const struct bw_connection_record *c,
                                  const struct bw_sealed_secret *sec) BW_MUST_CHECK;

typedef int (*bw_store_connection_fn)(void *arg, const struct bw_connection_record *c);
/* The org's connections by name (at most BW_STORE_LIST_MAX). fn returning non-zero stops. */
bw_err bw_store_connection_list(struct bw_store *s, const char *org_id, bw_store_connection_fn fn,
                                void *arg) BW_MUST_CHECK;
bw_err bw_store_connection_get(struct bw_store *s, const char *org_id, const char *id,
                               struct bw_connection_record *out) BW_MUST_CHECK;

/* The connection and its sealed record, copied into sealed[0..size) (*sealed_len). Marks the
 * secret used at now_ms (last_used_ms). BW_E_TOO_LARGE if size is too small. */
bw_err bw_store_connection_sealed(struct bw_store *s, const char *org_id, const char *id,
                                  int64_t now_ms, struct bw_connection_record *out, uint8_t *sealed,
                                  size_t size, size_t *sealed_len) BW_MUST_CHECK;

/* Replaces the connection's secret (the same secret id: the record must have been sealed for
 * it) and its display URL, and marks the connection healthy, verified at now_ms; the
 * connection's waiting outbox rows become due now. */
bw_err bw_store_connection_replace(struct bw_store *s, const char *org_id, const char *id,
                                   const char *url, const struct bw_sealed_secret *sec,
                                   int64_t now_ms) BW_MUST_CHECK;

/* Records a verification: healthy (reason "") or unhealthy with a reason code. Becoming
 * healthy makes the connection's waiting outbox rows due now. */
bw_err bw_store_connection_status(struct bw_store *s, const char *org_id, const char *id,
                                  int healthy, const char *reason, int64_t now_ms) BW_MUST_CHECK;

/* In one transaction: deletes the connection, its outbox rows (cascade) and its secret. */
bw_err bw_store_connection_delete(struct bw_store *s, const char *org_id,
                                  const char *id) BW_MUST_CHECK;

/* ---- BYOK: the org's own upstream provider key (store_vault.c) ----
 * One `provider` secret per org at most (a unique index). Its last use is not recorded: that
 * would be a write per model call. */

struct bw_provider_key_record {
    char secret_id[BW_ID_SIZE];
    char fingerprint[BW_VAULT_FINGERPRINT_SIZE + 4];
    int64_t created_ms, updated_ms;
};

/* The org's provider key: metadata, and (if sealed is not NULL) the sealed record copied into
 * sealed[0..size) (*sealed_len). BW_E_NOT_FOUND if the org has none, BW_E_TOO_LARGE if size is
 * too small. */
bw_err bw_store_provider_key_get(struct bw_store *s, const char *org_id,
                                 struct bw_provider_key_record *out, uint8_t *sealed, size_t size,
                                 size_t *sealed_len) BW_MUST_CHECK;
/* Stores the org's provider key under secret_id (the id the record was sealed for): inserted,
 * or replacing the record of that id. BW_E_EXISTS if the org has one under another id. */
bw_err bw_store_provider_key_put(struct bw_store *s, const char *org_id, const char *secret_id,
                                 const struct bw_sealed_secret *sec, int64_t now_ms) BW_MUST_CHECK;
/* Deletes it: BW_E_NOT_FOUND if none. */
bw_err bw_store_provider_key_delete(struct bw_store *s, const char *org_id) BW_MUST_CHECK;

/* ---- master key rotation and platform secrets (store_platform.c, migration 7) ----
 * docs/SECURITY.md "Master key rotation". A rotation re-wraps every sealed record; it never
 * sees a plaintext here either (the vault does the re-wrap in locked memory). */

/* One stored record as read for a re-wrap. */
struct bw_secret_blob {
    char id[BW_ID_SIZE];
    uint8_t master_id[BW_VAULT_MASTER_ID_BYTES];
    size_t len;
    uint8_t sealed[BW_VAULT_SEALED_MAX];
};

/* Up to max of the org's sealed records (its secrets and its MCP servers' credentials, migration
 * 10) whose master_id is not master_id, with id > after_id ("" for
 * the first page), in id order (keyset pagination), into rows[0..*n). A tenant read. */
bw_err bw_store_secrets_not_wrapped_by(struct bw_store *s, const char *org_id,
                                       const uint8_t master_id[BW_VAULT_MASTER_ID_BYTES],
                                       const char *after_id, size_t max,
                                       struct bw_secret_blob *rows, size_t *n) BW_MUST_CHECK;

/* One compare-and-swap of a re-wrap: replace record `id` by `sealed` (wrapped by master_id)
 * only if it still holds exactly the bytes `old`. */
struct bw_secret_swap {
    const char *id;
    const uint8_t *old;
    size_t old_len;
    const uint8_t *sealed;
    size_t len;
    const uint8_t *master_id;
};

/* In one transaction of the org's tenant: every swap of v[0..n); *swapped gets how many rows
 * matched (a row replaced or deleted meanwhile through the API is left alone: a later pass
 * sees it again if it still needs a re-wrap). The secret's metadata (updated_ms, fingerprint)
 * does not change: the secret did not. */
bw_err bw_store_secrets_swap(struct bw_store *s, const char *org_id, const struct bw_secret_swap *v,
                             size_t n, size_t *swapped) BW_MUST_CHECK;

#define BW_PLATFORM_ORG "platform" /* the org id a platform record is sealed for (AD only) */
#define BW_PLATFORM_PEPPER_ID "pepper"

/* A platform secret by id into out (its sealed bytes and master id). BW_E_NOT_FOUND if
 * none. Not a tenant read (PostgreSQL: the definer function bulwark_platform_secret_get). */
bw_err bw_store_platform_secret_get(struct bw_store *s, const char *id,
                                    struct bw_secret_blob *out) BW_MUST_CHECK;
/* Inserts it unless one of that id exists: *created = 1 if this call inserted it. */
bw_err bw_store_platform_secret_create(struct bw_store *s, const char *id,
                                       const struct bw_sealed_secret *sec, int64_t now_ms,
                                       int *created) BW_MUST_CHECK;
/* Compare-and-swap as bw_store_secrets_swap, for one platform secret. */
bw_err bw_store_platform_secret_swap(struct bw_store *s, const struct bw_secret_swap *v,
                                     int64_t now_ms, int *swapped) BW_MUST_CHECK;
/* Calls fn with each platform secret's id and master id (gathered first: fn may use the
 * store). At most 1000. */
typedef int (*bw_store_platform_fn)(void *arg, const char *id,
                                    const uint8_t master_id[BW_VAULT_MASTER_ID_BYTES]);
bw_err bw_store_platform_secrets_each(struct bw_store *s, bw_store_platform_fn fn,
                                      void *arg) BW_MUST_CHECK;

/* ---- the outbox (store_outbox.c) ---- */

#define BW_OUTBOX_PAYLOAD_MAX (64 * 1024) /* bytes of one event's data (JSON) */

struct bw_outbox_row {
    char org_id[BW_ID_SIZE];
    char connection_id[BW_ID_SIZE];
    char event_id[64];
    char event_type[64];
    char text[4001];
    char *payload; /* heap, NUL-terminated JSON object text; owned by whoever filled the row */
    int64_t event_ms;
    int64_t attempts;
    int64_t next_attempt_ms;
    char state[16]; /* pending | delivered | failed | dead */
    char last_error[64];
    int64_t delivered_ms;
};

/* Queues one event for every delivery connection (slack, discord, webhook) of the org, healthy
 * or not, in one transaction; *queued (may be NULL) gets the number of rows made. An event id
 * already queued for a connection is not queued again (the primary key). payload is a JSON
 * object's text, at most BW_OUTBOX_PAYLOAD_MAX bytes. */
bw_err bw_store_outbox_enqueue(struct bw_store *s, const char *org_id, const char *event_id,
                               const char *type, const char *text, const char *payload,
                               int64_t event_ms, int64_t now_ms, int64_t *queued) BW_MUST_CHECK;

/* Calls fn with each org id that has a row due (pending or failed, next_attempt_ms <= now_ms):
 * not a tenant read (PostgreSQL: the definer function bulwark_outbox_due_orgs, ids only). The
 * ids are gathered first, so fn may use the store. */
typedef int (*bw_store_org_id_fn)(void *arg, const char *org_id);
bw_err bw_store_outbox_due_orgs(struct bw_store *s, int64_t now_ms, bw_store_org_id_fn fn,
                                void *arg) BW_MUST_CHECK;

/* Up to max due rows of the org, oldest schedule first, into rows[0..*n) (payloads on the
 * heap: release with bw_outbox_rows_free). */
bw_err bw_store_outbox_due(struct bw_store *s, const char *org_id, int64_t now_ms, size_t max,
                           struct bw_outbox_row *rows, size_t *n) BW_MUST_CHECK;
void bw_outbox_rows_free(struct bw_outbox_row *rows, size_t n);

/* Claims a due row for one attempt: attempts + 1 and next_attempt_ms = lease_until_ms, only
 * if the row is still as read (state, attempts, next_attempt_ms): another replica that claimed
 * it first wins. *claimed is 1 if this caller holds it. A holder that dies leaves the row due
 * again at lease_until_ms. */
bw_err bw_store_outbox_claim(struct bw_store *s, const struct bw_outbox_row *r,
                             int64_t lease_until_ms, int *claimed) BW_MUST_CHECK;

/* Records the attempt's outcome: state delivered (delivered_ms = now_ms), failed (retry at
 * next_ms) or dead; last_error is a short class ("" on success). */
bw_err bw_store_outbox_finish(struct bw_store *s, const struct bw_outbox_row *r, const char *state,
                              int64_t next_ms, const char *last_error,
                              int64_t now_ms) BW_MUST_CHECK;

/* Counts of the connection's rows by state (for the API). */
struct bw_outbox_counts {
    int64_t pending, failed, delivered, dead;
};
bw_err bw_store_outbox_counts(struct bw_store *s, const char *org_id, const char *connection_id,
                              struct bw_outbox_counts *out) BW_MUST_CHECK;
/* Counts of all the org's rows by state (tenant-scoped; for the metrics gauges). */
bw_err bw_store_outbox_org_counts(struct bw_store *s, const char *org_id,
                                  struct bw_outbox_counts *out) BW_MUST_CHECK;

#endif
