/* store_sso.c: each org's OpenID Connect configuration and subject links (store/sso.h), one
 * code path for both backends through sql.h. The sealed client secret is read only by
 * bw_store_sso_get with a buffer (the sign-in path); GET /api/v1/sso reads metadata only. */
#include <stdio.h>
#include <string.h>

#include "store/sql.h"
#include "store/sso.h"
#include "store/store_internal.h"

#define COLUMNS                                                                                    \
    "id, org_id, issuer, client_id, claim, allow_unknown, fingerprint, updated_by, updated_ms"

static void fill(const struct bw_sql_row *r, struct bw_sso_record *o) {
    memset(o, 0, sizeof *o);
    bw_sql_copy(r, 0, o->id, sizeof o->id);
    bw_sql_copy(r, 1, o->org_id, sizeof o->org_id);
    bw_sql_copy(r, 2, o->issuer, sizeof o->issuer);
    bw_sql_copy(r, 3, o->client_id, sizeof o->client_id);
    bw_sql_copy(r, 4, o->claim, sizeof o->claim);
    o->allow_unknown = bw_sql_int(r, 5) != 0;
    bw_sql_copy(r, 6, o->fingerprint, sizeof o->fingerprint);
    bw_sql_copy(r, 7, o->updated_by, sizeof o->updated_by);
    o->updated_ms = bw_sql_int(r, 8);
}

bw_err bw_store_sso_put(struct bw_store *s, const struct bw_sso_record *r,
                        const struct bw_sealed_secret *sec) {
    BW_ENSURE(bw_sql_id_ok(r->org_id) && bw_sql_id_ok(r->id) && sec, BW_E_NOT_FOUND);
    struct bw_sql_arg a[11] = {
        BW_SQL_T(r->id),
        BW_SQL_T(r->org_id),
        BW_SQL_T(r->issuer),
        BW_SQL_T(r->client_id),
        BW_SQL_T(r->claim),
        BW_SQL_I(r->allow_unknown ? 1 : 0),
        BW_SQL_B(sec->sealed, sec->sealed_len),
        BW_SQL_B(sec->master_id, sizeof sec->master_id),
        BW_SQL_T(sec->fingerprint),
        BW_SQL_T(r->updated_by),
        BW_SQL_I(r->updated_ms),
    };
    /* The row id changes with every save: the secret is sealed for (org, row id), so a sealed
     * blob from an earlier save can never be opened as this one's. */
    return bw_sql_once(s, r->org_id, 1,
                       "INSERT INTO sso_configs(id, org_id, issuer, client_id, claim,"
                       " allow_unknown, sealed, master_id, fingerprint, updated_by, updated_ms)"
                       " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
                       " ON CONFLICT (org_id) DO UPDATE SET id = excluded.id,"
                       " issuer = excluded.issuer, client_id = excluded.client_id,"
                       " claim = excluded.claim, allow_unknown = excluded.allow_unknown,"
                       " sealed = excluded.sealed, master_id = excluded.master_id,"
                       " fingerprint = excluded.fingerprint, updated_by = excluded.updated_by,"
                       " updated_ms = excluded.updated_ms",
                       a, 11, NULL, NULL, NULL);
}

struct one {
    struct bw_sso_record rec;
    uint8_t *out;
    size_t size, len;
    int found, bad;
};

static int one_row(void *arg, const struct bw_sql_row *r) {
    struct one *x = arg;
    x->found = 1;
    fill(r, &x->rec);
    if (!x->out)
        return 0;
    int64_t n = bw_sql_int(r, 9);
    if (n <= 0 || (uint64_t)n > x->size) {
        x->bad = 2;
        return 0;
    }
    if (bw_sql_blob(r, 10, x->out, (size_t)n) != 0)
        x->bad = 1;
    x->len = (size_t)n;
    return 0;
}

bw_err bw_store_sso_get(struct bw_store *s, const char *org_id, struct bw_sso_record *out,
                        uint8_t *sealed, size_t size, size_t *sealed_len) {
    BW_ENSURE(bw_sql_id_ok(org_id), BW_E_NOT_FOUND);
    struct one x;
    memset(&x, 0, sizeof x);
    x.out = sealed;
    x.size = size;
    struct bw_sql_arg v[1] = {BW_SQL_T(org_id)};
    BW_TRY(bw_sql_once(s, org_id, 0,
                       sealed ? "SELECT " COLUMNS ", length(sealed), sealed FROM sso_configs"
                                " WHERE org_id = $1"
                              : "SELECT " COLUMNS " FROM sso_configs WHERE org_id = $1",
                       v, 1, one_row, &x, NULL));
    BW_ENSURE(x.found, BW_E_NOT_FOUND);
    BW_ENSURE(x.bad != 2, BW_E_TOO_LARGE);
    BW_ENSURE(!x.bad, BW_E_UNAVAILABLE);
    *out = x.rec;
    if (sealed_len)
        *sealed_len = x.len;
    return BW_OK;
}

bw_err bw_store_sso_delete(struct bw_store *s, const char *org_id) {
    BW_ENSURE(bw_sql_id_ok(org_id), BW_E_NOT_FOUND);
    struct bw_sql_arg v[1] = {BW_SQL_T(org_id)};
    int64_t n = 0;
    BW_TRY(bw_sql_once(s, org_id, 1, "DELETE FROM sso_configs WHERE org_id = $1", v, 1, NULL, NULL,
                       &n));
    return n > 0 ? BW_OK : BW_E_NOT_FOUND;
}

