/* store_keys.c: orgs, API keys and members (store.h, identity.h), one code path for both
 * backends through sql.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/identity.h"
#include "store/sql.h"
#include "store/store_internal.h"
#include "util/time.h"

#define KEY_COLUMNS                                                                                \
    "k.id, k.org_id, o.name, k.role, k.agent, k.name, k.member_id, k.created_by, k.rotated_to,"    \
    " k.created_ms, k.expires_ms, k.revoked_ms, k.last_used_ms"

/* ---- orgs ---- */

bw_err bw_store_org_create(struct bw_store *s, const char *name, char id[BW_ID_SIZE]) {
    char new_id[BW_ID_SIZE];
    bw_store_new_id("org", new_id);
    /* The new org is its own tenant: RLS's WITH CHECK accepts the row only for that tenant. */
    struct bw_sql_arg a[3] = {BW_SQL_T(new_id), BW_SQL_T(name), BW_SQL_I(bw_now_ms())};
    BW_TRY(bw_sql_once(s, new_id, 1, "INSERT INTO orgs(id, name, created_ms) VALUES ($1, $2, $3)",
                       a, 3, NULL, NULL, NULL));
    memcpy(id, new_id, BW_ID_SIZE);
    return BW_OK;
}

static int org_row(void *arg, const struct bw_sql_row *r) {
    struct bw_org_record *o = arg;
    bw_sql_copy(r, 0, o->id, sizeof o->id);
    bw_sql_copy(r, 1, o->name, sizeof o->name);
    o->created_ms = bw_sql_int(r, 2);
    return 0;
}

bw_err bw_store_org_get(struct bw_store *s, const char *org_id, struct bw_org_record *out) {
    BW_ENSURE(bw_sql_id_ok(org_id), BW_E_NOT_FOUND);
    struct bw_org_record o;
    memset(&o, 0, sizeof o);
    struct bw_sql_arg a = BW_SQL_T(org_id);
    BW_TRY(bw_sql_once(s, org_id, 0, "SELECT id, name, created_ms FROM orgs WHERE id = $1", &a, 1,
                       org_row, &o, NULL));
    BW_ENSURE(o.id[0], BW_E_NOT_FOUND);
    *out = o;
    return BW_OK;
}

/* Rows are gathered first and fn runs after the transaction ends, so fn may use the store. */
struct org_list {
    struct bw_org_record *v;
    size_t n, cap;
};

static int org_list_row(void *arg, const struct bw_sql_row *r) {
    struct org_list *l = arg;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        struct bw_org_record *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return 1;
        l->v = v;
        l->cap = cap;
    }
    return org_row(&l->v[l->n++], r);
}

/* Every org: an operator's and a restoring process's view, not a tenant read. On PostgreSQL
 * through the SECURITY DEFINER function bulwark_orgs_list (ids and names only). */
bw_err bw_store_orgs_each(struct bw_store *s, bw_store_org_fn fn, void *arg) {
    struct org_list l = {NULL, 0, 0};
    bw_err e = bw_sql_once(s, NULL, 0,
                           s->kind == BW_STORE_POSTGRES
                               ? "SELECT id, name, created_ms FROM bulwark_orgs_list()"
                               : "SELECT id, name, created_ms FROM orgs ORDER BY name",
                           NULL, 0, org_list_row, &l, NULL);
    for (size_t i = 0; e == BW_OK && i < l.n; i++)
        if (fn(arg, l.v[i].id, l.v[i].name) != 0)
            e = BW_E_INTERNAL;
    free(l.v);
    return e;
}

static int id_row(void *arg, const struct bw_sql_row *r) {
    bw_sql_copy(r, 0, arg, BW_ID_SIZE);
    return 0;
}

