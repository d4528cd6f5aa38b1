/* identity.h: orgs, keys, members, agents, widget transcripts and confirm plans in the store
 * (migration 3; docs/ACCESS.md). Written once for both backends on top of sql.h.
 *
 * Every function taking org_id is tenant-scoped: it binds org_id in its SQL and, on
 * PostgreSQL, runs in a transaction whose tenant is org_id, so row-level security hides every
 * other org. An id of another org therefore answers BW_E_NOT_FOUND, exactly like an id that
 * does not exist. A malformed id (not "<prefix>_<16 hex>") is BW_E_NOT_FOUND too: a forged id
 * is not worth a different answer. Errors otherwise: BW_E_EXISTS (a name taken in this org),
 * BW_E_INVALID (a field out of its CHECK), BW_E_UNAVAILABLE (store failure: deny).
 * Strings in records are NUL-terminated and truncated to their fields. Callers validate
 * lengths and UTF-8 first (the API does: ACCESS.md lists the limits). */
#ifndef BW_STORE_IDENTITY_H
#define BW_STORE_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* Listings return at most this many rows (newest first where time-ordered). */
#define BW_STORE_LIST_MAX 1000

/* ---- orgs ---- */

struct bw_org_record {
    char id[BW_ID_SIZE];
    char name[64];
    int64_t created_ms;
};
bw_err bw_store_org_get(struct bw_store *s, const char *org_id,
                        struct bw_org_record *out) BW_MUST_CHECK;

/* Row counts of what deleting the org would remove (the dry-run plan). */
struct bw_org_counts {
    int64_t keys, members, agents, transcripts, usage;
};
bw_err bw_store_org_counts(struct bw_store *s, const char *org_id,
                           struct bw_org_counts *out) BW_MUST_CHECK;
/* Deletes the org and, by cascade, everything it owns. */
bw_err bw_store_org_delete(struct bw_store *s, const char *org_id) BW_MUST_CHECK;

/* ---- keys ---- */

typedef int (*bw_store_key_fn)(void *arg, const struct bw_key_record *k); /* hash zeroed */
/* The org's keys, newest first; include_revoked 0 hides revoked ones. */
bw_err bw_store_key_list(struct bw_store *s, const char *org_id, int include_revoked,
                         bw_store_key_fn fn, void *arg) BW_MUST_CHECK;
bw_err bw_store_key_get(struct bw_store *s, const char *org_id, const char *key_id,
                        struct bw_key_record *out) BW_MUST_CHECK; /* hash zeroed */
/* Revokes an active key: BW_E_NOT_FOUND if none, BW_E_EXISTS if already revoked. */
bw_err bw_store_key_revoke(struct bw_store *s, const char *org_id, const char *key_id,
                           int64_t now_ms) BW_MUST_CHECK;
/* Revokes every active key of the org; *count gets how many. */
bw_err bw_store_key_revoke_all(struct bw_store *s, const char *org_id, int64_t now_ms,
                               int64_t *count) BW_MUST_CHECK;
/* Active, unrevoked keys of the org (the revoke-all dry-run count). */
bw_err bw_store_key_count_active(struct bw_store *s, const char *org_id, int64_t now_ms,
                                 int64_t *count) BW_MUST_CHECK;
/* In one transaction: inserts `fresh` and ends the old key's life at grace_until_ms (its
 * expiry becomes the earlier of its own and grace_until_ms; rotated_to = fresh->id).
 * BW_E_NOT_FOUND if old is not an active key of the org (revoked, expired, already rotated) or
 * fresh does not keep its principal (member_id: a rotation never moves a key to another person). */
bw_err bw_store_key_rotate(struct bw_store *s, const char *org_id, const char *old_id,
                           const struct bw_key_record *fresh, int64_t grace_until_ms,
                           int64_t now_ms) BW_MUST_CHECK;
/* Records use (last_used_ms only moves forward). Also inside a bw_store_tx_begin batch (the
 * metering thread), under the key's org. */
bw_err bw_store_key_touch(struct bw_store *s, const char *org_id, const char *key_id,
                          int64_t now_ms) BW_MUST_CHECK;

