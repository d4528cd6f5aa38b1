/* store_agents.c: agents with their widget settings, widget transcripts, and confirm plans
 * (identity.h), one code path for both backends through sql.h. */
#include <stdio.h>
#include <string.h>

#include "store/identity.h"
#include "store/sql.h"
#include "store/store_internal.h"

#define AGENT_COLUMNS                                                                              \
    "a.id, a.org_id, o.name, a.name, a.description, a.model, a.widget_enabled,"                    \
    " coalesce(a.widget_key, ''), a.widget_origins, a.created_ms"

static int count_row(void *arg, const struct bw_sql_row *r) {
    *(int64_t *)arg = bw_sql_int(r, 0);
    return 0;
}

/* ---- agents ---- */

bw_err bw_store_agent_insert(struct bw_store *s, const struct bw_agent_record *a) {
    BW_ENSURE(bw_sql_id_ok(a->org_id), BW_E_NOT_FOUND);
    struct bw_sql_arg v[6] = {BW_SQL_T(a->id),    BW_SQL_T(a->org_id),
                              BW_SQL_T(a->name),  BW_SQL_T(a->description),
                              BW_SQL_T(a->model), BW_SQL_I(a->created_ms)};
    return bw_sql_once(s, a->org_id, 1,
                       "INSERT INTO agents(id, org_id, name, description, model, created_ms)"
                       " VALUES ($1, $2, $3, $4, $5, $6)",
                       v, 6, NULL, NULL, NULL);
}

struct agent_each {
    bw_store_agent_fn fn;
    void *arg;
};

/* Fills the record at arg from a row in AGENT_COLUMNS order (also a row callback: one row). */
static int agent_fill(void *arg, const struct bw_sql_row *r) {
    struct bw_agent_record *a = arg;
    memset(a, 0, sizeof *a);
    bw_sql_copy(r, 0, a->id, sizeof a->id);
    bw_sql_copy(r, 1, a->org_id, sizeof a->org_id);
    bw_sql_copy(r, 2, a->org_name, sizeof a->org_name);
    bw_sql_copy(r, 3, a->name, sizeof a->name);
    bw_sql_copy(r, 4, a->description, sizeof a->description);
    bw_sql_copy(r, 5, a->model, sizeof a->model);
    a->widget_enabled = bw_sql_int(r, 6) == 1;
    bw_sql_copy(r, 7, a->widget_key, sizeof a->widget_key);
    bw_sql_copy(r, 8, a->widget_origins, sizeof a->widget_origins);
    a->created_ms = bw_sql_int(r, 9);
    return 0;
}

static int agent_row(void *arg, const struct bw_sql_row *r) {
    struct agent_each *e = arg;
    struct bw_agent_record a;
    agent_fill(&a, r);
    return e->fn(e->arg, &a);
}

/* One agent by a query whose args select it: BW_E_NOT_FOUND when no row came back. */
static bw_err agent_one(struct bw_store *s, const char *org_id, const char *sql,
                        const struct bw_sql_arg *v, int n, struct bw_agent_record *out) {
    struct bw_agent_record a;
    memset(&a, 0, sizeof a);
    BW_TRY(bw_sql_once(s, org_id, 0, sql, v, n, agent_fill, &a, NULL));
    BW_ENSURE(a.id[0], BW_E_NOT_FOUND);
    *out = a;
    return BW_OK;
}

bw_err bw_store_agent_list(struct bw_store *s, const char *org_id, bw_store_agent_fn fn,
                           void *arg) {
    BW_ENSURE(bw_sql_id_ok(org_id), BW_E_NOT_FOUND);
    struct agent_each e = {fn, arg};
    struct bw_sql_arg v[2] = {BW_SQL_T(org_id), BW_SQL_I(BW_STORE_LIST_MAX)};
    return bw_sql_once(s, org_id, 0,
                       "SELECT " AGENT_COLUMNS " FROM agents a JOIN orgs o ON o.id = a.org_id"
                       " WHERE a.org_id = $1 ORDER BY a.name LIMIT $2",
                       v, 2, agent_row, &e, NULL);
}

