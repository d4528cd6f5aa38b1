/* db_policies.c: org policies from the database for evidence packs (db_policies.h). */
#include "evidence/db_policies.h"

#include <stdlib.h>
#include <string.h>

#include "store/org_policy.h"

static int add(void *arg, const char *text, size_t len) {
    struct bw_db_policies *p = arg;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        if (cap > BW_DB_POLICIES_MAX)
            return 1;
        struct bw_evidence_blob *v = realloc(p->blobs, cap * sizeof *v);
        if (!v)
            return 1;
        p->blobs = v;
        p->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return 1;
    memcpy(copy, text, len + 1);
    p->blobs[p->n].bytes = copy;
    p->blobs[p->n++].len = len;
    return 0;
}

struct each_org {
    struct bw_db_policies *p;
    struct bw_store *s;
    bw_err err;
};

static int org_versions(void *arg, const char *id, const char *name) {
    (void)name;
    struct each_org *o = arg;
    o->err = bw_store_org_policy_each(o->s, id, BW_DB_POLICIES_MAX, add, o->p);
    return o->err != BW_OK;
}

bw_err bw_db_policies_load(struct bw_db_policies *p, struct bw_store *s, const char *org_id) {
    if (org_id)
        return bw_store_org_policy_each(s, org_id, BW_DB_POLICIES_MAX, add, p);
    struct each_org o = {p, s, BW_OK};
    bw_err e = bw_store_orgs_each(s, org_versions, &o);
    return o.err != BW_OK ? o.err : e;
}

void bw_db_policies_cleanup(struct bw_db_policies *p) {
    for (size_t i = 0; i < p->n; i++)
        free((void *)p->blobs[i].bytes);
    free(p->blobs);
    memset(p, 0, sizeof *p);
}
