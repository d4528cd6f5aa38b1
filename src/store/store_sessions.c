/* store_sessions.c: console sessions (sessions.h, migration 12), one code path for both
 * backends through sql.h. */
#include <stdio.h>
#include <string.h>

#include "store/sessions.h"
#include "store/sql.h"
#include "store/store_internal.h"

bw_err bw_store_session_insert(struct bw_store *s, const struct bw_store_session *row) {
    BW_ENSURE(bw_sql_id_ok(row->id) && bw_sql_id_ok(row->org_id) && bw_sql_id_ok(row->member_id),
              BW_E_INVALID);
    BW_ENSURE(!row->key_id[0] || bw_sql_id_ok(row->key_id), BW_E_INVALID);
    struct bw_sql_arg a[9] = {
        BW_SQL_T(row->id),         BW_SQL_T(row->org_id),     BW_SQL_B(row->hash, 32),
        BW_SQL_T(row->key_id),     BW_SQL_T(row->member_id),  BW_SQL_T(row->via),
        BW_SQL_I(row->created_ms), BW_SQL_I(row->expires_ms), BW_SQL_I(row->last_seen_ms),
    };
    return bw_sql_once(s, row->org_id, 1,
                       "INSERT INTO console_sessions(id, org_id, hash, key_id, member_id, via,"
                       " created_ms, expires_ms, last_seen_ms)"
                       " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                       a, 9, NULL, NULL, NULL);
}

struct found {
    struct bw_store_session_found *f;
    int rows, bad;
};

/* Columns: 0..8 the session, 9..18 the key (NULL when none), 19 org name, 20..21 member. */
static int found_row(void *arg, const struct bw_sql_row *r) {
    struct found *x = arg;
    struct bw_store_session_found *f = x->f;
    struct bw_store_session *ss = &f->sess;
    bw_sql_copy(r, 0, ss->id, sizeof ss->id);
    bw_sql_copy(r, 1, ss->org_id, sizeof ss->org_id);
    bw_sql_copy(r, 2, ss->key_id, sizeof ss->key_id);
    bw_sql_copy(r, 3, ss->member_id, sizeof ss->member_id);
    bw_sql_copy(r, 4, ss->via, sizeof ss->via);
    ss->created_ms = bw_sql_int(r, 5);
    ss->expires_ms = bw_sql_int(r, 6);
    ss->last_seen_ms = bw_sql_int(r, 7);
    if (bw_sql_blob(r, 8, ss->hash, 32) != 0)
        x->bad = 1;
    struct bw_key_record *k = &f->key;
    bw_sql_copy(r, 9, k->id, sizeof k->id);
    f->has_key = k->id[0] != 0;
    snprintf(k->org_id, sizeof k->org_id, "%s", ss->org_id);
    bw_sql_copy(r, 10, k->role, sizeof k->role);
    bw_sql_copy(r, 11, k->agent, sizeof k->agent);
    bw_sql_copy(r, 12, k->name, sizeof k->name);
    bw_sql_copy(r, 13, k->member_id, sizeof k->member_id);
    bw_sql_copy(r, 14, k->created_by, sizeof k->created_by);
    bw_sql_copy(r, 15, k->rotated_to, sizeof k->rotated_to);
    k->created_ms = bw_sql_int(r, 16);
    k->expires_ms = bw_sql_int(r, 17);
    k->revoked_ms = bw_sql_int(r, 18);
    bw_sql_copy(r, 19, k->org_name, sizeof k->org_name);
    bw_sql_copy(r, 20, f->member_role, sizeof f->member_role);
    bw_sql_copy(r, 21, f->member_email, sizeof f->member_email);
    f->has_member = f->member_role[0] != 0;
    x->rows++;
    return 0;
}

bw_err bw_store_session_by_hash(struct bw_store *s, const uint8_t hash[32],
                                struct bw_store_session_found *out) {
    static const char pg[] = "SELECT * FROM bulwark_console_session_lookup($1)";
    static const char lite[] =
        "SELECT s.id, s.org_id, s.key_id, s.member_id, s.via, s.created_ms, s.expires_ms,"
        " s.last_seen_ms, s.hash, k.id, k.role, k.agent, k.name, k.member_id, k.created_by,"
        " k.rotated_to, k.created_ms, k.expires_ms, k.revoked_ms, o.name, m.role, m.email"
        " FROM console_sessions s JOIN orgs o ON o.id = s.org_id"
        " LEFT JOIN api_keys k ON k.org_id = s.org_id AND k.id = s.key_id AND s.key_id <> ''"
        " LEFT JOIN members m ON m.org_id = s.org_id AND m.id = s.member_id"
        " WHERE s.hash = $1";
    struct bw_store_session_found f;
    memset(&f, 0, sizeof f);
    struct found x = {&f, 0, 0};
    struct bw_sql_arg a = BW_SQL_B(hash, 32);
    BW_TRY(bw_sql_once(s, NULL, 0, s->kind == BW_STORE_POSTGRES ? pg : lite, &a, 1, found_row, &x,
                       NULL));
    BW_ENSURE(x.rows <= 1 && !x.bad, BW_E_UNAVAILABLE);
    BW_ENSURE(x.rows == 1, BW_E_NOT_FOUND);
    *out = f;
    return BW_OK;
}

bw_err bw_store_session_touch(struct bw_store *s, const char *org_id, const char *id,
                              int64_t now_ms) {
    BW_ENSURE(bw_sql_id_ok(id), BW_E_NOT_FOUND);
    struct bw_sql_arg a[3] = {BW_SQL_T(org_id), BW_SQL_T(id), BW_SQL_I(now_ms)};
    return bw_sql_once(s, org_id, 1,
                       "UPDATE console_sessions SET last_seen_ms = $3"
                       " WHERE org_id = $1 AND id = $2 AND last_seen_ms < $3",
                       a, 3, NULL, NULL, NULL);
}

bw_err bw_store_session_delete(struct bw_store *s, const char *org_id, const char *id) {
    BW_ENSURE(bw_sql_id_ok(id), BW_E_NOT_FOUND);
    struct bw_sql_arg a[2] = {BW_SQL_T(org_id), BW_SQL_T(id)};
    int64_t n = 0;
    BW_TRY(bw_sql_once(s, org_id, 1, "DELETE FROM console_sessions WHERE org_id = $1 AND id = $2",
                       a, 2, NULL, NULL, &n));
    BW_ENSURE(n == 1, BW_E_NOT_FOUND);
    return BW_OK;
}

bw_err bw_store_session_delete_member(struct bw_store *s, const char *org_id, const char *member_id,
                                      int64_t *count) {
    struct bw_sql_arg a[2] = {BW_SQL_T(org_id), BW_SQL_T(member_id)};
    int64_t n = 0;
    BW_TRY(bw_sql_once(s, org_id, 1,
                       "DELETE FROM console_sessions WHERE org_id = $1 AND member_id = $2", a, 2,
                       NULL, NULL, &n));
    if (count)
        *count = n;
    return BW_OK;
}

bw_err bw_store_session_prune(struct bw_store *s, const char *org_id, int64_t now_ms,
                              int64_t idle_before_ms) {
    struct bw_sql_arg a[3] = {BW_SQL_T(org_id), BW_SQL_I(now_ms), BW_SQL_I(idle_before_ms)};
    return bw_sql_once(s, org_id, 1,
                       "DELETE FROM console_sessions WHERE org_id = $1"
                       " AND (expires_ms <= $2 OR last_seen_ms < $3)",
                       a, 3, NULL, NULL, NULL);
}

bw_err bw_store_session_cap(struct bw_store *s, const char *org_id, const char *member_id,
                            int64_t keep) {
    struct bw_sql_arg a[3] = {BW_SQL_T(org_id), BW_SQL_T(member_id), BW_SQL_I(keep)};
    return bw_sql_once(s, org_id, 1,
                       "DELETE FROM console_sessions WHERE org_id = $1 AND member_id = $2"
                       " AND id NOT IN (SELECT id FROM console_sessions WHERE org_id = $1"
                       " AND member_id = $2 ORDER BY created_ms DESC, id DESC LIMIT $3)",
                       a, 3, NULL, NULL, NULL);
}