bw_err bw_store_agent_get(struct bw_store *s, const char *org_id, const char *agent_id,
                          struct bw_agent_record *out) {
    BW_ENSURE(bw_sql_id_ok(org_id) && bw_sql_id_ok(agent_id), BW_E_NOT_FOUND);
    struct bw_sql_arg v[2] = {BW_SQL_T(org_id), BW_SQL_T(agent_id)};
    return agent_one(s, org_id,
                     "SELECT " AGENT_COLUMNS " FROM agents a JOIN orgs o ON o.id = a.org_id"
                     " WHERE a.org_id = $1 AND a.id = $2",
                     v, 2, out);
}

bw_err bw_store_agent_by_name(struct bw_store *s, const char *org_id, const char *name,
                              struct bw_agent_record *out) {
    BW_ENSURE(bw_sql_id_ok(org_id), BW_E_NOT_FOUND);
    struct bw_sql_arg v[2] = {BW_SQL_T(org_id), BW_SQL_T(name)};
    return agent_one(s, org_id,
                     "SELECT " AGENT_COLUMNS " FROM agents a JOIN orgs o ON o.id = a.org_id"
                     " WHERE a.org_id = $1 AND a.name = $2",
                     v, 2, out);
}

bw_err bw_store_agent_update(struct bw_store *s, const struct bw_agent_record *a) {
    BW_ENSURE(bw_sql_id_ok(a->org_id) && bw_sql_id_ok(a->id), BW_E_NOT_FOUND);
    struct bw_sql_arg v[7] = {BW_SQL_T(a->org_id),         BW_SQL_T(a->id),
                              BW_SQL_T(a->description),    BW_SQL_T(a->model),
                              BW_SQL_I(a->widget_enabled), BW_SQL_T(a->widget_key),
                              BW_SQL_T(a->widget_origins)};
    if (!a->widget_key[0])
        v[5].kind = BW_SQL_NULL; /* no key yet: NULL, so the UNIQUE column allows many */
    int64_t n = 0;
    BW_TRY(bw_sql_once(s, a->org_id, 1,
                       "UPDATE agents SET description = $3, model = $4, widget_enabled = $5,"
                       " widget_key = $6, widget_origins = $7 WHERE org_id = $1 AND id = $2",
                       v, 7, NULL, NULL, &n));
    return n == 1 ? BW_OK : BW_E_NOT_FOUND;
}

bw_err bw_store_agent_counts(struct bw_store *s, const char *org_id, const char *agent_id,
                             int64_t *transcripts, int64_t *keys) {
    struct bw_agent_record a;
    BW_TRY(bw_store_agent_get(s, org_id, agent_id, &a));
    struct bw_sql_arg v[3] = {BW_SQL_T(org_id), BW_SQL_T(agent_id), BW_SQL_T(a.name)};
    int64_t t = 0, k = 0;
    BW_TRY(bw_sql_begin(s, org_id, 0));
    bw_err e = bw_sql_run(s, "SELECT count(*) FROM transcripts WHERE org_id = $1 AND agent_id = $2",
                          v, 2, count_row, &t, NULL);
    if (e == BW_OK)
        e = bw_sql_run(s,
                       "SELECT count(*) FROM api_keys WHERE org_id = $1 AND agent = $3"
                       " AND revoked_ms = 0 AND $2 <> ''",
                       v, 3, count_row, &k, NULL);
    if (e != BW_OK) {
        bw_sql_rollback(s);
        return e;
    }
    BW_TRY(bw_sql_commit(s));
    *transcripts = t;
    *keys = k;
    return BW_OK;
}

