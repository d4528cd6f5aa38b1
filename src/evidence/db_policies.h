/* db_policies.h: the org policies an evidence pack may need, read from the database (every
 * stored version: a receipt names the version that was in force when it was decided). */
#ifndef BW_EVIDENCE_DB_POLICIES_H
#define BW_EVIDENCE_DB_POLICIES_H

#include <stddef.h>

#include "evidence/pack.h"
#include "store/store.h"

#define BW_DB_POLICIES_MAX 4096 /* versions gathered at most (per export) */

struct bw_db_policies {
    struct bw_evidence_blob *blobs; /* for bw_evidence_export_opts.policy_blobs */
    size_t n, cap;
};

/* Gathers the versions of org_id's policy, or of every org's when org_id is NULL. Errors:
 * BW_E_UNAVAILABLE (store), BW_E_NOMEM; what was gathered stays usable. */
bw_err bw_db_policies_load(struct bw_db_policies *p, struct bw_store *s,
                           const char *org_id) BW_MUST_CHECK;
void bw_db_policies_cleanup(struct bw_db_policies *p);

#endif
