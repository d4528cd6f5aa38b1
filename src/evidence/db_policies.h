/* db_policies.h: the policy texts an evidence pack may need, read from the database (every
 * stored version: a receipt names the version that was in force when it was decided), and
 * storing the platform's texts when they come into force (docs/EVIDENCE.md 9.2). */
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

/* Gathers the kept policy texts org_id may see (its own and the platform's) and the versions of
 * its policy; org_id NULL: every org's and the platform's. Errors: BW_E_UNAVAILABLE (store),
 * BW_E_NOMEM; what was gathered stays usable. */
bw_err bw_db_policies_load(struct bw_db_policies *p, struct bw_store *s,
                           const char *org_id) BW_MUST_CHECK;

/* Keeps the platform texts that receipts will name: the text that stands for the config for
 * every org it lists and for orgs it does not (policy.h), and, when policy_path is given, the
 * policy file's exact bytes if their SHA-256 is policy_sha256 (the loaded version). Called when
 * they come into force (serve start, reload), before any receipt names them. Errors:
 * BW_E_UNAVAILABLE (store), BW_E_IO, BW_E_NOMEM. */
struct bw_config;
bw_err bw_db_policies_record_platform(struct bw_store *s, const struct bw_config *cfg,
                                      const char *policy_path,
                                      const uint8_t *policy_sha256) BW_MUST_CHECK;
void bw_db_policies_cleanup(struct bw_db_policies *p);

#endif