bw_err bw_store_agent_bound_keys(struct bw_store *s, const char *org_id, const char *agent_id,
                                 const char *role, const char *except_principal, int64_t *count) {
    struct bw_agent_record a;
    BW_TRY(bw_store_agent_get(s, org_id, agent_id, &a));
    struct bw_sql_arg v[4] = {BW_SQL_T(org_id), BW_SQL_T(a.name), BW_SQL_T(role),
                              BW_SQL_T(except_principal)};
    int64_t n = 0;
    BW_TRY(bw_sql_once(s, org_id, 0,
                       "SELECT count(*) FROM api_keys k LEFT JOIN members m"
                       " ON m.org_id = k.org_id AND m.id = k.member_id"
                       " WHERE k.org_id = $1 AND k.agent = $2 AND k.revoked_ms = 0"
                       " AND k.member_id <> $4 AND (k.role = $3 OR m.role = $3)",
                       v, 4, count_row, &n, NULL));
    *count = n;
    return BW_OK;
}

bw_err bw_store_agent_delete(struct bw_store *s, const char *org_id, const char *agent_id,
                             int64_t now_ms) {
    struct bw_agent_record a;
    BW_TRY(bw_store_agent_get(s, org_id, agent_id, &a));
    struct bw_sql_arg v[4] = {BW_SQL_T(org_id), BW_SQL_T(agent_id), BW_SQL_T(a.name),
                              BW_SQL_I(now_ms)};
    int64_t n = 0;
    BW_TRY(bw_sql_begin(s, org_id, 1));
    bw_err e =
        bw_sql_run(s, "DELETE FROM agents WHERE org_id = $1 AND id = $2", v, 2, NULL, NULL, &n);
    if (e == BW_OK && n != 1)
        e = BW_E_NOT_FOUND;
    /* keys bound to the agent would otherwise outlive it and act in its name */
    if (e == BW_OK)
        e = bw_sql_run(s,
                       "UPDATE api_keys SET revoked_ms = $4"
                       " WHERE org_id = $1 AND agent = $3 AND revoked_ms = 0 AND $2 <> ''",
                       v, 4, NULL, NULL, NULL);
    if (e != BW_OK) {
        bw_sql_rollback(s);
        return e;
    }
    return bw_sql_commit(s);
}

bw_err bw_store_agent_by_widget_key(struct bw_store *s, const char *widget_key,
                                    struct bw_agent_record *out) {
    static const char pg[] =
        "SELECT agent_id, org_id, org_name, agent_name, '', model, widget_enabled, $1,"
        " widget_origins, 0 FROM bulwark_widget_lookup($1)";
    static const char lite[] =
        "SELECT " AGENT_COLUMNS " FROM agents a JOIN orgs o ON o.id = a.org_id"
        " WHERE a.widget_key = $1";
    size_t n = strnlen(widget_key, BW_WIDGET_KEY_SIZE);
    BW_ENSURE(n < BW_WIDGET_KEY_SIZE && strncmp(widget_key, BW_WIDGET_KEY_PREFIX, 4) == 0,
              BW_E_NOT_FOUND);
    struct bw_sql_arg v = BW_SQL_T(widget_key);
    return agent_one(s, NULL, s->kind == BW_STORE_POSTGRES ? pg : lite, &v, 1, out);
}

/* ---- transcripts ---- */