/* ---- operator keys (docs/ACCESS.md "Operator keys"; store_operator_keys.c) ----
 * Outside every org: records have org_id "" and role "operator". Not tenant reads: on
 * PostgreSQL no tenant sees the table and these go through the definer functions of
 * src/store/pg/0008_principals.sql. Callers are the operator's own API routes and the CLI. */

/* Every operator key, newest first (include_revoked 0 hides revoked ones); hash zeroed. */
bw_err bw_store_operator_key_list(struct bw_store *s, int include_revoked, bw_store_key_fn fn,
                                  void *arg) BW_MUST_CHECK;
bw_err bw_store_operator_key_get(struct bw_store *s, const char *key_id,
                                 struct bw_key_record *out) BW_MUST_CHECK;
/* Revokes an unrevoked operator key: BW_E_NOT_FOUND if none. keep_one: refuse (BW_E_DENIED)
 * when no other live operator key would remain, atomically against concurrent revocations. */
bw_err bw_store_operator_key_revoke(struct bw_store *s, const char *key_id, int64_t now_ms,
                                    int keep_one) BW_MUST_CHECK;
/* As bw_store_key_rotate, for operator keys (fresh->role "operator", org_id ""). */
bw_err bw_store_operator_key_rotate(struct bw_store *s, const char *old_id,
                                    const struct bw_key_record *fresh, int64_t grace_until_ms,
                                    int64_t now_ms) BW_MUST_CHECK;
/* Records the key's use (last_used_ms only moves forward). */
bw_err bw_store_operator_key_touch(struct bw_store *s, const char *key_id,
                                   int64_t now_ms) BW_MUST_CHECK;

/* ---- members ---- */

struct bw_member_record {
    char id[BW_ID_SIZE];
    char org_id[BW_ID_SIZE];
    char email[256];
    char role[16]; /* owner | admin | reviewer | member */
    int64_t created_ms;
};
bw_err bw_store_member_insert(struct bw_store *s, const struct bw_member_record *m) BW_MUST_CHECK;
typedef int (*bw_store_member_fn)(void *arg, const struct bw_member_record *m);
bw_err bw_store_member_list(struct bw_store *s, const char *org_id, bw_store_member_fn fn,
                            void *arg) BW_MUST_CHECK;
bw_err bw_store_member_get(struct bw_store *s, const char *org_id, const char *member_id,
                           struct bw_member_record *out) BW_MUST_CHECK;
/* Deletes the member and revokes the keys they hold (one transaction); *keys_revoked may be
 * NULL. */
bw_err bw_store_member_delete(struct bw_store *s, const char *org_id, const char *member_id,
                              int64_t now_ms, int64_t *keys_revoked) BW_MUST_CHECK;

/* ---- agents and their widget ---- */

#define BW_WIDGET_KEY_PREFIX "bwp_"
#define BW_WIDGET_KEY_SIZE 48 /* "bwp_" + 43 base64url characters + NUL */

struct bw_agent_record {
    char id[BW_ID_SIZE];
    char org_id[BW_ID_SIZE];
    char org_name[64];
    char name[64];
    char description[256];
    char model[128];
    int widget_enabled;
    char widget_key[BW_WIDGET_KEY_SIZE]; /* "" until the widget is first enabled */
    char widget_origins[1024];           /* space-separated origins allowed by CORS */
    int64_t created_ms;
};
bw_err bw_store_agent_insert(struct bw_store *s, const struct bw_agent_record *a) BW_MUST_CHECK;
typedef int (*bw_store_agent_fn)(void *arg, const struct bw_agent_record *a);
bw_err bw_store_agent_list(struct bw_store *s, const char *org_id, bw_store_agent_fn fn,
                           void *arg) BW_MUST_CHECK;
bw_err bw_store_agent_get(struct bw_store *s, const char *org_id, const char *agent_id,
                          struct bw_agent_record *out) BW_MUST_CHECK;
bw_err bw_store_agent_by_name(struct bw_store *s, const char *org_id, const char *name,
                              struct bw_agent_record *out) BW_MUST_CHECK;