bw_err bw_store_org_by_name(struct bw_store *s, const char *name, char id[BW_ID_SIZE]) {
    char found[BW_ID_SIZE] = "";
    struct bw_sql_arg a = BW_SQL_T(name);
    BW_TRY(bw_sql_once(s, NULL, 0,
                       s->kind == BW_STORE_POSTGRES
                           ? "SELECT id FROM bulwark_orgs_list() WHERE name = $1"
                           : "SELECT id FROM orgs WHERE name = $1",
                       &a, 1, id_row, found, NULL));
    BW_ENSURE(found[0], BW_E_NOT_FOUND);
    memcpy(id, found, BW_ID_SIZE);
    return BW_OK;
}

static int count_row(void *arg, const struct bw_sql_row *r) {
    *(int64_t *)arg = bw_sql_int(r, 0);
    return 0;
}

bw_err bw_store_org_counts(struct bw_store *s, const char *org_id, struct bw_org_counts *out) {
    BW_ENSURE(bw_sql_id_ok(org_id), BW_E_NOT_FOUND);
    struct bw_org_counts c = {0};
    struct bw_sql_arg a = BW_SQL_T(org_id);
    BW_TRY(bw_sql_begin(s, org_id, 0));
    bw_err e = bw_sql_run(s, "SELECT count(*) FROM api_keys WHERE org_id = $1", &a, 1, count_row,
                          &c.keys, NULL);
    if (e == BW_OK)
        e = bw_sql_run(s, "SELECT count(*) FROM members WHERE org_id = $1", &a, 1, count_row,
                       &c.members, NULL);
    if (e == BW_OK)
        e = bw_sql_run(s, "SELECT count(*) FROM agents WHERE org_id = $1", &a, 1, count_row,
                       &c.agents, NULL);
    if (e == BW_OK)
        e = bw_sql_run(s, "SELECT count(*) FROM transcripts WHERE org_id = $1", &a, 1, count_row,
                       &c.transcripts, NULL);
    if (e == BW_OK)
        e = bw_sql_run(s, "SELECT count(*) FROM usage WHERE org_id = $1", &a, 1, count_row,
                       &c.usage, NULL);
    if (e != BW_OK) {
        bw_sql_rollback(s);
        return e;
    }
    BW_TRY(bw_sql_commit(s));
    *out = c;
    return BW_OK;
}

bw_err bw_store_org_delete(struct bw_store *s, const char *org_id) {
    BW_ENSURE(bw_sql_id_ok(org_id), BW_E_NOT_FOUND);
    struct bw_sql_arg a = BW_SQL_T(org_id);
    int64_t n = 0;
    BW_TRY(bw_sql_once(s, org_id, 1, "DELETE FROM orgs WHERE id = $1", &a, 1, NULL, NULL, &n));
    return n == 1 ? BW_OK : BW_E_NOT_FOUND;
}

/* ---- keys ---- */

bw_err bw_store_key_insert(struct bw_store *s, const struct bw_key_record *k) {
    if (strcmp(k->role, "operator") == 0) {
        struct bw_sql_arg a[6] = {BW_SQL_T(k->id),         BW_SQL_T(k->name),
                                  BW_SQL_B(k->hash, 32),   BW_SQL_I(k->created_ms),
                                  BW_SQL_I(k->expires_ms), BW_SQL_T(k->created_by)};
        return bw_sql_once(s, NULL, 1,
                           s->kind == BW_STORE_POSTGRES
                               ? "SELECT bulwark_operator_key_insert($1, $2, $3, $4, $5, $6)"
                               : "INSERT INTO operator_keys(id, name, hash, created_ms,"
                                 " expires_ms, created_by) VALUES ($1, $2, $3, $4, $5, $6)",
                           a, 6, NULL, NULL, NULL);
    }
    /* Every org key has its accountable principal (a member id, or "operator"): fixed here,
     * never updated (docs/ACCESS.md "Principals"). */
    BW_ENSURE(k->member_id[0], BW_E_INVALID);
    BW_ENSURE(bw_sql_id_ok(k->org_id), BW_E_NOT_FOUND);
    struct bw_sql_arg a[10] = {
        BW_SQL_T(k->id),         BW_SQL_T(k->org_id),   BW_SQL_T(k->role),
        BW_SQL_T(k->agent),      BW_SQL_B(k->hash, 32), BW_SQL_I(k->created_ms),
        BW_SQL_I(k->expires_ms), BW_SQL_T(k->name),     BW_SQL_T(k->member_id),
        BW_SQL_T(k->created_by),
    };
    return bw_sql_once(s, k->org_id, 1,
                       "INSERT INTO api_keys(id, org_id, role, agent, hash, created_ms,"
                       " expires_ms, revoked_ms, name, member_id, created_by)"
                       " VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9, $10)",
                       a, 10, NULL, NULL, NULL);
}

