/* db_policies.c: policy texts from the database for evidence packs (db_policies.h). */
#include "evidence/db_policies.h"

#include <stdlib.h>
#include <string.h>

#include "policy/engine.h"
#include "policy/policy.h"
#include "store/org_policy.h"
#include "util/codec.h"
#include "util/file.h"
#include "util/log.h"
#include "util/time.h"

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
    /* The kept texts first (they outlive a deleted org), then the org policy versions (a
     * store from before migration 8 kept them only there). Duplicates are harmless: the
     * exporter takes the first text of each referenced hash. */
    BW_TRY(bw_store_policy_texts_each(s, org_id, BW_DB_POLICIES_MAX, add, p));
    if (org_id)
        return bw_store_org_policy_each(s, org_id, BW_DB_POLICIES_MAX, add, p);
    struct each_org o = {p, s, BW_OK};
    bw_err e = bw_store_orgs_each(s, org_versions, &o);
    return o.err != BW_OK ? o.err : e;
}

static bw_err record_models(struct bw_store *s, const struct bw_config *cfg, const char *org,
                            int64_t now) {
    struct bw_buf b;
    bw_buf_init(&b, BW_POLICY_MODELS_TEXT_MAX);
    bw_err e = bw_policy_models_text(cfg, org, &b);
    if (e == BW_OK)
        e = bw_store_policy_text_put(s, NULL, (const char *)b.ptr, b.len, now);
    bw_buf_cleanup(&b);
    return e;
}

bw_err bw_db_policies_record_platform(struct bw_store *s, const struct bw_config *cfg,
                                      const char *policy_path, const uint8_t *policy_sha256) {
    int64_t now = bw_now_ms();
    BW_TRY(record_models(s, cfg, NULL, now)); /* the org the config does not list */
    for (size_t i = 0; i < cfg->n_orgs; i++)
        BW_TRY(record_models(s, cfg, cfg->orgs[i].name, now));
    if (!policy_path)
        return BW_OK;
    char *text = NULL, err[300];
    size_t len = 0;
    BW_TRY(bw_file_read_bounded(policy_path, BW_POLICY_MAX_BYTES, &text, &len, err, sizeof err));
    uint8_t h[32];
    bw_sha256(text, len, h);
    bw_err e = BW_OK;
    if (memcmp(h, policy_sha256, 32) != 0 || strlen(text) != len) {
        /* edited again since it was loaded: the version in force is not these bytes */
        bw_warn("policy: %s changed after it was loaded: its text is not kept for evidence "
                "until the next reload",
                policy_path);
    } else {
        e = bw_store_policy_text_put(s, NULL, text, len, now);
    }
    free(text);
    return e;
}

void bw_db_policies_cleanup(struct bw_db_policies *p) {
    for (size_t i = 0; i < p->n; i++)
        free((void *)p->blobs[i].bytes);
    free(p->blobs);
    memset(p, 0, sizeof *p);
}