struct member_pick {
    struct bw_member_record m;
    const char *email; /* NULL: every row counts; else only an ASCII-case-insensitive match */
    int n;
};

/* ASCII case folding only: PostgreSQL's lower() may fold other characters (U+212A KELVIN SIGN
 * to 'k'), so a row it found is kept only if it matches byte for byte up to ASCII case. */
static unsigned char ascii_lower(unsigned char c) {
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

static int ascii_case_equal(const char *a, const char *b) {
    for (; *a && *b; a++, b++)
        if (ascii_lower((unsigned char)*a) != ascii_lower((unsigned char)*b))
            return 0;
    return *a == *b;
}

static int member_row(void *arg, const struct bw_sql_row *r) {
    struct member_pick *p = arg;
    struct bw_member_record m;
    memset(&m, 0, sizeof m);
    bw_sql_copy(r, 0, m.id, sizeof m.id);
    bw_sql_copy(r, 1, m.org_id, sizeof m.org_id);
    bw_sql_copy(r, 2, m.email, sizeof m.email);
    bw_sql_copy(r, 3, m.role, sizeof m.role);
    m.created_ms = bw_sql_int(r, 4);
    if (p->email && !ascii_case_equal(m.email, p->email))
        return 0;
    if (p->n++ == 0)
        p->m = m;
    return 0;
}

bw_err bw_store_sso_member_by_email(struct bw_store *s, const char *org_id, const char *email,
                                    struct bw_member_record *out) {
    BW_ENSURE(bw_sql_id_ok(org_id), BW_E_NOT_FOUND);
    struct member_pick p;
    memset(&p, 0, sizeof p);
    p.email = email;
    struct bw_sql_arg v[2] = {BW_SQL_T(org_id), BW_SQL_T(email)};
    /* lower() folds ASCII only on SQLite, more on PostgreSQL: member_row keeps ASCII-case
     * matches only. Two members that differ only by case are ambiguous (BW_E_EXISTS); LIMIT 8
     * bounds the rows looked at (UNIQUE (org_id, email) keeps the candidates few). */
    BW_TRY(bw_sql_once(s, org_id, 0,
                       "SELECT id, org_id, email, role, created_ms FROM members"
                       " WHERE org_id = $1 AND lower(email) = lower($2) LIMIT 8",
                       v, 2, member_row, &p, NULL));
    BW_ENSURE(p.n > 0, BW_E_NOT_FOUND);
    BW_ENSURE(p.n == 1, BW_E_EXISTS);
    *out = p.m;
    return BW_OK;
}

bw_err bw_store_sso_member_by_subject(struct bw_store *s, const char *org_id, const char *subject,
                                      struct bw_member_record *out) {
    BW_ENSURE(bw_sql_id_ok(org_id), BW_E_NOT_FOUND);
    struct member_pick p;
    memset(&p, 0, sizeof p);
    struct bw_sql_arg v[2] = {BW_SQL_T(org_id), BW_SQL_T(subject)};
    BW_TRY(bw_sql_once(s, org_id, 0,
                       "SELECT m.id, m.org_id, m.email, m.role, m.created_ms FROM sso_subjects l"
                       " JOIN members m ON m.id = l.member_id AND m.org_id = l.org_id"
                       " WHERE l.org_id = $1 AND l.subject = $2",
                       v, 2, member_row, &p, NULL));
    BW_ENSURE(p.n == 1, BW_E_NOT_FOUND);
    *out = p.m;
    return BW_OK;
}

bw_err bw_store_sso_link(struct bw_store *s, const char *org_id, const char *member_id,
                         const char *subject, int64_t now_ms) {
    BW_ENSURE(bw_sql_id_ok(org_id) && bw_sql_id_ok(member_id), BW_E_NOT_FOUND);
    struct bw_sql_arg v[4] = {BW_SQL_T(org_id), BW_SQL_T(member_id), BW_SQL_T(subject),
                              BW_SQL_I(now_ms)};
    BW_TRY(bw_sql_begin(s, org_id, 1));
    bw_err e = bw_sql_run(s, "DELETE FROM sso_subjects WHERE org_id = $1 AND member_id = $2", v, 2,
                          NULL, NULL, NULL);
    int64_t n = 0;
    if (e == BW_OK) /* the member must be this org's: inserted only if the SELECT finds it */
        e = bw_sql_run(s,
                       "INSERT INTO sso_subjects(org_id, subject, member_id, created_ms)"
                       " SELECT org_id, $3, id, $4 FROM members WHERE org_id = $1 AND id = $2",
                       v, 4, NULL, NULL, &n);
    if (e == BW_OK && n != 1)
        e = BW_E_NOT_FOUND;
    if (e != BW_OK) {
        bw_sql_rollback(s);
        return e;
    }
    return bw_sql_commit(s);
}

bw_err bw_store_sso_unlink(struct bw_store *s, const char *org_id, const char *member_id) {
    BW_ENSURE(bw_sql_id_ok(org_id) && bw_sql_id_ok(member_id), BW_E_NOT_FOUND);
    struct bw_sql_arg v[2] = {BW_SQL_T(org_id), BW_SQL_T(member_id)};
    int64_t n = 0;
    BW_TRY(bw_sql_once(s, org_id, 1,
                       "DELETE FROM sso_subjects WHERE org_id = $1 AND member_id = $2", v, 2, NULL,
                       NULL, &n));
    return n > 0 ? BW_OK : BW_E_NOT_FOUND;
}