/* Columns as KEY_COLUMNS orders them (the lookup adds the hash as column 13). */
static void key_fill(const struct bw_sql_row *r, struct bw_key_record *k) {
    memset(k, 0, sizeof *k);
    bw_sql_copy(r, 0, k->id, sizeof k->id);
    bw_sql_copy(r, 1, k->org_id, sizeof k->org_id);
    bw_sql_copy(r, 2, k->org_name, sizeof k->org_name);
    bw_sql_copy(r, 3, k->role, sizeof k->role);
    bw_sql_copy(r, 4, k->agent, sizeof k->agent);
    bw_sql_copy(r, 5, k->name, sizeof k->name);
    bw_sql_copy(r, 6, k->member_id, sizeof k->member_id);
    bw_sql_copy(r, 7, k->created_by, sizeof k->created_by);
    bw_sql_copy(r, 8, k->rotated_to, sizeof k->rotated_to);
    k->created_ms = bw_sql_int(r, 9);
    k->expires_ms = bw_sql_int(r, 10);
    k->revoked_ms = bw_sql_int(r, 11);
    k->last_used_ms = bw_sql_int(r, 12);
}

struct key_found {
    struct bw_key_record rec;
    int rows;
    int bad;
};

static int key_lookup_row(void *arg, const struct bw_sql_row *r) {
    struct key_found *f = arg;
    key_fill(r, &f->rec);
    if (bw_sql_blob(r, 13, f->rec.hash, 32) != 0)
        f->bad = 1;
    f->rows++;
    return 0;
}

bw_err bw_store_key_by_hash(struct bw_store *s, const uint8_t hash[32], struct bw_key_record *out) {
    static const char pg[] =
        "SELECT id, org_id, org_name, role, agent, name, member_id, '', '', created_ms,"
        " expires_ms, revoked_ms, 0, hash FROM bulwark_key_lookup($1)";
    static const char lite[] =
        "SELECT " KEY_COLUMNS ", k.hash FROM api_keys k JOIN orgs o ON o.id = k.org_id"
        " WHERE k.hash = $1"
        " UNION ALL SELECT id, '', '', 'operator', '', name, '', '', '', created_ms, expires_ms,"
        " revoked_ms, 0, hash FROM operator_keys WHERE hash = $1";
    struct key_found f;
    memset(&f, 0, sizeof f);
    struct bw_sql_arg a = BW_SQL_B(hash, 32);
    BW_TRY(bw_sql_once(s, NULL, 0, s->kind == BW_STORE_POSTGRES ? pg : lite, &a, 1, key_lookup_row,
                       &f, NULL));
    BW_ENSURE(f.rows <= 1 && !f.bad, BW_E_UNAVAILABLE);
    BW_ENSURE(f.rows == 1, BW_E_NOT_FOUND);
    if (strcmp(f.rec.role, "operator") == 0) /* the operator principal */
        snprintf(f.rec.member_id, sizeof f.rec.member_id, "operator");
    *out = f.rec;
    return BW_OK;
}

struct key_each {
    bw_store_key_fn fn;
    void *arg;
};

static int key_each_row(void *arg, const struct bw_sql_row *r) {
    struct key_each *e = arg;
    struct bw_key_record k;
    key_fill(r, &k);
    return e->fn(e->arg, &k);
}

