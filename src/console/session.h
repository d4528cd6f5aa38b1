/* session.h: console sessions (issue 16, docs/CONSOLE.md "Sessions"): what a browser holds
 * instead of an API key.
 *
 * A session is bound to ONE principal, fixed when it is issued:
 *   - a key session (local sign-in: a person pastes an API key of role owner, admin, reviewer or
 *     member): the key's id, org, and the member (person) the key belongs to. The session
 *     authorizes exactly as that key does: on every use the key is read again, and a key that
 *     is revoked, expired or rotated past its grace ends every session made from it. Its role
 *     is the key's; receipts name the key id as principal (as calls made with the key do).
 *   - a member session (single sign-on, src/sso/): no key; the member the IdP user was mapped
 *     to. On every use the member is read again (deleted: the session is gone; its role is the
 *     member's role NOW, so a demotion applies at once). Its receipts name the session id
 *     ("ses_<16 hex>") as principal and the member as the person, like a key of that member.
 * Either way bw_console_session_identify answers a struct bw_key_record the /api/v1 handlers
 * use unchanged: the console adds no privilege. Agent and operator principals are refused.
 *
 * Secrets: the session token the cookie carries is "bws_" + base64url(32 bytes from
 * randombytes_buf) (47 characters). Only its keyed hash is stored (BLAKE2b-256 keyed with the
 * key pepper, as API keys: auth.h), looked up by hash and compared in constant time. The CSRF
 * token is not stored at all: it is derived from the session token and the pepper
 * (BLAKE2b-256 keyed with the pepper over "bw-console-csrf\0" || token, base64url, 43
 * characters), so only the holder of the cookie and the gateway can know it; it is compared in
 * constant time. Neither ever enters a log line, an error or a receipt.
 *
 * Lifetime: absolute expiry BW_CONSOLE_SESSION_TTL_MS after issue (never later than the key's
 * own expiry), idle expiry BW_CONSOLE_IDLE_MS after the last use (last use is written at most
 * once per BW_CONSOLE_TOUCH_MS, so a busy session costs one small write a minute), logout
 * deletes the row. Expired rows of an org are deleted when a session of that org is issued, and a
 * person keeps at most BW_CONSOLE_MAX_SESSIONS live sessions (a new one ends the oldest).
 *
 * Storage: table console_sessions (migration 12, SQLite and PostgreSQL, src/store/pg/), so every
 * replica on one PostgreSQL shares them. Tenant rows under forced row-level security like every
 * tenant table; the lookup by hash is the one read that crosses tenants (the token is the
 * capability, like bw_store_key_by_hash) and goes through the SECURITY DEFINER function
 * bulwark_console_session_lookup on PostgreSQL.
 *
 * Threading: every function is thread-safe given one store handle per thread (the worker's).
 * Each does one or two short statements (no network besides the store). */
#ifndef BW_CONSOLE_SESSION_H
#define BW_CONSOLE_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "util/err.h"

#define BW_SESSION_PREFIX "bws_"
#define BW_SESSION_TOKEN_CHARS 47
#define BW_SESSION_TOKEN_SIZE 48 /* with NUL */
#define BW_CSRF_TOKEN_CHARS 43
#define BW_CSRF_TOKEN_SIZE 44 /* with NUL */

#define BW_CONSOLE_SESSION_TTL_MS (8LL * 3600 * 1000) /* absolute */
#define BW_CONSOLE_IDLE_MS (30LL * 60 * 1000)         /* since the last use */
#define BW_CONSOLE_TOUCH_MS (60LL * 1000)             /* last use written at most this often */
#define BW_CONSOLE_MAX_SESSIONS 16 /* live sessions per person: a new one ends the oldest */

/* The cookie's name: "__Host-bw_console" on the TLS listener (the prefix makes the browser
 * require Secure, Path=/ and no Domain), "bw_console" on plain HTTP (loopback development). */
#define BW_CONSOLE_COOKIE "bw_console"
#define BW_CONSOLE_COOKIE_TLS "__Host-bw_console"
/* The request header that carries the CSRF token on every state-changing call made with the
 * cookie (POST, PUT, PATCH, DELETE). */
#define BW_CONSOLE_CSRF_HEADER "X-CSRF-Token"

/* Who a session is for (borrowed strings, all required except key_id).
 *   key_id:    the key signed in with (local), or "" for a member session (SSO).
 *   org_id:    the org; member_id: the person (a member id of that org: never "operator").
 *   via:       "key" or "sso" (shown in GET /console/api/session and receipts' reason). */
