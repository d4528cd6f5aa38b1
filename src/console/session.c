/* session.c: console sessions (session.h): issue, identify, logout. The store part is
 * src/store/store_sessions.c. */
#include "console/session.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "store/identity.h"
#include "store/sessions.h"
#include "store/sql.h"
#include "util/codec.h"
#include "util/log.h"

static const char csrf_context[] = "bw-console-csrf"; /* with its NUL: domain separation */

void bw_console_csrf_token(const uint8_t pepper[32], const char *token, size_t len,
                           char out[BW_CSRF_TOKEN_SIZE]) {
    uint8_t mac[32];
    crypto_generichash_state st;
    crypto_generichash_init(&st, pepper, 32, sizeof mac);
    crypto_generichash_update(&st, (const unsigned char *)csrf_context, sizeof csrf_context);
    crypto_generichash_update(&st, (const unsigned char *)token, len);
    crypto_generichash_final(&st, mac, sizeof mac);
    if (bw_b64url_encode(mac, sizeof mac, out, BW_CSRF_TOKEN_SIZE) != BW_OK)
        out[0] = 0; /* cannot happen: 32 bytes are 43 characters; "" never matches */
    sodium_memzero(mac, sizeof mac);
    sodium_memzero(&st, sizeof st);
}

static int token_shape_ok(const char *t, size_t n) {
    if (n != BW_SESSION_TOKEN_CHARS || memcmp(t, BW_SESSION_PREFIX, 4) != 0)
        return 0;
    for (size_t i = 4; i < n; i++) {
        char c = t[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return 0;
    }
    return 1;
}

static int person_role(const char *role) {
    return strcmp(role, "owner") == 0 || strcmp(role, "admin") == 0 ||
           strcmp(role, "reviewer") == 0 || strcmp(role, "member") == 0;
}

/* The session's absolute expiry: TTL after now, never after the key's own expiry. */
static int64_t session_expiry(const struct bw_key_record *k, int64_t now_ms) {
    int64_t exp = now_ms + BW_CONSOLE_SESSION_TTL_MS;
    if (k && k->expires_ms != 0 && k->expires_ms < exp)
        exp = k->expires_ms;
    return exp;
}

/* Checks the principal of a new session; fills row's principal fields and expiry. */
static bw_err principal_check(struct bw_store *s, const struct bw_console_principal *p,
                              int64_t now_ms, struct bw_store_session *row,
                              struct bw_member_record *member) {
    BW_ENSURE(p && p->org_id && p->member_id && p->via, BW_E_INVALID);
    BW_ENSURE(bw_sql_id_ok(p->org_id) && bw_sql_id_ok(p->member_id), BW_E_INVALID);
    int by_key = p->key_id && p->key_id[0];
    BW_ENSURE(strcmp(p->via, by_key ? "key" : "sso") == 0, BW_E_INVALID);
    const struct bw_key_record *kp = NULL;
    struct bw_key_record k;
    /* The person must exist (a key outlives nothing: removing a member revokes their keys). */
    bw_err me = bw_store_member_get(s, p->org_id, p->member_id, member);
    if (me == BW_E_NOT_FOUND)
        return BW_E_DENIED;
    BW_TRY(me);
    BW_ENSURE(person_role(member->role), BW_E_DENIED);
    if (by_key) {
        bw_err e = bw_store_key_get(s, p->org_id, p->key_id, &k);
        if (e == BW_E_NOT_FOUND)
            return BW_E_DENIED;
        BW_TRY(e);
        BW_ENSURE(k.revoked_ms == 0 && (k.expires_ms == 0 || k.expires_ms > now_ms), BW_E_DENIED);
        BW_ENSURE(person_role(k.role) && strcmp(k.member_id, p->member_id) == 0, BW_E_DENIED);
        kp = &k;
        snprintf(row->key_id, sizeof row->key_id, "%s", p->key_id);
    }
    snprintf(row->org_id, sizeof row->org_id, "%s", p->org_id);
    snprintf(row->member_id, sizeof row->member_id, "%s", p->member_id);
    snprintf(row->via, sizeof row->via, "%s", p->via);
    row->created_ms = row->last_seen_ms = now_ms;
    row->expires_ms = session_expiry(kp, now_ms);
    return BW_OK;
}

bw_err bw_console_session_issue(struct bw_store *s, const uint8_t pepper[32],
                                const struct bw_console_principal *p, int64_t now_ms,
                                char token_out[BW_SESSION_TOKEN_SIZE],
                                char csrf_out[BW_CSRF_TOKEN_SIZE], struct bw_console_session *out) {
    struct bw_store_session row;
    struct bw_member_record member;
    memset(&row, 0, sizeof row);
    BW_TRY(principal_check(s, p, now_ms, &row, &member));
    if (bw_store_session_prune(s, row.org_id, now_ms, now_ms - BW_CONSOLE_IDLE_MS) != BW_OK)
        bw_warn("console: could not prune expired sessions of org %s", row.org_id);
    /* A person signing in again and again (or a script with their key) keeps a bounded number
     * of live sessions: the oldest go first. Fail closed: without the cap, no new session. */
    BW_TRY(bw_store_session_cap(s, row.org_id, row.member_id, BW_CONSOLE_MAX_SESSIONS - 1));
    char token[BW_SESSION_TOKEN_SIZE];
    BW_TRY(bw_token_generate(BW_SESSION_PREFIX, token, sizeof token)); /* randombytes_buf */
    bw_store_new_id("ses", row.id);
    crypto_generichash(row.hash, 32, (const unsigned char *)token, BW_SESSION_TOKEN_CHARS, pepper,
                       32);
    bw_err e = bw_store_session_insert(s, &row);
    if (e != BW_OK) {
        sodium_memzero(token, sizeof token);
        return e;
    }
    bw_console_csrf_token(pepper, token, BW_SESSION_TOKEN_CHARS, csrf_out);
    memcpy(token_out, token, sizeof token);
    sodium_memzero(token, sizeof token);
    if (out) {
        memset(out, 0, sizeof *out);
        snprintf(out->id, sizeof out->id, "%s", row.id);
        snprintf(out->org_id, sizeof out->org_id, "%s", row.org_id);
        snprintf(out->key_id, sizeof out->key_id, "%s", row.key_id);
        snprintf(out->member_id, sizeof out->member_id, "%s", row.member_id);
        snprintf(out->via, sizeof out->via, "%s", row.via);
        snprintf(out->email, sizeof out->email, "%s", member.email);
        out->created_ms = row.created_ms;
        out->expires_ms = row.expires_ms;
        out->last_seen_ms = row.last_seen_ms;
    }
    return BW_OK;
}

/* The caller record of a live session, or BW_E_UNAUTH if its principal no longer holds. */
static bw_err session_caller(const struct bw_store_session_found *f, int64_t now_ms,
                             struct bw_key_record *caller) {
    const struct bw_store_session *ss = &f->sess;
    BW_ENSURE(f->has_member && person_role(f->member_role), BW_E_UNAUTH);
    if (strcmp(ss->via, "key") == 0) {
        const struct bw_key_record *k = &f->key;
        BW_ENSURE(f->has_key && strcmp(k->id, ss->key_id) == 0, BW_E_UNAUTH);
        BW_ENSURE(k->revoked_ms == 0 && (k->expires_ms == 0 || k->expires_ms > now_ms),
                  BW_E_UNAUTH);
        BW_ENSURE(person_role(k->role) && strcmp(k->member_id, ss->member_id) == 0, BW_E_UNAUTH);
        *caller = *k;
        return BW_OK;
    }
    BW_ENSURE(strcmp(ss->via, "sso") == 0 && !ss->key_id[0], BW_E_UNAUTH);
    memset(caller, 0, sizeof *caller);
    snprintf(caller->id, sizeof caller->id, "%s", ss->id);
    snprintf(caller->org_id, sizeof caller->org_id, "%s", ss->org_id);
    snprintf(caller->org_name, sizeof caller->org_name, "%s", f->key.org_name);
    snprintf(caller->role, sizeof caller->role, "%s", f->member_role);
    snprintf(caller->member_id, sizeof caller->member_id, "%s", ss->member_id);
    snprintf(caller->name, sizeof caller->name, "sso:%.58s", f->member_email);
    snprintf(caller->created_by, sizeof caller->created_by, "sso");
    caller->created_ms = ss->created_ms;
    caller->expires_ms = ss->expires_ms;
    return BW_OK;
}

bw_err bw_console_session_identify(struct bw_store *s, const uint8_t pepper[32], const char *token,
                                   size_t len, const char *csrf, int64_t now_ms,
                                   struct bw_key_record *caller, struct bw_console_session *sess) {
    BW_ENSURE(token && token_shape_ok(token, len), BW_E_UNAUTH);
    uint8_t h[32];
    crypto_generichash(h, 32, (const unsigned char *)token, len, pepper, 32);
    struct bw_store_session_found f;
    bw_err e = bw_store_session_by_hash(s, h, &f);
    if (e == BW_E_NOT_FOUND)
        return BW_E_UNAUTH;
    if (e != BW_OK)
        return BW_E_UNAVAILABLE;
    const struct bw_store_session *ss = &f.sess;
    BW_ENSURE(sodium_memcmp(ss->hash, h, 32) == 0, BW_E_UNAUTH);
    BW_ENSURE(ss->expires_ms > now_ms && ss->last_seen_ms + BW_CONSOLE_IDLE_MS > now_ms,
              BW_E_UNAUTH);
    struct bw_key_record rec;
    BW_TRY(session_caller(&f, now_ms, &rec));
    if (csrf) {
        char want[BW_CSRF_TOKEN_SIZE];
        bw_console_csrf_token(pepper, token, len, want);
        int ok = strlen(csrf) == BW_CSRF_TOKEN_CHARS && want[0] &&
                 sodium_memcmp(want, csrf, BW_CSRF_TOKEN_CHARS) == 0;
        sodium_memzero(want, sizeof want);
        BW_ENSURE(ok, BW_E_DENIED);
    }
    if (now_ms - ss->last_seen_ms >= BW_CONSOLE_TOUCH_MS &&
        bw_store_session_touch(s, ss->org_id, ss->id, now_ms) != BW_OK)
        bw_warn("console: could not record the last use of session %s", ss->id);
    *caller = rec;
    if (sess) {
        memset(sess, 0, sizeof *sess);
        snprintf(sess->id, sizeof sess->id, "%s", ss->id);
        snprintf(sess->org_id, sizeof sess->org_id, "%s", ss->org_id);
        snprintf(sess->key_id, sizeof sess->key_id, "%s", ss->key_id);
        snprintf(sess->member_id, sizeof sess->member_id, "%s", ss->member_id);
        snprintf(sess->via, sizeof sess->via, "%s", ss->via);
        snprintf(sess->email, sizeof sess->email, "%s", f.member_email);
        sess->created_ms = ss->created_ms;
        sess->expires_ms = ss->expires_ms;
        sess->last_seen_ms = ss->last_seen_ms;
    }
    return BW_OK;
}

bw_err bw_console_session_end(struct bw_store *s, const char *org_id, const char *session_id) {
    return bw_store_session_delete(s, org_id, session_id);
}

bw_err bw_console_session_end_member(struct bw_store *s, const char *org_id, const char *member_id,
                                     int64_t *count) {
    return bw_store_session_delete_member(s, org_id, member_id, count);
}

/* RFC 6265 5.2 / 4.2.1: "name=value" pairs separated by "; ". Exactly one cookie of our name
 * (two could be one planted by a sibling subdomain: fail closed), value shaped like a token. */
int bw_console_cookie_find(const char *header, int tls, const char **value, size_t *len) {
    if (!header)
        return 0;
    const char *name = tls ? BW_CONSOLE_COOKIE_TLS : BW_CONSOLE_COOKIE;
    size_t nlen = strlen(name);
    const char *found = NULL;
    size_t found_len = 0;
    int hits = 0;
    const char *p = header;
    while (*p) {
        while (*p == ' ' || *p == '\t')
            p++;
        const char *end = strchr(p, ';');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n > nlen && memcmp(p, name, nlen) == 0 && p[nlen] == '=') {
            hits++;
            found = p + nlen + 1;
            found_len = n - nlen - 1;
        }
        if (!end)
            break;
        p = end + 1;
    }
    if (hits != 1 || !token_shape_ok(found, found_len))
        return 0;
    *value = found;
    *len = found_len;
    return 1;
}
