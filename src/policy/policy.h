/* policy.h: the first policy step: a config-listed set of allowed models per org. Anything
 * else is denied (MODEL_NOT_ALLOWED); an org with no entry in the config is denied
 * (ORG_NOT_CONFIGURED). The full rule engine replaces this behind the same verdict (issue 3).
 * Pure function of its inputs; thread-safe. */
#ifndef BW_POLICY_POLICY_H
#define BW_POLICY_POLICY_H

#include "config/config.h"

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
int bw_policy_model_allowed(const struct bw_config *c, const char *org_name, const char *model);

const char *bw_decision_name(enum bw_decision d);

#endif