struct bw_console_principal {
    const char *key_id;
    const char *org_id;
    const char *member_id;
    const char *via;
};

/* A session as stored (no secret in it). */
struct bw_console_session {
    char id[BW_ID_SIZE]; /* "ses_<16 hex>": names the session in receipts and listings */
    char org_id[BW_ID_SIZE];
    char key_id[BW_ID_SIZE]; /* "" for a member session */
    char member_id[BW_ID_SIZE];
    char via[8];
    char email[256]; /* the member's, for display ("" if unknown) */
    int64_t created_ms, expires_ms, last_seen_ms;
};

/* Issues a session for p at now_ms: a fresh token (written to token_out, NUL-terminated: the
 * caller puts it in the Set-Cookie header only, then wipes it) and its CSRF token (csrf_out),
 * the row inserted with the token's keyed hash. For a key session (via "key") the key must be
 * in org_id, live (not revoked, not expired), of a person role (owner, admin, reviewer, member)
 * and belong to member_id: BW_E_DENIED otherwise; its expiry caps the session's. For a member
 * session (via "sso", key_id "") the member must exist in org_id: BW_E_DENIED otherwise. The
 * oldest of the person's sessions beyond BW_CONSOLE_MAX_SESSIONS - 1 are ended first. *out (may
 * be NULL) gets the row. Errors: BW_E_DENIED, BW_E_INVALID (a malformed id, the "operator"
 * principal, or via not matching key_id), BW_E_UNAVAILABLE (store), BW_E_NOMEM. Not
 * constant-time in anything secret: the token is made here. */
bw_err bw_console_session_issue(struct bw_store *s, const uint8_t pepper[32],
                                const struct bw_console_principal *p, int64_t now_ms,
                                char token_out[BW_SESSION_TOKEN_SIZE],
                                char csrf_out[BW_CSRF_TOKEN_SIZE],
                                struct bw_console_session *out) BW_MUST_CHECK;

/* Identifies a request by its session token (the cookie's value, len bytes, borrowed): the
 * session must exist, be unexpired (absolute and idle), and its principal still valid (above).
 * Writes *caller as the handlers expect it: for a key session the key's record; for a member
 * session id = the session id, role = the member's current role, member_id = the member,
 * name "sso:<email>" cut to fit. *sess (may be NULL) gets the row. Records the use (at most
 * once per BW_CONSOLE_TOUCH_MS; a failed write is logged, not fatal).
 * If csrf is non-NULL (a state-changing call) it must equal the session's CSRF token
 * (constant time): BW_E_DENIED otherwise. Errors: BW_E_UNAUTH (no such session, malformed,
 * expired, principal gone: one error, callers cannot tell which), BW_E_DENIED (CSRF),
 * BW_E_UNAVAILABLE (store: the caller denies). */
bw_err bw_console_session_identify(struct bw_store *s, const uint8_t pepper[32], const char *token,
                                   size_t len, const char *csrf, int64_t now_ms,
                                   struct bw_key_record *caller,
                                   struct bw_console_session *sess) BW_MUST_CHECK;

/* The CSRF token of a session token (for GET /console/api/session, which gives it back to a
 * page that was reloaded). Deterministic; no I/O. */
void bw_console_csrf_token(const uint8_t pepper[32], const char *token, size_t len,
                           char out[BW_CSRF_TOKEN_SIZE]);

/* Logout: deletes the session (org_id, id). BW_E_NOT_FOUND if it is already gone. */
bw_err bw_console_session_end(struct bw_store *s, const char *org_id,
                              const char *session_id) BW_MUST_CHECK;

/* Deletes every session of a member (e.g. when the member is removed, or signs out
 * everywhere). *count (may be NULL) gets how many. */
bw_err bw_console_session_end_member(struct bw_store *s, const char *org_id, const char *member_id,
                                     int64_t *count) BW_MUST_CHECK;

/* The cookie's value in a Cookie header (name per tls: BW_CONSOLE_COOKIE_TLS or
 * BW_CONSOLE_COOKIE; exactly one cookie of that name, shaped like a session token): 1 and
 * *value and *len pointing into header (borrowed), else 0. */
int bw_console_cookie_find(const char *header, int tls, const char **value,
                           size_t *len) BW_MUST_CHECK;

#endif