bw_err bw_store_key_list(struct bw_store *s, const char *org_id, int include_revoked,
                         bw_store_key_fn fn, void *arg) {
    BW_ENSURE(bw_sql_id_ok(org_id), BW_E_NOT_FOUND);
    struct key_each e = {fn, arg};
    struct bw_sql_arg a[3] = {BW_SQL_T(org_id), BW_SQL_I(include_revoked ? 1 : 0),
                              BW_SQL_I(BW_STORE_LIST_MAX)};
    return bw_sql_once(s, org_id, 0,
                       "SELECT " KEY_COLUMNS " FROM api_keys k JOIN orgs o ON o.id = k.org_id"
                       " WHERE k.org_id = $1 AND ($2 = 1 OR k.revoked_ms = 0)"
                       " ORDER BY k.created_ms DESC, k.id LIMIT $3",
                       a, 3, key_each_row, &e, NULL);
}

static int key_fill_row(void *arg, const struct bw_sql_row *r) {
    key_fill(r, arg);
    return 0;
}

bw_err bw_store_key_get(struct bw_store *s, const char *org_id, const char *key_id,
                        struct bw_key_record *out) {
    BW_ENSURE(bw_sql_id_ok(org_id) && bw_sql_id_ok(key_id), BW_E_NOT_FOUND);
    struct bw_key_record k;
    memset(&k, 0, sizeof k);
    struct bw_sql_arg a[2] = {BW_SQL_T(org_id), BW_SQL_T(key_id)};
    BW_TRY(bw_sql_once(s, org_id, 0,
                       "SELECT " KEY_COLUMNS " FROM api_keys k JOIN orgs o ON o.id = k.org_id"
                       " WHERE k.org_id = $1 AND k.id = $2",
                       a, 2, key_fill_row, &k, NULL));
    BW_ENSURE(k.id[0], BW_E_NOT_FOUND);
    *out = k;
    return BW_OK;
}

bw_err bw_store_key_revoke(struct bw_store *s, const char *org_id, const char *key_id,
                           int64_t now_ms) {
    struct bw_key_record k;
    BW_TRY(bw_store_key_get(s, org_id, key_id, &k));
    BW_ENSURE(k.revoked_ms == 0, BW_E_EXISTS);
    struct bw_sql_arg a[3] = {BW_SQL_T(org_id), BW_SQL_T(key_id), BW_SQL_I(now_ms)};
    int64_t n = 0;
    BW_TRY(bw_sql_once(s, org_id, 1,
                       "UPDATE api_keys SET revoked_ms = $3"
                       " WHERE org_id = $1 AND id = $2 AND revoked_ms = 0",
                       a, 3, NULL, NULL, &n));
    return n == 1 ? BW_OK : BW_E_EXISTS; /* a concurrent revoke won */
}

bw_err bw_store_key_revoke_all(struct bw_store *s, const char *org_id, int64_t now_ms,
                               int64_t *count) {
    BW_ENSURE(bw_sql_id_ok(org_id), BW_E_NOT_FOUND);
    struct bw_sql_arg a[2] = {BW_SQL_T(org_id), BW_SQL_I(now_ms)};
    return bw_sql_once(s, org_id, 1,
                       "UPDATE api_keys SET revoked_ms = $2 WHERE org_id = $1 AND revoked_ms = 0",
                       a, 2, NULL, NULL, count);
}

bw_err bw_store_key_count_active(struct bw_store *s, const char *org_id, int64_t now_ms,
                                 int64_t *count) {
    BW_ENSURE(bw_sql_id_ok(org_id), BW_E_NOT_FOUND);
    int64_t n = 0;
    struct bw_sql_arg a[2] = {BW_SQL_T(org_id), BW_SQL_I(now_ms)};
    BW_TRY(bw_sql_once(s, org_id, 0,
                       "SELECT count(*) FROM api_keys WHERE org_id = $1 AND revoked_ms = 0"
                       " AND (expires_ms = 0 OR expires_ms > $2)",
                       a, 2, count_row, &n, NULL));
    *count = n;
    return BW_OK;
}