bw_err bw_store_transcript_insert(struct bw_store *s, const struct bw_transcript_record *t) {
    BW_ENSURE(bw_sql_id_ok(t->org_id) && bw_sql_id_ok(t->agent_id), BW_E_NOT_FOUND);
    struct bw_sql_arg v[8] = {
        BW_SQL_T(t->id),   BW_SQL_T(t->org_id),  BW_SQL_T(t->agent_id),   BW_SQL_T(t->conversation),
        BW_SQL_T(t->role), BW_SQL_T(t->content), BW_SQL_T(t->receipt_id), BW_SQL_I(t->created_ms)};
    return bw_sql_once(s, t->org_id, 1,
                       "INSERT INTO transcripts(id, org_id, agent_id, conversation, role, content,"
                       " receipt_id, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                       v, 8, NULL, NULL, NULL);
}

struct transcript_each {
    bw_store_transcript_fn fn;
    void *arg;
};

static int transcript_row(void *arg, const struct bw_sql_row *r) {
    struct transcript_each *e = arg;
    struct bw_transcript_record t;
    memset(&t, 0, sizeof t);
    bw_sql_copy(r, 0, t.id, sizeof t.id);
    bw_sql_copy(r, 1, t.org_id, sizeof t.org_id);
    bw_sql_copy(r, 2, t.agent_id, sizeof t.agent_id);
    bw_sql_copy(r, 3, t.conversation, sizeof t.conversation);
    bw_sql_copy(r, 4, t.role, sizeof t.role);
    t.content = bw_sql_text(r, 5);
    bw_sql_copy(r, 6, t.receipt_id, sizeof t.receipt_id);
    t.created_ms = bw_sql_int(r, 7);
    return e->fn(e->arg, &t);
}

bw_err bw_store_transcript_list(struct bw_store *s, const char *org_id, const char *agent_id,
                                const char *conversation, int64_t before_ms, size_t limit,
                                bw_store_transcript_fn fn, void *arg) {
    BW_ENSURE(bw_sql_id_ok(org_id), BW_E_NOT_FOUND);
    if (limit == 0 || limit > BW_STORE_LIST_MAX)
        limit = BW_STORE_LIST_MAX;
    struct transcript_each e = {fn, arg};
    struct bw_sql_arg v[5] = {BW_SQL_T(org_id), BW_SQL_T(agent_id), BW_SQL_T(conversation),
                              BW_SQL_I(before_ms > 0 ? before_ms : INT64_MAX),
                              BW_SQL_I((int64_t)limit)};
    return bw_sql_once(s, org_id, 0,
                       "SELECT id, org_id, agent_id, conversation, role, content, receipt_id,"
                       " created_ms FROM transcripts WHERE org_id = $1"
                       " AND ($2 = '' OR agent_id = $2) AND ($3 = '' OR conversation = $3)"
                       " AND created_ms < $4 ORDER BY created_ms, id LIMIT $5",
                       v, 5, transcript_row, &e, NULL);
}

bw_err bw_store_transcript_purge(struct bw_store *s, const char *org_id, const char *agent_id,
                                 int64_t before_ms, int dry_run, int64_t *count) {
    BW_ENSURE(bw_sql_id_ok(org_id), BW_E_NOT_FOUND);
    struct bw_sql_arg v[3] = {BW_SQL_T(org_id), BW_SQL_T(agent_id),
                              BW_SQL_I(before_ms > 0 ? before_ms : INT64_MAX)};
    int64_t n = 0;
    if (dry_run)
        BW_TRY(bw_sql_once(s, org_id, 0,
                           "SELECT count(*) FROM transcripts WHERE org_id = $1"
                           " AND ($2 = '' OR agent_id = $2) AND created_ms < $3",
                           v, 3, count_row, &n, NULL));
    else
        BW_TRY(bw_sql_once(s, org_id, 1,
                           "DELETE FROM transcripts WHERE org_id = $1"
                           " AND ($2 = '' OR agent_id = $2) AND created_ms < $3",
                           v, 3, NULL, NULL, &n));
    *count = n;
    return BW_OK;
}

/* ---- plans ---- */

bw_err bw_store_plan_insert(struct bw_store *s, const struct bw_plan_record *p) {
    BW_ENSURE(bw_sql_id_ok(p->org_id), BW_E_NOT_FOUND);
    struct bw_sql_arg v[10] = {
        BW_SQL_T(p->id),         BW_SQL_T(p->org_id),          BW_SQL_T(p->action),
        BW_SQL_T(p->target),     BW_SQL_B(p->plan_sha256, 32), BW_SQL_B(p->token_hash, 32),
        BW_SQL_T(p->created_by), BW_SQL_I(p->created_ms),      BW_SQL_I(p->expires_ms),
        BW_SQL_T(p->review_id),
    };
    return bw_sql_once(s, p->org_id, 1,
                       "INSERT INTO plans(id, org_id, action, target, plan_sha256, token_hash,"
                       " created_by, created_ms, expires_ms, review_id)"
                       " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
                       v, 10, NULL, NULL, NULL);
}

struct plan_found {
    struct bw_plan_record p;
    int bad;
};

static int plan_row(void *arg, const struct bw_sql_row *r) {
    struct plan_found *f = arg;
    bw_sql_copy(r, 0, f->p.id, sizeof f->p.id);
    bw_sql_copy(r, 1, f->p.org_id, sizeof f->p.org_id);
    bw_sql_copy(r, 2, f->p.action, sizeof f->p.action);
    bw_sql_copy(r, 3, f->p.target, sizeof f->p.target);
    if (bw_sql_blob(r, 4, f->p.plan_sha256, 32) != 0 || bw_sql_blob(r, 5, f->p.token_hash, 32))
        f->bad = 1;
    bw_sql_copy(r, 6, f->p.created_by, sizeof f->p.created_by);
    f->p.created_ms = bw_sql_int(r, 7);
    f->p.expires_ms = bw_sql_int(r, 8);
    f->p.used_ms = bw_sql_int(r, 9);
    bw_sql_copy(r, 10, f->p.review_id, sizeof f->p.review_id);
    return 0;
}

#define PLAN_COLUMNS                                                                               \
    "id, org_id, action, target, plan_sha256, token_hash, created_by, created_ms, expires_ms,"     \
    " used_ms, review_id"

bw_err bw_store_plan_peek(struct bw_store *s, const char *org_id, const uint8_t token_hash[32],
                          int64_t now_ms, struct bw_plan_record *out) {
    BW_ENSURE(bw_sql_id_ok(org_id), BW_E_NOT_FOUND);
    struct plan_found f;
    memset(&f, 0, sizeof f);
    struct bw_sql_arg v[3] = {BW_SQL_T(org_id), BW_SQL_B(token_hash, 32), BW_SQL_I(now_ms)};
    BW_TRY(bw_sql_once(s, org_id, 0,
                       "SELECT " PLAN_COLUMNS " FROM plans WHERE org_id = $1 AND token_hash = $2"
                       " AND used_ms = 0 AND expires_ms > $3",
                       v, 3, plan_row, &f, NULL));
    BW_ENSURE(!f.bad, BW_E_UNAVAILABLE);
    BW_ENSURE(f.p.id[0], BW_E_NOT_FOUND);
    *out = f.p;
    return BW_OK;
}

bw_err bw_store_plan_take(struct bw_store *s, const char *org_id, const uint8_t token_hash[32],
                          int64_t now_ms, struct bw_plan_record *out) {
    BW_ENSURE(bw_sql_id_ok(org_id), BW_E_NOT_FOUND);
    struct plan_found f;
    memset(&f, 0, sizeof f);
    struct bw_sql_arg v[3] = {BW_SQL_T(org_id), BW_SQL_B(token_hash, 32), BW_SQL_I(now_ms)};
    /* One conditional UPDATE: of two concurrent confirms, only one sees a row come back. */
    BW_TRY(bw_sql_once(s, org_id, 1,
                       "UPDATE plans SET used_ms = $3 WHERE org_id = $1 AND token_hash = $2"
                       " AND used_ms = 0 AND expires_ms > $3"
                       " RETURNING " PLAN_COLUMNS,
                       v, 3, plan_row, &f, NULL));
    BW_ENSURE(!f.bad, BW_E_UNAVAILABLE);
    BW_ENSURE(f.p.id[0], BW_E_NOT_FOUND);
    *out = f.p;
    return BW_OK;
}