/* Writes description, model and the widget fields of a (matched by org_id and id). */
bw_err bw_store_agent_update(struct bw_store *s, const struct bw_agent_record *a) BW_MUST_CHECK;
/* Row counts the delete would remove (transcripts) and keys bound to the agent's name. */
bw_err bw_store_agent_counts(struct bw_store *s, const char *org_id, const char *agent_id,
                             int64_t *transcripts, int64_t *keys) BW_MUST_CHECK;
/* Unrevoked keys bound to the agent's name (deleting it would revoke them) that have this role
 * or whose principal is a member with this role, other than except_principal's own keys. */
bw_err bw_store_agent_bound_keys(struct bw_store *s, const char *org_id, const char *agent_id,
                                 const char *role, const char *except_principal,
                                 int64_t *count) BW_MUST_CHECK;
/* Deletes the agent and its transcripts; revokes keys bound to its name. */
bw_err bw_store_agent_delete(struct bw_store *s, const char *org_id, const char *agent_id,
                             int64_t now_ms) BW_MUST_CHECK;
/* The agent whose widget key this is (enabled or not: the caller checks), across orgs: the
 * public widget endpoint's one cross-tenant read (on PostgreSQL the SECURITY DEFINER function
 * bulwark_widget_lookup). BW_E_NOT_FOUND if none. */
bw_err bw_store_agent_by_widget_key(struct bw_store *s, const char *widget_key,
                                    struct bw_agent_record *out) BW_MUST_CHECK;

/* ---- transcripts ---- */

struct bw_transcript_record {
    char id[BW_ID_SIZE];
    char org_id[BW_ID_SIZE];
    char agent_id[BW_ID_SIZE];
    char conversation[BW_ID_SIZE];
    char role[16];       /* user | assistant */
    const char *content; /* borrowed (insert) or valid during the callback (list) */
    char receipt_id[32];
    int64_t created_ms;
};
bw_err bw_store_transcript_insert(struct bw_store *s,
                                  const struct bw_transcript_record *t) BW_MUST_CHECK;
typedef int (*bw_store_transcript_fn)(void *arg, const struct bw_transcript_record *t);
/* The org's transcript messages, oldest first, optionally of one agent and/or conversation
 * ("" = any), created before before_ms (0 = now), at most limit. */
bw_err bw_store_transcript_list(struct bw_store *s, const char *org_id, const char *agent_id,
                                const char *conversation, int64_t before_ms, size_t limit,
                                bw_store_transcript_fn fn, void *arg) BW_MUST_CHECK;
/* Messages created before before_ms (optionally of one agent): counts (dry run) or deletes. */
bw_err bw_store_transcript_purge(struct bw_store *s, const char *org_id, const char *agent_id,
                                 int64_t before_ms, int dry_run, int64_t *count) BW_MUST_CHECK;

/* ---- plans: confirm tokens of destructive actions ---- */

struct bw_plan_record {
    char id[BW_ID_SIZE];
    char org_id[BW_ID_SIZE];
    char action[32];
    char target[BW_ID_SIZE * 2];
    uint8_t plan_sha256[32];
    uint8_t token_hash[32];
    char created_by[BW_ID_SIZE];
    int64_t created_ms, expires_ms, used_ms;
    char review_id[BW_ID_SIZE]; /* the review item a second admin must approve, or "" */
};
bw_err bw_store_plan_insert(struct bw_store *s, const struct bw_plan_record *p) BW_MUST_CHECK;
/* The unexpired, unused plan of the org with this token hash, without taking it.
 * BW_E_NOT_FOUND otherwise. */
bw_err bw_store_plan_peek(struct bw_store *s, const char *org_id, const uint8_t token_hash[32],
                          int64_t now_ms, struct bw_plan_record *out) BW_MUST_CHECK;
/* Marks the unexpired, unused plan of the org with this token hash used (at most once, even
 * under concurrent confirms) and writes it to out. BW_E_NOT_FOUND otherwise. */
bw_err bw_store_plan_take(struct bw_store *s, const char *org_id, const uint8_t token_hash[32],
                          int64_t now_ms, struct bw_plan_record *out) BW_MUST_CHECK;

#endif