bw_err bw_store_key_rotate(struct bw_store *s, const char *org_id, const char *old_id,
                           const struct bw_key_record *fresh, int64_t grace_until_ms,
                           int64_t now_ms) {
    BW_ENSURE(bw_sql_id_ok(org_id) && bw_sql_id_ok(old_id), BW_E_NOT_FOUND);
    BW_ENSURE(strcmp(fresh->org_id, org_id) == 0, BW_E_INTERNAL);
    BW_ENSURE(fresh->member_id[0], BW_E_INVALID);
    struct bw_sql_arg a[6] = {BW_SQL_T(org_id),    BW_SQL_T(old_id),
                              BW_SQL_T(fresh->id), BW_SQL_I(grace_until_ms),
                              BW_SQL_I(now_ms),    BW_SQL_T(fresh->member_id)};
    struct bw_sql_arg k[10] = {
        BW_SQL_T(fresh->id),         BW_SQL_T(fresh->org_id),   BW_SQL_T(fresh->role),
        BW_SQL_T(fresh->agent),      BW_SQL_B(fresh->hash, 32), BW_SQL_I(fresh->created_ms),
        BW_SQL_I(fresh->expires_ms), BW_SQL_T(fresh->name),     BW_SQL_T(fresh->member_id),
        BW_SQL_T(fresh->created_by),
    };
    int64_t n = 0;
    BW_TRY(bw_sql_begin(s, org_id, 1));
    /* The old key must still be live and never rotated: a second rotation of one key would
     * leave two successors. */
    bw_err e = bw_sql_run(s,
                          "UPDATE api_keys SET rotated_to = $3,"
                          " expires_ms = CASE WHEN expires_ms = 0 OR expires_ms > $4 THEN $4"
                          " ELSE expires_ms END"
                          " WHERE org_id = $1 AND id = $2 AND revoked_ms = 0 AND rotated_to = ''"
                          " AND (expires_ms = 0 OR expires_ms > $5) AND member_id = $6",
                          a, 6, NULL, NULL, &n);
    if (e == BW_OK && n != 1)
        e = BW_E_NOT_FOUND;
    if (e == BW_OK)
        e = bw_sql_run(s,
                       "INSERT INTO api_keys(id, org_id, role, agent, hash, created_ms,"
                       " expires_ms, revoked_ms, name, member_id, created_by)"
                       " VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9, $10)",
                       k, 10, NULL, NULL, NULL);
    if (e != BW_OK) {
        bw_sql_rollback(s);
        return e;
    }
    return bw_sql_commit(s);
}

bw_err bw_store_key_touch(struct bw_store *s, const char *org_id, const char *key_id,
                          int64_t now_ms) {
    BW_ENSURE(bw_sql_id_ok(org_id) && bw_sql_id_ok(key_id), BW_E_NOT_FOUND);
    static const char sql[] = "UPDATE api_keys SET last_used_ms = $3"
                              " WHERE org_id = $1 AND id = $2 AND last_used_ms < $3";
    struct bw_sql_arg a[3] = {BW_SQL_T(org_id), BW_SQL_T(key_id), BW_SQL_I(now_ms)};
    if (!s->in_tx)
        return bw_sql_once(s, org_id, 1, sql, a, 3, NULL, NULL, NULL);
    /* inside a metering batch: under this key's org */
    BW_TRY(bw_sql_tenant(s, org_id));
    return bw_sql_run(s, sql, a, 3, NULL, NULL, NULL);
}

/* ---- members ---- */

