#include <string.h>

#include "policy/policy.h"
#include "policy/reasons.h"

const char *bw_decision_name(enum bw_decision d) {
    return d == BW_DECISION_ALLOW ? "allow" : "deny";
}

int bw_policy_model_allowed(const struct bw_config *c, const char *org_name, const char *model) {
    const struct bw_org_config *o = bw_config_org(c, org_name);
    if (!o || !model)
        return 0;
    for (size_t i = 0; i < o->n_allowed_models; i++)
        if (strcmp(o->allowed_models[i], model) == 0)
            return 1;
    return 0;
}

void bw_policy_decide_model(const struct bw_config *c, const char *org_name, const char *model,
                            struct bw_verdict *out) {
    struct bw_verdict v = {BW_DECISION_DENY, BW_R_MODEL_NOT_ALLOWED, "orgs.allowed_models", 403};
    if (!bw_config_org(c, org_name)) {
        v.reason = BW_R_ORG_NOT_CONFIGURED;
        v.rule = "default_deny";
    } else if (bw_policy_model_allowed(c, org_name, model)) {
        v.decision = BW_DECISION_ALLOW;
        v.reason = BW_R_ALLOWED;
        v.http_status = 200;
    }
    *out = v;
}
