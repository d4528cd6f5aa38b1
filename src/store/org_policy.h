/* org_policy.h: an org's own policy (docs/POLICY.md "Org policies"): the exact bytes an admin
 * PUT, their SHA-256, who and when. Tenant-scoped like every identity table (migration 3). */
#ifndef BW_STORE_ORG_POLICY_H
#define BW_STORE_ORG_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

struct bw_org_policy_meta {
    uint8_t sha256[32];
    int64_t updated_ms;
    char updated_by[BW_ID_SIZE];
};

/* Makes text the org's active policy (stored by its SHA-256; earlier versions are kept). Errors:
 * BW_E_NOT_FOUND (no such org), BW_E_UNAVAILABLE. */
bw_err bw_store_org_policy_put(struct bw_store *s, const char *org_id, const char *text, size_t len,
                               const uint8_t sha256[32], int64_t now_ms,
                               const char *updated_by) BW_MUST_CHECK;
/* The org goes back to the platform's rules (BW_E_NOT_FOUND if it had no active policy). Stored
 * versions are kept: receipts that name them stay provable. */
bw_err bw_store_org_policy_delete(struct bw_store *s, const char *org_id) BW_MUST_CHECK;
/* Its metadata only (cheap: for freshness checks). BW_E_NOT_FOUND if the org has none. */
bw_err bw_store_org_policy_meta(struct bw_store *s, const char *org_id,
                                struct bw_org_policy_meta *out) BW_MUST_CHECK;
/* Its text: *text is malloc'd (NUL-terminated, the caller frees), *len its length. */
bw_err bw_store_org_policy_get(struct bw_store *s, const char *org_id, char **text, size_t *len,
                               struct bw_org_policy_meta *meta) BW_MUST_CHECK;

/* Calls fn with every version of the org's policy ever stored (at most max), oldest first, for
 * evidence packs. fn may use the store; non-zero stops with BW_E_INTERNAL. */
typedef int (*bw_store_org_policy_fn)(void *arg, const char *text, size_t len);
bw_err bw_store_org_policy_each(struct bw_store *s, const char *org_id, size_t max,
                                bw_store_org_policy_fn fn, void *arg) BW_MUST_CHECK;

/* Policy texts kept for evidence packs (migration 8; docs/EVIDENCE.md 9.2), by the SHA-256 of
 * their exact bytes, never deleted (they outlive a replaced policy and a deleted org). org_id
 * NULL or "": a platform text, which every org may see (the platform policy file, the texts
 * that stand for the config without one); else that org's (its policy versions, also stored
 * by bw_store_org_policy_put). Storing a text twice is a no-op. */
bw_err bw_store_policy_text_put(struct bw_store *s, const char *org_id, const char *text,
                                size_t len, int64_t now_ms) BW_MUST_CHECK;
/* Calls fn with the stored texts an export for org_id may use: its own and the platform's
 * (org_id NULL: every text the store shows without a tenant: on SQLite all of them, on
 * PostgreSQL the platform's), at most max. fn as in bw_store_org_policy_each. */
bw_err bw_store_policy_texts_each(struct bw_store *s, const char *org_id, size_t max,
                                  bw_store_org_policy_fn fn, void *arg) BW_MUST_CHECK;

#endif