bw_err bw_store_member_insert(struct bw_store *s, const struct bw_member_record *m) {
    BW_ENSURE(bw_sql_id_ok(m->org_id), BW_E_NOT_FOUND);
    struct bw_sql_arg a[5] = {BW_SQL_T(m->id), BW_SQL_T(m->org_id), BW_SQL_T(m->email),
                              BW_SQL_T(m->role), BW_SQL_I(m->created_ms)};
    return bw_sql_once(s, m->org_id, 1,
                       "INSERT INTO members(id, org_id, email, role, created_ms)"
                       " VALUES ($1, $2, $3, $4, $5)",
                       a, 5, NULL, NULL, NULL);
}

struct member_each {
    bw_store_member_fn fn;
    void *arg;
};

static int member_fill(void *arg, const struct bw_sql_row *r) {
    struct bw_member_record *m = arg;
    memset(m, 0, sizeof *m);
    bw_sql_copy(r, 0, m->id, sizeof m->id);
    bw_sql_copy(r, 1, m->org_id, sizeof m->org_id);
    bw_sql_copy(r, 2, m->email, sizeof m->email);
    bw_sql_copy(r, 3, m->role, sizeof m->role);
    m->created_ms = bw_sql_int(r, 4);
    return 0;
}

static int member_row(void *arg, const struct bw_sql_row *r) {
    struct member_each *e = arg;
    struct bw_member_record m;
    member_fill(&m, r);
    return e->fn(e->arg, &m);
}

bw_err bw_store_member_list(struct bw_store *s, const char *org_id, bw_store_member_fn fn,
                            void *arg) {
    BW_ENSURE(bw_sql_id_ok(org_id), BW_E_NOT_FOUND);
    struct member_each e = {fn, arg};
    struct bw_sql_arg a[2] = {BW_SQL_T(org_id), BW_SQL_I(BW_STORE_LIST_MAX)};
    return bw_sql_once(s, org_id, 0,
                       "SELECT id, org_id, email, role, created_ms FROM members"
                       " WHERE org_id = $1 ORDER BY email LIMIT $2",
                       a, 2, member_row, &e, NULL);
}

bw_err bw_store_member_get(struct bw_store *s, const char *org_id, const char *member_id,
                           struct bw_member_record *out) {
    BW_ENSURE(bw_sql_id_ok(org_id) && bw_sql_id_ok(member_id), BW_E_NOT_FOUND);
    struct bw_member_record m;
    memset(&m, 0, sizeof m);
    struct bw_sql_arg a[2] = {BW_SQL_T(org_id), BW_SQL_T(member_id)};
    BW_TRY(bw_sql_once(s, org_id, 0,
                       "SELECT id, org_id, email, role, created_ms FROM members"
                       " WHERE org_id = $1 AND id = $2",
                       a, 2, member_fill, &m, NULL));
    BW_ENSURE(m.id[0], BW_E_NOT_FOUND);
    *out = m;
    return BW_OK;
}

bw_err bw_store_member_delete(struct bw_store *s, const char *org_id, const char *member_id,
                              int64_t now_ms, int64_t *keys_revoked) {
    BW_ENSURE(bw_sql_id_ok(org_id) && bw_sql_id_ok(member_id), BW_E_NOT_FOUND);
    struct bw_sql_arg a[3] = {BW_SQL_T(org_id), BW_SQL_T(member_id), BW_SQL_I(now_ms)};
    int64_t n = 0, revoked = 0;
    BW_TRY(bw_sql_begin(s, org_id, 1));
    bw_err e =
        bw_sql_run(s, "DELETE FROM members WHERE org_id = $1 AND id = $2", a, 2, NULL, NULL, &n);
    if (e == BW_OK && n != 1)
        e = BW_E_NOT_FOUND;
    if (e == BW_OK)
        e = bw_sql_run(s,
                       "UPDATE api_keys SET revoked_ms = $3"
                       " WHERE org_id = $1 AND member_id = $2 AND revoked_ms = 0",
                       a, 3, NULL, NULL, &revoked);
    if (e != BW_OK) {
        bw_sql_rollback(s);
        return e;
    }
    BW_TRY(bw_sql_commit(s));
    if (keys_revoked)
        *keys_revoked = revoked;
    return BW_OK;
}
