/* sessions.h: console sessions in the store (migration 12; src/console/session.h is the
 * contract and says what a session is). Written once for both backends on top of sql.h.
 *
 * Tenant-scoped like identity.h, except bw_store_session_by_hash: the one read that crosses
 * tenants (the session token is the capability, like bw_store_key_by_hash), through the
 * SECURITY DEFINER function bulwark_console_session_lookup on PostgreSQL. Errors: BW_E_NOT_FOUND,
 * BW_E_EXISTS, BW_E_INVALID (a CHECK or a malformed id), BW_E_UNAVAILABLE. */
#ifndef BW_STORE_SESSIONS_H
#define BW_STORE_SESSIONS_H

#include <stdint.h>

#include "store/store.h"

struct bw_store_session {
    char id[BW_ID_SIZE];
    char org_id[BW_ID_SIZE];
    char key_id[BW_ID_SIZE]; /* "" for a member (SSO) session */
    char member_id[BW_ID_SIZE];
    char via[8]; /* "key" | "sso" */
    uint8_t hash[32];
    int64_t created_ms, expires_ms, last_seen_ms;
};

/* What a lookup finds besides the row: the key (key sessions; has_key 0 if it is gone) and the
 * member (has_member 0 if it is gone). */
struct bw_store_session_found {
    struct bw_store_session sess;
    int has_key;
    struct bw_key_record key; /* with org_name; last_used_ms not read */
    int has_member;
    char member_role[16];
    char member_email[256];
};

bw_err bw_store_session_insert(struct bw_store *s,
                               const struct bw_store_session *row) BW_MUST_CHECK;

bw_err bw_store_session_by_hash(struct bw_store *s, const uint8_t hash[32],
                                struct bw_store_session_found *out) BW_MUST_CHECK;

/* Sets last_seen_ms (only forward). */
bw_err bw_store_session_touch(struct bw_store *s, const char *org_id, const char *id,
                              int64_t now_ms) BW_MUST_CHECK;

/* Deletes one session: BW_E_NOT_FOUND if none. */
bw_err bw_store_session_delete(struct bw_store *s, const char *org_id,
                               const char *id) BW_MUST_CHECK;

/* Deletes a member's sessions; *count (may be NULL) gets how many. */
bw_err bw_store_session_delete_member(struct bw_store *s, const char *org_id, const char *member_id,
                                      int64_t *count) BW_MUST_CHECK;

/* Deletes the org's sessions whose absolute expiry is past, or idle since before idle_before. */
bw_err bw_store_session_prune(struct bw_store *s, const char *org_id, int64_t now_ms,
                              int64_t idle_before_ms) BW_MUST_CHECK;

/* Keeps at most `keep` sessions of a member: deletes the oldest others. */
bw_err bw_store_session_cap(struct bw_store *s, const char *org_id, const char *member_id,
                            int64_t keep) BW_MUST_CHECK;

#endif
