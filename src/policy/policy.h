/* policy.h: the first policy step: a config-listed set of allowed models per org. Anything
 * else is denied (MODEL_NOT_ALLOWED); an org with no entry in the config is denied
 * (ORG_NOT_CONFIGURED). The full rule engine replaces this behind the same verdict (issue 3).
 * Pure function of its inputs; thread-safe. */
#ifndef BW_POLICY_POLICY_H
#define BW_POLICY_POLICY_H

#include "config/config.h"
#include "util/buf.h"
#include "util/err.h"

enum bw_decision { BW_DECISION_ALLOW = 0, BW_DECISION_DENY };

struct bw_verdict {
    enum bw_decision decision;
    const char *reason; /* static reason code */
    const char *rule;   /* static rule id */
    int http_status;    /* for denials */
};

void bw_policy_decide_model(const struct bw_config *c, const char *org_name, const char *model,
                            struct bw_verdict *out);

/* 1 if org_name may use model (same rule, for filtering model lists). */
int bw_policy_model_allowed(const struct bw_config *c, const char *org_name,
                            const char *model) BW_MUST_CHECK;

const char *bw_decision_name(enum bw_decision d);

/* The platform policy text of org_name when no policy file is configured: what the config says
 * about this org (its allowed_models, or that it is not listed), and nothing about any other
 * org or the rest of the config. Decision receipts name its SHA-256 as their policy_sha256, and
 * evidence packs carry it in place of the operator's config (docs/EVIDENCE.md 9.2): a tenant
 * may see it. Deterministic: the same models give the same bytes. Appends to out (at most
 * BW_POLICY_MODELS_TEXT_MAX bytes). Errors: BW_E_TOO_LARGE, BW_E_NOMEM. */
#define BW_POLICY_MODELS_TEXT_MAX 65536
bw_err bw_policy_models_text(const struct bw_config *c, const char *org_name,
                             struct bw_buf *out) BW_MUST_CHECK;
/* Its SHA-256 (on failure: the config's own hash, which no tenant pack carries: fail closed). */
void bw_policy_models_sha256(const struct bw_config *c, const char *org_name, uint8_t out[32]);

#endif
